"""timm's weights, ported exactly: for each architecture, weights drawn by a fixed rule under timm's own
key names, written as a `model.safetensors` file, give kerascnn's model the logits timm itself computed
for them (tests/data/timm: timm 1.0.31's state-dict manifests and logits; its README gives the rule).
No torch, no download."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest

import kerascnn
from kerascnn.config import ConfigError
from kerascnn.zoo.weights.cards import PRETRAINED
from kerascnn.zoo.weights.timm import ARCHITECTURES

DATA = Path(__file__).resolve().parent / "data" / "timm"
ALL = sorted(ARCHITECTURES)


def reference(arch: str) -> dict:
    return json.loads((DATA / f"{arch}.json").read_text())


def rule_weights(manifest) -> dict[str, np.ndarray]:
    """The README's rule: each tensor from a generator seeded by the CRC32 of its key."""
    out = {}
    for key, shape in manifest:
        rng = np.random.default_rng(zlib.crc32(key.encode()))
        if key.endswith("running_var"):
            out[key] = np.float32(0.5) + rng.random(shape, dtype=np.float32)
            continue
        z = rng.standard_normal(shape, dtype=np.float32)
        if len(shape) >= 2:
            out[key] = z * np.float32(np.sqrt(1 / np.prod(shape[1:])))
        elif key.endswith("running_mean") or key.endswith("bias"):
            out[key] = z * np.float32(0.1)
        else:
            out[key] = np.float32(1.0) + z * np.float32(0.1)
    return out


def write_weights(path: Path, arch: str, change=None) -> Path:
    from safetensors.numpy import save_file

    state = rule_weights(reference(arch)["manifest"])
    if change is not None:
        change(state)
    save_file(state, str(path))
    return path


def test_every_architecture_has_reference_data_and_imagenet_weights_are_ported_ones():
    assert {p.name.split(".")[0] for p in DATA.glob("*.json")} == set(ALL)
    assert len(ALL) == 20
    for name, pretrained in PRETRAINED.items():
        assert ARCHITECTURES[pretrained.architecture].model == name, name
        assert pretrained.hub_id.startswith("timm/") and 60 < pretrained.top1 < 90


# One architecture of each key layout in the default tier; the other fourteen in the slow tier.
EACH_LAYOUT = {
    "resnet18",
    "legacy_seresnet50",
    "densenet121",
    "vgg11",
    "inception_v4",
    "inception_resnet_v2",
}


@pytest.mark.parametrize(
    "arch", [a if a in EACH_LAYOUT else pytest.param(a, marks=pytest.mark.slow) for a in ALL]
)
def test_ported_weights_give_timms_logits(arch, tmp_path):
    """kerascnn.build(name, weights=<a timm model.safetensors>, classifier_activation=None) computes
    timm's logits: max |difference| <= 1e-4 x max |timm logit| (it is about 1e-6)."""
    ref = reference(arch)
    path = write_weights(tmp_path / "model.safetensors", arch)
    model = kerascnn.build(
        ARCHITECTURES[arch].model,
        weights=path,
        classifier_activation=None,
        input_shape=tuple(ref["input"][1:]),
    )
    x = np.random.default_rng(ref["input_seed"]).random(tuple(ref["input"]), dtype=np.float32)
    logits = np.asarray(model(x, training=False))
    expected = np.load(DATA / f"{arch}.logits.seed0.npy")
    assert logits.shape == expected.shape == (2, 1000)
    difference = np.abs(logits - expected).max()
    assert difference <= 1e-4 * np.abs(expected).max(), (difference, np.abs(expected).max())


def test_the_legacy_senet_layout_is_read_from_the_keys(tmp_path):
    """se_resnet50 takes timm's SE-ResNet naming (stride on the 3x3) and the SENet authors' (on the
    1x1, ceil-mode stem pooling): which one a file holds decides how the network is built."""
    from kerascnn.zoo.weights.timm import detect_layout, read_state_dict

    current = write_weights(tmp_path / "current.safetensors", "seresnet50")
    legacy = write_weights(tmp_path / "legacy.safetensors", "legacy_seresnet50")
    assert detect_layout(read_state_dict(current)) == "resnet"
    assert detect_layout(read_state_dict(legacy)) == "legacy_senet"
    a = kerascnn.build("se_resnet50", weights=current, input_shape=(64, 64, 3))
    b = kerascnn.build("se_resnet50", weights=legacy, input_shape=(64, 64, 3))
    assert a.get_layer("stage2_block1_conv2").strides == (2, 2)
    assert b.get_layer("stage2_block1_conv1").strides == (2, 2)
    assert b.get_layer("stem_pool").padding == "same"


