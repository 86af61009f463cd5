"""`kerascnn.profile`: the numbers the classic-CNN papers and lectures argue with, from the toolkit's own
output: shapes, parameters, multiply-adds, activation memory, receptive fields."""

import json

import keras
import numpy as np
import pytest

import kerascnn
from kerascnn import blocks as B
from kerascnn.analysis import profile, register_cost
from kerascnn.analysis.costs import RULES, Cost
from kerascnn.cli import main


def block_profile(fn, input_shape, **kwargs):
    inputs = keras.Input(input_shape)
    return profile(keras.Model(inputs, fn(inputs, name="m", **kwargs)))


def conv_macs(p):
    return sum(r.macs for r in p.select("Conv2D"))


# --- the lecture's numbers ---------------------------------------------------------------------------


def test_alexnet_conv1():
    p = profile(kerascnn.build("alexnet"))
    conv1 = p.select("Conv2D")[0]
    assert conv1.output_shape == (1, 55, 55, 96)
    assert conv1.params == (11 * 11 * 3 + 1) * 96 == 34_944
    assert conv1.macs == 11 * 11 * 3 * 96 * 55 * 55
    assert conv1.receptive_field == (11, 11) and conv1.stride == (4, 4)


# The lecture's VGG16 table: output shape and weights (no bias) of every conv and FC layer.
VGG16_TABLE = [
    ((224, 224, 64), (3 * 3 * 3) * 64),
    ((224, 224, 64), (3 * 3 * 64) * 64),
    ((112, 112, 128), (3 * 3 * 64) * 128),
    ((112, 112, 128), (3 * 3 * 128) * 128),
    ((56, 56, 256), (3 * 3 * 128) * 256),
    ((56, 56, 256), 589_824),
    ((56, 56, 256), 589_824),
    ((28, 28, 512), 1_179_648),
    ((28, 28, 512), 2_359_296),
    ((28, 28, 512), 2_359_296),
    ((14, 14, 512), 2_359_296),
    ((14, 14, 512), 2_359_296),
    ((14, 14, 512), 2_359_296),
    ((4096,), 102_760_448),
    ((4096,), 16_777_216),
    ((1000,), 4_096_000),
]


def test_vgg16_memory_and_parameter_table():
    p = profile(kerascnn.build("vgg16"))
    weighted = p.select("Conv2D", "Dense")
    assert len(weighted) == len(VGG16_TABLE)
    for row, (shape, weights) in zip(weighted, VGG16_TABLE):
        assert row.output_shape[1:] == shape, row.name
        assert row.activations == np.prod(shape), row.name
        bias = shape[-1]
        assert row.params - bias == weights, row.name
    first = weighted[0]
    assert first.activations == 224 * 224 * 64 and first.params - 64 == 1_728
    pools = [r.output_shape[1:] for r in p.select("MaxPooling2D")]
    assert pools == [(112, 112, 64), (56, 56, 128), (28, 28, 256), (14, 14, 512), (7, 7, 512)]
    # Totals: 138M parameters, most of them in the first FC layer; the lecture's memory column
    # (input, convs with their ReLU in place, pools, FCs) sums to 15,237,608 values, most of it in
    # the early convolutions. (The slide's "24M * 4 bytes" total is not the sum of its own rows.)
    assert p.params == 138_357_544
    assert weighted[13].params / p.params > 0.74
    assert (
        p.activations
        == sum(np.prod(s) for s, _ in VGG16_TABLE) + 224 * 224 * 3 + sum(np.prod(s) for s in pools)
        == 15_237_608
    )
    assert p.activation_bytes == 4 * 15_237_608
    early = sum(r.activations for r in p.rows[:8] if not r.inplace)
    assert early / p.activations > 0.5
    # Training: weights, gradients and momentum (3 x 553 MB) plus outputs and their gradients.
    memory = p.training_memory("momentum")
    assert memory.weights == memory.gradients == memory.optimizer_state == 4 * 138_357_544
    assert memory.activations == memory.activation_gradients == 4 * 15_237_608
    assert p.training_memory("adam", batch_size=8).optimizer_state == 2 * 4 * 138_357_544
    assert p.training_memory("adam", batch_size=8).activations == 8 * 4 * 15_237_608


