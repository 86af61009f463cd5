"""Fine-tuning by freezing: frozen kernels and BN statistics bit-identical after fit, the report's
counts equal Keras', unfreezing touches only what it names, a new head on the old features."""

import numpy as np
import pytest

import kerascnn
from kerascnn.finetune import freeze, replace_head, trainable_report, unfreeze

SPEC = {"input_shape": [16, 16, 3], "defaults": {"norm": "batch"},
        "stages": [{"blocks": ["conv3-8", "maxpool"]}, {"blocks": ["conv3-16", "maxpool"]},
                   {"blocks": ["conv3-16"]}],
        "head": {"pool": "avg", "classes": 4}}


def weights_of(model, prefix):
    return {w.path: np.array(w) for layer in model.layers if layer.name.startswith(prefix)
            for w in layer.weights}


def test_frozen_weights_and_bn_statistics_are_bit_identical_after_fit():
    import keras

    model = kerascnn.build_from_spec(SPEC)
    freeze(model, "stage2")
    before = weights_of(model, "stage1") | weights_of(model, "stage2")
    assert any("moving_mean" in k for k in before)
    trained_before = weights_of(model, "stage3")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 16, 16, 3)).astype("float32") * 3 + 1  # statistics would move
    y = keras.utils.to_categorical(rng.integers(0, 4, 64), 4)
    model.compile(keras.optimizers.SGD(0.1), "categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    after = weights_of(model, "stage1") | weights_of(model, "stage2")
    for key, value in before.items():
        np.testing.assert_array_equal(after[key], value, err_msg=key)
    changed = weights_of(model, "stage3")
    assert any(not np.array_equal(changed[k], v) for k, v in trained_before.items())
    rows = {r.stage: r for r in trainable_report(model)}
    assert sum(r.trainable for r in rows.values()) == sum(
        int(np.prod(w.shape)) for w in model.trainable_weights)
    assert rows["stage1"].trainable == rows["stage2"].trainable == 0
    assert rows["stage3"].trainable > 0 and rows["stage3"].statistics == 32  # 16 means + 16 vars


def test_unfreeze_changes_only_what_it_names_and_keeps_bn_frozen():
    model = freeze(kerascnn.build_from_spec(SPEC))
    assert not model.trainable_weights
    unfreeze(model, "stage3")
    names = {layer.name for layer in model.layers if layer.trainable and layer.weights}
    assert names and all(n.startswith(("stage3", "head")) for n in names)
    assert not any(n.endswith("_bn") for n in names)  # BN stays in inference mode
    unfreeze(model, ["stage2_conv1_bn"], batchnorm=True)
    assert model.get_layer("stage2_conv1_bn").trainable
    assert not model.get_layer("stage2_conv1").trainable
    freeze(model, 0.5)
    frozen = [layer.trainable for layer in model.layers]
    assert not any(frozen[:round(0.5 * len(frozen))])
    with pytest.raises(ValueError, match="did you mean 'stage3'"):
        freeze(model, "stag3")


def test_replace_head_keeps_the_features_and_their_flags():
    model = freeze(kerascnn.build_from_spec(SPEC), "stage3")
    new = replace_head(model, 7, dropout=0.3)
    assert new.output_shape == (None, 7)
    assert new.get_layer("stage1_conv1") is model.get_layer("stage1_conv1")
    assert [layer.name for layer in new.layers[-3:]] == ["head_new_drop", "head_new_logits",
                                                         "head_new_pred"]
    trainable = {w.path.split("/")[0] for w in new.trainable_weights}
    assert trainable == {"head_new_logits"}
    with pytest.raises(ValueError, match="positive integer"):
        replace_head(model, 0)
