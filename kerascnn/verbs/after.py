"""What a run does after `model.fit`, each part through the package that owns it: the run's model
chosen and saved for inference (`runs`), tested on the test split (`inference`), metrics.json and
the run marked finished (`runs`), the curves and the first batch drawn (`visualize`), the model
card and the page (`report`). A fine-tuning run's own files are made from its phases' the same
way."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import keras

from kerascnn.inference.evaluation import test_results
from kerascnn.recipe import Recipe
from kerascnn.report import write_report
from kerascnn.report.card import write_card
from kerascnn.runs import rundir
from kerascnn.runs.metrics import RunResult, summary
from kerascnn.runs.rundir import RunDir
from kerascnn.runs.saving import load_model
from kerascnn.training import checkpoints
from kerascnn.training.fit import Fit
from kerascnn.verbs import lines
from kerascnn.visualize import figures
from kerascnn.visualize.batch import draw_batch

__all__ = ["finish", "finish_phases"]


def finish(run: Fit, *, start: tuple[str, str | None] | None = None, log=print) -> RunResult:
    """A trained run's files after `fit`; `start`: where the weights started from and their terms,
    in words, for the model card (None: random initialization)."""
    recipe, path, files = run.recipe, run.path, RunDir(run.path)
    rows = checkpoints.read_history(files.history)
    images = run.trained_epochs * run.data.sizes["train"] if "train" in run.data.sizes else None
    metrics = summary(rows, run.monitor, model=recipe.output.model, seconds=run.seconds, images=images)
    if run.stopped:
        metrics["stopped"] = run.stopped
    if run.data.skipped:
        metrics["skipped_images"] = {"count": len(run.data.skipped), "files": run.data.skipped}
    # The final weights (last.keras) and the best epoch's (best.keras): the same when the best
    # epoch is the last.
    same = not files.best.exists() or (bool(rows) and metrics["best_epoch"] == len(rows))
    weights = {"final": files.last, "best": files.last if same else files.best}
    loaded = load_model(weights[metrics["model"]])
    # A new Functional model over the same layers: main output only, and not compiled (no
    # optimizer in the file, nothing but Keras and kerascnn's layers needed to load it).
    inference = keras.Model(loaded.inputs, loaded.outputs[0], name=loaded.name)
    checkpoints.atomic_save(inference, files.model)
    test = run.test
    if test is not None:
        metrics.update(test_results(loaded, inference, weights, metrics["model"], test))
    rundir.write_atomic(files.metrics, json.dumps(metrics, indent=2))
    _draw_curves(rows, files.curves, recipe.name)
    budget = rundir.stopped_by_budget(run.stopped)
    rundir.update_state(
        path,
        status="finished",
        finished=time.strftime("%Y-%m-%d %H:%M:%S"),
        epochs=len(rows),
        stopped=run.stopped,
    )
    if not budget:  # finished: never resumed (stopped by its time budget: more epochs continue it)
        shutil.rmtree(path / checkpoints.BACKUP, ignore_errors=True)
    for line in lines.finished(metrics, files.model):
        log(line)
    if not files.batch.exists():  # what the network was fed
        draw_batch(run.data, files.batch, name=recipe.name)
    begun, terms = start or (None, None)
    write_card(path, start=begun, start_terms=terms)  # after run.json says "finished"
    _page(recipe, path, log)
    return RunResult(run_dir=path, metrics=metrics, model_path=files.model)


def finish_phases(recipe: Recipe, parent: Path, results: list[RunResult], start, log) -> RunResult:
    """A fine-tuning run's own files from its phases': every phase's epochs in one history and
    one picture (the phases marked), the last phase's model and data.json, each phase's metrics."""
    rows, boundaries, phases = [], [], []
    for index, result in enumerate(results):
        name = recipe.phases[index].directory(index)
        offset = len(rows)
        for row in rundir.read_history(RunDir(result.run_dir).history):
            rows.append({"phase": name, **row, "epoch": offset + int(row["epoch"])})
        boundaries.append((offset, name))
        phases.append({"phase": name, **result.metrics})
    files = RunDir(parent)
    rundir.write_rows(files.history, rows)
    _draw_curves(rows, files.curves, recipe.name, phases=boundaries)
    last = results[-1]
    for name in (RunDir.MODEL, RunDir.DATA):
        rundir.written(parent / name, lambda name=name: shutil.copy2(last.run_dir / name, parent / name))
    metrics = {
        "phases": phases,
        "epochs": len(rows),
        "seconds": round(sum(p.get("seconds", 0.0) for p in phases), 2),
    }
    for key in ("model", "test", "test_final", "test_best"):
        if key in last.metrics:  # the last phase's model is the run's
            metrics[key] = last.metrics[key]
    rundir.write_atomic(files.metrics, json.dumps(metrics, indent=2))
    rundir.update_state(
        parent,
        status="finished",
        finished=time.strftime("%Y-%m-%d %H:%M:%S"),
        epochs=len(rows),
        environment=(rundir.read_state(last.run_dir) or {}).get("environment", {}),
    )
    write_card(parent, start=start.describe(), start_terms=start.terms())
    for line in lines.finetune_finished(metrics, files.model):
        log(line)
    _page(recipe, parent, log)
    return RunResult(run_dir=parent, metrics=metrics, model_path=files.model)


def _draw_curves(rows: list[dict], target: Path, title: str, phases=()) -> None:
    fig = figures.curves(rows, title=title, phases=phases)
    if fig is not None:
        rundir.written(target, lambda: fig.savefig(target))


def _page(recipe: Recipe, path: Path, log) -> None:
    if recipe.output.report:
        log(f"  report {write_report(path)}")
