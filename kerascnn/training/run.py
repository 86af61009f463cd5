"""`train(recipe)`: the entry to every run. A recipe with `[finetune]` runs its phases
(`kerascnn.training.phases`), each a run of its own; any other recipe is one `model.fit`
(`kerascnn.training.fit`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from kerascnn.recipe import Recipe
from kerascnn.training.fit import RunResult, fit_recipe

__all__ = ["train", "as_recipe"]


def as_recipe(recipe: Recipe | str | Path | dict, overrides: Sequence[str] = ()) -> Recipe:
    """A `Recipe` from what the verbs accept: a loaded one, a file, the name of a shipped recipe
    ("lenet5_digits") or a dict; `overrides` as `--set` takes them ("train.epochs=3")."""
    from kerascnn.recipe import load_recipe

    if isinstance(recipe, Recipe):
        if overrides:
            raise ValueError(
                "overrides apply to a recipe file or dict; this Recipe is loaded "
                "already: load_recipe(path, overrides)."
            )
        return recipe
    if isinstance(recipe, dict):
        return load_recipe(recipe, list(overrides))
    if isinstance(recipe, (str, Path)):
        from kerascnn.recipe.shipped import find_recipe

        return load_recipe(find_recipe(recipe), list(overrides))
    raise TypeError(
        f"`recipe` is a Recipe, a file, a shipped recipe's name or a dict. Received: "
        f"{type(recipe).__name__}."
    )


def train(
    recipe: Recipe | str | Path | dict,
    *,
    overrides: Sequence[str] = (),
    model: Callable | None = None,
    restart: bool = False,
    verbose: int | str = "auto",
    log=print,
) -> RunResult:
    """Run a recipe: `kerascnn.train("lenet5_digits")`.

    Returns:
        A `RunResult`: where the run went (`run_dir`), its metrics (`metrics`: best, final and
        test values, epochs, time, images/s, as metrics.json holds them) and its model file
        (`model_path`).

    Args:
        recipe: a `Recipe`, a recipe file, a shipped recipe's name, or a dict of its tables.
        overrides: "key=value" changes, as `kerascnn train --set` takes them.
        model: a function `(input_shape, classes) -> keras.Model` that builds the network in
            Python, for a recipe without `[model]` (the `recipes/*.py` scripts). Its qualified name
            enters the recipe's fingerprint, and the built architecture is checked on resume.
        restart: start a new run beside an existing one instead of refusing (never deletes).
        verbose: Keras' progress display: "auto" (a live progress bar in a terminal or a notebook,
            one plain line per epoch when standard output is a file or a pipe), 1, 2 or 0 (silent).
        log: where the start line and the report go.
    """
    recipe = as_recipe(recipe, overrides)
    if recipe.finetune is not None and recipe.phase is None:
        if model is not None:
            raise ValueError(
                "a recipe with [finetune] starts from its weights; do not pass train(model=...)."
            )
        from kerascnn.training.phases import run_phases

        return run_phases(recipe, restart=restart, verbose=verbose, log=log)
    return fit_recipe(recipe, model=model, restart=restart, verbose=verbose, log=log)
