"""A run tracked in MLflow (`[output] mlflow`, the optional extra `pip install "kerascnn[mlflow]"`):
the resolved recipe as the MLflow run's parameters, every epoch's history row as its metrics (the
learning rate, images/s and data wait included), the test results at the end, and the run's files as
its artifacts (model.keras, metrics.json, history.csv, curves.png, the model card, the report page).

MLflow is a well-kept store many teams already read (its UI, its client, `mlflow.keras`), so kerascnn
writes to it rather than inventing a format; the run directory stays the record a run resumes from.
A resumed run goes on in the same MLflow run (its id is kept in run.json); epochs are logged with
their epoch number as the step. A search logs each trial as a run nested in the search's.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import keras

from kerascnn.config.installed import installed
from kerascnn.runs import rundir
from kerascnn.runs.rundir import RunDir

__all__ = ["check_installed", "tracking_uri", "Tracker", "EpochMetrics", "recipe_params"]

ARTIFACTS = (
    RunDir.MODEL,
    RunDir.AVERAGED,
    RunDir.METRICS,
    RunDir.HISTORY,
    RunDir.CURVES,
    RunDir.CARD,
    RunDir.REPORT,
)
DEFAULT_URI = "sqlite:///mlflow.db"


def check_installed(recipe) -> None:
    """A recipe with `[output] mlflow` on a machine without MLflow: one line saying how to install
    it, before anything else runs."""
    if recipe.output.mlflow and not installed("mlflow"):
        raise recipe.error(
            ("output", "mlflow"),
            "tracking a run in MLflow needs MLflow, which is not installed.",
            hint='install it with pip install "kerascnn[mlflow]" (or remove output.mlflow).',
        )


def tracking_uri(setting) -> str:
    """`[output] mlflow` as a tracking URI: `true` is MLflow's own choice (MLFLOW_TRACKING_URI,
    else a local SQLite file, `sqlite:///mlflow.db`); a string is the URI itself (a server's
    `http://...`, `sqlite:///...`, or a folder)."""
    if setting is True:
        return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI
    return str(setting)


def recipe_params(recipe) -> dict[str, str]:
    """The resolved recipe, one parameter a key of a table: `train.learning_rate` -> "0.001";
    lists and the tables inside tables (`model.spec`, `data.augment`) as JSON (a value past
    MLflow's 6,000 characters is cut, with "..." at its end)."""
    found = {}

    def walk(prefix, value):
        if isinstance(value, dict) and value and "." not in prefix:
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), item)
            return
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        found[prefix] = text if len(text) <= 6000 else text[:5997] + "..."

    walk("", recipe.resolved())
    return found


class Tracker:
    """One kerascnn run's MLflow run, started anew or, on a resume, the one its state file names:
    `callback()` for `model.fit`, `trial(values)` for a search's trial, `finish` with the results
    and the run's files, `end(status)` when it stops otherwise."""

    def __init__(self, recipe, path: Path, state: str = RunDir.STATE):
        import mlflow  # the optional extra's: imported where it is used

        self.mlflow, self.path, self.recipe = mlflow, Path(path), recipe
        self.uri = tracking_uri(recipe.output.mlflow)
        mlflow.set_tracking_uri(self.uri)
        # A fine-tuning phase ("glyphs_finetune/1-head") goes to its recipe's experiment.
        experiment = (recipe.name or "kerascnn").split("/")[0]
        self.experiment = mlflow.set_experiment(experiment).experiment_id
        known = (rundir.read_state(path, state) or {}).get("mlflow", {})
        resumed = known.get("run_id") if known.get("uri") == self.uri else None
        name = recipe.name if recipe.phase is not None else self.path.name
        self.run = mlflow.start_run(run_id=resumed, run_name=None if resumed else name)
        if resumed is None:
            mlflow.log_params(recipe_params(recipe))
            mlflow.set_tags(
                {"kerascnn.run_dir": str(self.path.resolve()), "kerascnn.recipe": recipe.name}
            )
            rundir.update_state(path, state, mlflow={"uri": self.uri, "run_id": self.run.info.run_id})

    @property
    def run_id(self) -> str:
        return self.run.info.run_id

    def callback(self):
        """The Keras callback that logs each epoch's values to this run."""
        return EpochMetrics(self.mlflow.MlflowClient(self.uri), self.run_id)

    def trial(self, values: dict) -> TrialRun:
        """A search's trial as a run nested in the search's, its values as its parameters."""
        client = self.mlflow.MlflowClient(self.uri)
        name = ", ".join(f"{k}={v}" for k, v in values.items())[:250]
        nested = client.create_run(
            self.experiment, run_name=name, tags={"mlflow.parentRunId": self.run_id}
        )
        run_id = nested.info.run_id
        for key, value in values.items():
            client.log_param(run_id, key, value if isinstance(value, str) else json.dumps(value))
        return TrialRun(client, run_id)

    def finish(self, metrics: dict, files=ARTIFACTS) -> None:
        """The test results and the run's files; the MLflow run ended as FINISHED."""
        client = self.mlflow.MlflowClient(self.uri)
        for which in ("test", "test_final", "test_best", "test_averaged"):
            for key, value in (metrics.get(which) or {}).items():
                client.log_metric(self.run_id, f"{which}_{key}", float(value))
        if metrics.get("stopped"):
            client.set_tag(self.run_id, "kerascnn.stopped", metrics["stopped"])
        for name in files:
            if (self.path / name).is_file():
                client.log_artifact(self.run_id, str(self.path / name))
        self.end("FINISHED")

    def end(self, status: str) -> None:
        if self.mlflow.active_run() is not None:
            self.mlflow.end_run(status=status)


class TrialRun:
    """A trial's nested MLflow run: `callback` logs its epochs; `end(status)` closes it."""

    def __init__(self, client, run_id: str):
        self.client, self.run_id = client, run_id
        self.callback = EpochMetrics(client, run_id)

    def end(self, status: str) -> None:
        self.client.set_terminated(self.run_id, status=status)


class EpochMetrics(keras.callbacks.Callback):
    """Each epoch's values at its end (Keras' `logs`: losses and accuracies, and the images/s and
    data wait `Throughput` adds) and the learning rate, with the epoch (1, 2, ...) as the step."""

    def __init__(self, client, run_id: str):
        super().__init__()
        self.client, self.run_id = client, run_id

    def on_epoch_end(self, epoch, logs=None):
        from mlflow.entities import Metric  # the optional extra's: imported where it is used

        now = int(time.time() * 1000)
        values = {k: float(v) for k, v in (logs or {}).items()}
        rate = self.model.optimizer.learning_rate
        values["learning_rate"] = float(keras.ops.convert_to_numpy(rate))
        self.client.log_batch(
            self.run_id, metrics=[Metric(k, v, now, epoch + 1) for k, v in values.items()]
        )
