"""Declarative specs: the VGG columns, the notation, validation errors, files, round trips."""

import copy
import textwrap

import keras
import numpy as np
import pytest
from conftest import params

import kerascnn
from kerascnn.config import ConfigError
from kerascnn.spec import build_from_spec, parse_layer, validate_spec

# --- VGG's Table 1, column by column -------------------------------------------------------------------

_A = [["conv3-64"], ["conv3-128"], ["conv3-256"] * 2, ["conv3-512"] * 2, ["conv3-512"] * 2]
VGG_COLUMNS = {
    "A": _A,
    "A-LRN": [["conv3-64", "LRN"], *_A[1:]],
    "B": [["conv3-64"] * 2, ["conv3-128"] * 2, ["conv3-256"] * 2, ["conv3-512"] * 2, ["conv3-512"] * 2],
    "C": [
        ["conv3-64"] * 2,
        ["conv3-128"] * 2,
        ["conv3-256", "conv3-256", "conv1-256"],
        ["conv3-512", "conv3-512", "conv1-512"],
        ["conv3-512", "conv3-512", "conv1-512"],
    ],
    "D": [["conv3-64"] * 2, ["conv3-128"] * 2, ["conv3-256"] * 3, ["conv3-512"] * 3, ["conv3-512"] * 3],
    "E": [["conv3-64"] * 2, ["conv3-128"] * 2, ["conv3-256"] * 4, ["conv3-512"] * 4, ["conv3-512"] * 4],
}
# Table 2 (millions), the weight layers of Table 1, and the exact counts (A, B, D, E as published by
# torchvision and keras.applications; C has no public implementation and is checked by formula only).
VGG_TABLE2 = {"A": 133, "A-LRN": 133, "B": 133, "C": 134, "D": 138, "E": 144}
VGG_DEPTH = {"A": 11, "A-LRN": 11, "B": 13, "C": 16, "D": 16, "E": 19}
VGG_EXACT = {
    "A": 132_863_336,
    "A-LRN": 132_863_336,
    "B": 133_047_848,
    "D": 138_357_544,
    "E": 143_667_240,
}


def vgg_spec(column, input_shape=(224, 224, 3), classes=1000):
    return {
        "name": f"vgg_{column.replace('-', '_').lower()}",
        "input_shape": list(input_shape),
        "defaults": {"norm": "none"},
        "stages": [{"blocks": [*layers, "maxpool"]} for layers in VGG_COLUMNS[column]],
        "head": {"pool": "flatten", "hidden": [4096, 4096], "dropout": 0.5, "classes": classes},
    }


def vgg_formula(column):
    total, cin = 0, 3
    for layers in VGG_COLUMNS[column]:
        for item in layers:
            if item.startswith("conv"):
                k, cout = int(item[4]), int(item.split("-")[1])
                total += k * k * cin * cout + cout
                cin = cout
    return total + (7 * 7 * 512 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)


@pytest.mark.parametrize("column", list(VGG_COLUMNS))
def test_vgg_configurations_match_table_2(column):
    model = build_from_spec(vgg_spec(column))
    total = sum(params(model))
    assert total == vgg_formula(column)
    assert round(total / 1e6) == VGG_TABLE2[column]
    if column in VGG_EXACT:
        assert total == VGG_EXACT[column]
    weight_layers = [
        layer for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))
    ]
    assert len(weight_layers) == VGG_DEPTH[column]
    assert model.get_layer("stage5_pool1").output.shape == (None, 7, 7, 512)


def test_shipped_vgg16_spec_file_is_config_d():
    model = build_from_spec("recipes/specs/vgg16.toml", input_shape=(32, 32, 3), classes=10)
    reference = build_from_spec(vgg_spec("D", (32, 32, 3), classes=10))
    assert params(model) == params(reference)
    assert [layer.name for layer in model.layers] == [layer.name for layer in reference.layers]


RESNET18 = {
    "name": "resnet18",
    "input_shape": [224, 224, 3],
    "stem": {"block": "resnet_stem"},
    "stages": [
        {"block": "basic", "repeats": 2, "filters": 64},
        {"block": "basic", "repeats": 2, "filters": 128, "strides": 2},
        {"block": "basic", "repeats": 2, "filters": 256, "strides": 2},
        {"block": "basic", "repeats": 2, "filters": 512, "strides": 2},
    ],
    "head": {"classes": 1000},
}


