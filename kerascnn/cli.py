"""The `kerascnn` command. Thin: parses arguments, calls the API, prints.

Keras and TensorFlow are imported inside the commands that need them, so `kerascnn --help` answers at
once.
"""

from __future__ import annotations

import argparse
import errno
import io
import os
import sys

from kerascnn import __version__
from kerascnn.inference.loading import NORMALIZATIONS
from kerascnn.inference.views import CROPS
from kerascnn.scripting import add_train_options, quiet_backend, recipe_overrides


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from kerascnn.config.errors import ConfigError, on_command_line

    try:
        with on_command_line():  # advice names --flags, not Python arguments
            return args.run(args)
    except ConfigError as e:  # bad input; a file the run could not write (a full disk: 74)
        print(f"error: {e}", file=sys.stderr)
        return getattr(e, "exit_status", 2)
    except OSError as e:
        if e.filename is None or isinstance(e, BrokenPipeError):
            raise
        # A path the checks before the work could not foresee (it changed meanwhile): one line.
        from kerascnn.config.paths import describe_os_error

        print(f"error: {describe_os_error(e)}", file=sys.stderr)
        return 74 if e.errno in _DISK_FULL else 2
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM during training (its message is logged)
        return 143 if type(e).__name__ == "Terminated" else 130
    except BrokenPipeError:  # `kerascnn list | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}  # as a run's full disk: 74 (sysexits' EX_IOERR)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kerascnn",
        description="The classic convolutional networks, declared as data, built with Keras 3.",
    )
    parser.add_argument("--version", action="version", version=f"kerascnn {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    listing = commands.add_parser(
        "list",
        help="list the registered models with their papers and default inputs",
        description="Every architecture `kerascnn.build(name)` knows: family, default input, the "
        "dataset the paper trained on, trainable parameters, and the paper.",
    )
    listing.add_argument("--family", help="only this family, e.g. resnet, densenet, vgg")
    listing.add_argument(
        "--pretrained",
        action="store_true",
        help='only the networks with ImageNet weights (weights="imagenet"): '
        "their source, timm's reported top-1 and how they are fed",
    )
    listing.set_defaults(run=_list)

    train = commands.add_parser(
        "train",
        help="run a recipe with model.fit into a resumable run directory",
        description="Validate a recipe, then train: progress bars, a run directory with the "
        "resolved recipe, checkpoints, history, TensorBoard logs, curves and the "
        "final model. Running the same command again resumes an interrupted run.",
    )
    train.add_argument(
        "recipe",
        metavar="RECIPE",
        help="a recipe file, or the name of a shipped recipe (`kerascnn recipes`), e.g. lenet5_digits",
    )
    add_train_options(train)
    train.set_defaults(run=_train)

    tune = commands.add_parser(
        "tune",
        help="search a recipe's [tune] space with keras-tuner",
        description="Run the hyperparameter search a recipe's [tune] table declares (random, "
        "hyperband or bayesian, keras-tuner), print every trial, and write the best "
        "trial's recipe as a file `kerascnn train` runs. Running the same command "
        "again resumes an interrupted search.",
    )
    tune.add_argument(
        "recipe",
        metavar="RECIPE",
        help="a recipe file with [tune], or a shipped one's name, e.g. lenet5_digits_search",
    )
    add_train_options(
        tune,
        example="tune.max_trials=3",
        output="the search directory (default: the run directory's name + _tune)",
        restart="start a new search beside one made by a different recipe",
    )
    tune.set_defaults(run=_tune)

    recipes = commands.add_parser(
        "recipes",
        help="the recipes that ship with kerascnn: list them, or copy one to edit",
        description="The shipped recipes (the papers' training set-ups, the offline quickstart, "
        "transfer learning and search examples): `kerascnn train NAME` runs one from "
        "any directory; --copy writes one here to edit (never overwriting).",
    )
    recipes.add_argument(
        "--copy", metavar="NAME", help="copy this recipe (and the spec files it names) to edit"
    )
    recipes.add_argument(
        "--to", default=".", metavar="DIR", help="where --copy writes (default: the current directory)"
    )
    recipes.set_defaults(run=_recipes)

    evaluate = commands.add_parser(
        "evaluate",
        help="accuracy, top-5, loss and per-class accuracy of trained models, "
        "alone or as an ensemble, with the papers' multi-crop tests",
        description="Evaluate a run directory's model (or a .keras file) on labelled images: the "
        "run's own test split by default, a folder with one sub-folder per class, or "
        "a recipe's data. Images are fed exactly as in the run's validation. Several "
        "runs are evaluated together as an ensemble (softmax averaged): each model's "
        "and the ensemble's accuracy side by side. --crops 10 averages AlexNet's ten "
        "views; --scales, VGG's multi-scale test.",
    )
    evaluate.add_argument(
        "targets",
        nargs="+",
        metavar="RUN_DIR_OR_MODEL",
        help="a run directory (runs/lenet5_digits) or a .keras file; several: an ensemble",
    )
    evaluate.add_argument(
        "--data",
        metavar="FOLDER_OR_RECIPE",
        help="a folder of labelled images or a recipe file (default: the run's own recipe)",
    )
    evaluate.add_argument(
        "--split",
        choices=("test", "val"),
        default="test",
        help="which split of a recipe's data (default test)",
    )
    evaluate.add_argument(
        "--crops",
        type=int,
        choices=CROPS,
        default=1,
        help="views per image, softmax averaged: 1 the centre (default), 5 the "
        "corners and the centre, 10 those and their mirror images",
    )
    evaluate.add_argument(
        "--scales",
        type=_sizes,
        metavar="Q[,Q...]",
        help="bring each image's shorter side to each size Q before cropping "
        "(VGG's multi-scale test), e.g. 256,288,320; default: the run's "
        "own size",
    )
    evaluate.add_argument("--batch-size", type=_positive_int, default=64, metavar="N")
    evaluate.add_argument(
        "--normalize",
        choices=NORMALIZATIONS,
        help="how to normalize images for a model outside a run directory",
    )
    evaluate.add_argument(
        "--bad-images",
        choices=("error", "skip"),
        default="error",
        help="image files that cannot be read: stop naming them (default), or "
        "evaluate without them and list them",
    )
    evaluate.add_argument(
        "--confusion", metavar="FILE.png", help="also draw the confusion matrix (never overwritten)"
    )
    evaluate.add_argument("--json", action="store_true", help="print the result as JSON")
    evaluate.set_defaults(run=_evaluate)

    predict = commands.add_parser(
        "predict",
        help="the most probable classes of image files",
        description="Classify image files (PNG, JPEG, BMP, GIF; folders are searched) with a "
        "run directory's model or a .keras file, fed as in the run's validation.",
    )
    predict.add_argument("target", metavar="RUN_DIR_OR_MODEL")
    predict.add_argument("images", nargs="+", metavar="IMAGE_OR_FOLDER")
    predict.add_argument(
        "--top",
        type=_positive_int,
        default=3,
        metavar="K",
        help="how many classes to show per image (default 3)",
    )
    predict.add_argument(
        "--normalize",
        choices=NORMALIZATIONS,
        help="how to normalize images for a model outside a run directory",
    )
    predict.add_argument(
        "--bad-images",
        choices=("error", "skip"),
        default="error",
        help="image files that cannot be read: stop naming them (default), or "
        "classify the others and mark them unreadable",
    )
    predict.add_argument("--json", action="store_true", help="print the result as JSON")
    predict.set_defaults(run=_predict)

    summary = commands.add_parser(
        "summary",
        help="per-layer shapes, parameters, multiply-adds, memory and receptive field",
        description="Build a registered model (see `kerascnn list`), a spec or recipe file "
        "(.toml/.yaml) or a saved .keras model and print one row per layer: output shape, parameters, "
        "multiply-adds, activation memory, receptive field and stride, then the totals "
        "and the training memory estimate.",
    )
    summary.add_argument(
        "spec",
        metavar="MODEL_OR_FILE",
        help="a model name such as resnet50, a spec file such as "
        "recipes/specs/vgg16.toml, a recipe, or a saved model.keras",
    )
    _model_arguments(summary)
    _format_arguments(summary)
    summary.set_defaults(run=_summary)

    compare = commands.add_parser(
        "compare",
        help="several models side by side: parameters, multiply-adds, memory",
        description="Profile several models (names, spec files or .keras files) and print their "
        "totals side by side; --plot draws parameters against multiply-adds.",
    )
    compare.add_argument("models", nargs="+", metavar="MODEL_OR_FILE")
    _model_arguments(compare)
    _format_arguments(compare)
    compare.add_argument(
        "--plot",
        metavar="FILE.png",
        help="also draw parameters vs multiply-adds, log scales (never overwritten)",
    )
    compare.set_defaults(run=_compare)

    port = commands.add_parser(
        "port",
        help="save published weights (timm's, keras.applications') as a kerascnn model",
        description="Build the kerascnn network that computes what published weights compute, "
        "with those weights, and save it as a .keras file that records how to feed it "
        "(size, crop, interpolation, mean, std: evaluate and predict use them). "
        "timm's weights: a Hub id (timm/resnet50.a1_in1k; downloaded once, "
        "huggingface_hub's cache) or a kerascnn model name with --weights "
        "model.safetensors (offline). keras.applications' (VGG16/19, ResNet50/101/152, "
        "ResNet50V2/101V2/152V2, DenseNet121/169/201, InceptionResNetV2): its name, "
        "with --weights FILE.h5 or downloaded.",
    )
    port.add_argument(
        "architecture",
        metavar="SOURCE",
        help="a timm Hub id (timm/resnet50.a1_in1k), a kerascnn model with "
        "--weights model.safetensors, or a keras.applications name (ResNet50)",
    )
    port.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE.keras",
        help="where to save the kerascnn model (never overwritten)",
    )
    port.add_argument(
        "--weights",
        metavar="FILE",
        help="a timm model.safetensors, or a keras.applications .h5, instead of the download",
    )
    port.add_argument(
        "--input-shape",
        type=_shape,
        metavar="H,W,C",
        help="e.g. 224,224,1 for grayscale: the first convolution is adapted",
    )
    port.add_argument(
        "--classes",
        type=_positive_int,
        metavar="N",
        help="a new classifier with N classes (freshly initialised)",
    )
    port.add_argument("--no-top", action="store_true", help="the backbone without classifier")
    port.set_defaults(run=_port)

    export = commands.add_parser(
        "export",
        help="a trained model as a SavedModel, ONNX or LiteRT file, checked against it",
        description="Export a run's model (or a .keras file) through Keras' model.export, read "
        "the artefact back with its own runtime (TensorFlow, onnxruntime, LiteRT) and "
        "compare it with the Keras model on a few of the run's test images: the "
        "largest difference is printed, and over 1e-4 (a float32 model) is an error. "
        "The artefact takes normalized network input; how to feed it is written "
        "beside it (PATH.preprocessing.json). ONNX and LiteRT need "
        'pip install "kerascnn[export]".',
    )
    export.add_argument("target", metavar="RUN_DIR_OR_MODEL", help="a run directory or a .keras file")
    export.add_argument(
        "--format",
        choices=("saved_model", "onnx", "litert"),
        default="saved_model",
        help="default saved_model",
    )
    export.add_argument(
        "--out",
        required=True,
        metavar="PATH",
        help="a directory (saved_model), FILE.onnx or FILE.tflite; never overwritten",
    )
    export.add_argument(
        "--images",
        type=_positive_int,
        default=8,
        metavar="N",
        help="how many of the run's test images to compare on (default 8)",
    )
    export.add_argument(
        "--normalize",
        choices=NORMALIZATIONS,
        help="how to normalize images for a model outside a run directory",
    )
    export.set_defaults(run=_export)

    explain = commands.add_parser(
        "explain",
        help="heatmaps of what a trained model looks at (Grad-CAM, occlusion, "
        "saliency, guided backpropagation)",
        description="For each image, the class the model gives it (or --class) and a heatmap over "
        "the image, saved as a PNG in --out: gradcam (Selvaraju et al. 2017; the "
        "layer found from the stage structure: the last stage's output), occlusion "
        "(ZFNet's grey square slid over the image: where covering it lowers the "
        "class probability), saliency (Simonyan et al. 2014) or guided "
        "(guided backpropagation, Springenberg et al. 2015). Images are fed as the "
        "run's validation fed its images.",
    )
    explain.add_argument("target", metavar="RUN_DIR_OR_MODEL", help="a run directory or a .keras file")
    explain.add_argument("images", nargs="+", metavar="IMAGE_OR_FOLDER")
    explain.add_argument(
        "--method",
        choices=("gradcam", "occlusion", "saliency", "guided"),
        default="gradcam",
        help="default gradcam",
    )
    explain.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="where the pictures go (IMAGE_METHOD.png; never overwritten)",
    )
    explain.add_argument(
        "--layer",
        metavar="NAME",
        help="gradcam: a stage or layer name (default: the last stage's output)",
    )
    explain.add_argument(
        "--class",
        dest="label",
        metavar="NAME",
        help="explain this class (default: each image's top class)",
    )
    explain.add_argument(
        "--window",
        type=_positive_int,
        metavar="PIXELS",
        help="occlusion: the grey square's side (default: a sixth of the image)",
    )
    explain.add_argument(
        "--stride",
        type=_positive_int,
        metavar="PIXELS",
        help="occlusion: its step (default: half the window)",
    )
    explain.add_argument(
        "--normalize",
        choices=NORMALIZATIONS,
        help="how to normalize images for a model outside a run directory",
    )
    explain.set_defaults(run=_explain)

    show = commands.add_parser(
        "show",
        help="a trained model's filters, or one image's feature maps stage by stage",
        description="`show filters`: a convolution's filters as a grid (AlexNet's Fig. 3: the "
        "first layer's). `show features`: one image's strongest feature maps at the "
        "output of each stage.",
    )
    shown = show.add_subparsers(dest="what", metavar="WHAT", required=True)
    filters = shown.add_parser(
        "filters",
        help="a convolution's filters as a grid of images",
        description="Draw a convolution layer's filters (default: the "
        "first convolution), in colour over RGB input.",
    )
    filters.add_argument("target", metavar="RUN_DIR_OR_MODEL")
    filters.add_argument(
        "--layer", metavar="NAME", help="a convolution layer, e.g. stage1_conv1 (default: the first)"
    )
    filters.add_argument(
        "--out", required=True, metavar="FILE.png", help="the picture (never overwritten)"
    )
    filters.set_defaults(run=_show)
    features = shown.add_parser(
        "features",
        help="one image's strongest feature maps per stage",
        description="Feed one image as the run's validation did and "
        "draw, for each stage, its strongest feature maps "
        "(highest mean activation).",
    )
    features.add_argument("target", metavar="RUN_DIR_OR_MODEL")
    features.add_argument("image", metavar="IMAGE")
    features.add_argument(
        "--top", type=_positive_int, default=8, metavar="K", help="maps per stage (default 8)"
    )
    features.add_argument(
        "--out", required=True, metavar="FILE.png", help="the picture (never overwritten)"
    )
    features.add_argument(
        "--normalize",
        choices=NORMALIZATIONS,
        help="how to normalize images for a model outside a run directory",
    )
    features.set_defaults(run=_show)
    return parser


