"""A run that ends before its last epoch (`kerascnn.training.stopping`): early stopping and the time
budget end finished runs that say why; early stopping's counters survive a kill; a run stopped by
its budget goes on when asked for more epochs and ends as one never stopped."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_reliability import (
    assert_same_end,
    history_epochs,
    small_recipe,
    stopped_before_its_files,
    stopped_when,
)

import kerascnn
from kerascnn import train
from kerascnn.config import ConfigError
from kerascnn.recipe import load_recipe

STEPS = 7  # batches an epoch: 216 of small_recipe's 300 images train (test 20 %, val 10 %)


def _train(run, log=None, **train_table):
    lines = []
    result = train(
        load_recipe(small_recipe(run, **train_table), name="t"),
        verbose=0,
        log=lines.append if log is None else log,
    )
    return result, "\n".join(lines)


def _state(run):
    return json.loads((run / "run.json").read_text())


def test_early_stopping_ends_a_finished_run_that_says_why_and_reports_the_recipes_model(tmp_path):
    """No improvement bigger than 10 (the validation loss is about 1): the first epoch is the best,
    the second waits, and with a patience of 1 the run stops after it."""
    run = tmp_path / "run"
    result, log = _train(run, epochs=8, early_stopping=1, early_stopping_min_delta=10.0)
    assert history_epochs(run) == [1, 2]
    why = "early stopping: val_loss has not improved by more than 10 for 1 epochs"
    assert result.metrics["stopped"].startswith(why) and result.metrics["epochs"] == 2
    assert "stopped after epoch 2: " + why in log
    state = _state(run)
    assert state["status"] == "finished" and state["stopped"].startswith(why)
    assert not (run / "backup").exists()  # finished: never resumed
    # The run's model is the one [output] model names (the best epoch, by val_loss).
    chosen = {"best": run / "best.keras", "final": run / "last.keras"}[result.metrics["model"]]
    if not chosen.exists():  # the best epoch is the last
        chosen = run / "last.keras"
    saved, expected = kerascnn.load_model(run / "model.keras"), kerascnn.load_model(chosen)
    for a, b in zip(saved.weights, expected.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(ConfigError, match="finished"):  # stopped early: not continued
        _train(run, epochs=8, early_stopping=1, early_stopping_min_delta=10.0)


@pytest.mark.slow  # several runs end to end: the slow tier
def test_early_stopping_counters_survive_a_kill(tmp_path):
    """With a patience of 2 the run stops after epoch 3. Stopped at epoch 3's start, after epoch 2
    waited once, the resumed run stops there too, with the weights of one never stopped (counters
    started over, epoch 3 would be a first "best" and the run would go on to epoch 5). Stopped
    after its last epoch's backup, before its files: the resumed run trains nothing and finishes."""
    table = dict(epochs=8, early_stopping=2, early_stopping_min_delta=10.0)
    whole, _ = _train(tmp_path / "whole", **table)
    assert history_epochs(whole.run_dir) == [1, 2, 3]
    stopped_when(
        "on_epoch_begin",
        lambda self, epoch: epoch == 2,
        lambda: _train(tmp_path / "stopped", **table),
    )
    assert history_epochs(tmp_path / "stopped") == [1, 2]
    resumed, log = _train(tmp_path / "stopped", **table)
    assert "stopped after epoch 3: early stopping" in log
    assert_same_end(whole.run_dir, resumed.run_dir, 3 * STEPS)

    stopped_before_its_files(lambda: _train(tmp_path / "late", **table))
    assert _state(tmp_path / "late")["status"] == "interrupted"
    late, log = _train(tmp_path / "late", **table)
    assert history_epochs(late.run_dir) == [1, 2, 3]  # nothing trained again
    assert late.metrics["stopped"].startswith("early stopping") and "stopped after epoch 3" in log
    assert_same_end(whole.run_dir, late.run_dir, 3 * STEPS)


@pytest.mark.slow  # several runs end to end: the slow tier
def test_a_run_stopped_by_its_time_budget_is_finished_and_more_epochs_continue_it(tmp_path):
    """A budget no epoch fits in: every command trains one epoch (an epoch must start for the run to
    learn anything) and ends a finished run, its backup kept; the same command continues it, and so
    does `--set train.epochs=3` without the budget, to the end of a run never stopped."""
    run = tmp_path / "stopped"
    first, log = _train(run, epochs=8, time_budget="0.01s")
    assert history_epochs(run) == [1]
    assert "stopped after epoch 1: time budget: 0.01s leaves no room for epoch 2" in log
    assert _state(run)["status"] == "finished" and (run / "model.keras").is_file()
    assert first.metrics["stopped"].startswith("time budget") and (run / "backup").is_dir()
    again, log = _train(run, epochs=8, time_budget="0.01s")  # the same command: one more epoch
    assert "resuming after epoch 1" in log and history_epochs(run) == [1, 2]
    # More epochs than it trained, the budget taken away (it is no part of the run's fingerprint).
    whole, _ = _train(tmp_path / "whole", epochs=3)
    done, log = _train(run, epochs=3)
    assert history_epochs(run) == [1, 2, 3] and "stopped after" not in log
    state = _state(run)
    assert state["status"] == "finished" and state["stopped"] is None
    assert "stopped" not in done.metrics and not (run / "backup").exists()
    assert_same_end(whole.run_dir, run, 3 * STEPS)
    with pytest.raises(ConfigError, match="finished"):  # it ran its epochs: finished for good
        _train(run, epochs=3)


@pytest.mark.parametrize(
    "table, key, message",
    [
        ({"time_budget": "soon"}, "time_budget", 'a positive duration such as "45s"'),
        ({"time_budget": "0s"}, "time_budget", "Received: '0s'"),
        ({"early_stopping": -1}, "early_stopping", "0 \\(off\\) or a number of epochs"),
        ({"early_stopping_min_delta": -0.1}, "early_stopping_min_delta", "0 or more"),
        ({"early_stopping_monitor": "val_top5"}, "early_stopping_monitor", "val_top5"),
    ],
)
def test_bad_stopping_keys_name_the_key(tmp_path, table, key, message):
    with pytest.raises(ConfigError, match=message) as found:
        load_recipe(small_recipe(tmp_path / "run", **table), name="t")
    assert f"train.{key}" in str(found.value)


def test_a_time_budget_is_one_runs_not_a_searchs(tmp_path):
    doc = small_recipe(tmp_path / "run", time_budget="1h")
    doc["tune"] = {"space": {"train.learning_rate": {"type": "choice", "values": [0.01, 0.1]}}}
    with pytest.raises(ConfigError, match="a time budget ends one run") as found:
        load_recipe(doc, name="t")
    assert "train.time_budget" in str(found.value)
