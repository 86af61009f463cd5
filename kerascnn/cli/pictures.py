"""The commands that draw: `kerascnn explain`, `kerascnn show filters|features`.

Each command is two functions: `add_<command>` declares its arguments, `run_<command>` checks
what it names, calls the verb and prints."""

from __future__ import annotations

from kerascnn.cli.arguments import check_new_plot, positive_int, require_images, require_targets
from kerascnn.cli.scripting import quiet_backend
from kerascnn.runs.trained import NORMALIZATIONS


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
    from kerascnn.config import check_folder

    require_targets(args.target)
    require_images(args.images)
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


def add_show(commands) -> None:
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


def run_show(args) -> int:
    require_targets(args.target)
    if args.what == "features":
        require_images([args.image])
    check_new_plot(args.out, "--out")
    quiet_backend()
    from kerascnn.visualize import show_features, show_filters

    if args.what == "filters":
        path = show_filters(args.target, args.out, layer=args.layer)
    else:
        path = show_features(args.target, args.image, args.out, top=args.top, normalize=args.normalize)
    print(f"saved {path}")
    return 0
