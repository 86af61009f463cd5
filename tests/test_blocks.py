"""Block builders: shapes and exact parameter counts against hand formulas, orderings, errors."""

import keras
import numpy as np
import pytest
from conftest import assert_every_weight_learns, block_model, layer_types, params

from kerascnn import blocks as B
from kerascnn.layers import ChannelPadding

# --- conv_bn_act -------------------------------------------------------------------------------------


def test_conv_bn_act_post_activation():
    model = block_model(B.conv_bn_act, (8, 8, 16), filters=32)
    assert layer_types(model) == ["Conv2D", "BatchNormalization", "Activation"]
    assert model.output.shape == (None, 8, 8, 32)
    # 3x3x16x32 kernel, no bias (BN's beta does its job); gamma/beta trainable, mean/var not.
    assert params(model) == (9 * 16 * 32 + 2 * 32, 2 * 32)
    assert [layer.name for layer in model.layers[1:]] == ["blk", "blk_bn", "blk_act"]


def test_conv_bn_act_pre_activation_order():
    model = block_model(B.conv_bn_act, (8, 8, 16), filters=32, preact=True)
    assert layer_types(model) == ["BatchNormalization", "Activation", "Conv2D"]
    assert params(model) == (9 * 16 * 32 + 2 * 16, 2 * 16)  # BN normalizes the 16 inputs


def test_conv_without_norm_has_bias_and_bias_can_be_forced():
    model = block_model(B.conv_bn_act, (8, 8, 16), filters=32, norm="none")
    assert layer_types(model) == ["Conv2D", "Activation"]
    assert params(model) == (9 * 16 * 32 + 32, 0)
    model = block_model(B.conv_bn_act, (8, 8, 16), filters=32, use_bias=True, activation=None)
    assert layer_types(model) == ["Conv2D", "BatchNormalization"]
    assert params(model)[0] == 9 * 16 * 32 + 32 + 2 * 32


@pytest.mark.parametrize("size,expected", [(9, 5), (8, 4)])
def test_strided_same_padding_is_symmetric(size, expected):
    model = block_model(B.conv_bn_act, (size, size, 3), filters=4, strides=2)
    pad = model.get_layer("blk_pad")
    assert tuple(map(tuple, pad.padding)) == ((1, 1), (1, 1))
    assert model.get_layer("blk").padding == "valid"
    assert model.output.shape == (None, expected, expected, 4)


def test_stride_one_same_padding_adds_no_layer():
    model = block_model(B.conv_bn_act, (7, 7, 3), filters=4, kernel_size=5, padding=2)
    assert "ZeroPadding2D" not in layer_types(model)
    assert model.output.shape == (None, 7, 7, 4)
    model = block_model(B.conv_bn_act, (7, 7, 3), filters=4, kernel_size=5, padding=1)
    assert model.output.shape == (None, 5, 5, 4)  # (7 + 2 - 5) // 1 + 1


def test_alexnet_conv1_shape_and_parameters():
    # Krizhevsky et al. 2012 / the lecture: 227x227x3 -> 96 11x11 filters, stride 4, pad 0 -> 55x55x96,
    # (11*11*3 + 1) * 96 = 34,944 parameters.
    model = block_model(
        B.conv_bn_act, (227, 227, 3), filters=96, kernel_size=11, strides=4, padding=0, norm="none"
    )
    assert model.output.shape == (None, 55, 55, 96)
    assert params(model) == (34_944, 0)


def test_grouped_conv_is_alexnets_two_gpu_split():
    # conv2 of AlexNet: 256 5x5 filters over 96 maps split into two groups of 48.
    model = block_model(B.conv_bn_act, (27, 27, 96), filters=256, kernel_size=5, groups=2, norm="none")
    assert model.output.shape == (None, 27, 27, 256)
    assert params(model) == (5 * 5 * 48 * 256 + 256, 0)
    assert_every_weight_learns(model)


