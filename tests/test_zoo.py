"""The model zoo, timm-style: every registered model builds, learns, round-trips and has the recorded
parameter count; hand formulas and published numbers for the papers' own tables; the build options."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import params

import kerascnn
from kerascnn.config import ConfigError
from kerascnn.zoo import MODELS, get_model_info, list_models

# The canonical names the zoo issue asks for.
REQUIRED = (
    "lenet5 alexnet zfnet vgg11 vgg11_lrn vgg13 vgg16_c vgg16 vgg19 nin googlenet inception_v4 "
    "inception_resnet_v2 "
    "resnet18 resnet34 resnet50 resnet101 resnet152 resnet20 resnet32 resnet44 resnet56 resnet110 "
    "resnet1202 preact_resnet18 preact_resnet34 preact_resnet50 preact_resnet101 preact_resnet152 "
    "preact_resnet164 preact_resnet1001 wide_resnet28_10 wide_resnet50_2 resnext50_32x4d "
    "resnext101_32x8d densenet121 densenet169 densenet201 densenet264 densenet_bc_100_12 "
    "se_resnet50 se_resnet101 se_resnext50_32x4d plain18 plain34 plain20 plain32 plain44 plain56"
).split()

DEEP = {"resnet1202", "preact_resnet1001", "densenet264"}
# Over 15 s for the round trip on 2 cores: marked slow too, so they start first (conftest).
SLOW = DEEP | {
    "resnext101_32x8d",
    "inception_resnet_v2",
    "preact_resnet152",
    "resnet152",
    "inception_v4",
    "se_resnext50_32x4d",
    "wide_resnet50_2",
}  # 9-13 s
# A small input each model supports (the others take 32x32, the CIFAR size).
SMALL_INPUT = {"alexnet": 96, "zfnet": 64, "inception_v4": 75, "inception_resnet_v2": 75}
# Families whose classifier reads a flattened map: their parameter count depends on the input size.
FLATTEN_HEADS = {"lenet", "alexnet", "vgg"}


def small_shape(name):
    info = get_model_info(name)
    size = SMALL_INPUT.get(name, 32)
    return (size, size, info.input_shape[-1])


def registry_params():
    return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in list_models()]


def test_registry_has_every_required_model():
    missing = [n for n in REQUIRED if n not in MODELS]
    assert not missing
    unrecorded = [n for n, info in MODELS.items() if info.params is None]
    assert not unrecorded


@pytest.mark.parametrize("name", registry_params())
def test_model_learns_and_round_trips(name, tmp_path):
    """Small input: finite forward, a gradient for every weight, `.keras` safe-mode round trip (a
    deep variant: its smaller sibling's, `CHECKED_BY`, but for one graph as deep as any)."""
    model = kerascnn.build(name, input_shape=small_shape(name))
    assert model.name == name
    info = get_model_info(name)
    assert model.output_shape == (None, info.classes)
    if info.family not in FLATTEN_HEADS:  # the count at the default input (recorded, exact)
        assert params(model)[0] == info.params
    x = np.random.default_rng(0).standard_normal((2, *model.input_shape[1:])).astype("float32")
    if name in CHECKED_BY:
        # With batch statistics the forward is finite (with the initial moving statistics, the
        # untrained ResNet-1202's inference output overflows: 600 unnormalized residual additions).
        assert np.all(np.isfinite(model(x, training=True).numpy()))
    else:
        assert_every_weight_gets_a_gradient(model, x)
    if (name in CHECKED_BY and name != DEEP_ROUND_TRIP) or name in SAME_BLOCKS_AS:
        return
    assert_round_trips(model, x, tmp_path)


def assert_round_trips(model, x, tmp_path):
    """`.keras` safe-mode round trip: the same outputs, the same weights under the same paths."""
    expected = model(x, training=False).numpy()
    path = tmp_path / f"{model.name}.keras"
    model.save(path)
    loaded = kerascnn.load_model(path)  # keras.saving.load_model(safe_mode=True), deep-graph room
    np.testing.assert_allclose(loaded(x, training=False).numpy(), expected, rtol=1e-5, atol=1e-6)
    assert [w.path for w in loaded.weights] == [w.path for w in model.weights]


# Depth variants built of the very layer kinds of a shallower sibling: the sibling's `.keras` round
# trip and backbone options run in the default tier, theirs in the slow tier, beside the check that
# the two are made of the same kinds of layer (the default tier's share of the suite's time).
SAME_BLOCKS_AS = {
    **{f"resnet{d}": "resnet20" for d in (32, 44, 56, 110)},
    **{f"plain{d}": "plain20" for d in (32, 44, 56)},
    "plain34": "plain18",
    "resnet34": "resnet18",
    "preact_resnet34": "preact_resnet18",
    **{v: "vgg11" for v in ("vgg13", "vgg16", "vgg19")},
}  # not VGG-16 C (its 1x1 convolutions pad "valid"), not ZFNet (its own padding and pooling)


def layer_kinds(model) -> dict:
    """Each layer class with the options that change what it computes (not its width or name)."""
    kinds = {}
    for layer in model.layers:
        config = layer.get_config()
        drop = {
            "name",
            "filters",
            "units",
            "trainable",
            "dtype",
            "kernel_size",
            "strides",
            "pool_size",
            "batch_shape",
        }
        kinds.setdefault(type(layer).__name__, set()).add(
            repr(sorted((k, repr(v)) for k, v in config.items() if k not in drop))
        )
    return kinds


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SAME_BLOCKS_AS))
def test_depth_variants_are_their_siblings_layer_kinds_and_round_trip(name, tmp_path):
    sibling = SAME_BLOCKS_AS[name]
    assert sibling in MODELS and sibling not in SAME_BLOCKS_AS and sibling not in CHECKED_BY
    model = kerascnn.build(name, input_shape=small_shape(name))
    other = kerascnn.build(sibling, input_shape=small_shape(sibling))
    assert layer_kinds(model) == layer_kinds(other)
    x = np.random.default_rng(0).standard_normal((2, *model.input_shape[1:])).astype("float32")
    assert_round_trips(model, x, tmp_path)