def test_naive_vs_reduced_inception_module():
    naive = block_profile(B.naive_inception_module, (28, 28, 256), filters=(128, 192, 96))
    assert naive.rows[-1].output_shape == (1, 28, 28, 128 + 192 + 96 + 256)
    assert conv_macs(naive) == 854_196_224  # "854M ops"
    # The lecture's 358M: 1x1 64, 3x3 reduce 128 -> 3x3 192, 5x5 reduce 64 -> 5x5 96, pool proj 64.
    reduced = block_profile(B.inception_module, (28, 28, 256), filters=(64, 128, 192, 64, 96, 64))
    assert conv_macs(reduced) == 358_055_936
    assert round(conv_macs(reduced) / 1e6) == 358
    # Each of the slide's terms, as it writes them (their sum is 271M, not its "358M").
    drawn = block_profile(B.inception_module, (28, 28, 256), filters=(128, 64, 192, 64, 96, 64))
    terms = {r.name: r.macs for r in drawn.select("Conv2D")}
    assert terms == {
        "m_b1": 28 * 28 * 128 * 256,
        "m_b2_reduce": 28 * 28 * 64 * 256,
        "m_b2": 28 * 28 * 192 * 3 * 3 * 64,
        "m_b3_reduce": 28 * 28 * 64 * 256,
        "m_b3": 28 * 28 * 96 * 5 * 5 * 64,
        "m_b4_proj": 28 * 28 * 64 * 256,
    }
    assert sum(terms.values()) == 271_351_808


@pytest.mark.parametrize("count,field", [(1, 3), (2, 5), (3, 7)])
def test_stacked_3x3_convs_see_like_one_big_kernel(count, field):
    x = inputs = keras.Input((32, 32, 16))
    for i in range(count):
        x = B.conv_bn_act(x, filters=16, kernel_size=3, norm="none", name=f"c{i}")
    p = profile(keras.Model(inputs, x))
    assert p.rows[-1].receptive_field == (field, field)
    # ... with 9 * count C^2 weights instead of field^2 C^2: 27C^2 against 49C^2 for three.
    assert sum(r.params for r in p.select("Conv2D")) == count * 9 * 16 * 16 + count * 16
    big = profile(
        keras.Sequential([keras.Input((32, 32, 16)), keras.layers.Conv2D(16, field, padding="same")])
    )
    assert big.rows[-1].receptive_field == (field, field)


def test_receptive_field_follows_strides_dilation_and_merges():
    inputs = keras.Input((64, 64, 3))
    a = keras.layers.Conv2D(8, 7, strides=2, padding="same", name="stem")(inputs)  # 7, jump 2
    b = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool")(a)  # 7+2*2=11, jump 4
    c = keras.layers.Conv2D(8, 3, dilation_rate=2, padding="same", name="dil")(b)  # 11+4*4=27
    d = keras.layers.Conv2D(8, (1, 7), padding="same", name="wide")(b)  # 11 x (11+6*4=35)
    merged = keras.layers.Add(name="add")([c, d])
    gate = keras.layers.Reshape((1, 1, 8), name="gate")(
        keras.layers.GlobalAveragePooling2D(name="squeeze")(merged)
    )
    scaled = keras.layers.Multiply(name="scale")([merged, gate])
    p = profile(keras.Model(inputs, scaled))
    assert (p["stem"].receptive_field, p["stem"].stride) == ((7, 7), (2, 2))
    assert (p["pool"].receptive_field, p["pool"].stride) == ((11, 11), (4, 4))
    assert p["dil"].receptive_field == (27, 27)
    assert p["wide"].receptive_field == (11, 35)
    assert p["add"].receptive_field == (27, 35)  # the widest of the merged paths
    assert p["squeeze"].receptive_field is None  # global
    assert p["scale"].receptive_field == (27, 35)  # an SE gate does not widen the local path