def _list(args) -> int:
    from rich.table import Table

    from kerascnn.config.errors import ConfigError, did_you_mean
    from kerascnn.zoo import MODELS, list_models

    families = sorted({info.family for info in MODELS.values()})
    if args.family is not None and args.family not in families:
        raise ConfigError(
            f"unknown family {args.family!r}; the families are {', '.join(families)}.",
            hint=did_you_mean(args.family, families),
        )
    if args.pretrained:
        return _list_pretrained(args.family)
    table = Table(title=None, box=None, header_style="bold", pad_edge=False)
    for column, justify in [
        ("model", "left"),
        ("family", "left"),
        ("input", "right"),
        ("trained on", "left"),
        ("params", "right"),
        ("paper", "left"),
    ]:
        table.add_column(column, justify=justify, overflow="fold")
    for name in list_models(args.family):
        info = MODELS[name]
        table.add_row(
            name,
            info.family,
            "x".join(map(str, info.input_shape)),
            f"{info.dataset} ({info.classes})",
            f"{info.params:,}" if info.params else "",
            info.paper,
        )
    _print_table(table)
    return 0


def _list_pretrained(family: str | None) -> int:
    from rich.table import Table

    from kerascnn.zoo import MODELS
    from kerascnn.zoo.pretrained import PRETRAINED

    table = Table(title=None, box=None, header_style="bold", pad_edge=False)
    for column, justify in [
        ("model", "left"),
        ('weights="imagenet"', "left"),
        ("top-1 (timm, reported)", "right"),
        ("input", "right"),
        ("crop", "right"),
        ("interpolation", "left"),
        ("mean / std", "left"),
    ]:
        table.add_column(column, justify=justify, overflow="fold")
    for name, weights in PRETRAINED.items():
        if family is not None and MODELS[name].family != family:
            continue
        imagenet = weights.mean == (0.485, 0.456, 0.406)
        table.add_row(
            name,
            weights.hub_id,
            f"{weights.top1:.2f}%",
            f"{weights.input_size}x{weights.input_size}",
            f"{weights.crop_pct:g}",
            weights.interpolation,
            "ImageNet" if imagenet else "/".join(f"{m:g}" for m in weights.mean),
        )
    _print_table(table)
    print(
        "Top-1: ImageNet-1k validation, as timm's results-imagenet.csv reports it (not measured "
        "here). Any timm/<arch>.<tag> id of these architectures works as weights= too."
    )
    return 0


