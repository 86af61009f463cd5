"""The commands that draw: `kerascnn explain`, `kerascnn show filters|features`.

Each command is two functions: `add_<command>` declares its arguments, `run_<command>` checks
what it names, calls the verb and prints."""

from __future__ import annotations

from kerascnn.cli.arguments import (
    check_new_plot,
    positive_int,
    recipe_file,
    require_images,
    require_targets,
)
from kerascnn.cli.scripting import add_set_option, quiet_backend
from kerascnn.config import check_folder
from kerascnn.data.feeding import NORMALIZATIONS


def add_explain(commands) -> None:
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
        type=positive_int,
        metavar="PIXELS",
        help="occlusion: the grey square's side (default: a sixth of the image)",
    )
    explain.add_argument(
        "--stride",
        type=positive_int,
        metavar="PIXELS",
        help="occlusion: its step (default: half the window)",
    )
    explain.add_argument(
        "--normalize",
        choices=NORMALIZATIONS,
        help="how to normalize images for a model outside a run directory",
    )
    explain.set_defaults(run=run_explain)


def run_explain(args) -> int:
    require_targets(args.target)
    require_images(args.images)
    check_folder(args.out, what="--out")
    quiet_backend()
    from kerascnn.inference.explaining import explain

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


def add_show(commands) -> None:
    show = commands.add_parser(
        "show",
        help="a trained model's filters, one image's feature maps, or a recipe's training batch",
        description="`show filters`: a convolution's filters as a grid (AlexNet's Fig. 3: the "
        "first layer's). `show features`: one image's strongest feature maps at the "
        "output of each stage. `show batch`: a recipe's first training batch as the network "
        "receives it (augmented, denormalized for display), with labels.",
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
    filters.set_defaults(run=run_show)
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
        "--top", type=positive_int, default=8, metavar="K", help="maps per stage (default 8)"
    )
    features.add_argument(
        "--out", required=True, metavar="FILE.png", help="the picture (never overwritten)"
    )
    features.add_argument(
        "--normalize",
        choices=NORMALIZATIONS,
        help="how to normalize images for a model outside a run directory",
    )
    features.set_defaults(run=run_show)
    batch = shown.add_parser(
        "batch",
        help="a recipe's first training batch as the network receives it, with labels",
        description="Load the recipe's data and draw its first training batch after "
        "augmentation, each image denormalized for display (x * std + mean) with its "
        "label (mixed labels with their shares): how the recipe feeds its network.",
    )
    batch.add_argument("recipe", metavar="RECIPE", help="a recipe file, or a shipped recipe's name")
    batch.add_argument(
        "--out", required=True, metavar="FILE.png", help="the picture (never overwritten)"
    )
    batch.add_argument(
        "--count", type=positive_int, metavar="N", help="the first N images (default: up to 64)"
    )
    add_set_option(batch, example="data.augment.randaugment=2")
    batch.set_defaults(run=run_show)


def run_show(args) -> int:
    if args.what == "batch":
        return run_show_batch(args)
    require_targets(args.target)
    if args.what == "features":
        require_images([args.image])
    check_new_plot(args.out, "--out")
    quiet_backend()
    from kerascnn.inference.explaining import show_features, show_filters

    if args.what == "filters":
        path = show_filters(args.target, args.out, layer=args.layer)
    else:
        path = show_features(args.target, args.image, args.out, top=args.top, normalize=args.normalize)
    print(f"saved {path}")
    return 0


def run_show_batch(args) -> int:
    recipe = recipe_file(args, args.overrides)  # every recipe error before the data loads
    check_new_plot(args.out, "--out")
    quiet_backend()
    from kerascnn.verbs import show_batch

    shown = show_batch(recipe, args.out, count=args.count)
    print(f"saved {shown.path}: {len(shown.labels)} images; {shown.normalization}")
    return 0