# Multiply-adds at 224x224 as published, and how close: ResNet (He et al. 2016) Table 1 "FLOPs" 1.8,
# 3.6, 3.8, 7.6, 11.3 x 10^9 (one decimal: 2%); SENet (Hu et al. 2018) Table 2 "GFLOPs" 3.87, 7.60,
# 4.25 (SENet also counts its gates' pooling and scaling: 1%); ResNeXt (Xie et al. 2017) Table 1,
# 4.2 x 10^9; torchvision's model tables (GFLOPS) where the papers give none (Wide ResNet-50-2,
# ResNeXt-101 32x8d, DenseNet-121); the plain-34 of the ResNet paper's section 3.3, "3.6 billion FLOPs".
PUBLISHED_MACS = {
    "resnet18": (1.8e9, 0.02),
    "resnet34": (3.6e9, 0.02),
    "resnet50": (3.8e9, 0.02),
    "plain34": (3.6e9, 0.02),
    "resnet101": (7.6e9, 0.02),
    "resnet152": (11.3e9, 0.02),
    "se_resnet50": (3.87e9, 0.01),
    "se_resnet101": (7.60e9, 0.01),
    "se_resnext50_32x4d": (4.25e9, 0.01),
    "resnext50_32x4d": (4.2e9, 0.01),
    "wide_resnet50_2": (11.40e9, 0.01),
    "resnext101_32x8d": (16.41e9, 0.01),
    "densenet121": (2.83e9, 0.01),
}


@pytest.mark.parametrize("name", list(PUBLISHED_MACS))
def test_multiply_adds_match_the_published(name):
    published, tolerance = PUBLISHED_MACS[name]
    p = profile(kerascnn.build(name))
    assert p.not_counted == []
    assert abs(p.macs / published - 1) < tolerance, p.macs


def test_googlenet_matches_table_1_ops_column():
    p = profile(kerascnn.build("googlenet"))
    ops = {}
    for r in p.rows:
        if r.macs:
            key = (
                "conv1"
                if r.name.startswith("stem_conv1")
                else "conv2"
                if r.name.startswith("stem_conv")
                else r.name.split("_")[0]
            )
            ops[key] = ops.get(key, 0) + r.macs
    # Table 1's "ops" column, in millions. Inception (5a) is left out: the paper's row (1072K
    # parameters, 54M ops) disagrees with its own widths (1,042,432 weights, 51.1M ops).
    table = {
        "conv1": 118,
        "conv2": 360,
        "inception3a": 128,
        "inception3b": 304,
        "inception4a": 73,
        "inception4b": 88,
        "inception4c": 100,
        "inception4d": 119,
        "inception4e": 170,
        "inception5b": 71,
        "head": 1,
    }
    for key, millions in table.items():
        assert abs(ops[key] / 1e6 - millions) <= 0.7, (key, ops[key])
    assert round(p.macs / 1e9, 1) == 1.6  # "1.5 billion multiply-adds": the table sums to 1.586G