def _recipe_file(args, overrides: list[str]):
    """The command's recipe (a file, or a shipped recipe's name), validated with its overrides:
    every error before Keras loads."""
    from kerascnn.recipe import load_recipe
    from kerascnn.shipped import find_recipe

    return load_recipe(find_recipe(args.recipe), overrides)


def _train(args) -> int:
    from kerascnn.config import check_folder

    recipe = _recipe_file(args, recipe_overrides(args))
    check_folder(recipe.run_dir(), what="the run directory")
    quiet_backend()
    import kerascnn

    kerascnn.train(recipe, restart=args.restart, verbose=0 if args.quiet else "auto")
    return 0


def _tune(args) -> int:
    from kerascnn.config import check_folder

    recipe = _recipe_file(args, args.overrides)  # --output is the search's directory
    check_folder(recipe.search_dir(args.output), what="the search directory")
    quiet_backend()
    import kerascnn

    kerascnn.tune(
        recipe, directory=args.output, restart=args.restart, verbose=0 if args.quiet else "auto"
    )
    return 0


def _recipes(args) -> int:
    from kerascnn.shipped import copy_recipe, shipped_recipes

    if args.copy is not None:
        for path in copy_recipe(args.copy, args.to):
            print(f"copied {path}")
        return 0
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("recipe", "network", "dataset", "what the paper reports / what it does"):
        table.add_column(column, overflow="fold")
    for recipe in shipped_recipes().values():
        table.add_row(recipe.name, recipe.network, recipe.dataset, recipe.reported)
    _print_table(table)
    return 0


