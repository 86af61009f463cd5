"""Weight porting from keras.applications: randomly initialised sources (every weight, BN statistics
included, drawn at random so that folding mistakes show), predictions equal to 1e-4."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import params

import kerascnn
from kerascnn.config import ConfigError
from kerascnn.zoo import MODELS
from kerascnn.zoo.weights.applications import SOURCES, find_source


def randomize(model, seed=0):
    """Every weight random: kernels He-scaled, biases/betas/means N(0, 0.1), variances in [0.5, 1.5]."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        values = []
        for variable in layer.weights:
            shape, path = tuple(variable.shape), variable.path
            if "moving_variance" in path:
                value = rng.uniform(0.5, 1.5, shape)
            elif "gamma" in path:
                value = rng.uniform(0.8, 1.2, shape)
            elif any(k in path for k in ("moving_mean", "beta", "bias")):
                value = rng.normal(0.0, 0.1, shape)
            else:
                value = rng.normal(0.0, 1.0, shape) * np.sqrt(2.0 / np.prod(shape[:-1]))
            values.append(value.astype("float32"))
        if values:
            layer.set_weights(values)
    return model


def assert_same_function(source, target, x):
    expected = source.predict(x, verbose=0)
    actual = target.predict(x, verbose=0)
    assert actual.shape == expected.shape
    scale = np.abs(expected).max()
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4 * scale)


def images(size, channels=3, n=2, seed=1):
    return np.random.default_rng(seed).standard_normal((n, size, size, channels)).astype("float32")


# One keras.applications model of each ported family, at a small input it supports.
FAMILIES = [
    ("VGG16", 32),
    ("ResNet50", 64),
    ("ResNet50V2", 64),
    pytest.param("DenseNet121", 64, marks=pytest.mark.slow),  # 12 s
    pytest.param("InceptionResNetV2", 75, marks=pytest.mark.slow),
]


@pytest.mark.parametrize("application,size", FAMILIES)
def test_ported_model_computes_the_same_logits(application, size):
    source = getattr(keras.applications, application)(
        weights=None, input_shape=(size, size, 3), classifier_activation=None
    )
    randomize(source)
    target = kerascnn.port_weights(source)
    assert target.name == find_source(application).model
    assert_same_function(source, target, images(size))
    trainable = params(target)[0]
    gammas = sum(
        layer.moving_mean.shape[-1]
        for layer in source.layers
        if isinstance(layer, keras.layers.BatchNormalization) and not layer.scale
    )
    biases = sum(
        layer.bias.shape[-1]
        for layer, other in zip(_convs(source), _convs(target))
        if layer.use_bias and not other.use_bias
    )
    # The same network: kerascnn adds gammas where Keras has none, and folds the biases it leaves out.
    assert trainable == params(source)[0] + gammas - biases
    if application == "InceptionResNetV2":  # no flattening head: the counts of the 299x299 models
        assert source.count_params() == 55_873_736  # keras.applications' published total
        assert trainable == MODELS["inception_resnet_v2"].params


def _convs(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


def test_port_from_weights_file_and_the_backbone(tmp_path):
    source = randomize(keras.applications.VGG16(weights=None, input_shape=(32, 32, 3)))
    path = tmp_path / "vgg16.weights.h5"
    source.save_weights(path)
    target = kerascnn.port_weights(path, architecture="vgg16", input_shape=(32, 32, 3))
    assert_same_function(source, target, images(32))

    backbone = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    backbone.set_weights(source.get_weights()[: len(backbone.weights)])
    notop = tmp_path / "vgg16_notop.weights.h5"
    backbone.save_weights(notop)
    ported = kerascnn.port_weights(notop, architecture="VGG16", input_shape=(32, 32, 3))
    assert ported.output_shape == (None, 1, 1, 512)
    assert_same_function(backbone, ported, images(32))


def test_grayscale_input_sums_the_rgb_filters():
    source = randomize(keras.applications.VGG16(weights=None, input_shape=(32, 32, 3)))
    gray = kerascnn.port_weights(source, input_shape=(32, 32, 1))
    x = images(32, channels=1)
    # A gray image is an RGB image with equal channels: the summed filters see the same thing.
    np.testing.assert_allclose(
        gray.predict(x, verbose=0), source.predict(np.repeat(x, 3, axis=-1), verbose=0), atol=1e-5
    )
    rgbd = kerascnn.port_weights(source, input_shape=(32, 32, 4))
    kernel = np.asarray(source.layers[1].kernel)
    adapted = np.asarray(rgbd.get_layer("stage1_conv1").kernel)
    np.testing.assert_allclose(adapted, np.concatenate([kernel, kernel[:, :, :1]], -2) * 0.75)


def test_new_classifier_for_fine_tuning_keeps_the_rest():
    source = randomize(keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3)))
    target = kerascnn.port_weights(source, classes=5)
    assert target.output_shape == (None, 5)
    backbone = keras.Model(target.inputs, target.get_layer("head_pool").output)
    reference = keras.Model(source.inputs, source.get_layer("avg_pool").output)
    assert_same_function(reference, backbone, images(64))


