"""Runs tracked in MLflow (`[output] mlflow`, `kerascnn.runs.tracking`), against a real local store
read back with MLflow's own client: the recipe as parameters, every epoch's metrics, the test
results and the run's files; a run interrupted and resumed goes on in the same MLflow run."""

from __future__ import annotations

import json
import sys

import pytest
from test_reliability import small_recipe, stopped_when

from kerascnn import train
from kerascnn.config import ConfigError
from kerascnn.recipe import load_recipe


def _recipe(run, uri):
    doc = small_recipe(run, epochs=3)
    doc["output"]["mlflow"] = uri
    return load_recipe(doc, name="tracked")


@pytest.mark.slow  # several runs end to end: the slow tier
def test_a_run_is_tracked_in_mlflow_and_a_resumed_one_goes_on_in_the_same_run(tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.chdir(tmp_path)  # MLflow's artifacts go to ./mlruns
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run = tmp_path / "run"
    stopped_when(  # Ctrl-C at the start of epoch 3: the MLflow run is KILLED, then resumed
        "on_epoch_begin",
        lambda self, epoch: epoch == 2,
        lambda: train(_recipe(run, uri), verbose=0, log=lambda *a: None),
    )
    client = mlflow.MlflowClient(uri)
    run_id = json.loads((run / "run.json").read_text())["mlflow"]["run_id"]
    assert client.get_run(run_id).info.status == "KILLED"
    lines = []
    result = train(_recipe(run, uri), verbose=0, log=lines.append)
    assert f"  mlflow run {run_id} in {uri}" in lines

    (experiment,) = [e for e in client.search_experiments() if e.name == "tracked"]
    (found,) = client.search_runs([experiment.experiment_id])
    assert found.info.run_id == run_id and found.info.status == "FINISHED"
    params = found.data.params
    assert params["train.learning_rate"] == "0.01" and params["data.source"] == "synthetic"
    assert json.loads(params["model.spec"])["head"] == {"pool": "avg"}
    history = client.get_metric_history(run_id, "loss")
    assert sorted(m.step for m in history) == [1, 2, 3]  # epochs 1-2, then 3 after the resume
    rows = (run / "history.csv").read_text().splitlines()
    assert {m.step: m.value for m in history}[3] == pytest.approx(float(rows[3].split(",")[2]))
    for key in ("val_loss", "val_accuracy", "learning_rate", "images_per_second", "data_wait"):
        assert len(client.get_metric_history(run_id, key)) == 3, key
    metrics = found.data.metrics
    assert metrics["test_accuracy"] == pytest.approx(result.metrics["test"]["accuracy"])
    assert "test_final_loss" in metrics and "test_best_loss" in metrics
    files = {a.path for a in client.list_artifacts(run_id)}
    assert {"model.keras", "metrics.json", "history.csv", "curves.png", "README.md"} <= files


def test_without_mlflow_one_line_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if not installed
    with pytest.raises(ConfigError, match="needs MLflow, which is not installed") as found:
        train(_recipe(tmp_path / "run", "sqlite:///x.db"), verbose=0, log=lambda *a: None)
    assert "output.mlflow" in str(found.value) and 'pip install "kerascnn[mlflow]"' in str(found.value)
    assert not (tmp_path / "run").exists()  # before anything was written


@pytest.mark.slow  # several runs end to end: the slow tier
def test_a_searchs_trials_are_runs_nested_in_the_searchs(tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    from test_tune import document

    from kerascnn import tune

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    doc = document(tmp_path, tune={"max_trials": 2}, train={"epochs": 2}, output={"mlflow": uri})
    result = tune(load_recipe(doc, name="searched"), verbose=0, log=lambda *a: None)
    client = mlflow.MlflowClient(uri)
    (experiment,) = [e for e in client.search_experiments() if e.name == "searched"]
    runs = client.search_runs([experiment.experiment_id])
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert parent.info.status == "FINISHED" and len(trials) == 2 == len(result.trials)
    assert parent.data.params["tune.max_trials"] == "2"
    for trial in trials:
        assert trial.info.status == "FINISHED"
        assert {"train.learning_rate", "train.optimizer"} <= set(trial.data.params)
        steps = [m.step for m in client.get_metric_history(trial.info.run_id, "val_accuracy")]
        assert sorted(steps) == [1, 2]
    assert {"results.csv", "best_recipe.yaml"} <= {
        a.path for a in client.list_artifacts(parent.info.run_id)
    }
