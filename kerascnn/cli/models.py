"""The commands about networks: `kerascnn list`, `summary`, `compare`, `port`.

Each command is two functions: `add_<command>` declares its arguments, `run_<command>` checks
what it names, calls the verb and prints."""

from __future__ import annotations

import sys

from kerascnn.cli.arguments import (
    check_model_argument,
    check_new_plot,
    format_arguments,
    model_arguments,
    model_for,
    positive_int,
    print_table,
    shape,
)
from kerascnn.cli.scripting import quiet_backend
from kerascnn.config.errors import ConfigError, did_you_mean
from kerascnn.runs.saving import check_port_output
from kerascnn.zoo import MODELS, list_models
from kerascnn.zoo.weights.cards import PRETRAINED


def add_list(commands) -> None:
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
    listing.set_defaults(run=run_list)


def run_list(args) -> int:
    from rich.table import Table

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
    print_table(table)
    return 0


def add_summary(commands) -> None:
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
    model_arguments(summary)
    format_arguments(summary)
    summary.set_defaults(run=run_summary)


def run_summary(args) -> int:

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


def add_compare(commands) -> None:
    compare = commands.add_parser(
        "compare",
        help="several models side by side: parameters, multiply-adds, memory",
        description="Profile several models (names, spec files or .keras files) and print their "
        "totals side by side; --plot draws parameters against multiply-adds.",
    )
    compare.add_argument("models", nargs="+", metavar="MODEL_OR_FILE")
    model_arguments(compare)
    format_arguments(compare)
    compare.add_argument(
        "--plot",
        metavar="FILE.png",
        help="also draw parameters vs multiply-adds, log scales (never overwritten)",
    )
    compare.set_defaults(run=run_compare)


def run_compare(args) -> int:
    from pathlib import Path

    for source in args.models:
        check_model_argument(source)
    if args.plot is not None:
        check_new_plot(args.plot, "--plot")
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
        print_table(report.comparison_table(profiles, inputs))
    if args.plot is not None:
        Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
        report.plot_comparison(profiles, args.plot)
        print(f"plot saved to {args.plot}", file=sys.stderr)
    return 0


def add_port(commands) -> None:
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
        type=shape,
        metavar="H,W,C",
        help="e.g. 224,224,1 for grayscale: the first convolution is adapted",
    )
    port.add_argument(
        "--classes",
        type=positive_int,
        metavar="N",
        help="a new classifier with N classes (freshly initialised)",
    )
    port.add_argument("--no-top", action="store_true", help="the backbone without classifier")
    port.set_defaults(run=run_port)


def run_port(args) -> int:
    check_port_output(args.output, args.weights)  # before Keras loads
    quiet_backend()
    from kerascnn.verbs.port import port

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


def _list_pretrained(family: str | None) -> int:
    from rich.table import Table

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
    print_table(table)
    print(
        "Top-1: ImageNet-1k validation, as timm's results-imagenet.csv reports it (not measured "
        "here). Any timm/<arch>.<tag> id of these architectures works as weights= too."
    )
    return 0
