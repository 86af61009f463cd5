"""`train(recipe)`: a run composed of its parts. One `model.fit` (`kerascnn.training.fit`) in a
claimed run directory, then the after-run work (`kerascnn.verbs.after`); a recipe with `[finetune]`
runs its phases (`kerascnn.training.phases`), each a run of its own, then makes the fine-tuning
run's own files from theirs."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from pathlib import Path

from kerascnn.recipe import Recipe, as_recipe
from kerascnn.runs import rundir, tracking
from kerascnn.runs.metrics import RunResult
from kerascnn.runs.rundir import RunDir
from kerascnn.training import checkpoints, devices, phases
from kerascnn.training import fit as fitting
from kerascnn.training.compile import progress
from kerascnn.verbs import after, lines
from kerascnn.verbs.average import average

__all__ = ["train", "run_recipe"]


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
        return _finetune(recipe, restart=restart, verbose=verbose, log=log)
    return run_recipe(recipe, model=model, restart=restart, verbose=verbose, log=log)


def run_recipe(
    recipe: Recipe,
    *,
    model: Callable | None = None,
    restart: bool = False,
    verbose: int | str = "auto",
    log=print,
    normalization=None,
    start: tuple[str, str | None] | None = None,
) -> RunResult:
    """One `model.fit` run of a recipe without `[finetune]` (or of one fine-tuning phase's
    recipe), then its after-run work. The arguments are `train`'s; `normalization`: a
    `Preprocessing` to normalize the images as, instead of the recipe's `normalize` (a fine-tuning
    phase: as the pretrained network expects them); `start`: where the weights started from and
    their terms, in words, for the model card (None: random initialization)."""
    recipe = fitting.checked(recipe, model)
    tracking.check_installed(recipe)
    verbose = progress(verbose)
    with _session(recipe, restart=restart, log=log) as (path, resume):
        run = fitting.prepare(recipe, path, resume, builder=model, normalization=normalization, log=log)
        for line in lines.started(run):
            log(line)
        tracker = tracking.Tracker(recipe, path) if recipe.output.mlflow else None
        if tracker is not None:
            run.callbacks.append(tracker.callback())  # after Checkpoints: a committed epoch
            log(f"  mlflow run {tracker.run_id} in {tracker.uri}")
        try:
            run = fitting.fit(run, verbose)
            result = after.finish(run, start=start, log=log)
            if recipe.output.average:  # the kept epochs averaged, tested beside the run's model
                result.metrics["test_averaged"] = average(path, log=log)
        except BaseException:
            if tracker is not None:  # interrupted (it resumes in the same MLflow run) or failed
                tracker.end("KILLED")
            raise
        if tracker is not None:
            tracker.finish(result.metrics)
        return result


@contextlib.contextmanager
def _session(recipe: Recipe, *, restart: bool, log):
    """The run directory claimed (resume or refuse) and the process set up for the run (workers,
    seed, precision, SIGTERM as Ctrl-C); an interruption marks the run "interrupted" and says how
    to resume, a file that could not be written (a full disk) is one plain error."""
    with (
        devices.process(recipe) as worker,
        rundir.claim(recipe, restart=restart, worker=worker) as (path, resume),
    ):
        try:
            with checkpoints.stop_on_sigterm():
                yield path, resume
        except KeyboardInterrupt as e:  # Ctrl-C or SIGTERM: the backup holds every finished epoch
            if RunDir(path).state.exists():
                rundir.update_state(path, status="interrupted")
            log(lines.interrupted(e, path))
            raise
        except OSError as e:  # a full disk: only a file of this run (the data was read before)
            raise _unwritable(e, path) from None


def _unwritable(error: OSError, path: Path) -> Exception:
    """A file of the run that could not be written (a full disk, a quota) as one plain
    `DiskWriteError` saying what the run holds; any other OSError as it is."""
    epochs = len(checkpoints.read_history(RunDir(path).history))
    done = f"it holds {lines.plural(epochs, 'finished epoch')}" if epochs else "no epoch had finished"
    found = rundir.unwritable(
        error, path, resume=f"{done}; free some space and run the same command again to resume"
    )
    if found is not error:
        with contextlib.suppress(OSError):  # the disk may still be full
            if RunDir(path).state.exists():
                rundir.update_state(path, status="interrupted", error=f"could not write {found.target}")
    return found


def _finetune(recipe: Recipe, *, restart: bool, verbose, log) -> RunResult:
    """A recipe with `[finetune]`: every phase in turn, each a run of its own inside the recipe's
    run directory (a phase finished before is kept), then the fine-tuning run's own files."""
    start = phases.Start(recipe)
    recipe = start.recipe  # with timm's weights: their size, crop and interpolation as defaults
    start.check_phases()  # every phase's `unfreeze` names layers that exist: before any data
    with rundir.claim(recipe, restart=restart) as (parent, resume):
        if not resume:
            rundir.begin(parent, recipe)
        log(lines.finetune_started(recipe, parent, resume, start))
        results, previous = [], None
        for index, phase in enumerate(recipe.phases):
            sub = recipe.phase_recipe(index, parent)
            result = phases.kept(sub)
            if result is not None:
                log(lines.phase_kept(index, phase.directory(index)))
            else:
                result = run_recipe(
                    sub,
                    model=phases.phase_model(sub, index, start, previous),
                    verbose=verbose,
                    log=log,
                    normalization=start.normalization,
                    start=(start.describe(), start.terms())
                    if previous is None
                    else (f"{previous}", None),
                )
            results.append(result)
            previous = result.model_path
        try:
            return after.finish_phases(recipe, parent, results, start, log)
        except OSError as e:  # a full disk: every phase is kept
            raise rundir.unwritable(
                e, parent, resume="every phase is kept; free some space and run the same command again"
            ) from None
