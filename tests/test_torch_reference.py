"""The PyTorch twin (tests/torch_reference.py) against Keras on TensorFlow, in float64: the outputs of
the zoo's networks in training mode, and the gradient of a cross-entropy loss for every weight."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import keras  # noqa: E402

if keras.backend.backend() != "tensorflow":
    pytest.skip("the reference gradients come from tf.GradientTape", allow_module_level=True)

import tensorflow as tf  # noqa: E402
from torch_reference import TorchTwin  # noqa: E402

import kerascnn  # noqa: E402
from kerascnn.backend.internals import recursion_headroom  # noqa: E402
from kerascnn.layers import ChannelPadding, DropPath, ScaledAdd, lecun_tanh  # noqa: E402
from kerascnn.zoo.resnet import resnet  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Torch on one thread while the test runs: with TensorFlow's thread pools in the same process on
    a small machine, torch's OpenMP threads contend (ten to twenty times slower here)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@pytest.fixture
def float64():
    """Build the test's models in float64; restore the previous float type after."""
    previous = keras.config.floatx()
    keras.config.set_floatx("float64")
    try:
        yield
    finally:
        keras.config.set_floatx(previous)


def _small_wrn():
    """Wide ResNet (pre-activation basic blocks, k = 2) with one block per stage."""
    spec = resnet(
        block="basic",
        depths=(1, 1, 1),
        widths=(16, 32, 64),
        stem="cifar",
        preact=True,
        width_factor=2.0,
        block_dropout=0.0,
    )
    return kerascnn.build_from_spec(spec, input_shape=(32, 32, 3), classes=10)


def _layers_model():
    """The semantics the zoo's networks leave untested: odd sizes under TF "same" padding, dilation,
    groups, asymmetric zero padding, partial average-pool windows, ReLU's options, keepdims pooling,
    broadcasting Multiply, Reshape, a frozen BatchNormalization, kerascnn's ChannelPadding, ScaledAdd
    and a rate-0 DropPath."""
    layers = keras.layers
    inputs = keras.Input((12, 13, 4))
    x = layers.Conv2D(6, 3, strides=2, padding="same", groups=2, activation="tanh")(inputs)  # 6x7
    x = layers.Conv2D(6, 3, padding="same", dilation_rate=2, use_bias=False)(x)
    x = layers.ZeroPadding2D(((1, 0), (2, 1)))(x)  # 7x10
    x = layers.BatchNormalization(center=False, epsilon=1e-3)(x)
    x = layers.ReLU(max_value=1.5, negative_slope=0.1, threshold=0.2)(x)
    a = layers.AveragePooling2D(3, strides=2, padding="same")(x)  # 4x5
    m = layers.MaxPooling2D(2, padding="same")(x)  # 4x5
    # 0.25 is exact in float32: ScaledAdd's `ops.cast(self.scale, dtype)` rounds a Python float through
    # float32 on TensorFlow (0.3 becomes 0.30000001192...), which the twin does not mirror.
    y = ScaledAdd(scale=0.25)([a, m])
    y = ChannelPadding(2)(y)
    gate = layers.GlobalAveragePooling2D(keepdims=True)(y)
    gate = layers.Dense(8, activation="sigmoid")(gate)
    y = layers.Multiply()([y, gate])
    y = DropPath(0.0)(y)
    y = layers.Dropout(0.0)(y)
    y = layers.Conv2D(5, (2, 3), strides=(1, 2), padding="valid", activation=lecun_tanh)(y)  # 3x2
    y = layers.Reshape((6, 5))(y)
    frozen = layers.BatchNormalization(moving_variance_initializer="ones", epsilon=0.5)
    frozen.trainable = False  # Keras 3 runs a frozen BatchNormalization in inference mode
    y = frozen(y)
    y = layers.Dense(4)(y)
    y = layers.Flatten()(y)
    outputs = layers.Activation("softmax")(layers.Dense(7)(y))
    return keras.Model(inputs, outputs)


CASES = {
    "resnet20": lambda: kerascnn.build("resnet20", input_shape=(32, 32, 3), classes=10),
    "preact_resnet164": lambda: kerascnn.build("preact_resnet164", input_shape=(32, 32, 3), classes=10),
    "densenet_bc_100_12": lambda: kerascnn.build(
        "densenet_bc_100_12", input_shape=(32, 32, 3), classes=10
    ),
    "wide_resnet_small": _small_wrn,
    "alexnet": lambda: kerascnn.build("alexnet", input_shape=(67, 67, 3), classes=10, dropout=0.0),
    "vgg16": lambda: kerascnn.build("vgg16", input_shape=(32, 32, 3), classes=10, dropout=0.0),
    "googlenet_aux": lambda: kerascnn.build(
        "googlenet", input_shape=(96, 96, 3), classes=10, aux=True, dropout=0.0, aux_dropout=0.0
    ),
    "resnext50_32x4d": lambda: kerascnn.build("resnext50_32x4d", input_shape=(64, 64, 3), classes=10),
    "se_resnet50": lambda: kerascnn.build("se_resnet50", input_shape=(64, 64, 3), classes=10),
    "resnet110": lambda: kerascnn.build("resnet110", input_shape=(32, 32, 3), classes=10, drop_path=0.0),
    "lenet5": lambda: kerascnn.build("lenet5", input_shape=(32, 32, 1), classes=10),
    "layers": _layers_model,
}


def _logits_tensor(tensor):
    """The input of the Activation("softmax") layer that produces `tensor` (None for another layer)."""
    layer = tensor._keras_history.operation
    if type(layer).__name__ == "Activation" and layer.get_config()["activation"] == "softmax":
        return layer._inbound_nodes[0].input_tensors[0]
    return None