def test_resnet18_spec_matches_the_published_count():
    # torchvision's resnet18 has 11,689,512 parameters; Keras also counts the 9,600 BN statistics.
    model = build_from_spec(RESNET18)
    assert params(model) == (11_689_512, 9_600)
    assert model.get_layer("stage4_block2_out").output.shape == (None, 7, 7, 512)  # Table 1 conv5_x


# --- the notation --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,kind,args",
    [
        ("conv3-64", "conv", {"filters": 64, "kernel_size": 3}),
        ("conv1x7-128", "conv", {"filters": 128, "kernel_size": (1, 7)}),
        ("conv11-96 s4 p0", "conv", {"filters": 96, "kernel_size": 11, "strides": 4, "padding": 0}),
        (
            "conv5-256 g2 nobn bias act=tanh",
            "conv",
            {
                "filters": 256,
                "kernel_size": 5,
                "groups": 2,
                "norm": None,
                "use_bias": True,
                "activation": "tanh",
            },
        ),
        (
            "conv3-16 preact linear valid d2",
            "conv",
            {
                "filters": 16,
                "kernel_size": 3,
                "preact": True,
                "activation": None,
                "padding": "valid",
                "dilation_rate": 2,
            },
        ),
        ("FC-4096", "fc", {"units": 4096}),
        ("maxpool", "pool", {"kind": "max", "pool_size": 2}),
        ("maxpool3 s2", "pool", {"kind": "max", "pool_size": 3, "strides": 2}),
        ("avgpool5 s3 same", "pool", {"kind": "avg", "pool_size": 5, "strides": 3, "padding": "same"}),
        ("LRN", "lrn", {}),
        ("lrn n=3 alpha=1e-3 beta=0.5 k=1", "lrn", {"size": 3, "alpha": 1e-3, "beta": 0.5, "k": 1.0}),
        ("dropout-0.5", "dropout", {"rate": 0.5}),
        ("gap", "gap", {}),
        ("gmp", "gmp", {}),
        ("flatten", "flatten", {}),
        ("bn", "bn", {}),
        ("relu", "act", {"activation": "relu"}),
        ("soft-max", "act", {"activation": "softmax"}),
    ],
)
def test_notation(text, kind, args):
    layer = parse_layer(text)
    assert (layer.kind, layer.args) == (kind, args)


@pytest.mark.parametrize(
    "text,message",
    [
        ("conv3x64", r"unknown layer 'conv3x64'\. Known forms: conv3-64"),
        ("maxpool3 g2", r"modifier 'g2' does not apply to a pool layer"),
        ("conv3-64 s0", r"strides must be at least 1"),
        ("conv3-64 stride2", r"unknown modifier 'stride2'.*Modifiers: s<stride>"),
        ("dropout-1.5", r"dropout rate must be in \[0, 1\)"),
        ("conv3-0", r"filters must be at least 1"),
        ("FC-10 act=rleu", r"unknown activation 'rleu'"),
        ("maxpol", r"unknown layer 'maxpol'.*Did you mean 'maxpool'"),
    ],
)
def test_notation_errors(text, message):
    with pytest.raises(ValueError, match=message):
        parse_layer(text)


# --- specs in files, and their errors ------------------------------------------------------------

RESNET_TOML = """\
name = "tiny_resnet"
input_shape = [32, 32, 3]
stem = ["conv3-16", "maxpool"]

[defaults]
activation = "relu"

[[stages]]
block = "basic"
repeats = 2
filters = 16

[[stages]]
block = "basic"
repeats = 2
strides = 2
filters = 32

[head]
classes = 10
"""

RESNET_YAML = """\
name: tiny_resnet
input_shape: [32, 32, 3]
defaults:
  activation: relu
stem: [conv3-16, maxpool]
stages:
  - {block: basic, repeats: 2, filters: 16}
  - block: basic
    repeats: 2
    strides: 2
    filters: 32
head:
  classes: 10
"""


def write(tmp_path, text, suffix=".toml"):
    path = tmp_path / f"spec{suffix}"
    path.write_text(textwrap.dedent(text))
    return path