# Deeper variants made of exactly the blocks of a smaller sibling, which gets the gradient check and
# the round trip: an eager backward pass through ResNet-1202 costs 9 s, its save and load 25 s, and
# they show nothing ResNet-110's do not.
CHECKED_BY = {
    "resnet101": "resnet50",
    "resnet152": "resnet50",
    "resnet1202": "resnet110",
    "preact_resnet101": "preact_resnet50",
    "preact_resnet152": "preact_resnet50",
    "preact_resnet1001": "preact_resnet164",
    "densenet169": "densenet121",
    "densenet201": "densenet121",
    "densenet264": "densenet121",
    "se_resnet101": "se_resnet50",
    "resnext101_32x8d": "resnext50_32x4d",
}


# But one graph past Python's 1,000 frames (3,342 Keras layers) is saved and loaded: the proof that
# kerascnn.load_model's recursion room is enough.
DEEP_ROUND_TRIP = "preact_resnet1001"


def test_gradient_siblings_are_registered_and_checked():
    for name, sibling in CHECKED_BY.items():
        assert sibling in MODELS and sibling not in CHECKED_BY, name
        assert get_model_info(name).family == get_model_info(sibling).family
    assert DEEP_ROUND_TRIP in CHECKED_BY


def assert_every_weight_gets_a_gradient(model, x):
    with tf.GradientTape() as tape:
        y = model(x, training=True)
        # A weighted sum, so the softmax's gradient is not identically zero.
        loss = tf.reduce_sum(y * np.linspace(-1.0, 1.0, y.shape[-1], dtype="float32"))
    assert np.all(np.isfinite(y.numpy()))
    grads = tape.gradient(loss, model.trainable_weights)
    dead = [
        w.path
        for w, g in zip(model.trainable_weights, grads)
        if g is None or not np.any(tf.convert_to_tensor(g).numpy())
    ]
    assert not dead, f"no gradient reaches: {dead[:10]}"