def test_weights_with_other_classes_a_backbone_and_other_channels(tmp_path):
    """`classes` other than 1000 gives a fresh classifier on ported features; `include_top=False`
    and `features=True` keep the backbone's weights; one input channel sums the RGB filters (what
    timm's `in_chans=1` does), so a grey image gives the RGB model's features."""
    path = write_weights(tmp_path / "model.safetensors", "resnet18")
    full = kerascnn.build("resnet18", weights=path, input_shape=(64, 64, 3))
    ten = kerascnn.build("resnet18", weights=path, input_shape=(64, 64, 3), classes=10)
    assert ten.output_shape == (None, 10)
    for layer in ("stem_conv", "stage4_block2_conv2_bn"):
        for a, b in zip(full.get_layer(layer).weights, ten.get_layer(layer).weights):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    backbone = kerascnn.build(
        "resnet18", weights=path, input_shape=(64, 64, 3), include_top=False, pooling="avg"
    )
    features = kerascnn.build("resnet18", weights=path, input_shape=(64, 64, 3), features=True)
    grey = kerascnn.build(
        "resnet18", weights=path, input_shape=(64, 64, 1), include_top=False, pooling="avg"
    )
    x = np.random.default_rng(0).random((2, 64, 64, 1), dtype=np.float32)
    rgb = np.repeat(x, 3, axis=-1)
    pooled = np.asarray(backbone(rgb, training=False))
    np.testing.assert_allclose(np.asarray(grey(x, training=False)), pooled, rtol=1e-4, atol=1e-5)
    last = np.asarray(features(rgb, training=False)["stage4"]).mean(axis=(1, 2))
    np.testing.assert_allclose(last, pooled, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "change,build_as,message",
    [
        (
            None,
            "resnet50",
            r"tensor 'layer1.0.conv1.weight' has shape \[64, 64, 1, 1\] .* but "
            r"resnet50's layer 'stage1_block1_conv1' needs \[1, 1, 64, 64\]|"
            r"resnet50's layer 'stage1_block1_conv1' needs",
        ),
        (
            lambda s: s.pop("layer4.1.bn2.running_var"),
            "resnet18",
            r"has no tensor 'layer4.1.bn2.running_var', which resnet18's layer 'stage4_block2_conv2_bn' "
            r"needs",
        ),
        (
            lambda s: s.update({"layer1.0.conv2.weight": np.zeros((64, 64, 5, 5), "float32")}),
            "resnet18",
            r"tensor 'layer1.0.conv2.weight' has shape \[5, 5, 64, 64\] \(converted from "
            r"PyTorch's layout\) but resnet18's layer 'stage1_block1_conv2' needs "
            r"\[3, 3, 64, 64\]",
        ),
        (
            lambda s: s.update({"layer5.0.conv1.weight": np.zeros((8, 8, 1, 1), "float32")}),
            "resnet18",
            r"holds 1 tensor resnet18 \(timm resnet18\) does not have: "
            r"layer5.0.conv1.weight \[8, 8, 1, 1\]",
        ),
        (
            None,
            "densenet121",
            r"holds timm weights in the resnet layout, which 'densenet121' cannot "
            r"take \(it takes densenet\)",
        ),
    ],
)
def test_a_file_for_another_network_or_an_incomplete_one_is_named(tmp_path, change, build_as, message):
    path = write_weights(tmp_path / "model.safetensors", "resnet18", change)
    with pytest.raises(ConfigError, match=message):
        kerascnn.build(build_as, weights=path, input_shape=(64, 64, 3))


def test_a_truncated_file_and_bad_weights_values_are_plain_errors(tmp_path, monkeypatch):
    path = write_weights(tmp_path / "model.safetensors", "resnet18")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ConfigError, match=r"is not a complete safetensors file"):
        kerascnn.build("resnet18", weights=path)
    with pytest.raises(ConfigError, match=r"no weights file at 'nowhere.safetensors'"):
        kerascnn.build("resnet18", weights="nowhere.safetensors")
    with pytest.raises(ConfigError, match=r"no ImageNet weights for 'lenet5'"):
        kerascnn.build("lenet5", weights="imagenet")
    with pytest.raises(
        ConfigError,
        match=r"timm/resnet101.a1h_in1k are timm's resnet101, which is "
        r"kerascnn's 'resnet101', not 'resnet50'",
    ):
        kerascnn.build("resnet50", weights="timm/resnet101.a1h_in1k")
    with pytest.raises(
        ConfigError,
        match=r"trained as resnet50 with stride_on='3x3'; it cannot be "
        r"built with stride_on='1x1'",
    ):
        kerascnn.build(
            "resnet50", weights=write_weights(tmp_path / "r50.safetensors", "resnet50"), stride_on="1x1"
        )