def test_every_source_names_a_registered_model_and_a_keras_application():
    assert len(SOURCES) == 12
    for key, source in SOURCES.items():
        assert source.model in MODELS
        assert hasattr(keras.applications, source.application)
        assert find_source(source.application) is source is find_source(key)


def test_port_errors_say_what_went_wrong(tmp_path):
    with pytest.raises(ConfigError, match="'ResNet18' is not one port_weights knows"):
        kerascnn.port_weights(tmp_path, architecture="ResNet18")
    with pytest.raises(ConfigError, match="no weights file"):
        kerascnn.port_weights(tmp_path / "missing.weights.h5", architecture="ResNet50")
    small = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    path = tmp_path / "vgg.weights.h5"
    small.save_weights(path)
    with pytest.raises(ConfigError, match="does not say which network"):
        kerascnn.port_weights(path)
    with pytest.raises(ConfigError, match="does not hold DenseNet121 weights"):
        kerascnn.port_weights(path, architecture="DenseNet121")
    source = keras.applications.VGG16(weights=None, input_shape=(32, 32, 3))
    with pytest.raises(ConfigError, match="include_top=False"):
        kerascnn.port_weights(source, input_shape=(64, 64, 3))  # the flattened fc1 grows
    with pytest.raises(ConfigError, match="is not one port_weights knows"):
        kerascnn.port_weights(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]))


def test_port_command_saves_and_never_overwrites(tmp_path, capsys):
    from kerascnn.cli import main

    source = randomize(
        keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    )
    weights = tmp_path / "vgg.weights.h5"
    source.save_weights(weights)
    output = tmp_path / "vgg16.keras"
    argv = [
        "port",
        "VGG16",
        "--weights",
        str(weights),
        "--no-top",
        "--input-shape",
        "32,32,3",
        "-o",
        str(output),
    ]
    assert main(argv) == 0
    assert "VGG16 -> kerascnn vgg16" in capsys.readouterr().out
    assert_same_function(source, kerascnn.load_model(output), images(32))
    before = output.read_bytes()
    assert main(argv) == 2
    assert "never overwrites" in capsys.readouterr().err
    assert output.read_bytes() == before
    assert main(["port", "ResNet5", "-o", str(tmp_path / "x.keras")]) == 2
    assert "Did you mean 'ResNet50'" in capsys.readouterr().err


def test_port_from_a_legacy_h5_file_as_keras_applications_downloads(tmp_path):
    """The ImageNet files keras.applications downloads (`vgg16_weights_tf_dim_ordering_tf_kernels.h5`)
    are in the legacy HDF5 layout, groups named by layer, the classifier `predictions`. Written here
    in that layout by Keras' own legacy writer, from random weights (no internet)."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    source = randomize(keras.applications.VGG16(weights=None, input_shape=(32, 32, 3), classes=7))
    path = tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, source)
    with h5py.File(path, "r") as f:
        assert "predictions" in f and "layers" not in f  # the legacy layout, not Keras 3's
    target = kerascnn.port_weights(path, architecture="VGG16", input_shape=(32, 32, 3))
    assert target.output_shape == (None, 7)  # the classes read from the file's `predictions`
    assert_same_function(source, target, images(32))