@pytest.mark.parametrize("name", [n for n in list_models() if get_model_info(n).family in FLATTEN_HEADS])
def test_default_build_has_recorded_params(name):
    """At the paper's input: exactly the trainable count recorded (a flattening head's count depends
    on the input size; the other models' counts are asserted in the test above)."""
    info = get_model_info(name)
    model = kerascnn.build(name)
    assert model.input_shape == (None, *info.input_shape)
    assert model.output_shape == (None, info.classes)
    assert info.params is not None, f"{name} has no recorded parameter count"
    assert params(model)[0] == info.params


# --- against the papers' tables and the reference implementations -----------------------------------


def conv(k, cin, cout, bias=True):
    return k * k * cin * cout + (cout if bias else 0)


def test_alexnet_params_by_hand():
    # Krizhevsky et al. 2012, Figure 2, with the two GPU halves merged (groups=1).
    expected = (
        conv(11, 3, 96)
        + conv(5, 96, 256)
        + conv(3, 256, 384)
        + conv(3, 384, 384)
        + conv(3, 384, 256)
        + 6 * 6 * 256 * 4096
        + 4096
        + 4096 * 4096
        + 4096
        + 4096 * 1000
        + 1000
    )
    assert get_model_info("alexnet").params == expected == 62_378_344
    # The original two-GPU split: conv2, conv4 and conv5 read only their own GPU's half.
    grouped = (
        expected - (conv(5, 96, 256, False) + conv(3, 384, 384, False) + conv(3, 384, 256, False)) // 2
    )
    assert params(kerascnn.build("alexnet", groups=2))[0] == grouped == 60_965_224


@pytest.mark.parametrize("depth", [18, 20, 56])
def test_plain_network_is_its_resnet_without_the_shortcuts(depth):
    # He et al. 2016, section 4.1: "plain" baselines with the ResNet's layers and no shortcuts.
    plain = kerascnn.build(f"plain{depth}", input_shape=(32, 32, 3))
    residual = kerascnn.build(f"resnet{depth}", input_shape=(32, 32, 3))
    assert not [ly for ly in plain.layers if isinstance(ly, keras.layers.Add)]
    assert len([ly for ly in residual.layers if isinstance(ly, keras.layers.Add)]) == (
        8 if depth == 18 else (depth - 2) // 2
    )
    kept = [
        ly.name for ly in residual.layers if "shortcut" not in ly.name and not ly.name.endswith("_add")
    ]
    assert [ly.name for ly in plain.layers[1:]] == kept[1:]
    projections = sum(int(np.prod(w.shape)) for w in residual.trainable_weights if "shortcut" in w.path)
    # CIFAR: option A shortcuts have no weights; ImageNet: option B's 1x1 projections (and BN).
    assert params(residual)[0] - params(plain)[0] == projections
    assert (projections > 0) == (depth == 18)


VGG_TABLE_2 = {"vgg11": 133, "vgg11_lrn": 133, "vgg13": 133, "vgg16_c": 134, "vgg16": 138, "vgg19": 144}


@pytest.mark.parametrize("name", sorted(VGG_TABLE_2))
def test_vgg_matches_table_2(name):
    assert round(get_model_info(name).params / 1e6) == VGG_TABLE_2[name]


def test_vgg16_and_19_equal_keras_applications():
    # keras.applications.VGG16/VGG19 (weights=None): 138,357,544 and 143,667,240 parameters.
    assert get_model_info("vgg16").params == 138_357_544
    assert get_model_info("vgg19").params == 143_667_240