def test_toml_and_yaml_build_the_same_network(tmp_path):
    from_toml = build_from_spec(write(tmp_path, RESNET_TOML))
    from_yaml = build_from_spec(write(tmp_path, RESNET_YAML, ".yaml"))
    assert [layer.name for layer in from_toml.layers] == [layer.name for layer in from_yaml.layers]
    assert params(from_toml) == params(from_yaml)
    assert from_toml.output.shape == (None, 10)


def test_repeated_blocks_stride_only_first():
    model = build_from_spec(
        {
            "input_shape": [32, 32, 3],
            "stages": [{"block": "basic", "repeats": 3, "strides": 2, "filters": 8}],
        }
    )
    assert model.get_layer("stage1_block1_conv1").strides == (2, 2)
    assert model.get_layer("stage1_block2_conv1").strides == (1, 1)
    assert model.get_layer("stage1_block3_conv1").strides == (1, 1)
    assert "stage1_block4_conv1" not in [layer.name for layer in model.layers]
    assert model.output.shape == (None, 16, 16, 8)  # no head: a backbone


def test_overrides_and_defaults_propagate():
    spec = {
        "input_shape": [64, 64, 3],
        "defaults": {"norm": "none", "activation": "tanh"},
        "stages": [{"blocks": ["conv3-8", {"block": "inception", "filters": [2, 2, 2, 2, 2, 2]}]}],
        "head": {"classes": 7},
    }
    model = build_from_spec(spec, input_shape=(16, 16, 1), classes=3, name="custom")
    assert model.name == "custom" and model.input.shape == (None, 16, 16, 1)
    assert model.output.shape == (None, 3)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)
    activations = {
        layer.get_config()["activation"]
        for layer in model.layers
        if isinstance(layer, keras.layers.Activation) and layer.name != "head_pred"
    }
    assert activations == {"tanh"}


def test_side_outputs_take_the_heads_classes():
    spec = {
        "input_shape": [32, 32, 3],
        "stages": [
            {"blocks": ["conv3-8", {"block": "aux_classifier", "name": "stage1_aux"}, "conv3-8"]}
        ],
        "head": {"classes": 4},
    }
    model = build_from_spec(spec)
    assert [tuple(o.shape) for o in model.outputs] == [(None, 4), (None, 4)]
    assert model.get_layer("stage1_conv2").input.name == model.get_layer("stage1_conv1_act").output.name


def located(excinfo, line=None, file=None):
    err = excinfo.value
    assert isinstance(err, ConfigError) and isinstance(err, ValueError)
    if line is not None:
        assert err.line == line, str(err)
    if file is not None:
        assert err.file == str(file)
    return str(err)


def test_unknown_key_with_hint_file_and_line(tmp_path):
    path = write(tmp_path, RESNET_TOML.replace("filters = 32", "filterz = 32"))
    with pytest.raises(ConfigError) as excinfo:
        build_from_spec(path)
    message = located(excinfo, line=17, file=path)
    assert "stages[1].filterz: unknown key 'filterz' for block 'basic'" in message
    assert "Did you mean 'filters'?" in message


def test_unknown_top_level_key(tmp_path):
    path = write(tmp_path, RESNET_TOML.replace("[head]", "[haed]"))
    with pytest.raises(ConfigError) as excinfo:
        build_from_spec(path)
    assert "Did you mean 'head'?" in located(excinfo, line=19)


@pytest.mark.parametrize(
    "old,new,line,message",
    [
        (
            "filters = 16",
            'filters = "16"',
            11,
            r"stages\[0\]\.filters: expected an integer\. Received: '16'",
        ),
        (
            "repeats = 2\nfilters = 16",
            'repeats = 2\nfilters = 16\nshortcut = "D"',
            12,
            r"expected one of 'A', 'B', 'C', 'none'\. Received: 'D'",
        ),
        (
            'block = "basic"\nrepeats = 2\nfilters = 16',
            'block = "bottleneck"\nrepeats = 2',
            8,
            r"block 'bottleneck' needs 'filters'",
        ),
        (
            'block = "basic"\nrepeats = 2\nfilters = 16',
            'block = "basik"\nrepeats = 2\nfilters = 16',
            9,
            r"unknown block 'basik'\. Hint: Did you mean 'basic'",
        ),
        (
            'activation = "relu"',
            'activaton = "relu"',
            6,
            r"defaults\.activaton.*Did you mean 'activation'",
        ),
        (
            "input_shape = [32, 32, 3]",
            "input_shape = [32, 32]",
            2,
            r"expected a list of \(an integer or none, an integer or none, an integer\)",
        ),
        ("repeats = 2\nfilters = 16", "repeats = 0\nfilters = 16", 10, r"must be at least 1"),
        (
            "classes = 10",
            'classes = 10\npool = "average"',
            21,
            r"expected one of 'avg', 'max', 'flatten'",
        ),
    ],
)
def test_validation_errors_name_key_and_line(tmp_path, old, new, line, message):
    assert old in RESNET_TOML
    path = write(tmp_path, RESNET_TOML.replace(old, new, 1))
    with pytest.raises(ConfigError, match=message) as excinfo:
        validate_spec(path)
    located(excinfo, line=line, file=path)


