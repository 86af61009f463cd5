"""`average(run)`: a finished run's best epochs averaged into `averaged.keras` (the epochs
`[output] keep_best` kept: `kerascnn.training.averaging`), its batch normalization statistics
recomputed on one pass of the run's training batches, tested on the run's test split, and the
result added to metrics.json as `test_averaged`. `kerascnn evaluate RUN/averaged.keras` evaluates it
as any run's model."""

from __future__ import annotations

import json
from pathlib import Path

import keras

from kerascnn.config import ConfigError
from kerascnn.data import load_data
from kerascnn.data.feeding import Feeding
from kerascnn.inference.evaluation import evaluate
from kerascnn.recipe import load_recipe
from kerascnn.runs import rundir
from kerascnn.runs.rundir import RunDir
from kerascnn.runs.saving import load_model
from kerascnn.training.averaging import average_weights, best_epochs, kept_epochs, recompute_batchnorm
from kerascnn.training.checkpoints import atomic_save, read_history

__all__ = ["average"]


def average(run_dir: str | Path, *, k: int | None = None, log=print) -> dict:
    """Average the `k` best kept epochs of the finished run in `run_dir` (default: every kept one)
    into `averaged.keras`; returns its test results (also metrics.json's `test_averaged`)."""
    files = RunDir(run_dir)
    chosen = _chosen(files, k)
    model = load_model(files.last)  # compiled: the kept files hold its optimizer's state too
    average_weights(model, [path for _, path in chosen])
    recipe = load_recipe(files.recipe)
    data = load_data(recipe, normalization=Feeding.read(files.data).preprocessing)
    batches = recompute_batchnorm(model, data.train)
    inference = keras.Model(model.inputs, model.outputs[0], name=model.name)
    atomic_save(inference, files.averaged)
    found = evaluate(files.averaged)
    results = {"accuracy": found.accuracy, "loss": found.loss}
    metrics = json.loads(files.metrics.read_text()) if files.metrics.is_file() else {}
    metrics["averaged"] = {"epochs": [epoch for epoch, _ in chosen], "bn_batches": batches}
    metrics["test_averaged"] = results
    rundir.write_atomic(files.metrics, json.dumps(metrics, indent=2))
    epochs = ", ".join(str(epoch) for epoch, _ in chosen)
    log(
        f"averaged epochs {epochs} of {files.path} -> {files.averaged}"
        + (f" (BN statistics from {batches} training batches)" if batches else "")
    )
    log(f"  test, averaged weights: accuracy {results['accuracy']:.4f}, loss {results['loss']:.4f}")
    return results


def _chosen(files: RunDir, k: int | None) -> list[tuple[int, Path]]:
    """The kept epochs to average, best first: the k best of them by the run's monitor."""
    state = rundir.read_state(files.path)
    if not state or state.get("status") != "finished":
        raise ConfigError(f"{files.path} is not a finished run: train it to its end first.")
    kept = kept_epochs(files.path)
    if len(kept) < 2:
        raise ConfigError(
            f"{files.path} kept {len(kept)} epoch(s)' weights; averaging needs two or more.",
            hint="train with [output] keep_best = 5 (the best five epochs are kept).",
        )
    if k is not None and not 2 <= k <= len(kept):
        raise ConfigError(f"k must be between 2 and the {len(kept)} kept epochs. Received: {k}.")
    monitor = json.loads(files.metrics.read_text()).get("monitor", "val_loss")
    rows = [r for r in read_history(files.history) if int(r["epoch"]) in kept]
    order = best_epochs(rows, monitor, k or len(kept))
    return [(epoch, kept[epoch]) for epoch in order]
