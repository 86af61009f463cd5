"""Hyperparameter search with keras-tuner, declared in a recipe's `[tune]` table.

`kerascnn tune RECIPE` runs `tune(recipe)`: a `RecipeHyperModel` (a `keras_tuner.HyperModel` whose
`build(hp)` sets the sampled values on the recipe's own keys and builds that recipe's model, compiled as
`kerascnn train` compiles it) searched by keras-tuner's RandomSearch, Hyperband or BayesianOptimization.

```
runs/<name>_tune/
  tune.json         the recipe's fingerprint (with its [tune]) and the search's status
  tuner/            keras-tuner's project (oracle, trials, checkpoints): the same command resumes it
  results.csv       one row per trial: status, values, objective, and why a failed trial failed
  best_recipe.yaml  the best trial's recipe, complete: `kerascnn train runs/<name>_tune/best_recipe.yaml`
```

A trial whose values do not make a valid recipe or model (too small an input for the depth, say), whose
loss becomes NaN, or that runs out of memory is recorded as failed with its reason, and the search goes
on (keras-tuner stops after `max_consecutive_failed_trials` in a row). Completed trials are never run
again: rerunning an interrupted search continues it.

Distributed search is keras-tuner's own: start the same command on every machine with
`KERASTUNER_TUNER_ID` ("chief" on one, "tuner0", "tuner1", ... on the others), `KERASTUNER_ORACLE_IP`
and `KERASTUNER_ORACLE_PORT` set; the chief hands out trials, the workers train them.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import keras_tuner

from kerascnn.backend.internals import build_training_state
from kerascnn.config import ConfigError, check_folder, first_line, option
from kerascnn.config.limits import read_json_object
from kerascnn.data import load_data
from kerascnn.data.feed import for_keras
from kerascnn.recipe import Recipe, as_recipe, with_values
from kerascnn.runs import rundir, tracking
from kerascnn.runs.rundir import RunDir
from kerascnn.training.checkpoints import Terminated, stop_on_sigterm
from kerascnn.training.compile import (
    StopOnNonFinite,
    check_outputs,
    compile_model,
    progress,
    repeat_labels,
    schedule_callbacks,
    streams_of,
)
from kerascnn.training.fit import build_model, epoch_steps
from kerascnn.tuning.hypermodel import declare

__all__ = [
    "run_search",
    "RecipeHyperModel",
    "TuneResult",
    "TrialRow",
    "FailOnNaN",
    "trial_rows",
    "format_results",
    "tune_fingerprint",
]

STATE = RunDir.SEARCH_STATE  # the search's fingerprint and status, beside keras-tuner's project


class RecipeHyperModel(keras_tuner.HyperModel):
    """A recipe and its `[tune.space]` as a keras-tuner HyperModel.

    Every tuned key is a hyperparameter named by its key path ("train.learning_rate"); `build(hp)`
    returns the compiled model of the recipe with those values, `fit(hp, model, ...)` trains it on the
    recipe's data (loaded once per distinct `[data]`).
    """

    def __init__(self, recipe: Recipe, *, verbose="auto"):
        if recipe.tune is None or not recipe.space:
            raise ValueError(f"the recipe {recipe.name!r} has no [tune.space] to search.")
        super().__init__(name=recipe.name)
        self.recipe = recipe
        self.verbose = progress(verbose)
        self.tracker = None  # a `kerascnn.runs.tracking.Tracker`: each trial a nested MLflow run
        self._data: dict[str, object] = {}
        # While keras-tuner collects the space (it calls build() with the defaults when the tuner
        # is made), build() only declares it: no data read, no model built that may not fit.
        self.declaring = False

    def declare_hyperparameters(self, hp):
        self.values(hp)

    def values(self, hp) -> dict:
        """Declare the space on `hp` and return this trial's values, by key path."""
        return {key: declare(hp, key, entry) for key, entry in self.recipe.space.items()}

    def trial_recipe(self, hp) -> Recipe:
        values = self.values(hp)
        try:
            return with_values(self.recipe, values)
        except ConfigError as e:
            raise keras_tuner.errors.FailedTrialError(
                f"these values do not make a valid recipe: {e}"
            ) from None

    def data(self, recipe: Recipe):
        key = json.dumps([recipe.resolved()["data"], recipe.train.seed], sort_keys=True)
        if key not in self._data:
            self._data[key] = load_data(recipe)
        return self._data[key]

    def build(self, hp):
        if self.declaring:
            self.values(hp)
            return None
        recipe = self.trial_recipe(hp)
        data = self.data(recipe)
        try:
            model = build_model(recipe, data.input_shape, data.classes)
        except ValueError as e:  # ConfigError included: a combination the network cannot take
            raise keras_tuner.errors.FailedTrialError(
                f"the model cannot be built: {first_line(e)}"
            ) from None
        check_outputs(model, recipe.train, keras_tuner.errors.FailedTrialError)
        compile_model(model, recipe, epoch_steps(data), streams=streams_of(data))
        return model

    def fit(self, hp, model, *args, callbacks=None, **kwargs):
        recipe = self.trial_recipe(hp)
        data = self.data(recipe)
        outputs = len(model.outputs)
        first = kwargs.get("initial_epoch", 0)  # Hyperband goes on with a trial's model
        # Every trial on the same epochs' batches (a trial's epoch k: the run's epoch k).
        train, val = (repeat_labels(ds, outputs) for ds in (data.train_from(first), data.val))
        build_training_state(model, train)
        kwargs.setdefault("epochs", recipe.train.epochs)
        kwargs.setdefault("verbose", self.verbose)
        kwargs.setdefault("shuffle", False)  # the data shuffles
        callbacks = [
            *(callbacks or []),
            FailOnNaN(),
            *schedule_callbacks(recipe.train, has_val=val is not None),
        ]
        train, steps = for_keras(train, first, kwargs["epochs"] - first)
        val, val_steps = for_keras(val, 0, kwargs["epochs"] - first)
        if steps is not None:
            kwargs.setdefault("steps_per_epoch", steps)
            kwargs.setdefault("validation_steps", val_steps)
        tracked = None if self.tracker is None else self.tracker.trial(self.values(hp))
        if tracked is not None:
            callbacks.append(tracked.callback)
        try:
            history = model.fit(train, validation_data=val, callbacks=callbacks, **kwargs)
        except BaseException as e:
            if tracked is not None:
                tracked.end("FAILED" if isinstance(e, Exception) else "KILLED")
            if "out of memory" in str(e).lower() or "resourceexhausted" in type(e).__name__.lower():
                raise keras_tuner.errors.FailedTrialError(f"out of memory: {first_line(e)}") from None
            raise
        if tracked is not None:
            tracked.end("FINISHED")
        return history