def test_bad_notation_item_is_located_in_a_multiline_array(tmp_path):
    path = write(
        tmp_path,
        """\
        input_shape = [32, 32, 3]
        [[stages]]
        blocks = [
          "conv3-64",
          "conv3-64",
          "maxpol",
        ]
        """,
    )
    with pytest.raises(ConfigError, match=r"stages\[0\]\.blocks\[2\]: unknown layer 'maxpol'") as e:
        validate_spec(path)
    located(e, line=6)


def test_duplicate_keys_are_rejected(tmp_path):
    path = write(tmp_path, RESNET_TOML.replace("filters = 16", "filters = 16\nfilters = 8"))
    with pytest.raises(ConfigError, match="defined twice") as excinfo:
        validate_spec(path)
    located(excinfo, line=12)
    path = write(
        tmp_path, RESNET_YAML.replace("    filters: 32", "    filters: 32\n    filters: 8"), ".yaml"
    )
    with pytest.raises(ConfigError, match=r"duplicate key 'filters' \(first defined on line 11\)") as e:
        validate_spec(path)
    located(e, line=12)


def test_yaml_python_tags_are_refused(tmp_path):
    path = write(
        tmp_path,
        "name: !!python/object/apply:os.system ['echo pwned']\ninput_shape: [32, 32, 3]\nstages: []\n",
        ".yaml",
    )
    with pytest.raises(ConfigError, match="YAML tags that build Python objects are not allowed"):
        validate_spec(path)


def test_unsupported_suffix_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"unsupported file type '\.json'"):
        validate_spec(tmp_path / "spec.json")
    with pytest.raises(ConfigError, match="file not found"):
        validate_spec(tmp_path / "missing.toml")


def test_too_small_input_names_the_stage(tmp_path):
    path = write(tmp_path, RESNET_TOML)
    with pytest.raises(ConfigError) as excinfo:
        build_from_spec(path, input_shape=(1, 1, 3))
    message = located(excinfo, line=3)
    assert "stem[1]: the input 1x1 is too small" in message
    assert "stage 'stem' at 'stem_pool1', which receives a 1x1x16 map" in message

    vgg = vgg_spec("A", (16, 16, 3))
    with pytest.raises(
        ConfigError,
        match=r"stages\[4\]\.blocks\[2\].*vanishes in stage 'stage5' "
        r"at 'stage5_pool1', which receives a 1x1x512 map",
    ):
        build_from_spec(vgg)


def test_channel_mismatches_are_named():
    spec = {"input_shape": [8, 8, 3], "stages": [{"blocks": ["conv3-6", "conv3-8 g4"]}]}
    with pytest.raises(
        ConfigError,
        match=r"stages\[0\]\.blocks\[1\]: cannot build 'stage1_conv2' in "
        r"stage 'stage1'.*groups=4 must divide.*Received: 6 "
        r"input channels, filters=8",
    ):
        build_from_spec(spec)
    spec = {
        "input_shape": [8, 8, 3],
        "stages": [{"blocks": ["conv3-32", {"block": "basic", "filters": 16, "shortcut": "A"}]}],
    }
    with pytest.raises(
        ConfigError,
        match=r"stage1_block1_shortcut': shortcut 'A' can only add "
        r"channels.*Received: 32 input channels, 16 output",
    ):
        build_from_spec(spec)


