"""`show_batch(recipe, path)`: a recipe's first training batch as its network receives it, drawn
by `kerascnn.visualize.batch` (the drawing); here, the recipe's data made as its run makes it: a
fine-tuning recipe's images normalized as its starting weights expect (`phases.Start`)."""

from __future__ import annotations

from pathlib import Path

from kerascnn.config import ConfigError
from kerascnn.data import load_data
from kerascnn.recipe import as_recipe
from kerascnn.training.phases import Start
from kerascnn.visualize.batch import ShownBatch, draw_batch
from kerascnn.visualize.figures import new_picture

__all__ = ["show_batch"]


def show_batch(recipe, path: str | Path, *, count: int | None = None) -> ShownBatch:
    """Write `path` (PNG): the recipe's first training batch as the network receives it, after
    augmentation, denormalized for display, each image with its label. A fine-tuning recipe's
    images are normalized as its starting weights expect (a run's data.json, timm's card), as its
    phases feed them.

    Args:
        recipe: a recipe (file, shipped name, dict or `Recipe`).
        count: show the first `count` images of the batch (default: the whole batch, up to 64).
    """
    path = new_picture(path)
    if path.suffix.lower() != ".png":
        raise ConfigError(f"a batch is drawn as a .png. Received: {str(path)!r}.")
    recipe = as_recipe(recipe)
    normalization = None
    if recipe.finetune is not None:  # normalized as the starting weights expect, as the phases do
        start = Start(recipe)
        recipe, normalization = start.recipe, start.normalization
    data = load_data(recipe, normalization=normalization)
    return draw_batch(data, path, name=recipe.name, count=count)