def test_conv_errors_say_what_was_received():
    with pytest.raises(
        ValueError,
        match=r"groups=3 must divide .* Received: 16 input channels, "
        r"filters=32",
    ):
        block_model(B.conv_bn_act, (8, 8, 16), filters=32, groups=3)
    with pytest.raises(ValueError, match=r"unknown activation 'rleu'"):
        block_model(B.conv_bn_act, (8, 8, 16), filters=8, activation="rleu")
    with pytest.raises(ValueError, match=r"`norm` must be 'batch' or 'none'. Received: norm='layer'"):
        block_model(B.conv_bn_act, (8, 8, 16), filters=8, norm="layer")
    with pytest.raises(ValueError, match=r"`filters` must be a positive integer. Received: filters=0"):
        block_model(B.conv_bn_act, (8, 8, 16), filters=0)
    with pytest.raises(ValueError, match=r"`padding` must be .* Received: padding='full'"):
        block_model(B.conv_bn_act, (8, 8, 16), filters=8, padding="full")


# --- residual blocks ---------------------------------------------------------------------------------


def bn(c):
    return 2 * c  # trainable gamma, beta (and as many non-trainable moving statistics)


def test_basic_block_identity():
    model = block_model(B.basic_block, (8, 8, 16), filters=16)
    assert params(model) == (2 * 9 * 16 * 16 + 2 * bn(16), 2 * bn(16))
    names = [layer.name for layer in model.layers[1:]]
    assert "blk_shortcut" not in names and names[-2:] == ["blk_add", "blk_out"]


def test_basic_block_projection_shortcut_b():
    model = block_model(B.basic_block, (8, 8, 16), filters=32, strides=2)
    assert model.output.shape == (None, 4, 4, 32)
    assert params(model)[0] == 9 * 16 * 32 + 9 * 32 * 32 + 16 * 32 + 3 * bn(32)
    assert model.get_layer("blk_shortcut").strides == (2, 2)


def test_basic_block_shortcut_a_is_parameter_free_and_pads_zeros():
    model = block_model(B.basic_block, (8, 8, 16), filters=32, strides=2, shortcut="A")
    assert params(model)[0] == 9 * 16 * 32 + 9 * 32 * 32 + 2 * bn(32)
    assert isinstance(model.get_layer("blk_shortcut_pad"), ChannelPadding)
    # Silence the residual branch: the output is then relu(subsampled x, zero-padded).
    bn2 = model.get_layer("blk_conv2_bn")
    bn2.gamma.assign(np.zeros(32, "float32"))
    bn2.beta.assign(np.zeros(32, "float32"))
    x = np.random.default_rng(0).standard_normal((1, 8, 8, 16)).astype("float32")
    y = model.predict(x, verbose=0)
    np.testing.assert_allclose(y[..., :16], np.maximum(x[:, ::2, ::2, :], 0), atol=1e-6)
    assert not y[..., 16:].any()


def test_shortcut_c_projects_even_when_shapes_match():
    model = block_model(B.basic_block, (8, 8, 16), filters=16, shortcut="C")
    assert params(model)[0] == 2 * 9 * 16 * 16 + 16 * 16 + 3 * bn(16)


@pytest.mark.parametrize(
    "block,preact", [(B.basic_block, False), (B.basic_block, True), (B.bottleneck_block, False)]
)
def test_plain_block_is_the_residual_block_without_its_addition(block, preact):
    # He et al. 2016's plain networks: the same layers, no shortcut, no Add: option A's weights.
    plain = block_model(block, (8, 8, 16), filters=32, strides=2, preact=preact, shortcut="none")
    residual = block_model(block, (8, 8, 16), filters=32, strides=2, preact=preact, shortcut="A")
    assert plain.output.shape == residual.output.shape
    assert params(plain) == params(residual)
    branch = [ly.name for ly in residual.layers if "shortcut" not in ly.name and ly.name != "blk_add"]
    assert [ly.name for ly in plain.layers[1:]] == branch[1:]
    assert layer_types(plain)[-1] == ("Conv2D" if preact else "Activation")


def test_shortcut_a_cannot_remove_channels():
    with pytest.raises(
        ValueError,
        match=r"'blk_shortcut': shortcut 'A' can only add channels.*"
        r"Received: 32 input channels, 16 output",
    ):
        block_model(B.basic_block, (8, 8, 32), filters=16, shortcut="A")


def test_preact_basic_block_order_and_no_final_activation():
    model = block_model(B.basic_block, (8, 8, 16), filters=16, preact=True)
    assert layer_types(model)[:3] == ["BatchNormalization", "Activation", "Conv2D"]
    assert layer_types(model)[-1] == "Add"
    assert params(model)[0] == 2 * 9 * 16 * 16 + 2 * bn(16)