def test_grouped_depthwise_separable_and_dense_counts():
    inputs = keras.Input((8, 8, 16))
    g = keras.layers.Conv2D(32, 3, padding="same", groups=4, name="grouped")(inputs)
    d = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", name="dw")(g)
    s = keras.layers.SeparableConv2D(8, 3, strides=2, padding="same", name="sep")(d)
    per_position = keras.layers.Dense(5, name="per_position")(s)
    flat = keras.layers.Flatten(name="flat")(per_position)
    out = keras.layers.Dense(3, name="fc")(flat)
    p = profile(keras.Model(inputs, out), batch_size=2)
    assert p["grouped"].macs == 2 * 64 * 9 * (16 // 4) * 32
    assert p["dw"].macs == 2 * 64 * 9 * 32 * 2
    assert p["sep"].macs == 2 * 16 * (64 * 9 + 64 * 8)
    assert p["per_position"].macs == 2 * 16 * 8 * 5
    assert p["fc"].macs == 2 * 80 * 3
    assert p["flat"].inplace and p["flat"].receptive_field is None


def test_toolkit_layers_are_all_counted():
    for name in ("lenet5", "alexnet", "inception_resnet_v2", "se_resnext50_32x4d", "densenet121"):
        model = kerascnn.build(name, input_shape=(32, 32, 1) if name == "lenet5" else None)
        p = profile(model)
        assert p.not_counted == [], name
        assert p.params == model.count_params(), name
        keras.backend.clear_session()
    lenet = profile(kerascnn.build("lenet5"))
    c3 = lenet.select("ConnectionTableConv2D")[0]
    assert c3.params == 1_516 and c3.macs == 25 * 60 * 10 * 10  # 60 connected maps, 10x10 output


def test_keras_applications_resnet50_counts_like_the_toolkit():
    """A plain Keras model: keras.applications' ResNet50 (v1: stride in the first 1x1)."""
    theirs = profile(keras.applications.ResNet50(weights=None))
    ours = profile(kerascnn.build("resnet50"))
    assert theirs.not_counted == []
    assert theirs.macs == ours.macs == 3_857_973_248


def test_nested_shared_sequential_unknown_and_mixed_precision():
    inner = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, name="c"), keras.layers.ReLU(name="r")],
        name="inner",
    )
    shared = keras.layers.Conv2D(4, 1, name="shared")

    class Doubler(keras.layers.Layer):
        def call(self, x):
            return x * 2

    x = keras.Input((8, 8, 3), name="img")
    y = shared(shared(inner(x)))
    y = Doubler(name="doubler")(y)
    y = keras.layers.Dense(5, name="fc")(keras.layers.GlobalAveragePooling2D(name="gap")(y))
    model = keras.Model(x, y)
    p = profile(model, batch_size=2)
    assert [r.name for r in p.rows] == [
        "img",
        "inner/c",
        "inner/r",
        "shared",
        "shared (call 2)",
        "doubler",
        "gap",
        "fc",
    ]
    assert p["inner/c"].macs == 2 * 36 * 27 * 4
    assert p["shared"].params == 20 and p["shared (call 2)"].params == 0
    assert p["shared"].macs == p["shared (call 2)"].macs == 2 * 36 * 4 * 4
    assert p.params == model.count_params()
    assert p.not_counted == ["doubler"] and p["doubler"].macs is None
    assert p["doubler"].receptive_field is None  # unknown layers are not guessed through

    # A rule registered for a user's layer is used, subclasses included.
    register_cost(Doubler)(lambda layer, inputs, outputs: Cost(0, "keep"))
    try:
        assert profile(model).not_counted == []
    finally:
        del RULES[Doubler]

    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        half = profile(kerascnn.build("resnet20"))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    conv = half.select("Conv2D")[0]
    assert conv.activation_bytes == 2 * conv.activations  # float16 outputs
    assert half.param_bytes == 4 * half.params  # float32 variables


def test_input_shape_override_and_errors():
    backbone = keras.applications.ResNet50(weights=None, include_top=False)
    with pytest.raises(ValueError, match=r"pass input_shape=\(224, 224, 3\)"):
        profile(backbone)
    small = profile(backbone, input_shape=(64, 64, 3))
    assert small.rows[-1].output_shape == (1, 2, 2, 2048)
    with pytest.raises(ValueError, match="batch_size"):
        profile(backbone, batch_size=0)
    with pytest.raises(ValueError, match="3 positive integers"):
        profile(backbone, input_shape=(64, 64))

    class Subclassed(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="Subclassed.*not one"):
        profile(Subclassed())
    p = profile(kerascnn.build("lenet5"))
    with pytest.raises(ValueError, match="unknown optimizer 'adamm'"):
        p.training_memory("adamm")
    with pytest.raises(KeyError, match="no layer named 'nope'"):
        p["nope"]