class FailOnNaN(StopOnNonFinite):
    """Fail the trial (recorded, the search goes on) as soon as the loss is not finite."""

    def diverged(self, loss: float, epoch: int, batch: int, rate: float) -> Exception:
        return keras_tuner.errors.FailedTrialError(
            f"the loss became {loss} at epoch {epoch}, batch {batch} (learning rate {rate:g}: too "
            f"high?)."
        )


@dataclass
class TrialRow:
    """One trial of a search: its id, status, tuned values, score and (failed) reason."""

    trial: str
    status: str
    values: dict
    score: float | None
    reason: str


@dataclass
class TuneResult:
    """What `kerascnn.tune` returns.

    Attributes:
        directory: the search's directory (keras-tuner's project, results.csv, best_recipe.yaml).
        trials: every trial, the best first and the failed last (`TrialRow`: id, status, the
            tuned values, the objective's score, why a failed trial failed).
        best_recipe: the best trial's recipe file (None on a worker of a distributed search).
        best_values: the best trial's tuned values, by recipe key.
    """

    directory: Path
    trials: list[TrialRow]
    best_recipe: Path | None
    best_values: dict
    ended: bool = True  # False on a worker of a distributed search: the chief ends it

    @property
    def completed(self) -> list[TrialRow]:
        """The trials that completed with a score, the best first."""
        return [r for r in self.trials if r.status == "COMPLETED" and r.score is not None]


def run_search(
    recipe: Recipe | str | Path | dict,
    *,
    overrides=(),
    directory: str | Path | None = None,
    restart: bool = False,
    verbose="auto",
    log=print,
) -> TuneResult:
    """A recipe's `[tune]` search, run (or resumed) to its end: results.csv, the best trial's
    recipe and the search's status written, the results logged. The arguments are
    `kerascnn.tune`'s, which composes it with the search's page."""
    recipe = as_recipe(recipe, overrides)
    if recipe.tune is None:
        raise recipe.error(
            (),
            "the recipe has no [tune] table to search with.",
            hint='add [tune] and [tune.space] with "train.learning_rate" = '
            '{type = "float", min = 1e-4, max = 0.1, sampling = "log"}.',
        )
    if recipe.finetune is not None or (recipe.model.name is None and recipe.model.spec is None):
        raise recipe.error(
            ("tune",),
            "tuning needs a recipe with [model]; fine-tuning recipes "
            "and models built in Python are not searched yet.",
        )
    tracking.check_installed(recipe)
    path, lock = _directory(recipe, directory, restart)
    try:
        return _search(recipe, path, verbose, log)
    finally:
        if lock is not None:
            lock.release()