def test_preact_projection_reads_the_preactivated_input():
    model = block_model(B.basic_block, (8, 8, 16), filters=32, strides=2, preact=True)
    shortcut = model.get_layer("blk_shortcut")
    assert shortcut.input.name == model.get_layer("blk_preact_act").output.name
    assert not shortcut.use_bias
    assert "blk_shortcut_bn" not in [layer.name for layer in model.layers]


def test_wide_resnet_block():
    # WRN-28-10's first group: B(3,3) with 16*10 channels, pre-activation, dropout between the convs.
    model = block_model(B.basic_block, (8, 8, 16), filters=16, width_factor=10, preact=True, dropout=0.3)
    assert model.output.shape == (None, 8, 8, 160)
    assert layer_types(model).count("Dropout") == 1
    assert params(model)[0] == bn(16) + 9 * 16 * 160 + bn(160) + 9 * 160 * 160 + 16 * 160


def test_resnet50_first_bottleneck():
    # ResNet-50 conv2_x, block 1: 1x1,64 / 3x3,64 / 1x1,256 with a projection shortcut (no conv biases).
    model = block_model(B.bottleneck_block, (56, 56, 64), filters=64)
    assert model.output.shape == (None, 56, 56, 256)
    weights = 64 * 64 + 9 * 64 * 64 + 64 * 256 + 64 * 256
    assert params(model) == (weights + bn(64) * 2 + bn(256) * 2, bn(64) * 2 + bn(256) * 2)


@pytest.mark.parametrize(
    "stride_on,strided,padded", [("1x1", "blk_conv1", False), ("3x3", "blk_conv2", True)]
)
def test_bottleneck_stride_placement(stride_on, strided, padded):
    model = block_model(B.bottleneck_block, (8, 8, 64), filters=32, strides=2, stride_on=stride_on)
    assert model.get_layer(strided).strides == (2, 2)
    other = "blk_conv2" if strided == "blk_conv1" else "blk_conv1"
    assert model.get_layer(other).strides == (1, 1)
    assert ("blk_conv2_pad" in [layer.name for layer in model.layers]) is padded
    assert model.output.shape == (None, 4, 4, 128)


def test_resnext_32x4d_bottleneck():
    model = block_model(B.bottleneck_block, (8, 8, 64), filters=64, groups=32, base_width=4)
    assert model.get_layer("blk_conv1").filters == 128  # C * d = 32 * 4
    assert tuple(model.get_layer("blk_conv2").kernel.shape) == (3, 3, 4, 128)
    weights = 64 * 128 + 9 * 4 * 128 + 128 * 256 + 64 * 256
    assert params(model)[0] == weights + 2 * bn(128) + 2 * bn(256)


def test_wide_resnet50_2_bottleneck():
    model = block_model(B.bottleneck_block, (8, 8, 64), filters=64, width_factor=2)
    assert model.get_layer("blk_conv2").filters == 128
    assert model.output.shape == (None, 8, 8, 256)


def test_se_bottleneck_adds_the_papers_module():
    plain = block_model(B.bottleneck_block, (8, 8, 64), filters=64)
    se = block_model(B.bottleneck_block, (8, 8, 64), filters=64, attention="se")
    # 2 C^2 / r weights plus biases, C = 256, r = 16.
    assert params(se)[0] - params(plain)[0] == 2 * 256 * 256 // 16 + 256 // 16 + 256
    add = se.get_layer("blk_add")
    assert add.input[1].name == se.get_layer("blk_se_scale").output.name


def test_preact_bottleneck_order():
    model = block_model(B.bottleneck_block, (8, 8, 64), filters=16, preact=True, stride_on="3x3")
    assert layer_types(model)[:2] == ["BatchNormalization", "Activation"]
    assert layer_types(model)[-1] == "Add"
    assert model.output.shape == (None, 8, 8, 64)


def test_residual_errors():
    with pytest.raises(
        ValueError,
        match=r"`shortcut` must be 'A', 'B', 'C' or 'none'.*Received: "
        r"shortcut='D'",
    ):
        block_model(B.basic_block, (8, 8, 16), filters=16, shortcut="D")
    with pytest.raises(ValueError, match=r"unknown attention 'cbam'"):
        block_model(B.basic_block, (8, 8, 16), filters=16, attention="cbam")
    with pytest.raises(ValueError, match=r"`dropout` must be in \[0, 1\). Received: dropout=1.5"):
        block_model(B.basic_block, (8, 8, 16), filters=16, dropout=1.5)
    with pytest.raises(ValueError, match=r"`stride_on` must be '1x1' or '3x3'"):
        block_model(B.bottleneck_block, (8, 8, 16), filters=16, stride_on="first")


