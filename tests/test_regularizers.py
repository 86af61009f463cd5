"""The regularizers the ResNet heirs train with: stochastic depth (the linear rule, inference, the
round trip), zero-initialized last BN, the moving average of the weights, MixUp and CutMix."""

import keras
import numpy as np
import pytest

import kerascnn
from kerascnn.layers import DropPath


def drop_paths(model):
    return [layer for layer in model.layers if isinstance(layer, DropPath)]


def test_stochastic_depth_follows_the_linear_rule_and_inference_is_deterministic(tmp_path):
    """Huang et al. 2016, Eq. 4: block l of L survives with p_l = 1 - l / L (1 - p_L); with p_L =
    0.5 (`drop_path = 0.5`) ResNet-110's 54 blocks drop with 0.5 * l / 54. Over 20,000 samples
    each block drops its branch as often as the rule says, a kept branch is scaled by 1 / p_l
    (inverted: the expected output is the branch itself, what inference computes)."""
    model = kerascnn.build("resnet110", drop_path=0.5)
    layers = drop_paths(model)
    assert len(layers) == 54
    assert [layer.rate for layer in layers] == pytest.approx([0.5 * k / 54 for k in range(1, 55)])
    assert [layer.name for layer in layers[:2]] == ["stage1_block1_drop_path", "stage1_block2_drop_path"]
    ones = np.ones((20_000, 1, 1, 1), "float32")
    for layer in layers[::6] + [layers[-1]]:
        out = keras.ops.convert_to_numpy(layer(ones, training=True)).ravel()
        dropped = np.mean(out == 0)
        assert dropped == pytest.approx(layer.rate, abs=4 * np.sqrt(0.25 / 20_000) + 1e-9)
        np.testing.assert_allclose(out[out != 0], 1 / (1 - layer.rate), rtol=1e-6)
        assert out.mean() == pytest.approx(1.0, abs=0.03)  # the expectation is the branch
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(ones[:8])), ones[:8])
    # The whole network: inference is deterministic, training is not; the .keras round trip keeps
    # every rate and the function.
    small = kerascnn.build("resnet20", drop_path=0.2, input_shape=(16, 16, 3))
    x = np.random.default_rng(0).normal(size=(4, 16, 16, 3)).astype("float32")
    first = small(x, training=False).numpy()
    np.testing.assert_array_equal(first, small(x, training=False).numpy())
    assert not np.allclose(small(x, training=True).numpy(), small(x, training=True).numpy())
    expected = small(x, training=False).numpy()  # the training calls moved BN's statistics
    small.save(tmp_path / "sd.keras")
    loaded = kerascnn.load_model(tmp_path / "sd.keras")
    assert [layer.rate for layer in drop_paths(loaded)] == [layer.rate for layer in drop_paths(small)]
    np.testing.assert_allclose(loaded(x, training=False).numpy(), expected, rtol=1e-5, atol=1e-6)
    # As a family option, a recipe key and a build argument, validated.
    assert kerascnn.build("resnet20", drop_path=0.0).count_params() == small.count_params()
    with pytest.raises(ValueError, match=r"drop_path` must be in \[0, 1\). Received: drop_path=1"):
        kerascnn.build("resnet20", drop_path=1.0)
    with pytest.raises(ValueError, match="plain block"):
        kerascnn.build("plain20", drop_path=0.1)
    # Every residual network: Inception-ResNet-v2's 40 residual blocks too.
    inception = kerascnn.build("inception_resnet_v2", drop_path=0.2, input_shape=(75, 75, 3))
    assert [layer.rate for layer in drop_paths(inception)] == pytest.approx(
        [0.2 * k / 40 for k in range(1, 41)]
    )


@pytest.mark.parametrize(
    "name, last",
    [
        ("resnet20", "conv2_bn"),
        ("resnet50", "conv3_bn"),
        ("preact_resnet18", "conv2"),
        ("se_resnet50", "conv3_bn"),
    ],
)
def test_zero_init_last_starts_every_branch_at_zero(name, last):
    """Goyal et al. 2017, Sec. 5.1: with the last BN's scale at 0 each residual block starts as its
    shortcut; every branch's output is exactly zero at initialization, whatever the input."""
    model = kerascnn.build(name, zero_init_last=True, input_shape=(32, 32, 3))
    ends = [layer for layer in model.layers if layer.name.endswith(f"_{last}") and "block" in layer.name]
    assert ends
    probe = keras.Model(model.inputs[0], [layer.output for layer in ends])
    x = np.random.default_rng(1).normal(size=(2, 32, 32, 3)).astype("float32")
    for out in probe(x, training=False):
        assert not np.any(keras.ops.convert_to_numpy(out))
    plain = kerascnn.build(name, input_shape=(32, 32, 3))
    assert plain.count_params() == model.count_params()
    assert np.any(
        keras.ops.convert_to_numpy(keras.Model(plain.inputs[0], plain.get_layer(ends[0].name).output)(x))
    )