TORCHVISION = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "densenet121": 7_978_856,
    "densenet169": 14_149_480,
    "densenet201": 20_013_928,
    "wide_resnet50_2": 68_883_240,
    "resnext50_32x4d": 25_028_904,
    "resnext101_32x8d": 88_791_336,
}


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_matches_torchvision_count(name):
    """ResNet Table 1 / DenseNet Table 1 architectures: torchvision's exact counts (no conv biases)."""
    assert get_model_info(name).params == TORCHVISION[name]


def cifar_resnet_params(n, widths=(16, 32, 64), classes=10):
    """He et al. 2016, section 4.2: 6n+2 layers, option A (parameter-free) shortcuts."""
    total = conv(3, 3, 16, bias=False) + 2 * 16
    c_in = 16
    for w in widths:
        total += conv(3, c_in, w, False) + conv(3, w, w, False) + 4 * w
        total += (n - 1) * (2 * conv(3, w, w, False) + 4 * w)
        c_in = w
    return total + widths[-1] * classes + classes


@pytest.mark.parametrize(
    "depth,millions", [(20, 0.27), (32, 0.46), (44, 0.66), (56, 0.85), (110, 1.7), (1202, 19.4)]
)
def test_cifar_resnets_match_table_6(depth, millions):
    n = (depth - 2) // 6
    assert get_model_info(f"resnet{depth}").params == cifar_resnet_params(n)
    assert round(cifar_resnet_params(n) / 1e6, 2 if millions < 1 else 1) == millions


def test_se_and_wide_match_their_tables():
    assert round(get_model_info("se_resnet50").params / 1e5) == 281  # SENet Table 2: 28.1M
    assert round(get_model_info("se_resnet101").params / 1e5) == 493  # 49.3M
    assert round(get_model_info("se_resnext50_32x4d").params / 1e5) == 276  # 27.6M
    assert round(get_model_info("wide_resnet28_10").params / 1e5) == 365  # WRN Table 4: 36.5M
    assert round(get_model_info("preact_resnet164").params / 1e5) == 17  # Table 2: 1.7M
    assert round(get_model_info("preact_resnet1001").params / 1e5) == 103  # Table 2: 10.2M*
    assert round(get_model_info("densenet_bc_100_12").params / 1e5) == 8  # Table 2: 0.8M


def test_googlenet_matches_table_1():
    model = kerascnn.build("googlenet", include_top=False)
    shapes = {layer.name: layer.output.shape for layer in model.layers}
    # Table 1's output sizes, after each inception module.
    for module, size, depth in [
        ("3a", 28, 256),
        ("3b", 28, 480),
        ("4a", 14, 512),
        ("4b", 14, 512),
        ("4c", 14, 512),
        ("4d", 14, 528),
        ("4e", 14, 832),
        ("5a", 7, 832),
        ("5b", 7, 1024),
    ]:
        name = next(n for n in shapes if n.endswith(f"inception{module}_concat"))
        assert shapes[name] == (None, size, size, depth), module


def test_inception_v4_matches_figures_3_to_9_and_timm():
    model = kerascnn.build("inception_v4", features=True, out_stages=(0, 1, 2, 3))
    shapes = {name: tuple(t.shape[1:]) for name, t in model.output.items()}
    # Figure 3's stem ends at 35x35x384; Reduction-A (k, l, m, n = 192, 224, 256, 384) gives
    # 17x17x1024, Reduction-B 8x8x1536 (Figures 7, 8, 9).
    assert shapes == {
        "stem": (35, 35, 384),
        "stage1": (35, 35, 384),
        "stage2": (17, 17, 1024),
        "stage3": (8, 8, 1536),
    }
    names = {layer.name for layer in model.layers}
    assert {"stage1_block4_concat", "stage2_block7_concat", "stage3_block3_concat"} <= names
    assert "stage1_block5_concat" not in names
    # timm's inception_v4 (a port of the authors' TF-slim model): 42,679,816 parameters.
    assert get_model_info("inception_v4").params == 42_679_816


