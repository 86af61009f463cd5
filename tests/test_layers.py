"""The registered layers: LRN against the paper's formula, channel padding, LeNet-5's S and C3
layers, serialization."""

import keras
import numpy as np
import pytest

from kerascnn.layers import (
    ChannelPadding,
    ConnectionTableConv2D,
    LocalResponseNormalization,
    Subsampling2D,
    get_activation,
    lecun_tanh,
)


def lrn_reference(x, size=5, alpha=1e-4, beta=0.75, k=2.0):
    """Krizhevsky et al. 2012, section 3.3, written as loops over channels."""
    channels = x.shape[-1]
    out = np.empty_like(x)
    for c in range(channels):
        lo, hi = max(0, c - size // 2), min(channels - 1, c + size // 2)
        denom = (k + alpha * np.sum(x[..., lo : hi + 1] ** 2, axis=-1)) ** beta
        out[..., c] = x[..., c] / denom
    return out


@pytest.mark.parametrize("size,alpha,beta,k", [(5, 1e-4, 0.75, 2.0), (3, 0.5, 0.5, 1.0)])
def test_lrn_matches_paper_formula(size, alpha, beta, k):
    x = np.random.default_rng(0).standard_normal((2, 4, 4, 9)).astype("float32") * 10
    layer = LocalResponseNormalization(size, alpha=alpha, beta=beta, k=k)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(x)),
        lrn_reference(x, size, alpha, beta, k),
        rtol=1e-5,
        atol=1e-6,
    )


def test_lrn_defaults_are_alexnets():
    layer = LocalResponseNormalization()
    assert (layer.size, layer.alpha, layer.beta, layer.k) == (5, 1e-4, 0.75, 2.0)
    layer.build((None, 4, 4, 8))
    assert layer.count_params() == 0


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="compares with tf.nn")
def test_lrn_matches_tensorflow():
    import tensorflow as tf

    x = np.random.default_rng(1).standard_normal((1, 3, 3, 16)).astype("float32") * 5
    expected = tf.nn.local_response_normalization(x, depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75)
    np.testing.assert_allclose(np.array(LocalResponseNormalization()(x)), expected.numpy(), rtol=1e-5)


def test_lrn_rejects_even_size():
    with pytest.raises(ValueError, match=r"positive odd integer\. Received: size=4"):
        LocalResponseNormalization(4)


def test_lrn_keeps_float16_inputs_finite():
    x = np.full((1, 2, 2, 5), 300.0, dtype="float16")  # squares overflow float16
    y = keras.ops.convert_to_numpy(LocalResponseNormalization(dtype="float16")(x))
    assert y.dtype == np.float16 and np.all(np.isfinite(y))


def test_channel_padding_appends_zero_channels():
    x = np.arange(2 * 2 * 2 * 3, dtype="float32").reshape(2, 2, 2, 3) + 1
    y = keras.ops.convert_to_numpy(ChannelPadding(2)(x))
    assert y.shape == (2, 2, 2, 5)
    np.testing.assert_array_equal(y[..., :3], x)
    assert not y[..., 3:].any()
    with pytest.raises(ValueError, match="non-negative integer"):
        ChannelPadding(-1)


def test_lecun_tanh_constants():
    y = keras.ops.convert_to_numpy(lecun_tanh(np.array([-1.0, 0.0, 1.0], "float32")))
    np.testing.assert_allclose(y, [-1.0, 0.0, 1.0], atol=1e-4)  # f(+-1) = +-1 (appendix A)
    assert get_activation("lecun_tanh") is lecun_tanh
    assert get_activation("relu") == "relu"
    with pytest.raises(ValueError):
        get_activation("relux")


def test_subsampling_is_a_scaled_window_sum_plus_bias():
    x = np.random.default_rng(0).standard_normal((2, 6, 6, 3)).astype("float32")
    layer = Subsampling2D(2)
    y = keras.ops.convert_to_numpy(layer(x))
    assert y.shape == (2, 3, 3, 3) and len(layer.weights) == 2 and layer.count_params() == 6
    np.testing.assert_allclose(y, x.reshape(2, 3, 2, 3, 2, 3).mean(axis=(2, 4)), rtol=1e-5, atol=1e-6)
    layer.coefficient.assign([1.0, 2.0, 3.0])
    layer.bias.assign([0.5, 0.0, -1.0])
    y = keras.ops.convert_to_numpy(layer(x))
    window_sum = x.reshape(2, 3, 2, 3, 2, 3).sum(axis=(2, 4))
    np.testing.assert_allclose(y, window_sum * [1.0, 2.0, 3.0] + [0.5, 0.0, -1.0], rtol=1e-5, atol=1e-5)


def test_connection_table_conv_equals_a_masked_full_convolution():
    table = [[0, 2], [1], [0, 1, 2]]
    x = np.random.default_rng(1).standard_normal((2, 7, 7, 3)).astype("float32")
    layer = ConnectionTableConv2D(table, kernel_size=3)
    y = keras.ops.convert_to_numpy(layer(x))
    assert y.shape == (2, 5, 5, 3)
    assert layer.count_params() == 9 * (2 + 1 + 3) + 3
    layer.bias.assign([0.1, -0.2, 0.3])
    full = keras.layers.Conv2D(3, 3)
    full.build(x.shape)
    kernel = np.zeros((3, 3, 3, 3), "float32")
    for j, row in enumerate(table):
        kernel[:, :, row, j] = keras.ops.convert_to_numpy(layer.kernels[j])[:, :, :, 0]
    full.set_weights([kernel, np.array([0.1, -0.2, 0.3], "float32")])
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(x)), keras.ops.convert_to_numpy(full(x)), rtol=1e-5, atol=1e-5
    )


def test_connection_table_rejects_channels_the_input_lacks():
    with pytest.raises(ValueError, match=r"names input channels \[3\], but the input has 3"):
        ConnectionTableConv2D([[0, 3]], name="c3")(np.zeros((1, 6, 6, 3), "float32"))
    with pytest.raises(ValueError, match="non-empty list"):
        ConnectionTableConv2D([[]])


@pytest.mark.parametrize(
    "layer",
    [
        LocalResponseNormalization(3, alpha=0.1, beta=0.5, k=1.5),
        ChannelPadding(4),
        Subsampling2D(3),
        ConnectionTableConv2D([[0, 1], [1]], kernel_size=3),
    ],
)
def test_config_round_trip(layer):
    config = keras.saving.serialize_keras_object(layer)
    assert config["registered_name"].startswith("kerascnn>")
    clone = keras.saving.deserialize_keras_object(config, safe_mode=True)
    assert clone.get_config() == layer.get_config()