def _evaluate(args) -> int:
    from pathlib import Path

    if args.confusion is not None:
        _check_new_plot(args.confusion, "--confusion")
    _require_targets(*args.targets)
    quiet_backend()
    from kerascnn.inference import evaluate, plot_confusion

    ensemble = len(args.targets) > 1
    result = evaluate(
        args.targets if ensemble else args.targets[0],
        args.data,
        split=args.split,
        batch_size=args.batch_size,
        normalize=args.normalize,
        bad_images=args.bad_images,
        crops=args.crops,
        scales=args.scales,
    )
    if result.skipped:
        from kerascnn.data.folder import describe_bad

        print(
            f"skipped {len(result.skipped)} unreadable image file"
            f"{'s' if len(result.skipped) > 1 else ''}: "
            f"{describe_bad(result.skipped, shown=len(result.skipped))}",
            file=sys.stderr,
        )
    if args.json:
        import json

        print(json.dumps(result.to_dict(), indent=2))
    else:
        from rich.table import Table

        views = f"{args.crops} crop{'s' if args.crops > 1 else ''}" + (
            f" at scales {', '.join(map(str, args.scales))}" if args.scales else ""
        )
        what = "an ensemble of " + str(len(args.targets)) if ensemble else args.targets[0]
        print(f"{what} on {result.data}: {result.examples:,} images, {views}")
        if ensemble:
            table = Table(box=None, header_style="bold", pad_edge=False)
            for column in ("model", "accuracy", "top-5 accuracy", "loss"):
                table.add_column(column, justify="left" if column == "model" else "right")
            for row in [*result.members, result]:
                table.add_row(
                    row.model,
                    f"{row.accuracy:.4f}",
                    "" if row.top5_accuracy is None else f"{row.top5_accuracy:.4f}",
                    f"{row.loss:.4f}",
                )
            _print_table(table)
        else:
            line = f"  accuracy {result.accuracy:.4f}  loss {result.loss:.4f}"
            if result.top5_accuracy is not None:
                line += f"  top-5 accuracy {result.top5_accuracy:.4f}"
            print(line)
        if len(result.per_class) <= 50:
            table = Table(box=None, header_style="bold", pad_edge=False)
            table.add_column("class")
            table.add_column("images", justify="right")
            table.add_column("accuracy", justify="right")
            for i, name in enumerate(result.class_names):
                if name in result.per_class:
                    table.add_row(name, str(sum(result.confusion[i])), f"{result.per_class[name]:.4f}")
            _print_table(table)
    if args.confusion is not None:
        Path(args.confusion).parent.mkdir(parents=True, exist_ok=True)
        plot_confusion(result, args.confusion)
        print(f"confusion matrix saved to {args.confusion}", file=sys.stderr)
    return 0