def _search(recipe: Recipe, path: Path, verbose, log) -> TuneResult:
    t = recipe.tune
    check_project(RunDir(path).tuner)
    keras.utils.set_random_seed(recipe.train.seed)
    verbose = progress(verbose)
    hypermodel = RecipeHyperModel(recipe, verbose=verbose)
    direction = t.direction or ("max" if "acc" in t.objective else "min")
    tuner = _tuner(recipe, hypermodel, path, direction)
    role = _role()
    if role == "worker":  # the chief's oracle hands out the trials and keeps the results
        log(
            f"kerascnn tune: {recipe.name}: worker {os.environ['KERASTUNER_TUNER_ID']} of the "
            f"search at {os.environ['KERASTUNER_ORACLE_IP']}:"
            f"{os.environ.get('KERASTUNER_ORACLE_PORT', '')}"
        )
        tuner.search(verbose=verbose)
        return TuneResult(directory=path, trials=[], best_recipe=None, best_values={}, ended=False)
    done = _ended(tuner)
    log(
        f"kerascnn tune: {recipe.name} -> {path}"
        + (f" (resuming after {done} trials)" if done else "")
        + f"; {t.tuner} search of {len(recipe.space)} keys, objective {t.objective} "
        + f"({direction})"
        + ("; chief: the workers train" if role == "chief" else "")
    )
    started = time.perf_counter()
    if recipe.output.mlflow:
        hypermodel.tracker = tracking.Tracker(recipe, path, STATE)
        log(f"  mlflow run {hypermodel.tracker.run_id} in {hypermodel.tracker.uri}")
    try:
        _run_trials(tuner, path, verbose, log)
        result = _conclude(recipe, tuner, path, direction, started, log)
    except BaseException:
        if hypermodel.tracker is not None:  # interrupted (it resumes in the same MLflow run)
            hypermodel.tracker.end("KILLED")
        raise
    if hypermodel.tracker is not None:
        hypermodel.tracker.finish({}, files=(RunDir.RESULTS, RunDir.BEST_RECIPE))
    return result


def _tuner(recipe: Recipe, hypermodel: RecipeHyperModel, path: Path, direction: str):
    """The recipe's keras-tuner tuner (`[tune] tuner`) over `hypermodel`, its project in `path`:
    made anew, or resumed from what is there."""
    t = recipe.tune
    common = dict(
        hypermodel=hypermodel,
        objective=keras_tuner.Objective(t.objective, direction=direction),
        directory=str(path),
        project_name=RunDir.TUNER,
        overwrite=False,
        seed=recipe.train.seed,
        executions_per_trial=t.executions_per_trial,
        max_consecutive_failed_trials=t.max_consecutive_failed_trials,
    )
    hypermodel.declaring = True
    if t.tuner == "hyperband":
        tuner = keras_tuner.Hyperband(
            max_epochs=t.max_epochs or recipe.train.epochs,
            factor=t.factor,
            hyperband_iterations=t.hyperband_iterations,
            **common,
        )
    elif t.tuner == "bayesian":
        tuner = keras_tuner.BayesianOptimization(max_trials=t.max_trials, **common)
    else:
        tuner = keras_tuner.RandomSearch(max_trials=t.max_trials, **common)
    hypermodel.declaring = False
    return tuner


def _run_trials(tuner, path: Path, verbose, log) -> None:
    """Run the search's trials until its budget is spent or too many fail in a row; interrupted
    (Ctrl-C or SIGTERM), mark the search so, say how to resume it and raise."""
    try:
        with _plain_display(verbose), stop_on_sigterm():
            tuner.search(verbose=verbose)
    except RuntimeError as e:  # keras-tuner: too many failed trials in a row
        if "consecutive failures" not in str(e):
            raise
    except KeyboardInterrupt as e:  # Ctrl-C or SIGTERM: keras-tuner's files hold every ended trial
        rundir.update_state(path, STATE, status="interrupted")
        ended = _ended(tuner)
        log(
            f"interrupted ({'SIGTERM' if isinstance(e, Terminated) else 'Ctrl-C'}); run the same "
            f"command again to resume the search in {path} ({ended} ended "
            f"trial{'' if ended == 1 else 's'} kept; the one that was running starts again)"
        )
        raise


