"""What a command's model argument names (`kerascnn summary`, `compare`): a registered model, a spec
file, a recipe's model, or a saved `.keras` model, checked before Keras loads and built at the size
asked or declared."""

from __future__ import annotations

from kerascnn.config import ConfigError

__all__ = ["check_model_argument", "model_for", "recipe_model", "MODEL_FILES"]

MODEL_FILES = (".toml", ".yaml", ".yml", ".keras")


def check_model_argument(text: str) -> None:
    """A model argument that is neither a file nor a registered name fails before Keras loads."""
    from pathlib import Path

    from kerascnn.zoo import MODELS, get_model_info

    path = Path(text)
    if path.is_file():
        if path.suffix.lower() not in MODEL_FILES:
            raise ConfigError(f"{text!r}: expected a spec (.toml, .yaml) or a saved model "
                              f"(.keras). Received a {path.suffix or 'file without suffix'}.")
        return
    if text in MODELS:
        return
    if path.suffix.lower() in MODEL_FILES or "/" in text or "\\" in text:
        raise ConfigError(f"no such file: {text!r}.")
    get_model_info(text)  # an unknown name: the error lists close matches


def model_for(text: str, input_shape=None, classes: int | None = None):
    """The model a command argument names: a registry name, a spec file or a saved .keras model."""
    from pathlib import Path

    path = Path(text)
    if path.is_file() and path.suffix.lower() == ".keras":
        from kerascnn.saving import load_model

        if classes is not None:
            raise ConfigError("--classes cannot change a saved model.")
        model = load_model(path)
        if input_shape is not None:
            raise ConfigError("--input-shape cannot change a saved model; profile it at its own "
                              "input.")
        return model
    if path.is_file():
        from kerascnn.config import load_document
        from kerascnn.recipe import is_recipe

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
    from kerascnn.data import declared_input
    from kerascnn.recipe import load_recipe
    from kerascnn.training import build_model

    recipe = load_recipe(path)
    shape, declared = declared_input(recipe)
    input_shape = input_shape or shape
    if input_shape is None:
        raise ConfigError(f"{path}: the input size comes from the data; give --input-shape "
                          f"H,W,C (or set data.image_size and data.channels).")
    classes = classes or declared
    if classes is None:
        raise ConfigError(f"{path}: the number of classes comes from the data; give "
                          f"--classes N.")
    return build_model(recipe, input_shape, classes)