def _predict(args) -> int:
    _require_targets(args.target)
    _require_images(args.images, bad_images=args.bad_images)
    quiet_backend()
    from kerascnn.inference import predict

    results = predict(
        args.target, args.images, top=args.top, normalize=args.normalize, bad_images=args.bad_images
    )
    if args.json:
        import json

        print(json.dumps([r.to_dict() for r in results], indent=2))
        return 0
    for r in results:
        if r.error is not None:
            print(f"{r.path}: unreadable ({r.error})")
            continue
        best = ", ".join(f"{c} {p:.1%}" for c, p in zip(r.classes, r.probabilities))
        print(f"{r.path}: {best}")
    return 0


def _require_targets(*targets: str) -> None:
    """Each run directory or model file named exists, and what will be read of it is within
    kerascnn's limits (the model archive, a run's data.json): said before the backend loads."""
    from pathlib import Path

    from kerascnn.config.errors import ConfigError
    from kerascnn.inference.loading import check_target

    for target in targets:
        if not Path(target).exists():
            raise ConfigError(f"no run directory or model at {target!r}.")
        check_target(target)


def _require_images(items, *, bad_images: str = "error") -> None:
    """The image files named exist and, unless they are to be skipped, none is too large to
    decode (read from their headers): said before the backend loads."""
    from kerascnn.inference.loading import check_image_sizes, image_files

    files = image_files(items)
    if bad_images == "error":
        check_image_sizes(files)