def test_inception_resnet_v2_follows_the_released_model():
    model = kerascnn.build("inception_resnet_v2", features=True)
    shapes = {name: tuple(t.shape[1:]) for name, t in model.output.items()}
    assert shapes == {"stage1": (35, 35, 320), "stage2": (17, 17, 1088), "stage3": (8, 8, 1536)}
    scales = [layer.scale for layer in model.layers if type(layer).__name__ == "ScaledAdd"]
    assert scales == [0.17] * 10 + [0.1] * 20 + [0.2] * 9 + [1.0]
    assert "stage3_block10_act" not in {layer.name for layer in model.layers}
    paper = kerascnn.build("inception_resnet_v2", repeats=(5, 10, 5), include_top=False)
    assert sum(type(layer).__name__ == "ScaledAdd" for layer in paper.layers) == 20


# --- options ----------------------------------------------------------------------------------------


def test_heads_for_each_task():
    logits = kerascnn.build("resnet20", classifier_activation=None)
    # Logits still leave through a float32 `head_pred` layer (mixed precision), a linear one.
    assert logits.layers[-1].name == "head_pred"
    assert logits.layers[-1].activation.__name__ == "linear"
    assert logits.layers[-2].name == "head_logits"
    binary = kerascnn.build("resnet20", task="binary")
    assert binary.output_shape == (None, 1)
    assert binary.layers[-1].activation.__name__ == "sigmoid"
    multilabel = kerascnn.build("resnet20", task="multilabel", classes=5)
    assert multilabel.output_shape == (None, 5)
    assert multilabel.layers[-1].activation.__name__ == "sigmoid"
    y = multilabel(np.zeros((1, 32, 32, 3), "float32")).numpy()
    assert 0 < y.min() and y.max() < 1 and not np.isclose(y.sum(), 1.0)
    with pytest.raises(ConfigError, match="task='binary' has one sigmoid output"):
        kerascnn.build("resnet20", task="binary", classes=3)
    with pytest.raises(ConfigError, match="`task` must be one of"):
        kerascnn.build("resnet20", task="regression")


@pytest.mark.parametrize("channels", [1, 4])
def test_any_number_of_input_channels(channels):
    model = kerascnn.build("resnet18", input_shape=(64, 64, channels), classes=7)
    assert model.get_layer("stem_conv").kernel.shape == (7, 7, channels, 64)
    assert model(np.zeros((1, 64, 64, channels), "float32")).shape == (1, 7)


def test_backbone_and_pooling():
    backbone = kerascnn.build("resnet50", include_top=False)
    assert backbone.output_shape == (None, 7, 7, 2048)
    assert params(backbone)[0] == get_model_info("resnet50").params - (2048 * 1000 + 1000)
    pooled = kerascnn.build("resnet50", include_top=False, pooling="max", input_shape=(96, 96, 3))
    assert pooled.output_shape == (None, 2048)
    with pytest.raises(ConfigError, match="pass include_top=False"):
        kerascnn.build("resnet50", pooling="avg")


def test_features_are_named_by_stage():
    model = kerascnn.build("resnet50", features=True)
    assert {k: tuple(v.shape) for k, v in model.output.items()} == {
        "stage1": (None, 56, 56, 256),
        "stage2": (None, 28, 28, 512),
        "stage3": (None, 14, 14, 1024),
        "stage4": (None, 7, 7, 2048),
    }
    model = kerascnn.build("resnet50", features=True, out_stages=(0, 2, "stage4"))
    assert list(model.output) == ["stem", "stage2", "stage4"]
    assert tuple(model.output["stem"].shape) == (None, 56, 56, 64)
    # Pre-activation: the last stage's feature includes the final BN-ReLU.
    model = kerascnn.build("preact_resnet18", features=True, out_stages=(4,))
    producer = model.output["stage4"]._keras_history.operation
    assert producer.name == "post_act1"


