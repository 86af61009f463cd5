"""What the commands' arguments name, checked before Keras loads: a model argument (a registered
model, a spec file, a recipe's model, or a saved `.keras` model, built at the size asked or declared),
a recipe, run directories and image files, and the files a command writes (kerascnn never overwrites
one: a picture, a ported model). Also the argument types and the table printer the commands share."""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from kerascnn.config import ConfigError, load_document
from kerascnn.config.paths import new_picture
from kerascnn.data import declared_input
from kerascnn.inference.trained import check_image_sizes, check_target, image_files
from kerascnn.recipe import is_recipe, load_recipe
from kerascnn.recipe.shipped import find_recipe
from kerascnn.runs.saving import check_archive, load_model
from kerascnn.zoo import MODELS, get_model_info

__all__ = [
    "MODEL_FILES",
    "check_model_argument",
    "model_for",
    "recipe_model",
    "recipe_file",
    "require_targets",
    "require_images",
    "check_new_plot",
    "model_arguments",
    "format_arguments",
    "print_table",
    "shape",
    "sizes",
    "positive_int",
]

MODEL_FILES = (".toml", ".yaml", ".yml", ".keras")


def check_model_argument(text: str) -> None:
    """A model argument that is neither a file nor a registered name fails before Keras loads, and
    so does a file past kerascnn's limits (a spec's size, nesting and aliases; a `.keras`
    archive's members and config: `kerascnn.config.limits`)."""
    path = Path(text)
    if path.is_file():
        if path.suffix.lower() not in MODEL_FILES:
            raise ConfigError(
                f"{text!r}: expected a spec (.toml, .yaml) or a saved model "
                f"(.keras). Received a {path.suffix or 'file without suffix'}."
            )
        if path.suffix.lower() == ".keras":
            check_archive(path)
        else:
            load_document(path)
        return
    if text in MODELS:
        return
    if path.suffix.lower() in MODEL_FILES or "/" in text or "\\" in text:
        raise ConfigError(f"no such file: {text!r}.")
    get_model_info(text)  # an unknown name: the error lists close matches


def model_for(text: str, input_shape=None, classes: int | None = None):
    """The model a command argument names: a registry name, a spec file or a saved .keras model."""

    path = Path(text)
    if path.is_file() and path.suffix.lower() == ".keras":
        if classes is not None:
            raise ConfigError("--classes cannot change a saved model.")
        model = load_model(path)
        if input_shape is not None:
            raise ConfigError("--input-shape cannot change a saved model; profile it at its own input.")
        return model
    if path.is_file():
        document, _ = load_document(path)
        if is_recipe(document):
            return recipe_model(path, input_shape, classes)
        from kerascnn.spec import build_from_spec

        return build_from_spec(path, input_shape=input_shape, classes=classes)
    from kerascnn.zoo import build

    return build(text, input_shape=input_shape, classes=classes)


def recipe_model(path, input_shape=None, classes: int | None = None):
    """A recipe's model at the recipe's input size, without reading its data: the image size,
    channels and classes its data source declares (`kerascnn.data.declared_input`), or
    `input_shape` and `classes`."""
    from kerascnn.training import build_model

    recipe = load_recipe(path)
    shape, declared = declared_input(recipe)
    input_shape = input_shape or shape
    if input_shape is None:
        raise ConfigError(
            f"{path}: the input size comes from the data; give --input-shape "
            f"H,W,C (or set data.image_size and data.channels)."
        )
    classes = classes or declared
    if classes is None:
        raise ConfigError(f"{path}: the number of classes comes from the data; give --classes N.")
    return build_model(recipe, input_shape, classes)


def recipe_file(args, overrides: list[str]):
    """The command's recipe (a file, or a shipped recipe's name), validated with its overrides:
    every error before Keras loads."""
    return load_recipe(find_recipe(args.recipe), overrides)


def require_targets(*targets: str) -> None:
    """Each run directory or model file named exists, and what will be read of it is within
    kerascnn's limits (the model archive, a run's data.json): said before the backend loads."""
    for target in targets:
        if not Path(target).exists():
            raise ConfigError(f"no run directory or model at {target!r}.")
        check_target(target)


def require_images(items, *, bad_images: str = "error") -> None:
    """The image files named exist and, unless they are to be skipped, none is too large to
    decode (read from their headers): said before the backend loads."""
    files = image_files(items)
    if bad_images == "error":
        check_image_sizes(files)


def check_new_plot(text: str, flag: str) -> None:
    """A picture to write, named by `flag`: `kerascnn.config.paths.new_picture`'s check."""
    new_picture(text, flag=flag)


def model_arguments(parser) -> None:
    parser.add_argument(
        "--input-shape",
        type=shape,
        metavar="H,W,C",
        help="build at this input, e.g. 32,32,3 (default: the model's own)",
    )
    parser.add_argument(
        "--classes", type=positive_int, metavar="N", help="override the number of classes"
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=1,
        metavar="N",
        help="multiply-adds and activations for a batch of N (default 1)",
    )


def format_arguments(parser) -> None:
    formats = parser.add_mutually_exclusive_group()
    for flag, what in [
        ("json", "JSON: the totals and a `layers` list"),
        ("markdown", "a Markdown table"),
        ("csv", "CSV, one row per layer"),
    ]:
        formats.add_argument(f"--{flag}", dest="format", action="store_const", const=flag, help=what)


def print_table(table) -> None:
    from rich.console import Console

    if sys.stdout.isatty():
        Console().print(table)
    else:  # piped: one row per line, no wrapping, no trailing blanks
        console = Console(width=250, file=io.StringIO(), color_system=None)
        console.print(table)
        print("\n".join(line.rstrip() for line in console.file.getvalue().splitlines()))


def shape(text: str) -> tuple[int, int, int]:
    try:
        parts = tuple(int(p) for p in text.replace("x", ",").split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3 or min(parts) < 1:
        raise argparse.ArgumentTypeError(
            f"expected height,width,channels such as 224,224,3. Received: {text!r}"
        )
    return parts


def sizes(text: str) -> list[int]:
    try:
        sizes = [int(p) for p in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"expected sizes such as 256 or 256,288,320. Received: {text!r}"
        )
    return sizes


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer. Received: {text!r}")
    return value