# --- squeeze-and-excitation --------------------------------------------------------------------------


def test_squeeze_excite_parameters_and_gating():
    model = block_model(B.squeeze_excite, (4, 4, 32), ratio=4)
    assert params(model) == (32 * 8 + 8 + 8 * 32 + 32, 0)
    x = np.random.default_rng(0).uniform(0.5, 1.5, (1, 4, 4, 32)).astype("float32")
    gate = (model.predict(x, verbose=0) / x)[0]
    assert np.allclose(gate, gate[0, 0])  # one gate per channel
    assert np.all((gate > 0) & (gate < 1))  # a sigmoid


def test_squeeze_excite_ratio_too_large():
    with pytest.raises(ValueError, match=r"leaves no channel of 8\. Received: 8 channels, ratio=16"):
        block_model(B.squeeze_excite, (4, 4, 8), ratio=16)


# --- inception ---------------------------------------------------------------------------------------


INCEPTION_3A = (64, 96, 128, 16, 32, 32)


def test_inception_3a_gives_the_papers_depth():
    model = block_model(B.inception_module, (28, 28, 192), filters=INCEPTION_3A, norm="none")
    assert model.output.shape == (None, 28, 28, 256)  # GoogLeNet Table 1, inception (3a)
    cin = 192
    expected = (
        (cin * 64 + 64)
        + (cin * 96 + 96)
        + (9 * 96 * 128 + 128)
        + (cin * 16 + 16)
        + (25 * 16 * 32 + 32)
        + (cin * 32 + 32)
    )
    assert params(model) == (expected, 0)
    assert model.get_layer("blk_b2_reduce").kernel_size == (1, 1)
    assert model.get_layer("blk_b3").kernel_size == (5, 5)


def test_naive_inception_depth_grows_by_the_input_depth():
    model = block_model(B.naive_inception_module, (28, 28, 192), filters=(64, 128, 32), norm="none")
    assert model.output.shape == (None, 28, 28, 64 + 128 + 32 + 192)
    expected = (192 * 64 + 64) + (9 * 192 * 128 + 128) + (25 * 192 * 32 + 32)
    assert params(model) == (expected, 0)


def test_inception_filters_validated():
    with pytest.raises(
        ValueError,
        match=r"`filters` must list 6 positive integers. "
        r"Received: filters=\(64, 96\)",
    ):
        block_model(B.inception_module, (28, 28, 192), filters=(64, 96))


def test_auxiliary_classifier():
    # Section 5: avg-pool 5x5/3 -> 1x1 conv 128 -> FC 1024 -> dropout 0.7 -> FC classes, on 14x14x512.
    model = block_model(B.auxiliary_classifier, (14, 14, 512), classes=1000, norm="none")
    assert model.get_layer("blk_pool").output.shape == (None, 4, 4, 512)
    assert model.get_layer("blk_drop1").rate == 0.7
    expected = (512 * 128 + 128) + (4 * 4 * 128 * 1024 + 1024) + (1024 * 1000 + 1000)
    assert params(model) == (expected, 0)
    assert model.output.shape == (None, 1000)


# --- dense blocks ------------------------------------------------------------------------------------


@pytest.mark.parametrize("bottleneck", [True, False])
def test_dense_block_widths_and_parameters(bottleneck):
    c0, k, layers = 24, 12, 3
    model = block_model(B.dense_block, (8, 8, c0), layers=layers, growth_rate=k, bottleneck=bottleneck)
    assert model.output.shape == (None, 8, 8, c0 + layers * k)
    trainable = frozen = 0
    for i in range(layers):
        c = c0 + i * k
        if bottleneck:
            trainable += bn(c) + c * 4 * k + bn(4 * k) + 9 * 4 * k * k
            frozen += bn(c) + bn(4 * k)
        else:
            trainable += bn(c) + 9 * c * k
            frozen += bn(c)
    assert params(model) == (trainable, frozen)
    assert layer_types(model)[:3] == ["BatchNormalization", "Activation", "Conv2D"]


@pytest.mark.parametrize("channels,compression,out", [(48, 0.5, 24), (45, 0.5, 22), (30, 1.0, 30)])
def test_transition(channels, compression, out):
    model = block_model(B.transition, (8, 8, channels), compression=compression)
    assert model.output.shape == (None, 4, 4, out)
    assert params(model)[0] == bn(channels) + channels * out


