"""`tune(recipe)`: a search composed of its parts: keras-tuner's trials run to their end
(`kerascnn.tuning.search`), then the search's page (`kerascnn.report`) and its last line."""

from __future__ import annotations

from pathlib import Path

from kerascnn.recipe import Recipe, as_recipe
from kerascnn.report import write_report
from kerascnn.runs.rundir import RunDir
from kerascnn.tuning.hypermodel import SearchFailed
from kerascnn.tuning.search import TuneResult, run_search
from kerascnn.verbs import lines

__all__ = ["tune"]


def tune(
    recipe: Recipe | str | Path | dict,
    *,
    overrides=(),
    directory: str | Path | None = None,
    restart: bool = False,
    verbose="auto",
    log=print,
) -> TuneResult:
    """Run a recipe's `[tune]` search: `kerascnn.tune("lenet5_digits_search")` (resuming an
    interrupted one).

    Returns:
        A `TuneResult`: every trial (`trials`, the best first), the best values and the best
        trial's recipe file (`best_recipe`, which `kerascnn.train` runs as is).

    Args:
        recipe: a `Recipe`, a recipe file, a shipped recipe's name, or a dict of its tables.
        overrides: "key=value" changes, as `kerascnn tune --set` takes them.
        directory: where the search lives (default: the run directory's name + "_tune").
        restart: start a new search beside one made by a different recipe (never deletes).
    """

    recipe = as_recipe(recipe, overrides)
    result = run_search(recipe, directory=directory, restart=restart, verbose=verbose, log=log)
    if not result.ended:  # a worker: the chief writes what the search ends with
        return result
    if recipe.output.report:
        log(f"report {write_report(result.directory)}")
    if not result.completed:
        raise SearchFailed(
            result.trials,
            where=str(RunDir(result.directory).results),
            again="search again into a new directory (--output DIR; this one is kept)",
        )
    log(lines.best_trial(result.completed[0], recipe.tune.objective, result.best_recipe))
    return result
