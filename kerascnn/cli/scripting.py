"""Command lines over recipes, for `kerascnn` and for recipe scripts (`recipes/*.py`): the options
of `kerascnn train` (`--set`, `--output`, `--restart`, `--quiet`), the overrides they make, a script's
whole command line (`run_script`), and starting the backend without TensorFlow's start-up chatter
(and, on JAX, with its compilations kept between runs)."""

from __future__ import annotations

import argparse
import os
import sys

from kerascnn.config.cache import jax_compilation_cache
from kerascnn.config.errors import ConfigError, on_command_line
from kerascnn.recipe import load_recipe

__all__ = ["add_train_options", "add_set_option", "recipe_overrides", "run_script", "quiet_backend"]


def add_train_options(
    parser: argparse.ArgumentParser,
    *,
    example: str = "train.epochs=3",
    output: str = "the run directory (output.dir)",
    restart: str = "start a new run beside an existing one (it is kept) instead of resuming or refusing",
) -> None:
    """--set, --output, --restart, --quiet: the options of `kerascnn train`, `kerascnn tune` and
    of recipe scripts (the help texts say what --output and --restart mean for each)."""
    add_set_option(parser, example=example)
    parser.add_argument("--output", metavar="DIR", help=output)
    parser.add_argument("--restart", action="store_true", help=restart)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def add_set_option(parser: argparse.ArgumentParser, *, example: str) -> None:
    """--set KEY=VALUE (repeatable), into `args.overrides`: every command that takes a recipe."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override a recipe key, e.g. --set {example} (repeatable)",
    )


def recipe_overrides(args) -> list[str]:
    """The `--set` overrides of parsed train options, `--output` included."""
    overrides = list(args.overrides)
    if args.output:
        overrides.append(f"output.dir={_toml_string(args.output)}")
    return overrides


def run_script(
    recipe: dict, *, model=None, argv: list[str] | None = None, description: str | None = None
) -> int:
    """The command line of a recipe script (`python recipes/x.py --set train.epochs=3 ...`): the
    options of `kerascnn train`, the same validation, the same trainer; returns the exit status.

    Args:
        recipe: the recipe as a dict (the tables of a TOML recipe).
        model: a function `(input_shape, classes) -> keras.Model`, for a recipe without [model].
    """
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_train_options(parser)
    args = parser.parse_args(argv)
    try:
        with on_command_line():
            loaded = load_recipe(recipe, recipe_overrides(args))
            quiet_backend()
            from kerascnn.verbs import train

            train(loaded, model=model, restart=args.restart, verbose=0 if args.quiet else "auto")
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def _toml_string(text: str) -> str:
    import json

    return json.dumps(text)  # a JSON string is a valid TOML basic string


def quiet_backend() -> None:
    """Import Keras and its backend without TensorFlow's C++ start-up chatter, and on JAX keep what
    it compiles between runs: every command that loads the backend starts here.

    TensorFlow 2.21 logs through abseil before abseil is initialised, which ignores
    TF_CPP_MIN_LOG_LEVEL (abseil-cpp#1718, #1957), so file descriptor 2 is pointed at /dev/null while
    the backend loads and finds its devices. Python exceptions are unaffected. Anyone who sets
    TF_CPP_MIN_LOG_LEVEL themselves gets TensorFlow's own behaviour.

    On the JAX backend, JAX's persistent compilation cache is turned on in kerascnn's cache folder
    before anything compiles (`kerascnn.config.cache.jax_compilation_cache`; `KERASCNN_JAX_CACHE=0`
    turns it off).
    """
    _load_backend()
    jax_compilation_cache()


def _load_backend() -> None:
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