# --- NiN, stems, head --------------------------------------------------------------------------------


def test_mlpconv():
    model = block_model(B.mlpconv, (8, 8, 3), filters=(16, 8, 4), kernel_size=5, norm="none")
    assert model.output.shape == (None, 8, 8, 4)
    assert params(model) == ((5 * 5 * 3 * 16 + 16) + (16 * 8 + 8) + (8 * 4 + 4), 0)
    assert [model.get_layer(f"blk_conv{i}").kernel_size for i in (1, 2, 3)] == [(5, 5), (1, 1), (1, 1)]


def test_googlenet_stem():
    model = block_model(B.googlenet_stem, (224, 224, 3), norm="none")
    assert model.get_layer("blk_conv1").output.shape == (None, 112, 112, 64)
    assert model.get_layer("blk_pool1").output.shape == (None, 56, 56, 64)
    assert model.output.shape == (None, 28, 28, 192)  # GoogLeNet Table 1 before inception (3a)
    assert params(model) == ((49 * 3 * 64 + 64) + (64 * 64 + 64) + (9 * 64 * 192 + 192), 0)
    assert layer_types(model).count("LocalResponseNormalization") == 2


def test_resnet_stem():
    model = block_model(B.resnet_stem, (224, 224, 3))
    assert tuple(map(tuple, model.get_layer("blk_conv_pad").padding)) == ((3, 3), (3, 3))
    assert model.get_layer("blk_conv").output.shape == (None, 112, 112, 64)
    assert model.output.shape == (None, 56, 56, 64)  # ResNet Table 1: conv2_x input
    assert params(model) == (49 * 3 * 64 + bn(64), bn(64))
    preact = block_model(B.resnet_stem, (224, 224, 3), preact=True)
    assert "BatchNormalization" not in layer_types(preact)
    assert preact.get_layer("blk_conv").use_bias


def test_vgg_head():
    model = block_model(
        B.classifier_head, (7, 7, 512), classes=1000, pool="flatten", hidden=(4096, 4096), dropout=0.5
    )
    assert layer_types(model) == [
        "Flatten",
        "Dense",
        "Activation",
        "Dropout",
        "Dense",
        "Activation",
        "Dropout",
        "Dense",
        "Activation",
    ]
    # The lecture's VGG16 table: 7*7*512*4096 = 102,760,448 weights in the first FC layer.
    assert model.get_layer("blk_fc1").kernel.shape == (25088, 4096)
    assert params(model)[0] == (25088 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)


def test_gap_head_drops_pooled_features_and_nin_head_has_no_fc():
    model = block_model(B.classifier_head, (7, 7, 1024), classes=10, dropout=0.4)
    assert layer_types(model) == ["GlobalAveragePooling2D", "Dropout", "Dense", "Activation"]
    nin = block_model(B.classifier_head, (8, 8, 192), classes=10, classifier="conv")
    assert layer_types(nin) == ["Conv2D", "GlobalAveragePooling2D", "Activation"]
    assert params(nin) == (192 * 10 + 10, 0)


@pytest.mark.parametrize(
    "activation,check",
    [
        ("softmax", lambda y: np.allclose(y.sum(-1), 1, atol=1e-5)),
        ("sigmoid", lambda y: np.all((y > 0) & (y < 1)) and not np.allclose(y.sum(-1), 1)),
        (None, lambda y: np.any(y < 0)),
    ],
)
def test_head_output_activation(activation, check):
    model = block_model(B.classifier_head, (4, 4, 8), classes=5, classifier_activation=activation)
    y = model.predict(np.random.default_rng(0).standard_normal((16, 4, 4, 8)) * 10, verbose=0)
    assert check(y)


def test_head_output_is_float32_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = block_model(B.classifier_head, (4, 4, 8), classes=3)
        assert model.get_layer("blk_logits").compute_dtype == "bfloat16"
        assert model.output.dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_head_errors():
    with pytest.raises(
        ValueError,
        match=r"pool=None needs a pooled .* Received: input shape "
        r"\(None, 4, 4, 8\)",
    ):
        block_model(B.classifier_head, (4, 4, 8), classes=3, pool=None)
    with pytest.raises(ValueError, match=r"classifier='conv' \(NiN\) needs"):
        block_model(B.classifier_head, (4, 4, 8), classes=3, classifier="conv", hidden=(16,))
    with pytest.raises(ValueError, match=r"`classes` must be a positive integer"):
        block_model(B.classifier_head, (4, 4, 8), classes=0)