def test_out_stages_errors_name_the_valid_stages():
    with pytest.raises(
        ConfigError,
        match=r"stage 5 is out of range; resnet50 has stages 0 \(stem\), "
        r"1 \(stage1\), 2 \(stage2\), 3 \(stage3\), 4 \(stage4\)",
    ):
        kerascnn.build("resnet50", features=True, out_stages=(2, 5))
    with pytest.raises(ConfigError, match="has no stage 'stage9'"):
        kerascnn.build("resnet50", features=True, out_stages=("stage9",))
    with pytest.raises(ConfigError, match="pass features=True"):
        kerascnn.build("resnet50", out_stages=(2,))


def test_family_options_are_validated_like_spec_keys():
    with pytest.raises(
        ConfigError,
        match=r"unknown key 'dropuot' for model 'resnet50'.*"
        r"Did you mean 'dropout'",
    ):
        kerascnn.build("resnet50", dropuot=0.2)
    with pytest.raises(ConfigError, match="'depths' defines 'resnet50' and cannot be changed"):
        kerascnn.build("resnet50", depths=(1, 1, 1, 1))
    with pytest.raises(ConfigError, match="unknown model 'resnet51'.*Did you mean"):
        kerascnn.build("resnet51")


def test_family_options_change_the_model():
    v15 = kerascnn.build("resnet50", stride_on="3x3", input_shape=(64, 64, 3))
    assert v15.get_layer("stage2_block1_conv2").strides == (2, 2)
    assert v15.get_layer("stage2_block1_conv1").strides == (1, 1)
    se = kerascnn.build("resnet18", attention="se", input_shape=(64, 64, 3))
    assert any("_se_" in layer.name for layer in se.layers)
    biased = kerascnn.build("vgg11", use_bias=True, norm="batch", input_shape=(64, 64, 3))
    assert biased.get_layer("stage1_conv1").use_bias


def test_input_too_small_names_the_stage():
    with pytest.raises(ConfigError, match="too small.*vanishes in stage"):
        kerascnn.build("alexnet", input_shape=(32, 32, 3))


def test_googlenet_aux_heads_train_and_drop():
    model = kerascnn.build("googlenet", aux=True)
    assert [tuple(o.shape) for o in model.outputs] == [(None, 1000)] * 3
    inference = kerascnn.drop_side_outputs(model)
    assert len(inference.outputs) == 1 and inference.outputs[0] is model.outputs[0]
    assert params(inference)[0] == get_model_info("googlenet").params


# The models that build in under two seconds on 2 cores (BENCHMARKS.md's build times; the others are
# the deepest variants of families whose smaller members are here).
SLOW_BUILDS = {"resnet1202", "preact_resnet1001", "densenet264", "inception_resnet_v2", "densenet201"}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.slow) if n in SAME_BLOCKS_AS or n in CHECKED_BY else n
        for n in list_models()
        if n not in SLOW_BUILDS
    ],
)
def test_backbones_take_any_size_channels_and_pooling(name):
    """keras.applications' option matrix over the registry: a backbone (`include_top=False`) with
    global average or max pooling, built for an open input size (None, None, C) with 1 or 4 channels
    (alternating over the registry), computes a finite feature vector of its width from a
    non-square image of another size than the one it was checked at."""
    index = list_models().index(name)
    channels, pooling = (1, "avg") if index % 2 else (4, "max")
    model = kerascnn.build(name, input_shape=(None, None, channels), include_top=False, pooling=pooling)
    assert model.input_shape == (None, None, None, channels)
    assert model.layers[-1].name == "pool" and len(model.output_shape) == 2
    size = small_shape(name)[0]
    image = np.random.default_rng(0).random((1, size + 16, size + 8, channels), dtype=np.float32)
    out = np.asarray(model(image))
    assert out.shape == (1, model.output_shape[-1]) and np.all(np.isfinite(out))
