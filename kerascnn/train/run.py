"""`train(recipe)`: the entry to every run. A recipe with `[finetune]` runs its phases
(`kerascnn.train.phases`), each a run of its own; any other recipe is one `model.fit`
(`kerascnn.train.fit`)."""

from __future__ import annotations

from collections.abc import Callable

from kerascnn.recipe import Recipe
from kerascnn.train.fit import RunResult, fit_recipe

__all__ = ["train"]


def train(recipe: Recipe, *, model: Callable | None = None, restart: bool = False,
          verbose: int | str = "auto", log=print) -> RunResult:
    """Run a recipe; returns where it went and its metrics.

    Args:
        model: a function `(input_shape, classes) -> keras.Model` that builds the network in
            Python, for a recipe without `[model]` (the `recipes/*.py` scripts). Its qualified name
            enters the recipe's fingerprint, and the built architecture is checked on resume.
        restart: start a new run beside an existing one instead of refusing (never deletes).
        verbose: Keras' progress display: "auto" (a live progress bar in a terminal or a notebook,
            one plain line per epoch when standard output is a file or a pipe), 1, 2 or 0 (silent).
        log: where the start line and the report go.
    """
    if recipe.finetune is not None and recipe.phase is None:
        if model is not None:
            raise ValueError("a recipe with [finetune] starts from its weights; do not pass "
                             "train(model=...).")
        from kerascnn.train.phases import finetune

        return finetune(recipe, restart=restart, verbose=verbose, log=log)
    return fit_recipe(recipe, model=model, restart=restart, verbose=verbose, log=log)