def _check_new_plot(text: str, flag: str) -> None:
    """A picture to write: a .png/.svg/.pdf name that is not taken (kerascnn never overwrites) in
    a folder that takes files."""
    from pathlib import Path

    from kerascnn.config import ConfigError, check_new_file

    if Path(text).suffix.lower() not in (".png", ".svg", ".pdf"):
        raise ConfigError(f"{flag} must end in .png, .svg or .pdf. Received: {text!r}.")
    if Path(text).exists():
        raise ConfigError(
            f"{text!r} exists; kerascnn does not overwrite it. Choose another name or remove it first."
        )
    check_new_file(text, what=flag)


def _model_arguments(parser) -> None:
    parser.add_argument(
        "--input-shape",
        type=_shape,
        metavar="H,W,C",
        help="build at this input, e.g. 32,32,3 (default: the model's own)",
    )
    parser.add_argument(
        "--classes", type=_positive_int, metavar="N", help="override the number of classes"
    )
    parser.add_argument(
        "--batch-size",
        type=_positive_int,
        default=1,
        metavar="N",
        help="multiply-adds and activations for a batch of N (default 1)",
    )


def _format_arguments(parser) -> None:
    formats = parser.add_mutually_exclusive_group()
    for flag, what in [
        ("json", "JSON: the totals and a `layers` list"),
        ("markdown", "a Markdown table"),
        ("csv", "CSV, one row per layer"),
    ]:
        formats.add_argument(f"--{flag}", dest="format", action="store_const", const=flag, help=what)


def _summary(args) -> int:
    from kerascnn.models import check_model_argument, model_for

    check_model_argument(args.spec)
    quiet_backend()
    from kerascnn.analysis import profile

    model = model_for(args.spec, args.input_shape, args.classes)
    result = profile(model, batch_size=args.batch_size)
    if args.format == "json":
        print(result.to_json())
    elif args.format == "csv":
        sys.stdout.write(result.to_csv())
    elif args.format == "markdown":
        sys.stdout.write(result.to_markdown())
    elif sys.stdout.isatty():
        from rich.console import Console

        console = Console()
        console.print(result.rich_table())
        console.print("\n".join([""] + result.footer()), highlight=False)
    else:  # piped: no wrapping, whole rows
        print(result.text_table())
    return 0