@pytest.mark.parametrize(
    "spec,message",
    [
        (
            {
                "input_shape": [8, 8, 3],
                "stages": [{"name": "a", "blocks": ["bn"]}, {"name": "a", "blocks": ["bn"]}],
            },
            r"stages\[1\]\.name: stage name 'a' is already used",
        ),
        (
            {
                "input_shape": [8, 8, 3],
                "stages": [{"blocks": [{"block": "conv", "filters": 4, "name": "mine"}]}],
            },
            r"block name 'mine' must be its stage's name 'stage1' or start with 'stage1_'",
        ),
        (
            {
                "input_shape": [8, 8, 3],
                "stages": [
                    {
                        "blocks": [
                            {"block": "conv", "filters": 4, "name": "stage1_x"},
                            {"block": "conv", "filters": 4, "name": "stage1_x"},
                        ]
                    }
                ],
            },
            r"the name 'stage1_x' is used twice",
        ),
        (
            {"input_shape": [8, 8, 3], "stages": [{"block": "conv", "blocks": []}]},
            r"either `block` \(with `repeats`\) or a `blocks` list",
        ),
        (
            {"input_shape": [8, 8, 3], "stages": [{"blocks": ["bn"], "repeats": 2}]},
            r"unknown key 'repeats' for a stage with a `blocks` list",
        ),
        (
            {"input_shape": [8, 8, 3], "stages": [{"blocks": [{"filters": 4}]}]},
            r"a block table needs `block`",
        ),
        (
            {"input_shape": [8, 8, 3], "stages": [{"blocks": [42]}]},
            r"expected a layer string such as 'conv3-64' or a block table\. Received: 42",
        ),
        ({"stages": []}, r"input_shape: missing"),
        ({"input_shape": [8, 8, 3]}, r"a spec needs `stages`"),
        ({"input_shape": [0, 8, 3], "stages": []}, r"dimensions must be positive"),
        ({"input_shape": [8, 8, 3], "name": "my model", "stages": []}, r"must be an identifier"),
        (
            {"input_shape": [8, 8, 3], "stages": [{"block": "basic", "filters": 4, "flag": True}]},
            r"unknown key 'flag' for block 'basic'",
        ),
        (
            {"input_shape": [8, 8, 3], "stages": [{"block": "se", "strides": 2}]},
            r"unknown key 'strides' for block 'se'",
        ),
    ],
)
def test_structural_errors(spec, message):
    with pytest.raises(ConfigError, match=message):
        validate_spec(spec)


def test_everything_is_validated_before_any_layer_is_built(monkeypatch):
    import kerascnn.spec.build as build_module

    def fail(*args, **kwargs):
        raise AssertionError("build_plan ran for an invalid spec")

    monkeypatch.setattr(build_module, "build_plan", fail)
    spec = {
        "input_shape": [32, 32, 3],
        "stages": [
            {"block": "basic", "filters": 8, "repeats": 3},
            {"blocks": ["conv3-8", "conv3-8", "maxpool", "conv3-x"]},
        ],
    }
    with pytest.raises(ConfigError, match=r"stages\[1\]\.blocks\[3\]"):
        build_from_spec(spec)


# --- round trip ----------------------------------------------------------------------------------

EVERY_BLOCK_SPEC = {
    "name": "every_block",
    "input_shape": [64, 64, 3],
    "stem": [{"block": "googlenet_stem"}],
    "stages": [
        {
            "blocks": [
                {"block": "inception", "filters": [16, 16, 32, 8, 16, 16]},
                {"block": "inception_naive", "filters": [8, 8, 8]},
                "LRN",
                {"block": "aux_classifier", "name": "stage1_aux"},
                {"block": "se", "ratio": 8},
                {"block": "conv", "filters": 6, "kernel_size": 1},
                {"block": "table_conv", "kernel_size": 1},
                {"block": "subsampling"},
            ]
        },
        {
            "block": "basic",
            "repeats": 2,
            "strides": 2,
            "filters": 128,
            "attention": "se",
            "attention_args": {"ratio": 4},
            "shortcut": "A",
        },
        {"block": "bottleneck", "filters": 8, "groups": 2, "base_width": 32, "preact": True},
        {
            "blocks": [
                {"block": "dense", "layers": 2, "growth_rate": 8},
                {"block": "transition"},
                {"block": "branches", "branches": [["conv1-8"], ["maxpool3 s1 same"]]},
                {"block": "inception_resnet", "branches": [["conv1-4"], ["conv1x3-4"]], "scale": 0.3},
            ]
        },
        {
            "blocks": [
                {"block": "mlpconv", "filters": [16, 8]},
                {"block": "conv", "filters": 8},
                {"block": "resnet_stem", "filters": 8, "pool": False},
                "conv3-8 g2 preact",
            ]
        },
    ],
    "post": ["bn", "relu"],
    "head": {"classes": 5},
}


