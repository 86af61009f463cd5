"""The `kerascnn` command. Thin: parses arguments, calls the API, prints.

Keras and TensorFlow are imported inside the commands that need them, so `kerascnn --help` answers at
once.
"""

from __future__ import annotations

import argparse
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kerascnn",
        description="The classic convolutional networks, declared as data, built with Keras 3.")
    parser.add_argument("--version", action="version", version=f"kerascnn {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    summary = commands.add_parser(
        "summary", help="build a network from a spec file and print its layers",
        description="Validate a spec (.toml or .yaml), build it, and print every layer with its "
                    "output shape and parameters.")
    summary.add_argument("spec", help="a spec file, e.g. recipes/specs/vgg16.toml")
    summary.add_argument("--input-shape", type=_shape, metavar="H,W,C",
                         help="override the spec's input shape, e.g. 32,32,3")
    summary.add_argument("--classes", type=_positive_int, metavar="N",
                         help="override the number of classes")
    summary.set_defaults(run=_summary)
    return parser


def _summary(args) -> int:
    _quiet_backend()
    from kerascnn.spec import build_from_spec

    model = build_from_spec(args.spec, input_shape=args.input_shape, classes=args.classes)
    width = 110
    if not sys.stdout.isatty():  # rich would fall back to 80 columns and clip the table
        os.environ.setdefault("COLUMNS", str(width))
    model.summary(line_length=width)
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
