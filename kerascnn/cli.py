"""The `kerascnn` command. Thin: parses arguments, calls the API, prints.

Keras and TensorFlow are imported inside the commands that need them, so `kerascnn --help` answers at
once.
"""

from __future__ import annotations

import argparse
import io
import os
import sys

from kerascnn import __version__


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from kerascnn.config.errors import ConfigError

    try:
        return args.run(args)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `kerascnn list | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kerascnn",
        description="The classic convolutional networks, declared as data, built with Keras 3.")
    parser.add_argument("--version", action="version", version=f"kerascnn {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    listing = commands.add_parser(
        "list", help="list the registered models with their papers and default inputs",
        description="Every architecture `kerascnn.build(name)` knows: family, default input, the "
                    "dataset the paper trained on, trainable parameters, and the paper.")
    listing.add_argument("--family", help="only this family, e.g. resnet, densenet, vgg")
    listing.set_defaults(run=_list)

    summary = commands.add_parser(
        "summary", help="build a registered model or a spec file and print its layers",
        description="Build a registered model (see `kerascnn list`) or validate and build a spec "
                    "(.toml or .yaml), and print every layer with its output shape and parameters.")
    summary.add_argument("spec", metavar="MODEL_OR_SPEC",
                         help="a model name such as resnet50, or a spec file such as "
                              "recipes/specs/vgg16.toml")
    summary.add_argument("--input-shape", type=_shape, metavar="H,W,C",
                         help="override the spec's input shape, e.g. 32,32,3")
    summary.add_argument("--classes", type=_positive_int, metavar="N",
                         help="override the number of classes")
    summary.set_defaults(run=_summary)

    port = commands.add_parser(
        "port", help="save a keras.applications network's weights as the kerascnn model",
        description="Build the kerascnn equivalent of a keras.applications network (VGG16/19, "
                    "ResNet50/101/152, ResNet50V2/101V2/152V2, DenseNet121/169/201, "
                    "InceptionResNetV2) with its weights and save it as a .keras file. Without "
                    "--weights, keras.applications downloads the ImageNet weights (internet).")
    port.add_argument("architecture", metavar="ARCHITECTURE",
                      help="the keras.applications name, e.g. ResNet50 or densenet121")
    port.add_argument("-o", "--output", required=True, metavar="FILE.keras",
                      help="where to save the kerascnn model (never overwritten)")
    port.add_argument("--weights", metavar="FILE.h5",
                      help="a weights file of that architecture instead of the ImageNet download")
    port.add_argument("--input-shape", type=_shape, metavar="H,W,C",
                      help="e.g. 224,224,1 for grayscale: the first convolution is adapted")
    port.add_argument("--classes", type=_positive_int, metavar="N",
                      help="a new classifier with N classes (freshly initialised)")
    port.add_argument("--no-top", action="store_true", help="the backbone without classifier")
    port.set_defaults(run=_port)
    return parser


def _list(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from kerascnn.config.errors import ConfigError, did_you_mean
    from kerascnn.zoo import MODELS, list_models

    families = sorted({info.family for info in MODELS.values()})
    if args.family is not None and args.family not in families:
        raise ConfigError(f"unknown family {args.family!r}; the families are "
                          f"{', '.join(families)}.", hint=did_you_mean(args.family, families))
    table = Table(title=None, box=None, header_style="bold", pad_edge=False)
    for column, justify in [("model", "left"), ("family", "left"), ("input", "right"),
                            ("trained on", "left"), ("params", "right"), ("paper", "left")]:
        table.add_column(column, justify=justify, overflow="fold")
    for name in list_models(args.family):
        info = MODELS[name]
        table.add_row(name, info.family, "x".join(map(str, info.input_shape)),
                      f"{info.dataset} ({info.classes})",
                      f"{info.params:,}" if info.params else "", info.paper)
    if sys.stdout.isatty():
        Console().print(table)
    else:  # piped: one row per line, no wrapping, no trailing blanks
        console = Console(width=250, file=io.StringIO(), color_system=None)
        console.print(table)
        print("\n".join(line.rstrip() for line in console.file.getvalue().splitlines()))
    return 0


def _summary(args) -> int:
    from pathlib import Path

    from kerascnn.zoo import MODELS

    is_model = args.spec in MODELS and not Path(args.spec).exists()
    _quiet_backend()
    if is_model:
        from kerascnn.zoo import build

        model = build(args.spec, input_shape=args.input_shape, classes=args.classes)
    else:
        from kerascnn.spec import build_from_spec

        model = build_from_spec(args.spec, input_shape=args.input_shape, classes=args.classes)
    width = 110
    if not sys.stdout.isatty():  # rich would fall back to 80 columns and clip the table
        os.environ.setdefault("COLUMNS", str(width))
    model.summary(line_length=width)
    return 0


def _port(args) -> int:
    from pathlib import Path

    from kerascnn.config.errors import ConfigError
    from kerascnn.zoo.port import find_source

    output = Path(args.output)
    if output.suffix != ".keras":
        raise ConfigError(f"--output must end in .keras. Received: {args.output!r}.")
    if output.exists():
        raise ConfigError(f"{args.output!r} exists; kerascnn never overwrites a saved model. "
                          f"Choose another name or remove it first.")
    if args.weights is not None and not Path(args.weights).is_file():
        raise ConfigError(f"no weights file at {args.weights!r}.")
    spec = find_source(args.architecture)  # a typo fails before anything loads
    _quiet_backend()
    from kerascnn.zoo.port import port_weights

    include_top = False if args.no_top else None
    if args.weights is not None:
        source = args.weights
    else:
        import keras

        try:
            source = getattr(keras.applications, spec.application)(
                weights="imagenet", include_top=not args.no_top)
        except Exception as e:  # noqa: BLE001  (a failed download has many exception types)
            raise ConfigError(f"could not fetch the ImageNet weights of {spec.application}: "
                              f"{str(e).splitlines()[0] if str(e) else type(e).__name__}",
                              hint="without internet, download the .h5 elsewhere and pass "
                                   "--weights FILE.") from None
    model = port_weights(source, architecture=spec.application, input_shape=args.input_shape,
                         include_top=include_top, classes=args.classes)
    output.parent.mkdir(parents=True, exist_ok=True)
    model.save(output)
    count = sum(int(w.numpy().size) for w in model.weights)
    print(f"{spec.application} -> kerascnn {model.name}: {count:,} weights saved to {output}")
    return 0


def _quiet_backend() -> None:
    """Import Keras and its backend without TensorFlow's C++ start-up chatter.

    TensorFlow 2.21 logs through abseil before abseil is initialised, which ignores
    TF_CPP_MIN_LOG_LEVEL (abseil-cpp#1718, #1957), so file descriptor 2 is pointed at /dev/null while
    the backend loads and finds its devices. Python exceptions are unaffected. Anyone who sets
    TF_CPP_MIN_LOG_LEVEL themselves gets TensorFlow's own behaviour.
    """
    if "keras" in sys.modules or "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices()  # device discovery logs too (cuInit on CPU hosts)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _shape(text: str) -> tuple[int, int, int]:
    try:
        parts = tuple(int(p) for p in text.replace("x", ",").split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3 or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"expected height,width,channels such as 224,224,3. "
                                         f"Received: {text!r}")
    return parts


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
