"""Gradient accumulation (`train.gradient_accumulation_steps`): N batches of B images make one
update, the one a batch of N x B images makes (a network without batch normalization), the schedule
and `iterations` count updates, and a run stopped between two batches of an update resumes to the
end of one never stopped."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from test_reliability import assert_same_end, history_epochs, small_recipe, stopped_when

import kerascnn
from kerascnn import train
from kerascnn.config import ConfigError
from kerascnn.recipe import load_recipe
from kerascnn.training import checkpoints

# Updates in the papers' form (SGD, Nesterov momentum, the L2 penalty), a warm-up of 2 updates and
# a drop after 5: the schedule's steps are updates, or the two runs part at once.
UPDATE = dict(
    optimizer="sgd",
    learning_rate=0.05,
    momentum=0.9,
    nesterov=True,
    weight_decay=1e-3,
    schedule="step",
    schedule_unit="iterations",
    milestones=[5],
    warmup=2,
    epochs=2,
    mixed_precision=False,  # float32: bfloat16 (CPUs that compute in it) would round each sum
)


def _recipe(run, batch, **table):
    doc = small_recipe(run, **{**UPDATE, **table})
    # 400 images: 288 train (test 20 %, validation 10 %), 9 batches of 32, 36 of 8.
    doc["data"].update(samples=400, batch_size=batch)
    doc["model"]["spec"]["defaults"] = {"norm": "none"}  # batch statistics are each batch's
    if "iterations" in table:
        doc["train"].pop("epochs")
    return load_recipe(doc, name="t")


def _updates(model) -> int:
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))  # Keras': batches // N


def _trained(run):
    model = kerascnn.load_model(run / "last.keras")
    rates = [float(r["learning_rate"]) for r in checkpoints.read_history(run / "history.csv")]
    return model, rates


def test_n_batches_of_b_make_the_update_of_one_batch_of_n_b(tmp_path):
    quiet = dict(verbose=0, log=lambda *a: None)
    one = train(_recipe(tmp_path / "one", 32), **quiet)
    four = train(_recipe(tmp_path / "four", 8, gradient_accumulation_steps=4), **quiet)
    a, rates_a = _trained(one.run_dir)
    b, rates_b = _trained(four.run_dir)
    assert _updates(a) == _updates(b) == 18
    assert rates_a == rates_b and rates_a[-1] == pytest.approx(0.005)  # dropped after update 5
    assert not any("_bn" in w.path for w in a.weights)
    for x, y in zip(a.weights, b.weights, strict=True):
        np.testing.assert_allclose(x.numpy(), y.numpy(), rtol=1e-6, atol=1e-6, err_msg=x.path)


def test_iterations_count_updates(tmp_path):
    recipe = _recipe(tmp_path / "run", 8, iterations=12, gradient_accumulation_steps=4)
    result = train(recipe, verbose=0, log=lambda *a: None)
    model = kerascnn.load_model(result.run_dir / "last.keras")
    assert _updates(model) == 12  # 48 batches: one epoch and 12 more
    assert history_epochs(result.run_dir) == [1, 2]


@pytest.mark.slow  # several runs end to end: the slow tier
def test_a_run_stopped_inside_an_update_resumes_to_the_end_of_one_never_stopped(tmp_path):
    """5 batches an update, 36 batches an epoch: an update spans the epochs' end, its first
    batches' gradients in the backup of the epoch that ended in it."""
    whole = train(
        _recipe(tmp_path / "whole", 8, gradient_accumulation_steps=5), verbose=0, log=lambda *a: None
    )
    stopped_when(
        "on_train_batch_end",
        lambda self, batch: batch == 20 and self._epoch == 2,
        lambda: train(
            _recipe(tmp_path / "stopped", 8, gradient_accumulation_steps=5),
            verbose=0,
            log=lambda *a: None,
        ),
    )
    assert history_epochs(tmp_path / "stopped") == [1]
    resumed = train(
        _recipe(tmp_path / "stopped", 8, gradient_accumulation_steps=5), verbose=0, log=lambda *a: None
    )
    assert_same_end(whole.run_dir, resumed.run_dir, 72 // 5)


@pytest.mark.parametrize(
    "table, message",
    [
        ({"gradient_accumulation_steps": 0}, "must be a positive integer"),
        ({"gradient_accumulation_steps": 2, "ema": True}, "not with train.ema"),
    ],
)
def test_bad_accumulation_is_named(tmp_path, table, message):
    with pytest.raises(ConfigError, match=message) as found:
        load_recipe(small_recipe(tmp_path / "run", **table), name="t")
    assert "train.gradient_accumulation_steps" in str(found.value)