def test_profile_outputs(tmp_path):
    p = profile(kerascnn.build("lenet5"))
    data = json.loads(json.dumps(p.to_dict()))
    assert data["params"] == p.params == 60_850 and data["macs"] == p.macs
    assert {"params", "trainable_params", "macs", "activations", "layers"} <= set(data)
    assert data["layers"][1]["output_shapes"] == [[1, 28, 28, 6]]
    text = str(p)
    assert "not counted" not in text.split("\n\n")[0] and "60,850 parameters" in text


# --- the command line -------------------------------------------------------------------------------


def test_summary_formats(capsys):
    assert main(["summary", "resnet20", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["trainable_params"] == 269_722 and data["macs"] == 40_551_040
    assert data["layers"][0]["type"] == "InputLayer"
    assert main(["summary", "resnet20", "--csv", "--batch-size", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("layer,type,output_shape,trainable_params")
    assert lines[2].startswith('stem_conv1,Conv2D,"(4, 32, 32, 16)",432,0,1769472,')
    assert main(["summary", "resnet20", "--markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("| layer | type | output shape |") and "| stem_conv1 | Conv2D |" in out
    assert main(["summary", "resnet20"]) == 0
    out = capsys.readouterr().out
    assert "stage3_block3_out" in out and "81x81" in out and "269,722 trainable" in out


def test_summary_of_a_recipe_file(tmp_path, capsys):
    """The recipe's model at the recipe's input, without reading its data."""
    assert main(["summary", "recipes/lenet5_digits.toml", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["model"] == "lenet5" and data["params"] == 60_850
    assert data["layers"][0]["output_shapes"] == [[1, 32, 32, 1]]
    recipe = tmp_path / "folder.toml"
    recipe.write_text('[model]\nname = "resnet20"\n[data]\nsource = "folder"\npath = "x"\n')
    # An image folder's classes are its sub-folders: only the data can tell. Its images are
    # brought to 256x256 unless data.image_size says otherwise (the source's own default).
    assert main(["summary", str(recipe)]) == 2
    assert "the number of classes comes from the data; give --classes N" in capsys.readouterr().err
    assert main(["summary", str(recipe), "--classes", "7", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["layers"][0]["output_shapes"] == [[1, 256, 256, 3]]
    assert main(["summary", str(recipe), "--input-shape", "32,32,3", "--classes", "7", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["layers"][-2]["output_shapes"] == [[1, 7]]


def test_summary_of_a_saved_model(tmp_path, capsys):
    path = tmp_path / "lenet.keras"
    kerascnn.build("lenet5").save(path)
    assert main(["summary", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["params"] == 60_850


@pytest.mark.parametrize(
    "argv,message",
    [
        (["summary", "resnet5"], "unknown model 'resnet5'. Hint: Did you mean 'resnet56'"),
        (["compare", "vgg16", "alexnett"], "unknown model 'alexnett'. Hint: Did you mean 'alexnet'"),
        (["summary", "specs/missing.toml"], "no such file: 'specs/missing.toml'"),
    ],
)
def test_unknown_names_list_close_matches(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_compare_table_and_plot(tmp_path, capsys):
    plot = tmp_path / "chart.png"
    assert main(["compare", "lenet5", "resnet20", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert set(rows) == {"lenet5", "resnet20"} and "60,850" in rows["lenet5"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["compare", "lenet5", "--plot", str(plot)]) == 2  # never overwritten
    assert "exists" in capsys.readouterr().err
    assert main(["compare", "lenet5", "resnet20", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["model"] for d in data] == ["lenet5", "resnet20"] and data[1]["macs"] == 40_551_040