def test_offline_the_hub_is_one_clear_error_at_once(monkeypatch):
    """No cached file and no way to the Hub: an error naming the Hub id and how to pass a local
    file, at once (huggingface_hub alone retries)."""
    import socket
    import time

    from kerascnn.zoo.weights import cards as pretrained

    monkeypatch.setenv("HF_HUB_CACHE", "/nonexistent-kerascnn-cache")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def unreachable(address, timeout=None):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", unreachable)
    started = time.perf_counter()
    with pytest.raises(
        ConfigError,
        match=r"cannot download the weights timm/resnet50.a1_in1k: "
        r"this machine cannot reach huggingface.co.*pass the "
        r"file's path as weights=",
    ):
        kerascnn.build("resnet50", weights="imagenet")
    assert time.perf_counter() - started < 5
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(
        ConfigError,
        match=r"timm/vgg16.tv_in1k are not in huggingface_hub's cache "
        r"and HF_HUB_OFFLINE is set",
    ):
        pretrained.resolve_weights("vgg16", "hf://timm/vgg16.tv_in1k")


TIMM_CONFIG = {  # what timm publishes beside model.safetensors (its pretrained_cfg), here with the
    # Inception mean and std so that the test can tell them from the ImageNet ones
    "architecture": "resnet18",
    "num_classes": 1000,
    "pretrained_cfg": {
        "tag": "test_in1k",
        "input_size": [3, 224, 224],
        "interpolation": "bicubic",
        "crop_pct": 0.9,
        "mean": [0.5, 0.5, 0.5],
        "std": [0.5, 0.5, 0.5],
        "num_classes": 1000,
    },
}


def timm_download(folder: Path) -> Path:
    """A folder as `huggingface-cli download timm/<id>` leaves it: model.safetensors, config.json."""
    folder.mkdir(parents=True, exist_ok=True)
    write_weights(folder / "model.safetensors", "resnet18")
    (folder / "config.json").write_text(json.dumps(TIMM_CONFIG))
    return folder / "model.safetensors"


@pytest.mark.slow
def test_a_fine_tuning_recipe_from_a_timm_file_and_evaluate_feeds_it_as_the_weights_expect(tmp_path):
    """`[finetune] model = "resnet18"`, `weights = <a timm model.safetensors>`: two phases on small
    images; the run normalizes with the weights' mean and std (timm's config.json beside the
    file), and `kerascnn evaluate` on the run applies them."""
    from kerascnn.inference import evaluate, load_trained
    from kerascnn.recipe import load_recipe
    from kerascnn.verbs import train

    weights = timm_download(tmp_path / "timm")
    doc = {
        "data": {
            "source": "synthetic",
            "classes": 3,
            "samples": 120,
            "image_size": [32, 32],
            "batch_size": 16,
        },
        "train": {"optimizer": "adam", "learning_rate": 0.001},
        "finetune": {
            "model": "resnet18",
            "weights": str(weights),
            "phases": [{"name": "head", "epochs": 1}, {"name": "top", "epochs": 1, "unfreeze": 1}],
        },
        "output": {"dir": str(tmp_path / "fine"), "tensorboard": False},
    }
    result = train(load_recipe(doc, name="fine"), verbose=0, log=lambda *a: None)
    assert [p["phase"] for p in result.metrics["phases"]] == ["1-head", "2-top"]
    card = (tmp_path / "fine" / "README.md").read_text()  # the model card names the weights' terms
    assert f"Started from: timm's {weights}" in card and "Terms of the starting weights: " in card
    facts = json.loads((tmp_path / "fine" / "data.json").read_text())
    assert facts["mean"] == [127.5] * 3 and facts["std"] == [127.5] * 3
    # and fed as the weights expect where [data] does not say: the shorter side to 32 / 0.9, the
    # centre 32x32 (random crops in training), bicubic
    assert (facts["load_size"], facts["resize"], facts["interpolation"]) == (
        [35, 35],
        "shorter",
        "bicubic",
    )
    trained = load_trained(tmp_path / "fine")
    assert trained.preprocessing.mean == (127.5,) * 3
    assert evaluate(trained).examples == facts["sizes"]["test"]
    # The stem kept the ported weights through phase 1 (frozen), and the model is resnet18's.
    start = kerascnn.build(
        "resnet18", weights=weights, input_shape=(32, 32, 3), include_top=False, pooling="avg"
    )
    phase1 = kerascnn.load_model(tmp_path / "fine" / "1-head" / "model.keras")
    np.testing.assert_array_equal(
        np.asarray(phase1.get_layer("stem_conv").kernel), np.asarray(start.get_layer("stem_conv").kernel)
    )
    with pytest.raises(ConfigError, match=r"timm's weights say how their images are normalized"):
        load_recipe({**doc, "data": {**doc["data"], "normalize": "imagenet"}}, name="fine")
    with pytest.raises(ConfigError, match=r"finetune.model: .*need the network: give `model`"):
        load_recipe({**doc, "finetune": {**doc["finetune"], "model": None}}, name="fine")


