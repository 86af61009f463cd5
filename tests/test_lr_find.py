"""`kerascnn lr-find`: the learning-rate range test on the quickstart recipe. The sweep's rates grow
exponentially, each step's loss is the batch's own, nothing is written but the plot, and a 3-epoch
run at the suggested rate learns (its loss falls every epoch)."""

from __future__ import annotations

import math

import numpy as np
import pytest


def test_the_sweep_s_rates_grow_exponentially_and_it_writes_no_run(tmp_path, monkeypatch):
    from kerascnn.training import lr_find

    monkeypatch.chdir(tmp_path)
    found = lr_find("lenet5_digits", out="sweep.png")
    rates = np.asarray(found.rates)
    assert rates[0] == pytest.approx(1e-7) and 20 <= len(rates) <= 100
    np.testing.assert_allclose(rates[1:] / rates[:-1], (10 / 1e-7) ** (1 / 99), rtol=1e-9)
    assert len(found.losses) == len(found.smoothed) == len(rates)
    assert all(math.isfinite(v) for v in found.losses[:20])
    assert found.suggestion == pytest.approx(found.lowest / 10)
    assert 1e-5 < found.suggestion < 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.png"]  # no run directory


@pytest.mark.slow
def test_the_quickstart_learns_at_the_suggested_rate(tmp_path, monkeypatch, capsys):
    """End to end: the command line's suggestion, then a 3-epoch run at it."""
    from kerascnn.cli import main
    from kerascnn.recipe import load_recipe
    from kerascnn.recipe.shipped import find_recipe
    from kerascnn.verbs import train

    monkeypatch.chdir(tmp_path)
    assert main(["lr-find", "lenet5_digits", "--quiet"]) == 0
    said = capsys.readouterr().out.splitlines()
    assert said[0].startswith("lr-find: ") and " steps from 1e-07 to " in said[0]  # or fewer: it
    # stops where the loss passes four times its lowest
    assert said[-1].startswith("suggested: --set train.learning_rate=")
    override = said[-1].removeprefix("suggested: --set ")
    assert list(tmp_path.iterdir()) == []  # the sweep wrote nothing

    recipe = load_recipe(find_recipe("lenet5_digits"), [override, "train.epochs=3"])
    result = train(recipe, verbose=0, log=lambda *a: None)
    losses = [float(r["loss"]) for r in _history(result.run_dir)]
    assert len(losses) == 3 and losses[0] > losses[1] > losses[2], losses


def test_each_step_s_loss_is_recovered_from_keras_running_mean():
    """Keras' batch logs hold the epoch's running mean; the sweep takes each batch's own loss."""
    from kerascnn.training.lr_find import _Sweep

    sweep = _Sweep(np.geomspace(1e-3, 1, 6))
    sweep.set_model(type("M", (), {"stop_training": False})())
    truth = [2.0, 1.0, 4.0, 3.0, 0.5, 1.5]
    for epoch in range(2):
        sweep.on_epoch_begin(epoch)
        seen = []
        for batch, loss in enumerate(truth[3 * epoch : 3 * epoch + 3]):
            seen.append(loss)
            sweep.on_train_batch_end(batch, {"loss": sum(seen) / len(seen)})
    np.testing.assert_allclose(sweep.losses, truth)
    assert sweep.model.stop_training  # the last rate taken


def _history(run_dir):
    import csv

    with open(run_dir / "history.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))
