"""The commands over trained models: `kerascnn evaluate`, `predict`, `export`, `report`.

Each command is two functions: `add_<command>` declares its arguments, `run_<command>` checks
what it names, calls the verb and prints."""

from __future__ import annotations

import sys

from kerascnn.cli.arguments import (
    check_new_plot,
    positive_int,
    print_table,
    require_images,
    require_targets,
    sizes,
)
from kerascnn.cli.scripting import quiet_backend
from kerascnn.config.errors import ConfigError
from kerascnn.data.feeding import NORMALIZATIONS
from kerascnn.data.folder import describe_bad
from kerascnn.inference import evaluate, plot_confusion, predict
from kerascnn.inference.exporting import ExportMismatch, check_destination, export
from kerascnn.inference.views import CROPS
from kerascnn.runs.rundir import RunDir


def add_evaluate(commands) -> None:
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
        type=sizes,
        metavar="Q[,Q...]",
        help="bring each image's shorter side to each size Q before cropping "
        "(VGG's multi-scale test), e.g. 256,288,320; default: the run's "
        "own size",
    )
    evaluate.add_argument("--batch-size", type=positive_int, default=64, metavar="N")
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
    evaluate.set_defaults(run=run_evaluate)


def run_evaluate(args) -> int:
    from pathlib import Path

    if args.confusion is not None:
        check_new_plot(args.confusion, "--confusion")
    require_targets(*args.targets)
    quiet_backend()
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
            print_table(table)
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
            print_table(table)
    if args.confusion is not None:
        Path(args.confusion).parent.mkdir(parents=True, exist_ok=True)
        plot_confusion(result, args.confusion)
        print(f"confusion matrix saved to {args.confusion}", file=sys.stderr)
    return 0


def add_predict(commands) -> None:
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
        type=positive_int,
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
    predict.set_defaults(run=run_predict)


def run_predict(args) -> int:
    require_targets(args.target)
    require_images(args.images, bad_images=args.bad_images)
    quiet_backend()
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


def add_export(commands) -> None:
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
        type=positive_int,
        default=8,
        metavar="N",
        help="how many of the run's test images to compare on (default 8)",
    )
    export.add_argument(
        "--normalize",
        choices=NORMALIZATIONS,
        help="how to normalize images for a model outside a run directory",
    )
    export.set_defaults(run=run_export)


def run_export(args) -> int:
    require_targets(args.target)
    check_destination(args.out, args.format)
    quiet_backend()
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


def add_report(commands) -> None:
    report = commands.add_parser(
        "report",
        help="a run's page (report.html): data, curves, confusion matrix, mistakes with Grad-CAM; "
        "several runs compared on one page",
        description="Write RUN/report.html again for a run, a fine-tuning run or a search (every "
        "run writes it when it ends): the recipe, the data, the learning curves, the "
        "test metrics, the confusion matrix and per-class precision/recall/F1, the most "
        "confused pairs, the most confident mistakes with their Grad-CAM, a training "
        "batch as the network receives it, throughput and the environment; a search's "
        "page shows its trials. With several runs: one page comparing them (curves "
        "overlaid, metrics side by side), written to --out. One self-contained file: "
        "open it in a browser, nothing is fetched.",
    )
    report.add_argument("runs", nargs="+", metavar="RUN_DIR", help="a run or search directory")
    report.add_argument(
        "--out",
        metavar="FILE.html",
        help="the comparison page of several runs (default compare.html); never written over a "
        "file kerascnn did not write",
    )
    report.set_defaults(run=run_report)


def run_report(args) -> int:
    for run in args.runs:
        RunDir(run).kind()  # a folder that is no run nor search: said before the backend loads
    if len(args.runs) == 1 and args.out is not None:
        raise ConfigError(
            "--out names the page comparing several runs; one run's page is its report.html."
        )
    quiet_backend()
    from kerascnn.report import compare_runs, write_report

    if len(args.runs) == 1:
        print(f"report {write_report(args.runs[0])}")
    else:
        print(f"report {compare_runs(args.runs, args.out or 'compare.html')}")
    return 0


def add_average(commands) -> None:
    average = commands.add_parser(
        "average",
        help="average a run's best kept epochs into averaged.keras, BN statistics recomputed, "
        "and test it",
        description="Average the weights of the epochs a finished run kept ([output] keep_best: "
        "timm's checkpoint history) into RUN/averaged.keras, recompute its batch "
        "normalization statistics on one pass of the run's training batches (SWA's practice), "
        "test it on the run's test split and add the result to metrics.json "
        "(test_averaged). `kerascnn evaluate RUN/averaged.keras` evaluates it like any model.",
    )
    average.add_argument("directory", metavar="RUN_DIR", help="a finished run that kept its best epochs")
    average.add_argument(
        "--k",
        type=positive_int,
        metavar="K",
        help="average the K best of the kept epochs (default: all of them)",
    )
    average.set_defaults(run=run_average)


def run_average(args) -> int:
    RunDir(args.directory).kind()  # a folder that is no run: said before the backend loads
    quiet_backend()
    from kerascnn.verbs.average import average

    average(args.directory, k=args.k)
    return 0