def tiny_recipe(tmp_path, data=None, **train):
    from kerascnn.recipe import load_recipe

    return load_recipe(
        {
            "model": {
                "spec": {
                    "defaults": {"norm": "batch"},
                    "stages": [{"blocks": ["conv3-4", "maxpool"]}],
                    "head": {"pool": "avg"},
                }
            },
            "data": {
                "source": "synthetic",
                "classes": 3,
                "samples": 120,
                "image_size": [12, 12],
                "batch_size": 16,
                **(data or {}),
            },
            "train": {
                "epochs": 2,
                "optimizer": "sgd",
                "learning_rate": 0.1,
                "ema": True,
                "ema_momentum": 0.8,
                "steps_per_execution": 1,
                "mixed_precision": False,
                **train,
            },
            "output": {"dir": str(tmp_path / "run"), "tensorboard": False, "report": False},
        },
        name="ema",
    )


def test_the_moving_average_is_what_the_run_keeps(tmp_path):
    """`train.ema`: after each step `average = m * average + (1 - m) * weights` (the first step
    copies them). The weights recorded after every step of a real fit, averaged here, equal what
    the trainer's set-up leaves in the model when fit ends."""
    from kerascnn.training.compile import compile_model
    from kerascnn.training.fit import build_model

    recipe = tiny_recipe(tmp_path)
    keras.utils.set_random_seed(0)
    model = build_model(recipe, (12, 12, 3), 3)
    compile_model(model, recipe, steps_per_epoch=4)
    assert model.optimizer.use_ema and model.optimizer.ema_momentum == 0.8
    seen = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: seen.append(
            [v.numpy().copy() for v in model.trainable_variables]
        )
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 12, 12, 3)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 64)]
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, callbacks=[record])
    assert len(seen) == 8
    average = seen[0]
    for weights in seen[1:]:
        average = [0.8 * a + 0.2 * w for a, w in zip(average, weights)]
    for got, want in zip(model.trainable_variables, average):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)
    assert not np.allclose(model.trainable_variables[0].numpy(), seen[-1][0])  # not the last step


def test_a_run_with_ema_saves_the_average_and_resuming_keeps_it(tmp_path, monkeypatch):
    """The run's model is the average; a run interrupted after epoch 1 and resumed ends with the
    same weights as one trained in one go (the average is in every backup). No shuffling, so that
    both see the same batches."""
    from kerascnn.training import checkpoints
    from kerascnn.verbs import train

    quiet = dict(verbose=0, log=lambda *a: None)
    same = {"shuffle_buffer": 1}
    whole = train(tiny_recipe(tmp_path / "whole", data=same), **quiet)
    finish_epoch = checkpoints.Checkpoints.on_epoch_end

    def stop_after_the_first(self, epoch, logs=None):
        finish_epoch(self, epoch, logs)
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(checkpoints.Checkpoints, "on_epoch_end", stop_after_the_first)
        with pytest.raises(KeyboardInterrupt):
            train(tiny_recipe(tmp_path / "parts", data=same), **quiet)
    resumed = train(tiny_recipe(tmp_path / "parts", data=same), **quiet)
    a = kerascnn.load_model(whole.run_dir / "last.keras").get_weights()
    b = kerascnn.load_model(resumed.run_dir / "last.keras").get_weights()
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=1e-6, atol=1e-7)


def constant_batch(n=8, size=16):
    """Image i is the constant (i + 1) * 10, labelled class i (one-hot over n classes)."""
    values = (np.arange(n) + 1.0) * 10
    images = np.ones((n, size, size, 3), "float32") * values[:, None, None, None]
    return images, np.eye(n, dtype="float32"), values