def _conclude(recipe: Recipe, tuner, path: Path, direction: str, started: float, log) -> TuneResult:
    """What an ended search leaves: results.csv, the best trial's recipe and the search's status;
    the results logged."""
    t = recipe.tune
    rows = trial_rows(tuner, recipe)
    result = TuneResult(directory=path, trials=rows, best_recipe=None, best_values={})
    if result.completed:
        best = result.completed[0]
        result.best_values, result.best_recipe = best.values, RunDir(path).best_recipe
        _write_best(recipe, best.values, best, len(rows), result.best_recipe)
    _write_results(rows, RunDir(path).results)
    rundir.update_state(
        path,
        STATE,
        status="finished" if result.completed else "failed",
        trials=len(rows),
        objective=t.objective,
        direction=direction,
        seconds=round(time.perf_counter() - started, 1),
    )
    log(format_results(rows, t.objective))
    return result


_ENDED = ("COMPLETED", "FAILED", "INVALID")


def _ended(tuner) -> int:
    """How many of the search's trials have ended (completed or failed)."""
    return sum(1 for trial in tuner.oracle.trials.values() if trial.status in _ENDED)


@contextlib.contextmanager
def _plain_display(verbose: int):
    """keras-tuner takes any process that can import IPython for a notebook (its check reads the
    class of `IPython.get_ipython()`, which is None outside one) and clears the "notebook" between
    trials with terminal escape codes; printing plain lines (verbose 2), it is told otherwise."""
    utils = sys.modules.get("keras_tuner.src.utils")
    if verbose != 2 or not getattr(utils, "IS_NOTEBOOK", False) or "ipykernel" in sys.modules:
        yield
        return
    utils.IS_NOTEBOOK = False
    try:
        yield
    finally:
        utils.IS_NOTEBOOK = True


def _role() -> str:
    """ "single", or in keras-tuner's distributed mode (KERASTUNER_* variables) "chief" or
    "worker"."""
    if not os.environ.get("KERASTUNER_ORACLE_IP"):
        return "single"
    return "chief" if os.environ.get("KERASTUNER_TUNER_ID") == "chief" else "worker"


def trial_rows(tuner, recipe: Recipe) -> list[TrialRow]:
    """Every trial of the search, the best first and the failed last."""
    direction = tuner.oracle.objective.direction
    rows = []
    for trial in tuner.oracle.trials.values():
        values = {k: v for k, v in trial.hyperparameters.values.items() if k in recipe.space}
        reason = _reason(trial.message) if trial.status in ("FAILED", "INVALID") else ""
        score = trial.score if trial.status == "COMPLETED" else None
        rows.append(TrialRow(trial.trial_id, str(trial.status), values, score, reason))

    def order(row):
        if row.score is None:
            return (1, 0.0)
        return (0, -row.score if direction == "max" else row.score)

    return sorted(rows, key=order)


def format_results(rows: list[TrialRow], objective: str) -> str:
    """The trials as an aligned text table: trial, status, each tuned value, the objective."""
    keys = []
    for row in rows:
        keys += [k for k in row.values if k not in keys]
    header = ["trial", "status", *keys, objective]
    table = [header]
    for row in rows:
        table.append(
            [
                row.trial,
                row.status.lower(),
                *(_show(row.values.get(k)) for k in keys),
                f"{row.score:.4f}" if row.score is not None else row.reason[:60],
            ]
        )
    widths = [max(len(str(line[i])) for line in table) for i in range(len(header))]
    return "\n".join(
        "  ".join(str(cell).ljust(w) for cell, w in zip(line, widths)).rstrip() for line in table
    )