def test_port_saves_a_model_that_evaluate_and_predict_feed_without_being_told(tmp_path, capsys):
    """`kerascnn port resnet18 --weights model.safetensors -o m.keras` records the weights' size,
    crop, interpolation, mean and std in the archive; `predict` then needs no --normalize. `kerascnn
    list --pretrained` shows every network with weights, its tag and timm's reported top-1."""
    from kerascnn.cli import main
    from kerascnn.inference import load_trained

    weights = timm_download(tmp_path / "timm")
    output = tmp_path / "resnet18.keras"
    assert main(["port", "resnet18", "--weights", str(weights), "-o", str(output)]) == 0
    trained = load_trained(output)
    assert trained.preprocessing.mean == (127.5,) * 3 and trained.preprocessing.resize == "shorter"
    assert trained.preprocessing.load_size == (248, 248)  # floor(224 / 0.9)
    assert trained.preprocessing.interpolation == "bicubic"
    from PIL import Image

    Image.fromarray(np.full((300, 400, 3), 128, np.uint8)).save(tmp_path / "grey.png")
    capsys.readouterr()
    assert main(["predict", str(output), str(tmp_path / "grey.png"), "--top", "2"]) == 0
    assert capsys.readouterr().out.startswith(f"{tmp_path / 'grey.png'}: ")
    assert main(["port", "resnet18", "--weights", str(weights), "-o", str(output)]) == 2
    assert main(["list", "--pretrained"]) == 0
    listing = capsys.readouterr().out
    assert "resnet50             timm/resnet50.a1_in1k" in listing and "80.38%" in listing
    assert listing.count("timm/") >= 19


def test_port_of_a_bare_safetensors_file_records_the_cards_feeding_or_refuses(tmp_path, capsys):
    """A timm `model.safetensors` without timm's config.json beside it: `kerascnn port` records how
    kerascnn's card for the network feeds it (saying so on stderr), so that `predict` needs no
    --normalize; a file whose layout is not the card's architecture (the SENet authors'
    legacy_seresnet50 for se_resnet50, whose card is timm's seresnet50) is refused at once, with
    the ways out, and nothing is written."""
    from PIL import Image

    from kerascnn.cli import main
    from kerascnn.data.feeding import Feeding
    from kerascnn.inference import load_trained
    from kerascnn.runs.saving import read_feeding

    weights = write_weights(tmp_path / "model.safetensors", "resnet18")
    output = tmp_path / "r18.keras"
    assert main(["port", "resnet18", "--weights", str(weights), "-o", str(output)]) == 0
    err = capsys.readouterr().err
    assert (
        f"note: no timm config.json beside {weights}: fed as kerascnn's card for resnet18 says "
        f"(timm/resnet18.a1_in1k: 224x224, crop 0.95, bicubic, mean 0.485/0.456/0.406, std "
        f"0.229/0.224/0.225)"
    ) in err
    card = PRETRAINED["resnet18"]
    feeding = Feeding.recorded(read_feeding(output))
    assert feeding.preprocessing.to_dict() == card.preprocessing(224, 3)
    source = feeding.details["source"]
    assert source["weights"] == f"file {weights}" and source["reported_top1"] is None
    assert "no timm config.json beside" in feeding.details["assumed"]
    pre = load_trained(output).preprocessing
    assert (pre.load_size, pre.resize, pre.interpolation) == ((235, 235), "shorter", "bicubic")
    Image.fromarray(np.full((300, 400, 3), 128, np.uint8)).save(tmp_path / "grey.png")
    assert main(["predict", str(output), str(tmp_path / "grey.png"), "--top", "1"]) == 0
    assert capsys.readouterr().out.startswith(f"{tmp_path / 'grey.png'}: ")

    legacy = tmp_path / "legacy"
    legacy.mkdir()
    write_weights(legacy / "model.safetensors", "legacy_seresnet50")
    assert (
        main(
            [
                "port",
                "se_resnet50",
                "--weights",
                str(legacy / "model.safetensors"),
                "-o",
                str(tmp_path / "se.keras"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert (
        "has no timm config.json beside it, so how its images are fed (size, crop, "
        "interpolation, mean, std) is unknown: it holds timm's legacy_seresnet50 weights, "
        "which kerascnn has no card for. Hint: Put the config.json of the weights' Hub "
        "repository beside the file"
    ) in err
    assert not (tmp_path / "se.keras").exists()