def _relative(actual, expected) -> float:
    """max |actual - expected| / max(max |expected|, 1e-3)."""
    return float(np.max(np.abs(actual - expected)) / max(np.max(np.abs(expected)), 1e-3))


@pytest.mark.parametrize("case", list(CASES))
def test_twin_matches_keras(case, float64):
    """Training mode, a batch of 3: the logits and outputs agree to 1e-10 and every weight's gradient of
    a cross-entropy loss to 1e-9 (relative to the largest value).

    The zoo's heads compute their softmax in float32 even in a float64 model (`{name}_pred` has
    `dtype="float32"`, for mixed precision), so the float64 reference is Keras' own logits (the input
    of that layer) with a float64 softmax; the float32 outputs themselves agree to 1e-6."""
    model = CASES[case]()
    twin = TorchTwin(model)
    assert twin.names == [v.path for v in model.trainable_weights]
    for value, v in zip(twin.keras_order_values(), model.trainable_weights):
        np.testing.assert_array_equal(value, keras.ops.convert_to_numpy(v))

    logit_tensors = [_logits_tensor(t) for t in model.outputs]
    assert all(t is not None for t in logit_tensors), f"{case}: an output does not end in a softmax"
    with recursion_headroom():
        reference = keras.Model(model.inputs, [*logit_tensors, *model.outputs])
    count = len(model.outputs)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, *model.input_shape[1:]))
    labels = [np.eye(t.shape[-1])[rng.integers(0, t.shape[-1], 3)] for t in model.outputs]

    with tf.GradientTape() as tape:
        values = reference(tf.constant(x), training=True)
        logits, outputs = values[:count], values[count:]
        loss = sum(
            tf.reduce_mean(-tf.reduce_sum(y * tf.nn.log_softmax(z), axis=-1))
            for y, z in zip(labels, logits)
        )
    expected_grads = tape.gradient(loss, model.trainable_weights)

    twin_logits = twin.forward(torch.from_numpy(x))
    assert len(twin_logits) == count
    for z, keras_z, p in zip(twin_logits, logits, outputs):
        assert z.dtype == torch.float64 and keras_z.dtype == tf.float64
        rel = _relative(z.detach().numpy(), keras_z.numpy())
        assert rel < 1e-10, f"{case}: logits differ by {rel:.2e} (relative)"
        probs = torch.softmax(z, -1).detach().numpy()
        rel = _relative(probs, tf.nn.softmax(keras_z).numpy())
        assert rel < 1e-10, f"{case}: float64 softmax outputs differ by {rel:.2e} (relative)"
        tolerance = 1e-10 if p.dtype == tf.float64 else 1e-6
        rel = _relative(probs, p.numpy().astype(np.float64))
        assert rel < tolerance, f"{case}: the model's {p.dtype.name} outputs differ by {rel:.2e}"
    torch_loss = sum(
        -(torch.from_numpy(y) * torch.log_softmax(z, -1)).sum(-1).mean()
        for y, z in zip(labels, twin_logits)
    )
    assert abs(torch_loss.item() - float(loss)) <= 1e-10 * abs(float(loss))
    torch_loss.backward()

    worst = []
    for name, p, g in zip(twin.names, twin.params, expected_grads):
        assert g is not None and p.grad is not None, f"{case}: no gradient for {name}"
        rel = _relative(p.grad.numpy(), keras.ops.convert_to_numpy(g))
        if rel >= 1e-9:
            worst.append(f"{name}: {rel:.2e}")
    assert not worst, f"{case}: gradients differ (relative): {worst[:10]}"


def _tiny(middle):
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3)(inputs)
    x = middle(keras.layers.Flatten()(x))
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))


def test_random_layers_are_refused(float64):
    """Dropout or DropPath with a rate above 0 cannot be mirrored: a ValueError naming the layer."""
    with pytest.raises(ValueError, match="'drop_half'.*0.5"):
        TorchTwin(_tiny(keras.layers.Dropout(0.5, name="drop_half")))
    with pytest.raises(ValueError, match="'branch_drop'"):
        TorchTwin(_tiny(DropPath(0.2, name="branch_drop")))


def test_unknown_layers_are_refused(float64):
    """A layer type the twin does not implement: NotImplementedError naming the type and the layer."""
    with pytest.raises(NotImplementedError, match="LayerNormalization.*'norm'"):
        TorchTwin(_tiny(keras.layers.LayerNormalization(name="norm")))


def test_dense_softmax_gives_logits_and_nested_models_run(float64):
    """A Dense(activation="softmax") output comes back as its logits; a model used as a layer runs
    through its own graph with its weights among the outer model's parameters."""
    inner = keras.Sequential([keras.Input((6, 6, 4)), keras.layers.Conv2D(5, 3, activation="relu")])
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3)(inputs)
    x = keras.layers.Flatten()(inner(x))
    outputs = [keras.layers.Dense(3, activation="softmax")(x), keras.layers.Dense(2)(x)]
    model = keras.Model(inputs, outputs)
    twin = TorchTwin(model)
    assert len(twin.params) == len(model.trainable_weights) == 8
    x = np.random.default_rng(1).standard_normal((2, 8, 8, 3))
    probs, plain = model(x, training=True)
    logits, twin_plain = twin.forward(torch.from_numpy(x))
    np.testing.assert_allclose(torch.softmax(logits, -1).detach().numpy(), probs, rtol=1e-12)
    assert not np.allclose(logits.detach().numpy(), probs)
    np.testing.assert_allclose(twin_plain.detach().numpy(), plain, rtol=1e-12)