# --- every registered block --------------------------------------------------------------------------

EXAMPLES = {
    "conv": ((8, 8, 4), dict(filters=8, strides=2)),
    "basic": ((8, 8, 8), dict(filters=16, strides=2, attention="se", attention_args={"ratio": 4})),
    "bottleneck": ((8, 8, 8), dict(filters=8, strides=2, groups=2, base_width=32, preact=True)),
    "inception": ((8, 8, 16), dict(filters=(4, 4, 8, 2, 4, 4))),
    "inception_naive": ((8, 8, 16), dict(filters=(4, 8, 4))),
    "aux_classifier": ((8, 8, 16), dict(classes=3)),
    "se": ((4, 4, 16), dict(ratio=4)),
    "dense": ((8, 8, 8), dict(layers=2, growth_rate=4)),
    "transition": ((8, 8, 8), dict()),
    "mlpconv": ((8, 8, 3), dict(filters=(8, 4))),
    "resnet_stem": ((32, 32, 3), dict(filters=8)),
    "googlenet_stem": ((32, 32, 3), dict()),
    "subsampling": ((8, 8, 4), dict()),
    "table_conv": ((14, 14, 6), dict()),
    "branches": (
        (8, 8, 8),
        dict(
            branches=[
                ["conv1-4"],
                ["conv1-4", [["conv1x3-2"], ["conv3x1-2"]]],
                ["avgpool3 s1 same", "conv1-4 nobn"],
            ]
        ),
    ),
    "inception_resnet": ((8, 8, 8), dict(branches=[["conv1-4"], ["conv1-2", "conv3-4"]], scale=0.2)),
}


def test_lenet5_s2_c3_s4_match_table_1():
    model = block_model(B.subsampling, (28, 28, 6), name="s2")
    assert model.output.shape == (None, 14, 14, 6) and params(model) == (12, 0)
    model = block_model(B.table_conv, (14, 14, 6), name="c3")
    assert model.output.shape == (None, 10, 10, 16)
    assert params(model)[0] == 25 * (6 * 3 + 6 * 4 + 3 * 4 + 6) + 16 == 1516
    model = block_model(B.subsampling, (10, 10, 16), name="s4")
    assert model.output.shape == (None, 5, 5, 16) and params(model) == (32, 0)
    assert layer_types(model)[-1] == "Activation"


def test_every_registered_block_has_an_example():
    assert set(EXAMPLES) == set(B.BLOCKS)


@pytest.mark.parametrize("block", sorted(EXAMPLES))
def test_block_names_finite_forward_and_gradients(block):
    shape, kwargs = EXAMPLES[block]
    model = block_model(B.BLOCKS[block], shape, name="blk", **kwargs)
    for layer in model.layers[1:]:
        assert layer.name == "blk" or layer.name.startswith("blk_"), layer.name
    assert_every_weight_learns(model)


def test_register_block():
    @B.register_block("test_double_conv")
    def double_conv(x, *, filters: int, name: str):
        x = B.conv_bn_act(x, filters=filters, name=f"{name}_a")
        return B.conv_bn_act(x, filters=filters, name=f"{name}_b")

    try:
        assert B.BLOCKS["test_double_conv"] is double_conv
        with pytest.raises(ValueError, match="already registered"):
            B.register_block("test_double_conv")(lambda x, *, name: x)
        with pytest.raises(ValueError, match="keyword-only `name`"):
            B.register_block("test_bad")(lambda x, name: x)
    finally:
        B.BLOCKS.pop("test_double_conv", None)


# --- branches and Inception-ResNet blocks (Inception-v4 paper) ----------------------------------------


def conv_bn(k, cin, cout, kw=None):
    """A bias-free convolution with its BN's gamma and beta (trainable)."""
    return k * (kw or k) * cin * cout + 2 * cout