def _compare(args) -> int:
    from pathlib import Path

    from kerascnn.models import check_model_argument, model_for

    for source in args.models:
        check_model_argument(source)
    if args.plot is not None:
        _check_new_plot(args.plot, "--plot")
    quiet_backend()
    import keras

    from kerascnn.analysis import profile, report

    profiles, inputs = [], []
    for source in args.models:
        model = model_for(source, args.input_shape, args.classes)
        profiles.append(profile(model, batch_size=args.batch_size))
        inputs.append("x".join(str(d) for d in model.input_shape[1:]))
        keras.backend.clear_session()  # one model's graph at a time
    if args.format == "json":
        import json

        print(json.dumps(report.comparison_dicts(profiles, inputs), indent=2))
    elif args.format == "csv":
        sys.stdout.write(report.comparison_csv(profiles, inputs))
    elif args.format == "markdown":
        sys.stdout.write(report.comparison_markdown(profiles, inputs))
    else:
        _print_table(report.comparison_table(profiles, inputs))
    if args.plot is not None:
        Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
        report.plot_comparison(profiles, args.plot)
        print(f"plot saved to {args.plot}", file=sys.stderr)
    return 0


def _print_table(table) -> None:
    from rich.console import Console

    if sys.stdout.isatty():
        Console().print(table)
    else:  # piped: one row per line, no wrapping, no trailing blanks
        console = Console(width=250, file=io.StringIO(), color_system=None)
        console.print(table)
        print("\n".join(line.rstrip() for line in console.file.getvalue().splitlines()))


def _port(args) -> int:
    from kerascnn.models import check_port_output, port

    check_port_output(args.output, args.weights)  # before Keras loads
    quiet_backend()
    saved = port(
        args.architecture,
        args.output,
        weights=args.weights,
        input_shape=args.input_shape,
        classes=args.classes,
        include_top=not args.no_top,
    )
    if saved.note is not None:
        print(f"note: {saved.note}", file=sys.stderr)
    print(
        f"{saved.source} -> kerascnn {saved.model.name}: {saved.weights:,} weights saved to {saved.path}"
    )
    return 0


def _export(args) -> int:
    from kerascnn.exporting import check_destination

    _require_targets(args.target)
    check_destination(args.out, args.format)
    quiet_backend()
    from kerascnn.exporting import ExportMismatch, export

    try:
        done = export(
            args.target, args.out, format=args.format, images=args.images, normalize=args.normalize
        )
    except ExportMismatch as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(
        f"{args.target} -> {done.path} ({done.format}): largest difference from the Keras model "
        f"{done.max_difference:.2g} on {done.checked} {done.inputs} (allowed {done.tolerance:g}); "
        f"how to feed it: {done.path.parent / (done.path.name + '.preprocessing.json')}"
    )
    return 0


def _explain(args) -> int:
    from kerascnn.config import check_folder

    _require_targets(args.target)
    _require_images(args.images)
    check_folder(args.out, what="--out")
    quiet_backend()
    from kerascnn.visualize import explain

    found = explain(
        args.target,
        args.images,
        method=args.method,
        out=args.out,
        layer=args.layer,
        classes=args.label,
        window=args.window,
        stride=args.stride,
        normalize=args.normalize,
    )
    for result in found:
        print(f"{result.path}: {result.label} ({result.probability:.1%}) -> {result.picture}")
    return 0


def _show(args) -> int:
    _require_targets(args.target)
    if args.what == "features":
        _require_images([args.image])
    _check_new_plot(args.out, "--out")
    quiet_backend()
    from kerascnn.visualize import show_features, show_filters

    if args.what == "filters":
        path = show_filters(args.target, args.out, layer=args.layer)
    else:
        path = show_features(args.target, args.image, args.out, top=args.top, normalize=args.normalize)
    print(f"saved {path}")
    return 0


def _shape(text: str) -> tuple[int, int, int]:
    try:
        parts = tuple(int(p) for p in text.replace("x", ",").split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3 or min(parts) < 1:
        raise argparse.ArgumentTypeError(
            f"expected height,width,channels such as 224,224,3. Received: {text!r}"
        )
    return parts


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(p) for p in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"expected sizes such as 256 or 256,288,320. Received: {text!r}"
        )
    return sizes


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer. Received: {text!r}")
    return value


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