@pytest.mark.parametrize("kind", ["mixup", "cutmix", "both"])
def test_mixed_labels_are_the_combination_the_images_received(kind):
    """MixUp: each image is a convex combination of two, constant, so its value says the weights;
    CutMix: each pixel comes from one image, so the share of pixels says them. In both the label
    is exactly that combination of the two one-hot labels."""
    import tensorflow as tf

    from kerascnn.data.tfdata import mixer
    from kerascnn.recipe import AugmentSection

    augment = AugmentSection(
        mixup=0.4 if kind != "cutmix" else 0.0, cutmix=1.0 if kind != "mixup" else 0.0
    )
    mix = mixer(augment, seed=3)
    images, labels, values = constant_batch()
    checked = 0
    for batch in range(6):  # each batch's seed
        seed = tf.constant([batch, 7], tf.int64)
        x, y = (t.numpy() for t in mix(tf.constant(images), tf.constant(labels), seed))
        np.testing.assert_allclose(y.sum(1), 1, atol=1e-5)
        assert ((y > 1e-6).sum(1) <= 2).all()
        for image, label in zip(x, y):
            pixels = image[..., 0].ravel()
            if np.allclose(pixels, pixels[0], atol=1e-3) and kind == "mixup":  # MixUp
                assert pixels[0] == pytest.approx(label @ values, rel=1e-5)
            else:  # CutMix, or MixUp with lam at 0/1
                shares = np.array([np.mean(np.isclose(pixels, v, atol=1e-3)) for v in values])
                if shares.sum() > 0.999:
                    np.testing.assert_allclose(label, shares, atol=1e-5)
                else:
                    assert pixels.std() < 1e-3 and pixels[0] == pytest.approx(label @ values, rel=1e-5)
            checked += 1
    assert checked == 48


@pytest.mark.parametrize("source, channels", [("synthetic", 3), ("glyphs", 1)])
def test_recipes_with_randaugment_mixup_and_cutmix_train_on_soft_labels(tmp_path, source, channels):
    from kerascnn.data import load_data
    from kerascnn.recipe import load_recipe
    from kerascnn.verbs import train

    recipe = load_recipe(
        {
            "model": {"name": "lenet5"}
            if channels == 1
            else {"spec": {"stages": [{"blocks": ["conv3-4", "maxpool"]}], "head": {"pool": "avg"}}},
            "data": {
                "source": source,
                "classes": 4,
                "samples": 96,
                "image_size": [32, 32],
                "batch_size": 16,
                "augment": {"randaugment": 2, "mixup": 0.2, "cutmix": 1.0},
            },
            "train": {"epochs": 1},
            "output": {"dir": str(tmp_path / "run"), "tensorboard": False, "report": False},
        },
        name="mixed",
    )
    data = load_data(recipe)
    x, y = next(iter(data.train))
    assert x.shape[1:] == (32, 32, channels)
    y = y.numpy()
    np.testing.assert_allclose(y.sum(1), 1, atol=1e-5)
    assert ((y > 1e-6) & (y < 1 - 1e-6)).any()  # soft: mixed
    x_test, y_test = next(iter(data.test))
    assert set(np.unique(y_test.numpy())) <= {0.0, 1.0}  # evaluation is never mixed
    if channels == 3:  # one run trains on the soft labels (the pipeline is the same for both)
        result = train(recipe, verbose=0, log=lambda *a: None)
        assert np.isfinite(result.metrics["test"]["loss"])


def test_every_regularizer_is_a_recipe_key_a_search_can_vary():
    """`[tune.space]` over all of them: the recipe loads (each end of each range re-validated, as
    a search does before its first trial) and a trial's recipe carries the values."""
    from kerascnn.recipe import load_recipe, with_values
    from kerascnn.training.compile import make_optimizer

    space = {
        "model.options.drop_path": {"type": "float", "min": 0.0, "max": 0.5},
        "model.options.zero_init_last": {"type": "boolean"},
        "train.ema": {"type": "boolean"},
        "train.ema_momentum": {"type": "choice", "values": [0.99, 0.999]},
        "data.augment.mixup": {"type": "choice", "values": [0.0, 0.2]},
        "data.augment.cutmix": {"type": "float", "min": 0.0, "max": 1.0},
        "data.augment.randaugment": {"type": "int", "min": 0, "max": 3},
    }
    recipe = load_recipe(
        {
            "model": {"name": "resnet20"},
            "data": {"source": "glyphs"},
            "tune": {"max_trials": 2, "space": space},
        }
    )
    trial = with_values(
        recipe,
        {
            "model.options.drop_path": 0.3,
            "train.ema": True,
            "data.augment.mixup": 0.2,
            "data.augment.randaugment": 2,
        },
    )
    assert trial.model.options["drop_path"] == 0.3 and trial.augment.mixup == 0.2
    assert trial.augment.randaugment == 2 and make_optimizer(trial.train).use_ema
    from kerascnn.config import ConfigError

    with pytest.raises(ConfigError, match="cutmix"):
        with_values(recipe, {"data.augment.cutmix": 2.0})
