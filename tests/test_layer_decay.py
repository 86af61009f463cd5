"""Discriminative learning rates (`train.layer_decay`, `kerascnn.training.rates`): each variable's
first update is its own rate times its gradient, Adam's rate (not its gradient) is scaled, the
stages' factors follow the decay from the classifier down, and a recipe trains with them."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from test_reliability import assert_same_end, small_recipe, whole_and_resumed

import kerascnn
from kerascnn import optim, train
from kerascnn.config import ConfigError
from kerascnn.recipe import load_recipe
from kerascnn.training.rates import rate_multipliers, stage_rates


def _model():
    """Three stages named as the zoo's are (`stage_of`): stem, stage1, head; in float64."""
    keras.utils.set_random_seed(0)
    x = inputs = keras.Input((6, 6, 2), dtype="float64")
    x = keras.layers.Conv2D(3, 3, name="stem_conv", dtype="float64")(x)
    x = keras.layers.Conv2D(4, 3, name="stage1_conv", dtype="float64")(x)
    x = keras.layers.GlobalAveragePooling2D(name="head_pool", dtype="float64")(x)
    x = keras.layers.Dense(2, name="head_logits", dtype="float64")(x)
    return keras.Model(inputs, x)


def _gradients(model):
    rng = np.random.default_rng(1)
    return [rng.standard_normal(v.shape) for v in model.trainable_variables]


def test_the_stages_factors_follow_the_decay_from_the_classifier_down():
    model = _model()
    assert stage_rates(model, 0.5) == {"stem": 0.25, "stage1": 0.5, "head": 1.0}
    multipliers = rate_multipliers(model, 0.5)
    assert multipliers == {
        "stem_conv/kernel": 0.25,
        "stem_conv/bias": 0.25,
        "stage1_conv/kernel": 0.5,
        "stage1_conv/bias": 0.5,
        "head_logits/kernel": 1.0,
        "head_logits/bias": 1.0,
    }
    assert rate_multipliers(model, None) == rate_multipliers(model, 1.0) == {}
    resnet = kerascnn.build("resnet20", input_shape=(32, 32, 3))
    assert list(stage_rates(resnet, 0.8)) == ["stem", "stage1", "stage2", "stage3", "head"]


@pytest.mark.parametrize("form", ["caffe", "torch"])
def test_each_variables_first_sgd_update_is_its_rate_times_its_gradient(form):
    model = _model()
    before = [v.numpy().copy() for v in model.trainable_variables]
    grads = _gradients(model)
    opt = optim.SGD(0.1, momentum=0.9, momentum_form=form, rate_multipliers=rate_multipliers(model, 0.5))
    opt.apply([keras.ops.convert_to_tensor(g) for g in grads], model.trainable_variables)
    for v, w, g in zip(model.trainable_variables, before, grads, strict=True):
        # In the variable's dtype (float64; float32 on JAX without x64), from the optimizer's
        # float32 rate variable, as the update computes it.
        dtype = w.dtype.type
        rate = dtype(np.float32(0.1))
        factor = {"stem": 0.25, "stage1": 0.5, "head": 1.0}[v.path.split("_")[0]]
        step = rate * dtype(factor) if factor != 1.0 else rate
        np.testing.assert_array_equal(v.numpy(), w - g.astype(dtype) * step, err_msg=v.path)


def test_adams_rate_is_scaled_not_its_gradient():
    """Adam's step hardly depends on the gradient's scale (its first is about lr x sign(g)): a
    scaled gradient would leave it as it was; the scaled rate shrinks it by the factor."""
    steps = {}
    for decay in (None, 0.5):
        model = _model()
        before = [v.numpy().copy() for v in model.trainable_variables]
        opt = optim.Adam(0.01, rate_multipliers=rate_multipliers(model, decay))
        opt.apply([keras.ops.convert_to_tensor(g) for g in _gradients(model)], model.trainable_variables)
        steps[decay] = {v.path: v.numpy() - w for v, w in zip(model.trainable_variables, before)}
    for path, step in steps[0.5].items():
        factor = {"stem": 0.25, "stage1": 0.5, "head": 1.0}[path.split("_")[0]]
        # A step read as the difference of two weights: to their rounding (float32 on JAX).
        ulp = np.finfo(step.dtype).eps
        np.testing.assert_allclose(
            step, factor * steps[None][path], rtol=1e-12, atol=4 * ulp, err_msg=path
        )


def test_a_recipe_with_layer_decay_trains_logs_and_saves_its_rates(tmp_path):
    lines = []
    doc = small_recipe(tmp_path / "run", epochs=1, layer_decay=0.5)
    result = train(load_recipe(doc, name="t"), verbose=0, log=lines.append)
    assert "  update rates by stage (layer_decay 0.5): stage1 x0.5, head x1" in lines
    model = kerascnn.load_model(result.run_dir / "last.keras")  # the optimizer from its config
    assert model.optimizer.rate_multipliers["stage1_conv1/kernel"] == 0.5
    assert model.optimizer.rate_multipliers["head_logits/kernel"] == 1.0
    assert result.metrics["epochs"] == 1


@pytest.mark.parametrize("value", [0.0, 1.5, -0.2])
def test_a_bad_layer_decay_is_named(tmp_path, value):
    with pytest.raises(ConfigError, match="must be above 0 and at most 1") as found:
        load_recipe(small_recipe(tmp_path / "run", layer_decay=value), name="t")
    assert "train.layer_decay" in str(found.value)


@pytest.mark.slow  # several runs end to end: the slow tier
def test_a_run_with_layer_decay_stopped_and_resumed_ends_as_one_never_stopped(tmp_path):
    def recipe(run):
        return load_recipe(small_recipe(run, epochs=3, layer_decay=0.5), name="t")

    whole, resumed = whole_and_resumed(recipe, tmp_path)
    assert_same_end(whole.run_dir, resumed.run_dir, 3 * 7)
