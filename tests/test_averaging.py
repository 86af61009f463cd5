"""The best k epochs kept and averaged (`[output] keep_best`, `average`, `kerascnn average`,
`kerascnn.training.averaging`): the k best epochs by the run's monitor are the ones kept, the
average is the mean of their weights, its batch normalization statistics are recomputed as the
cumulative mean of the training batches', and it is tested like any run's model."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from test_reliability import small_recipe, whole_and_resumed

import kerascnn
from kerascnn import train
from kerascnn.config import ConfigError
from kerascnn.recipe import load_recipe
from kerascnn.training import checkpoints
from kerascnn.training.averaging import best_epochs, kept_epochs, recompute_batchnorm


def test_the_best_epochs_are_kept_averaged_and_tested(tmp_path, capsys):
    doc = small_recipe(tmp_path / "run", epochs=5, learning_rate=0.05)
    doc["output"].update(keep_best=3, average=True)
    lines = []
    result = train(load_recipe(doc, name="t"), verbose=0, log=lines.append)
    run = result.run_dir
    rows = checkpoints.read_history(run / "history.csv")
    kept = kept_epochs(run)
    assert sorted(kept) == sorted(best_epochs(rows, "val_loss", 3)) and len(kept) == 3
    by_loss = sorted(rows, key=lambda r: float(r["val_loss"]))
    assert set(kept) == {int(r["epoch"]) for r in by_loss[:3]}

    # The average: the mean of the kept weights, BN's moving statistics recomputed.
    averaged = kerascnn.load_model(run / "averaged.keras")
    probe = kerascnn.load_model(run / "last.keras")
    kernels = []
    for path in kept.values():
        probe.load_weights(path)
        kernels.append(probe.get_layer("stage1_conv1").kernel.numpy())
    np.testing.assert_allclose(
        averaged.get_layer("stage1_conv1").kernel.numpy(),
        np.mean(np.asarray(kernels, dtype=np.float64), axis=0),
        rtol=1e-6,
        atol=1e-9,
    )
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["averaged"]["epochs"] == [int(r["epoch"]) for r in by_loss[:3]]
    assert metrics["averaged"]["bn_batches"] == 7  # one pass of the 216 training images
    evaluation = kerascnn.evaluate(run / "averaged.keras")
    assert metrics["test_averaged"]["accuracy"] == pytest.approx(evaluation.accuracy)
    assert result.metrics["test_averaged"] == metrics["test_averaged"]
    assert any(line.startswith("  test, averaged weights: accuracy") for line in lines)

    from kerascnn.cli import main

    assert main(["average", str(run), "--k", "2"]) == 0  # the two best of the three
    assert "averaged epochs" in capsys.readouterr().out
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["averaged"]["epochs"] == [int(r["epoch"]) for r in by_loss[:2]]


def test_batch_normalization_statistics_are_the_mean_of_the_batches():
    """The first BN layer's moving mean and variance after `recompute_batchnorm`: the mean over
    the batches of its input's per-batch mean and (biased) variance, computed apart."""
    model = kerascnn.build("resnet20", input_shape=(12, 12, 3), classes=3)
    rng = np.random.default_rng(0)
    batches = [rng.standard_normal((8, 12, 12, 3)).astype("float32") for _ in range(4)]
    layer = next(x for x in model.layers if isinstance(x, keras.layers.BatchNormalization))
    inputs = keras.Model(model.inputs, layer.input)  # the convolution before it: no BN above
    seen = [keras.ops.convert_to_numpy(inputs(b)) for b in batches]
    means = [x.mean(axis=(0, 1, 2)) for x in seen]
    variances = [x.var(axis=(0, 1, 2)) for x in seen]
    momentum = layer.momentum
    assert recompute_batchnorm(model, batches) == 4
    np.testing.assert_allclose(layer.moving_mean.numpy(), np.mean(means, axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        layer.moving_variance.numpy(), np.mean(variances, axis=0), rtol=1e-5, atol=1e-6
    )
    assert layer.momentum == momentum  # put back


def test_averaging_errors_name_the_problem(tmp_path):
    doc = small_recipe(tmp_path / "run", epochs=1)
    doc["output"]["average"] = True
    with pytest.raises(ConfigError, match="set keep_best to 2 or more") as found:
        load_recipe(doc, name="t")
    assert "output.average" in str(found.value)
    doc["output"].update(average=False, keep_best=-1)
    with pytest.raises(ConfigError, match="must be 0 or more epochs"):
        load_recipe(doc, name="t")
    doc["output"]["keep_best"] = 0
    train(load_recipe(doc, name="t"), verbose=0, log=lambda *a: None)
    from kerascnn.verbs.average import average

    with pytest.raises(ConfigError, match="kept 0 epoch"):
        average(tmp_path / "run")


@pytest.mark.slow  # several runs end to end: the slow tier
def test_a_run_stopped_and_resumed_keeps_the_epochs_one_never_stopped_keeps(tmp_path):
    def recipe(run):
        doc = small_recipe(run, epochs=4, learning_rate=0.05)
        doc["output"]["keep_best"] = 2
        return load_recipe(doc, name="t")

    whole, resumed = whole_and_resumed(recipe, tmp_path)
    assert sorted(kept_epochs(resumed.run_dir)) == sorted(kept_epochs(whole.run_dir))
    for epoch, path in kept_epochs(whole.run_dir).items():  # the same weights, bit for bit
        a, b = (kerascnn.load_model(run / "last.keras") for run in (whole.run_dir, resumed.run_dir))
        a.load_weights(path)
        b.load_weights(kept_epochs(resumed.run_dir)[epoch])
        for x, y in zip(a.weights, b.weights, strict=True):
            np.testing.assert_array_equal(x.numpy(), y.numpy(), err_msg=f"epoch {epoch}: {x.path}")
