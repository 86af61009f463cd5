"""Hyperparameter search (`[tune]`, `kerascnn tune`): random and hyperband searches on generated data,
the best recipe file trains as is, a killed search resumes without repeating finished trials, an
invalid combination or a NaN loss is a failed trial and the search goes on, errors before anything
runs."""

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import held_by_another_process

from kerascnn.config import ConfigError
from kerascnn.recipe import load_recipe

SPEC = {
    "defaults": {"norm": "batch"},
    "stages": [{"blocks": ["conv3-8", "maxpool"]}, {"blocks": ["conv3-16", "maxpool"]}],
    "head": {"pool": "avg"},
}


def document(tmp_path, **tables):
    doc = {
        "model": {"spec": SPEC},
        "data": {
            "source": "synthetic",
            "classes": 3,
            "samples": 240,
            "image_size": [16, 16],
            "batch_size": 32,
        },
        "train": {"epochs": 2, "optimizer": "adam", "learning_rate": 0.01},
        "tune": {
            "tuner": "random",
            "max_trials": 3,
            "space": {
                "train.learning_rate": {"type": "float", "min": 1e-3, "max": 0.1, "sampling": "log"},
                "train.optimizer": {"type": "choice", "values": ["sgd", "adam"]},
            },
        },
        "output": {"dir": str(tmp_path / "run"), "tensorboard": False},
    }
    for key, value in tables.items():
        doc[key] = {**doc.get(key, {}), **value}
    return doc


def write_recipe(path: Path, doc: dict) -> Path:
    """The document as a YAML recipe file."""
    import yaml

    path.write_text(yaml.safe_dump(doc))
    return path