def test_every_block_round_trips_through_keras_file_in_safe_mode(tmp_path):
    from kerascnn.blocks import BLOCKS

    used = {
        item["block"]
        for stage in EVERY_BLOCK_SPEC["stages"]
        for item in ([stage] if "block" in stage else stage["blocks"])
        if isinstance(item, dict)
    }
    used |= {item["block"] for item in EVERY_BLOCK_SPEC["stem"]}
    assert used == set(BLOCKS)

    model = build_from_spec(copy.deepcopy(EVERY_BLOCK_SPEC))
    assert any(isinstance(layer, kerascnn.LocalResponseNormalization) for layer in model.layers)
    assert any(isinstance(layer, kerascnn.ChannelPadding) for layer in model.layers)
    assert any(isinstance(layer, kerascnn.layers.ScaledAdd) for layer in model.layers)
    x = np.random.default_rng(0).standard_normal((3, 64, 64, 3)).astype("float32")
    expected = model.predict(x, verbose=0)
    path = tmp_path / "every_block.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    actual = loaded.predict(x, verbose=0)
    assert len(actual) == len(expected) == 2
    for a, b in zip(actual, expected):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]


def test_branch_notation_is_checked_before_building(tmp_path):
    path = write(
        tmp_path,
        """\
        input_shape = [32, 32, 3]
        stem = ["conv3-8"]
        [[stages]]
        blocks = [
          {block = "branches", branches = [["conv1-8"], ["conv1-4", "cnv3-8"]]},
        ]
        """,
    )
    with pytest.raises(ConfigError, match=r"branch 2: unknown layer 'cnv3-8'") as excinfo:
        validate_spec(path)
    located(excinfo, line=5, file=path)


def test_variables_are_made_without_tensorflow_scopes_and_keep_their_keras_paths():
    """`plain_variable_scopes` (a third off TensorFlow build times): only while a model is built or
    loaded, reentrant, restored after an error; Keras paths (what saving and freezing use) unchanged."""
    import keras.src.backend as backend

    from kerascnn.backend.internals import plain_variable_scopes

    before = backend.name_scope
    with pytest.raises(RuntimeError):
        with plain_variable_scopes():
            inside = backend.name_scope
            with plain_variable_scopes():
                assert backend.name_scope is inside
            assert backend.name_scope is inside
            raise RuntimeError
    assert backend.name_scope is before
    model = kerascnn.build("resnet20")
    kernel = model.get_layer("stage1_block1_conv1").kernel
    assert kernel.path == "stage1_block1_conv1/kernel"
    if keras.backend.backend() == "tensorflow":
        assert inside is not before
        assert kernel.value.name == "kernel:0"  # TensorFlow's own name: no layer scope


def test_the_build_speed_patch_falls_back_with_a_warning_when_keras_changes(monkeypatch):
    """If a future Keras lays out the internals `plain_variable_scopes` touches otherwise, models
    still build, as Keras builds them, with one warning saying so."""
    import warnings

    import keras.src.backend as backend

    from kerascnn.backend import internals as building

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the patch applies to the TensorFlow backend only")
    original = backend.name_scope

    class Changed:  # what a future Keras might have: a name scope that is not its old class
        def __init__(self, *args, **kwargs):
            self.scope = original(*args, **kwargs)

        def __enter__(self):
            return self.scope.__enter__()

        def __exit__(self, *error):
            return self.scope.__exit__(*error)

    monkeypatch.setattr(backend, "name_scope", Changed)
    monkeypatch.setattr(building, "_WARNED", [])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = kerascnn.build("lenet5")
        second = kerascnn.build("resnet20")
    assert backend.name_scope is Changed  # left as this Keras has it
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 1 and "without its TensorFlow speed-up" in messages[0], messages
    assert (
        first.count_params() == 60_850
        and second.get_layer("stage1_block1_conv1").kernel.path == "stage1_block1_conv1/kernel"
    )