def test_inception_v4_inception_a_matches_figure_4():
    from kerascnn.zoo.inception import INCEPTION_A

    model = block_model(B.branches, (35, 35, 384), branches=INCEPTION_A)
    assert model.output.shape == (None, 35, 35, 384)
    expected = (
        conv_bn(1, 384, 96)
        + conv_bn(1, 384, 64)
        + conv_bn(3, 64, 96)
        + conv_bn(1, 384, 64)
        + conv_bn(3, 64, 96)
        + conv_bn(3, 96, 96)
        + conv_bn(1, 384, 96)
    )
    assert params(model)[0] == expected
    names = {layer.name for layer in model.layers[1:]}
    assert {
        "blk_b1_conv1",
        "blk_b1_conv1_bn",
        "blk_b1_conv1_act",
        "blk_b3_conv3",
        "blk_b4_pool1",
        "blk_b4_conv1",
        "blk_concat",
    } <= names
    assert model.layers[-1].name == "blk_concat"


def test_inception_v4_inception_c_forks_and_reduction_b_halves():
    from kerascnn.zoo.inception import INCEPTION_C, REDUCTION_B

    model = block_model(B.branches, (8, 8, 1536), branches=INCEPTION_C)
    assert model.output.shape == (None, 8, 8, 1536)  # 256 + 2 x 256 + 2 x 256 + 256
    fork = model.get_layer("blk_b2_concat")
    assert [t.name for t in fork.input] == [
        model.get_layer("blk_b2a_conv1_act").output.name,
        model.get_layer("blk_b2b_conv1_act").output.name,
    ]
    assert model.get_layer("blk_b2a_conv1").kernel.shape == (1, 3, 384, 256)
    assert model.get_layer("blk_b2b_conv1").kernel.shape == (3, 1, 384, 256)
    model = block_model(B.branches, (17, 17, 1024), branches=REDUCTION_B)
    assert model.output.shape == (None, 8, 8, 1536)  # 192 + 320 + the 1024 pooled


def test_inception_resnet_block_is_scaled_residual_sum():
    inputs = keras.Input((6, 6, 8))
    out = B.inception_resnet_block(
        inputs, branches=[["conv1-4"], ["conv1-2", "conv3-4"]], scale=0.17, name="blk"
    )
    model = keras.Model(inputs, out)
    probe = keras.Model(inputs, [model.get_layer("blk_proj").output, out])
    proj = model.get_layer("blk_proj")
    assert proj.use_bias and proj.kernel.shape == (1, 1, 8, 8)  # linear, back to the input's width
    assert "blk_proj_bn" not in [layer.name for layer in model.layers]
    x = np.random.default_rng(0).standard_normal((2, 6, 6, 8)).astype("float32")
    up, y = probe.predict(x, verbose=0)
    np.testing.assert_allclose(y, np.maximum(x + 0.17 * up, 0), rtol=1e-5, atol=1e-6)
    last = block_model(
        B.inception_resnet_block, (6, 6, 8), branches=[["conv1-4"]], final_activation=False
    )
    assert layer_types(last)[-1] == "ScaledAdd"


@pytest.mark.parametrize(
    "branches,message",
    [
        ([], "non-empty list of branches"),
        ([["conv1-4"], "conv3-4"], "branch 2 must be a non-empty list"),
        ([["conv1-4"], ["conv3-4", "maxpol"]], "branch 2: unknown layer 'maxpol'"),
        ([["conv1-4"], ["gap"]], "branch 2: 'gap' does not keep a feature map"),
        ([["conv1-4", [["conv1-2"], "x"]]], "branch 1's fork branch 2 must be"),
    ],
)
def test_branches_reject_malformed_lists(branches, message):
    with pytest.raises(ValueError, match=message):
        block_model(B.branches, (8, 8, 4), branches=branches)


def test_branches_must_meet_at_one_size():
    with pytest.raises(ValueError, match=r"same height and width.*branch 1: 8x8, branch 2: 3x3"):
        block_model(B.branches, (8, 8, 4), branches=[["conv1-4"], ["maxpool3 s2 valid"]])


def test_shortcut_b_subsamples_an_identity_across_a_stride():
    # Same width, stride 2 (the last block of a ResNetV2 stage in keras.applications): a strided
    # 1x1 max-pool, no projection. A change of width still projects.
    model = block_model(
        B.bottleneck_block, (8, 8, 32), filters=8, strides=2, preact=True, stride_on="3x3"
    )
    names = [layer.name for layer in model.layers]
    assert "blk_shortcut_pool" in names and "blk_shortcut" not in names
    assert model.output.shape == (None, 4, 4, 32)
    model = block_model(B.bottleneck_block, (8, 8, 16), filters=8, strides=2)
    assert "blk_shortcut" in [layer.name for layer in model.layers]