def _show(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def _reason(message: str | None) -> str:
    """The failure's own words: the last line of keras-tuner's traceback, without the class."""
    lines = [line.strip() for line in (message or "").strip().splitlines() if line.strip()]
    if not lines:
        return "failed"
    last = lines[-1]
    head, sep, rest = last.partition(": ")
    return rest if sep and "Error" in head.split(".")[-1] else last


def _directory(recipe: Recipe, directory, restart: bool):
    """The search's directory and, on a chief or a single process, the lock that makes this
    process its one writer (`rundir.DirectoryLock`; None on a worker, which the chief directs)."""
    path = check_folder(recipe.search_dir(directory), what="the search directory")
    if _role() == "worker":  # the chief owns the directory and its checks
        path.mkdir(parents=True, exist_ok=True)
        return path, None
    fingerprint = tune_fingerprint(recipe)
    # A chief may find the keras-tuner project its workers made before it started.
    made_by_workers = (
        _role() == "chief"
        and path.exists()
        and {child.name for child in path.iterdir()} <= {RunDir.TUNER, RunDir.LOCK}
    )
    if rundir.read_state(path, STATE) is None and rundir.has_content(path) and not made_by_workers:
        if not restart:
            raise ConfigError(
                f"{path} exists and is not a kerascnn search; kerascnn will not write into it.",
                hint=f"pass {option('output', python='directory')} with a new "
                f"folder, or {option('restart', True)}.",
            )
        path = rundir.free_path(path)
    path.mkdir(parents=True, exist_ok=True)
    lock = rundir.DirectoryLock(path, "search").acquire()
    try:
        state = rundir.read_state(path, STATE)
        if state is not None and state.get("fingerprint") != fingerprint:
            if not restart:
                raise ConfigError(
                    f"the search in {path} was made by a different recipe or search "
                    f"space (fingerprint {state.get('fingerprint')}, this one "
                    f"{fingerprint}); kerascnn never overwrites a search.",
                    hint=f"pass {option('restart', True)} to start a new one in "
                    f"{rundir.free_path(path)} (the old one is kept).",
                )
            lock.release()
            path = rundir.free_path(path)
            path.mkdir(parents=True, exist_ok=True)
            lock = rundir.DirectoryLock(path, "search").acquire()
            state = None
        if state is None:
            rundir.write_state(
                path,
                {
                    "recipe": recipe.name,
                    "fingerprint": fingerprint,
                    "status": "running",
                    "created": time.strftime("%Y-%m-%d %H:%M:%S"),
                },
                STATE,
            )
        else:
            rundir.update_state(path, STATE, status="running")
    except BaseException:
        lock.release()
        raise
    return path, lock


def check_project(project: Path) -> None:
    """Every file keras-tuner will read back (oracle.json, tuner0.json, each trial.json) parses;
    otherwise a `ConfigError` naming the file (a search killed while keras-tuner wrote it), rather
    than a traceback from inside keras-tuner, or a search that quietly forgets trials."""
    for file in sorted(Path(project).rglob("*.json")) if Path(project).is_dir() else []:
        try:
            read_json_object(file)  # keras-tuner writes an object in each
        except (OSError, ValueError) as e:
            trial = file.parent.name if file.parent.name.startswith("trial_") else None
            why = e.message if isinstance(e, ConfigError) else f"unreadable ({first_line(e)})"
            raise ConfigError(
                f"{why} kerascnn cannot resume the search from it.",
                file=str(file),
                hint=(f"delete {file.parent} to run that trial again, " if trial else "")
                + f"or pass {option('restart', True)} to start a new search beside this one (it "
                f"is kept).",
            ) from None


def tune_fingerprint(recipe: Recipe) -> str:
    """What a search depends on: the recipe with its [tune], but not its budget of trials (a
    search can be extended) nor its output and names."""
    doc = recipe.resolved()
    for key in ("output", "name", "description"):
        doc.pop(key, None)
    doc["tune"].pop("max_trials", None)
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _write_results(rows: list[TrialRow], target: Path) -> None:
    keys = []
    for row in rows:
        keys += [k for k in row.values if k not in keys]
    with open(target, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["trial", "status", *keys, "objective", "reason"])
        for row in rows:
            writer.writerow(
                [
                    row.trial,
                    row.status,
                    *(row.values.get(k, "") for k in keys),
                    "" if row.score is None else row.score,
                    row.reason,
                ]
            )


def _write_best(recipe: Recipe, values: dict, row: TrialRow, trials: int, target: Path) -> None:
    """The best trial's recipe as a complete file: no [tune], paths made absolute (the file lives
    in the search directory), its own name and run directory."""
    import yaml

    best = with_values(recipe, values)
    doc = best.resolved()
    doc["name"] = f"{recipe.name}_best"
    doc["output"]["dir"] = str(recipe.run_dir().with_name(f"{recipe.name}_best"))
    base = recipe.path.parent if recipe.path is not None else Path.cwd()
    for table, key in (("model", "spec"), ("data", "path"), ("data", "test_path")):
        value = doc.get(table, {}).get(key)
        if isinstance(value, str) and not Path(value).is_absolute():
            candidate = Path(value) if Path(value).exists() else base / value
            doc[table][key] = str(candidate.resolve())
    header = (
        f"# The best of {trials} trials of the search in {target.parent} "
        f"({recipe.tune.objective} {row.score:.4f}, trial {row.trial}):\n"
        + "".join(f"#   {k} = {v!r}\n" for k, v in values.items())
    )
    target.write_text(header + yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