def results(directory):
    with open(Path(directory) / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


def quiet(*a):
    pass


@pytest.mark.slow  # 10 s end to end; the shipped offline search runs in the default tier
def test_random_search_writes_a_best_recipe_that_trains(tmp_path):
    from kerascnn.cli import main
    from kerascnn.verbs import tune

    recipe = load_recipe(document(tmp_path), name="search")
    result = tune(recipe, verbose=0, log=quiet)
    assert result.directory == tmp_path / "run_tune"
    rows = results(result.directory)
    assert len(rows) == 3 and {r["status"] for r in rows} == {"COMPLETED"}
    assert len({r["train.learning_rate"] for r in rows}) == 3  # sampled, not repeated
    scores = [float(r["objective"]) for r in rows]
    assert scores == sorted(scores, reverse=True)  # best first
    # The search's page: every trial, the best first, and the best trial named.
    from test_report import read_page

    page = read_page(result.directory / "report.html")
    table = page.tables["trial-table"]
    assert [row[0]["text"] for row in table[1:]] == [r["trial"] for r in rows]
    assert [float(row[-2]["text"]) for row in table[1:]] == pytest.approx(scores, abs=1e-4)
    text = (result.directory / "report.html").read_text()
    assert f"Trial {rows[0]['trial']}: " in text and "best_recipe.yaml" in text
    best = load_recipe(result.best_recipe)
    assert best.tune is None and best.name == "search_best"
    assert best.train.learning_rate == pytest.approx(float(rows[0]["train.learning_rate"]))
    assert best.train.optimizer == rows[0]["train.optimizer"]
    assert (
        main(
            [
                "train",
                str(result.best_recipe),
                "--quiet",
                "--set",
                "train.epochs=1",
                "--output",
                str(tmp_path / "best"),
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "best" / "metrics.json").read_text())["epochs"] == 1
    # The same search again: nothing retrained, the same best.
    again = tune(recipe, verbose=0, log=quiet)
    assert [r.trial for r in again.trials] == [r["trial"] for r in rows]
    # A file keras-tuner reads back, truncated (killed while it wrote): an error naming it.
    for damaged in (
        sorted(result.directory.glob("tuner/trial_*/trial.json"))[0],
        result.directory / "tuner" / "oracle.json",
    ):
        text = damaged.read_text()
        damaged.write_text(text[: len(text) // 2])
        with pytest.raises(ConfigError, match=re.escape(f"{damaged}: the file is not valid JSON")):
            tune(recipe, verbose=0, log=quiet)
        damaged.write_text(text)


@pytest.mark.slow  # end to end; over 10 s on 2 cores (README's command stays under 10 min)
def test_bayesian_search_fits_its_model_after_the_initial_points(tmp_path):
    """keras-tuner's BayesianOptimization: with one hyperparameter, 3 random points, then its
    Gaussian process proposes the 4th. An int range with a step (the batch size)."""
    from kerascnn.verbs import tune

    doc = document(
        tmp_path,
        tune={
            "tuner": "bayesian",
            "max_trials": 4,
            "space": {"data.batch_size": {"type": "int", "min": 16, "max": 64, "step": 16}},
        },
    )
    doc["train"]["epochs"] = 1
    result = tune(load_recipe(doc, name="bayes"), verbose=0, log=quiet)
    rows = results(result.directory)
    assert len(rows) == 4 and {r["status"] for r in rows} == {"COMPLETED"}
    assert {int(r["data.batch_size"]) for r in rows} <= {16, 32, 48, 64}
    assert load_recipe(result.best_recipe).data.batch_size == int(rows[0]["data.batch_size"])


@pytest.mark.slow
def test_hyperband_and_a_failed_trial_that_does_not_stop_the_search(tmp_path):
    """Hyperband over registered models, one of which cannot take 16x16 images (LeNet-5's C5
    needs 5x5 maps): its trials are recorded as failed with the reason, the others complete."""
    from kerascnn.verbs import tune

    doc = document(
        tmp_path,
        model={"name": "resnet20"},
        tune={
            "tuner": "hyperband",
            "max_epochs": 2,
            "factor": 2,
            "max_consecutive_failed_trials": 10,
            "space": {
                "model.name": {"type": "choice", "values": ["lenet5", "resnet20"], "default": "lenet5"}
            },
        },
    )
    del doc["model"]["spec"]
    result = tune(load_recipe(doc, name="hb"), verbose=0, log=quiet)
    rows = results(result.directory)
    failed = [r for r in rows if r["status"] == "FAILED"]
    completed = [r for r in rows if r["status"] == "COMPLETED"]
    assert failed and completed
    assert all(r["model.name"] == "lenet5" for r in failed)
    assert "the model cannot be built" in failed[0]["reason"] and "too small" in failed[0]["reason"]
    assert all(r["model.name"] == "resnet20" for r in completed)
    assert load_recipe(result.best_recipe).model.name == "resnet20"


def test_a_search_whose_every_trial_failed_ends_with_one_error_listing_the_reasons(tmp_path, capsys):
    """Every trial fails (LeNet-5 at 16x16, whatever the learning rate): one plain error that
    lists the distinct reasons and where each trial's is, exit status 2, results.csv written; also
    when keras-tuner stops the search itself after max_consecutive_failed_trials."""
    from kerascnn.cli import main

    for limit, trials in ((10, 2), (2, 2)):
        doc = document(
            tmp_path,
            model={"name": "lenet5"},
            tune={"max_trials": 3 if limit == 2 else trials, "max_consecutive_failed_trials": limit},
        )
        del doc["model"]["spec"]
        path = write_recipe(tmp_path / f"all_failed_{limit}.yaml", doc)
        out = tmp_path / f"search_{limit}"
        assert main(["tune", str(path), "--quiet", "--output", str(out)]) == 2
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert error.startswith(
            "error: every trial of the search failed, so it has no best "
            "model: the model cannot be built: "
        ), error
        assert "too small for this network" in error and f"({trials} trials)" in error
        assert f"Each trial's reason is in {out / 'results.csv'}" in error
        assert [r["status"] for r in results(out)] == ["FAILED"] * trials
        assert not (out / "best_recipe.yaml").exists()


def test_the_shipped_offline_search_runs_from_its_name(tmp_path, monkeypatch):
    """recipes/lenet5_digits_search.toml: a search a newcomer can run without internet (docs/search.md's
    first example): scikit-learn's digits, found by name from any directory; here one trial
    of 1 epoch (the full one: 5 trials of 4 epochs, about 30 s on 2 cores)."""
    from kerascnn.cli import main

    monkeypatch.chdir(tmp_path)
    assert (
        main(
            [
                "tune",
                "lenet5_digits_search",
                "--quiet",
                "--set",
                "tune.max_trials=1",
                "--set",
                "train.epochs=1",
            ]
        )
        == 0
    )
    search = tmp_path / "runs" / "lenet5_digits_search_tune"
    rows = results(search)
    assert len(rows) == 1 and {r["status"] for r in rows} == {"COMPLETED"}
    assert {"train.learning_rate", "model.options.modern", "model.options.dropout"} <= set(rows[0])
    assert float(rows[0]["objective"]) > 0.3  # 10 classes: chance is 0.1
    best = load_recipe(search / "best_recipe.yaml")
    assert best.data.source == "digits" and best.model.name == "lenet5"


def test_one_search_directory_has_one_writer(tmp_path):
    """A second `kerascnn tune` on a search directory another process holds is refused at once,
    naming the directory and the process (the lock is released when its holder ends)."""
    from kerascnn.runs.rundir import DirectoryLock
    from kerascnn.verbs import tune

    recipe = load_recipe(document(tmp_path), name="locked")
    with held_by_another_process(tmp_path / "run_tune") as holder:
        with pytest.raises(
            ConfigError,
            match=rf"{tmp_path / 'run_tune'} is in use: process "
            rf"{holder.pid} \(`.*`, since .*\) is writing this "
            r"search",
        ):
            tune(recipe, verbose=0, log=quiet)
        assert not (tmp_path / "run_tune" / "tune.json").exists()
    with DirectoryLock(tmp_path / "run_tune", "search"):  # released by the killed holder
        pass


def test_a_nan_loss_fails_its_trial(tmp_path):
    from kerascnn.verbs import tune

    doc = document(
        tmp_path,
        tune={
            "max_trials": 2,
            "space": {
                "train.learning_rate": {"type": "choice", "values": [1e30, 0.01], "default": 1e30},
                "train.optimizer": {"type": "fixed", "value": "sgd"},
            },
        },
    )
    result = tune(load_recipe(doc), verbose=0, log=quiet)
    by_rate = {float(r["train.learning_rate"]): r for r in results(result.directory)}
    assert by_rate[1e30]["status"] == "FAILED" and "the loss became" in by_rate[1e30]["reason"]
    assert by_rate[0.01]["status"] == "COMPLETED"


def test_a_search_stopped_by_ctrl_c_says_how_to_resume_and_the_same_command_does(
    tmp_path, monkeypatch, capsys
):
    """Ctrl-C in the second trial: `kerascnn tune` records the search as interrupted, says that
    the same command resumes it and how many trials it keeps, and exits 130, as `train` does;
    the same command then finishes it without running the first trial again."""
    from kerascnn.cli import main
    from kerascnn.tuning import search

    doc = document(tmp_path, tune={"max_trials": 2}, train={"epochs": 1})
    path = write_recipe(tmp_path / "search.yaml", doc)
    fit, calls = search.RecipeHyperModel.fit, []

    def interrupted_in_the_second_trial(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # what Python raises in the main thread on Ctrl-C
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(search.RecipeHyperModel, "fit", interrupted_in_the_second_trial)
    assert main(["tune", str(path), "--quiet"]) == 130
    out = capsys.readouterr().out
    directory = tmp_path / "run_tune"
    assert (
        f"interrupted (Ctrl-C); run the same command again to resume the search in "
        f"{directory} (1 ended trial kept; the one that was running starts again)"
    ) in out
    assert json.loads((directory / "tune.json").read_text())["status"] == "interrupted"
    first_trial = directory / "tuner" / "trial_0" / "trial.json"
    stamp = first_trial.stat().st_mtime_ns
    assert main(["tune", str(path), "--quiet"]) == 0
    assert "(resuming after 1 trials)" in capsys.readouterr().out
    assert [r["status"] for r in results(directory)] == ["COMPLETED", "COMPLETED"]
    assert first_trial.stat().st_mtime_ns == stamp and len(calls) == 3


@pytest.mark.slow
def test_killed_search_resumes_without_repeating_finished_trials(tmp_path):
    doc = document(tmp_path, tune={"max_trials": 4})
    path = write_recipe(tmp_path / "search.yaml", doc)
    command = [sys.executable, "-m", "kerascnn.cli", "tune", str(path), "--quiet"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    first_trial = tmp_path / "run_tune" / "tuner" / "trial_0" / "trial.json"
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
        if first_trial.exists() and json.loads(first_trial.read_text())["status"] == "COMPLETED":
            break
        time.sleep(0.2)
    assert process.poll() is None, "the search ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    stamp = first_trial.stat().st_mtime_ns
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "resuming after" in finished.stdout
    rows = results(tmp_path / "run_tune")
    assert len(rows) == 4 and {r["status"] for r in rows} == {"COMPLETED"}
    assert first_trial.stat().st_mtime_ns == stamp  # trial 0 was not run again


@pytest.mark.parametrize(
    "change,message",
    [
        ({"space": {}}, "tune.space: nothing to tune"),
        (
            {"space": {"train.learnin_rate": {"type": "float", "min": 0.1, "max": 1.0}}},
            "the value 0.1 does not make a valid recipe",
        ),
        (
            {
                "space": {
                    "train.learning_rate": {"type": "float", "min": 0.0, "max": 1.0, "sampling": "log"}
                }
            },
            "log sampling needs min > 0",
        ),
        ({"space": {"train.epochs": {"type": "int", "min": 3, "max": 1}}}, "min must not exceed max"),
        (
            {"space": {"train.optimizer": {"type": "choice", "values": ["sgd", "adamm"]}}},
            "the value 'adamm' does not make a valid recipe",
        ),
        ({"space": {"train.optimizer": {"type": "choice"}}}, "type 'choice' needs values"),
        (
            {"space": {"learning_rate": {"type": "float", "min": 0.1, "max": 1.0}}},
            "a tuned key is a recipe key path",
        ),
        ({"objective": "val_acc"}, "Hint: Did you mean 'val_accuracy'?"),
        ({"tuner": "grid"}, "tune.tuner: expected one of 'random', 'hyperband', 'bayesian'"),
        ({"max_trials": 0}, "tune.max_trials: must be a positive integer"),
    ],
)
def test_search_space_errors_name_the_key(tmp_path, change, message):
    doc = document(tmp_path)
    doc["tune"] = {**doc["tune"], **change}
    with pytest.raises(ConfigError) as caught:
        load_recipe(doc)
    assert message in str(caught.value)


def test_train_ignores_tune_and_tune_needs_it(tmp_path):
    from kerascnn.cli import main

    doc = document(tmp_path)
    with_tune = load_recipe(doc)
    del doc["tune"]
    assert load_recipe(doc).fingerprint == with_tune.fingerprint  # a run resumes either way
    path = write_recipe(tmp_path / "plain.yaml", doc)
    assert main(["tune", str(path)]) == 2


@pytest.mark.slow
def test_distributed_search_with_a_chief_and_two_workers(tmp_path):
    """keras-tuner's own chief/worker mode on 127.0.0.1: the chief's oracle hands out 4 trials,
    two worker processes train them, the chief writes the results and the best recipe."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = write_recipe(tmp_path / "search.yaml", document(tmp_path, tune={"max_trials": 4}))
    command = [sys.executable, "-m", "kerascnn.cli", "tune", str(path), "--quiet"]
    processes, logs = [], []

    def start(role):
        env = {
            **os.environ,
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "KERASTUNER_TUNER_ID": role,
            "KERASTUNER_ORACLE_IP": "127.0.0.1",
            "KERASTUNER_ORACLE_PORT": str(port),
        }
        log = tmp_path / f"{role}.log"
        logs.append(log)
        with open(log, "w") as out:
            processes.append(subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT))

    try:
        # The workers first: they wait for the chief, so both are there when it hands out
        # trials (keras-tuner's client waits for a chief, not for a search that has ended).
        start("tuner0")
        start("tuner1")
        deadline = time.time() + 120
        while time.time() < deadline and not all("worker tuner" in log.read_text() for log in logs):
            time.sleep(0.2)
        start("chief")
        for process in processes:  # 35 s alone; minutes when the other tests load both cores
            process.wait(timeout=420)
    finally:
        for process in processes:
            process.kill()
    outputs = [log.read_text() for log in logs]
    assert [p.returncode for p in processes] == [0, 0, 0], outputs
    assert "chief: the workers train" in outputs[2] and "worker tuner0" in outputs[0]
    rows = results(tmp_path / "run_tune")
    assert len(rows) == 4 and {r["status"] for r in rows} == {"COMPLETED"}
    trained_by = {
        json.loads(p.read_text()).get("trial_id")
        for p in (tmp_path / "run_tune" / "tuner").glob("trial_*/trial.json")
    }
    assert len(trained_by) == 4
    assert (tmp_path / "run_tune" / "best_recipe.yaml").is_file()
