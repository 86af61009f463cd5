"""Fine-tuning by freezing: frozen kernels and BN statistics bit-identical after fit, the report's
counts equal Keras', unfreezing touches only what it names, a new head on the old features."""

import numpy as np
import pytest

import kerascnn
from kerascnn.training.freezing import freeze, replace_head, trainable_report, unfreeze

SPEC = {
    "input_shape": [16, 16, 3],
    "defaults": {"norm": "batch"},
    "stages": [
        {"blocks": ["conv3-8", "maxpool"]},
        {"blocks": ["conv3-16", "maxpool"]},
        {"blocks": ["conv3-16"]},
    ],
    "head": {"pool": "avg", "classes": 4},
}


def weights_of(model, prefix):
    return {
        w.path: np.array(w)
        for layer in model.layers
        if layer.name.startswith(prefix)
        for w in layer.weights
    }


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
        int(np.prod(w.shape)) for w in model.trainable_weights
    )
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
    assert not any(frozen[: round(0.5 * len(frozen))])
    with pytest.raises(ValueError, match="did you mean 'stage3'"):
        freeze(model, "stag3")


def test_replace_head_keeps_the_features_and_their_flags():
    model = freeze(kerascnn.build_from_spec(SPEC), "stage3")
    new = replace_head(model, 7, dropout=0.3)
    assert new.output_shape == (None, 7)
    assert new.get_layer("stage1_conv1") is model.get_layer("stage1_conv1")
    assert [layer.name for layer in new.layers[-3:]] == [
        "head_new_drop",
        "head_new_logits",
        "head_new_pred",
    ]
    trainable = {w.path.split("/")[0] for w in new.trainable_weights}
    assert trainable == {"head_new_logits"}
    with pytest.raises(ValueError, match="positive integer"):
        replace_head(model, 0)


# --- [finetune] recipes -----------------------------------------------------------------------------

REPO = __import__("pathlib").Path(__file__).resolve().parents[1]


def run_cli(*argv):
    from kerascnn.cli import main

    return main(["train", *map(str, argv), "--quiet"])


# The transfer experiment with the shipped glyph recipes (frozen features beat training from scratch,
# frozen layers stay bit-identical) runs as notebooks/04_transfer_learning.ipynb, in
# tests/test_notebooks.py.


def tiny_run(tmp_path, name="start", **data):
    from kerascnn.recipe import load_recipe
    from kerascnn.verbs import train

    doc = {
        "model": {"spec": {k: v for k, v in SPEC.items() if k != "input_shape"}},
        "data": {
            "source": "synthetic",
            "classes": 3,
            "samples": 120,
            "image_size": [16, 16],
            "batch_size": 16,
            **data,
        },
        "train": {"epochs": 1, "optimizer": "adam", "learning_rate": 0.01},
        # The starting run: no report page (the fine-tuning runs below write theirs).
        "output": {"dir": str(tmp_path / name), "tensorboard": False, "report": False},
    }
    return train(load_recipe(doc, name=name), verbose=0, log=lambda *a: None)


def finetune_doc(tmp_path, weights, **tables):
    doc = {
        "data": {
            "source": "synthetic",
            "classes": 4,
            "samples": 120,
            "image_size": [16, 16],
            "batch_size": 16,
        },
        "train": {"optimizer": "adam", "learning_rate": 0.01},
        "finetune": {
            "weights": str(weights),
            "phases": [
                {"name": "head", "epochs": 1},
                {"name": "top", "epochs": 1, "unfreeze": 1, "learning_rate": 0.001},
            ],
        },
        # Report pages only where a test asks (output={"report": True}): three pages a run.
        "output": {"dir": str(tmp_path / "fine"), "tensorboard": False, "report": False},
    }
    for key, value in tables.items():
        doc[key] = {**doc.get(key, {}), **value}
    return doc


@pytest.mark.slow  # 17 s end to end (test_freeze_report_and_two_phases_read_the_same_stages: two phases)
def test_finished_phases_are_kept_and_a_finished_run_is_never_overwritten(tmp_path):
    import json
    import os

    from kerascnn.config import ConfigError
    from kerascnn.recipe import load_recipe
    from kerascnn.verbs import train

    start = tiny_run(tmp_path)
    lines = []
    recipe = load_recipe(finetune_doc(tmp_path, start.run_dir, output={"report": True}), name="fine")
    result = train(recipe, verbose=0, log=lines.append)
    assert result.model_path == tmp_path / "fine" / "model.keras"
    from kerascnn.inference import evaluate

    # The run directory's recipe.yaml, data.json and model.keras: evaluate repeats the test.
    assert evaluate(tmp_path / "fine").accuracy == pytest.approx(result.metrics["test"]["accuracy"])
    assert json.loads((tmp_path / "fine" / "run.json").read_text())["status"] == "finished"
    # Each model card says where its weights started: the run, then the phase before.
    card = (tmp_path / "fine" / "README.md").read_text()
    assert f"Started from: {start.run_dir / 'model.keras'}." in card and "Terms of" not in card
    assert "| phase 1-head, best epoch (" in card and "| phase 2-top, best epoch (" in card
    second = (tmp_path / "fine" / "2-top" / "README.md").read_text()
    assert f"Started from: {tmp_path / 'fine' / '1-head' / 'model.keras'}." in second
    assert lines[-1] == f"  report {tmp_path / 'fine' / 'report.html'}"
    # The fine-tuning run's page links each phase's own page, and says what it ran on.
    page = (tmp_path / "fine" / "report.html").read_text()
    assert "did not record its environment" not in page and '<td class="name">precision</td>' in page
    for phase in ("1-head", "2-top"):
        assert f'href="{phase}/report.html"' in page
        assert (tmp_path / "fine" / phase / "report.html").is_file()
        assert (tmp_path / "fine" / phase / "batch.png").is_file()
    assert lines[-3].endswith(
        "test accuracy after each: 1-head "
        f"{result.metrics['phases'][0]['test']['accuracy']:.4f}; 2-top "
        f"{result.metrics['test']['accuracy']:.4f}"
    )
    with pytest.raises(ConfigError, match="finished; kerascnn never overwrites a run") as refused:
        train(recipe, verbose=0, log=lines.append)
    assert "Pass restart=True to start a new run" in str(refused.value)  # Python's words
    # An interrupted fine-tuning run: phase 1 finished, phase 2 never started.
    first = tmp_path / "fine" / "1-head" / "model.keras"
    stamp = os.stat(first).st_mtime_ns
    state = json.loads((tmp_path / "fine" / "run.json").read_text())
    (tmp_path / "fine" / "run.json").write_text(json.dumps({**state, "status": "running"}))
    import shutil

    shutil.rmtree(tmp_path / "fine" / "2-top")
    lines.clear()
    train(recipe, verbose=0, log=lines.append)
    assert any("phase 1 (1-head): finished before; kept" in line for line in lines)
    assert os.stat(first).st_mtime_ns == stamp
    assert (tmp_path / "fine" / "2-top" / "model.keras").is_file()
    # --restart starts a new fine-tuning run beside it; this one's data has no test split, and
    # its last line says so and gives each phase's validation accuracy instead (not "nan").
    lines.clear()
    untested = load_recipe(
        finetune_doc(tmp_path, start.run_dir, data={"test_fraction": 0.0}, output={"report": True}),
        name="fine",
    )
    again = train(untested, restart=True, verbose=0, log=lines.append)
    assert again.run_dir == tmp_path / "fine-2"
    assert "test" not in again.metrics and "nan" not in lines[-3]
    best = [p["best"]["val_accuracy"] for p in again.metrics["phases"]]
    assert lines[-3].endswith(
        f"the data has no test split; validation accuracy at each phase's "
        f"best epoch: 1-head {best[0]:.4f}; 2-top {best[1]:.4f} (every "
        f"epoch in history.csv)"
    )
    # Its page: the validation split's results, said as such.
    assert "Confusion matrix (val split" in (tmp_path / "fine-2" / "report.html").read_text()


@pytest.mark.parametrize(
    "change,message",
    [
        ({"model": {"name": "lenet5"}}, "model: a recipe with [finetune] starts from its `weights`"),
        ({"train": {"epochs": 3}}, "train.epochs: each fine-tuning phase gives its own epochs"),
        ({"finetune": {"phases": []}}, "finetune: give at least one phase."),
        (
            {"finetune": {"phases": [{"epochz": 1}]}},
            "finetune.phases[0].epochz: unknown key 'epochz' for a phase. Hint: Did you mean 'epochs'?",
        ),
        (
            {"finetune": {"phases": [{"epochs": 1, "learning_rate": -1.0}]}},
            "finetune.phases[0].learning_rate: must be positive. Received: -1.0.",
        ),
        (
            {"finetune": {"phases": [{"epochs": 2, "warmup": 2}]}},
            "finetune.phases[0].warmup: must be between 0 and epochs - 1",
        ),
        (
            {"finetune": {"phases": [{"epochs": 1, "unfreeze": 1.5}]}},
            "finetune.phases[0].unfreeze: a fraction must be between 0 and 1",
        ),
        (
            {"finetune": {"phases": [{"epochs": 1, "name": "a b"}]}},
            "finetune.phases[0].name: names a directory",
        ),
        (
            {"finetune": {"phases": [{"epochs": 1, "name": "x"}, {"epochs": 1, "name": "x"}]}},
            "two phases are called 'x'",
        ),
        (
            {"finetune": {"weights": "imagenet"}},
            'finetune.weights: "imagenet" needs the network: `model` (timm\'s weights',
        ),
        (
            {"finetune": {"weights": "imagenet", "model": "resnet50", "application": "ResNet50"}},
            "give `model` (timm's weights) or `application`",
        ),
        (
            {"finetune": {"weights": "imagenet", "model": "resnet5"}},
            "finetune.model: unknown model 'resnet5'",
        ),
        (
            {"finetune": {"weights": "imagenet", "application": "ResNet18"}},
            "'ResNet18' is not one port_weights knows",
        ),
        (
            {"finetune": {"weights": "imagenet", "application": "ResNet50"}},
            "data.normalize: ResNet50's weights expect inputs normalized as keras.applications prepares "
            "them: normalize = \"caffe\". Received: 'standardize'.",
        ),
        ({"data": {"normalize": "unit"}}, "normalizes the images as that run did"),
        ({"finetune": {"new_head": False, "dropout": 0.5}}, "with new_head = false there is none"),
    ],
)
def test_finetune_recipe_errors_name_the_key(tmp_path, change, message):
    from kerascnn.config import ConfigError
    from kerascnn.recipe import load_recipe

    doc = finetune_doc(tmp_path, tmp_path / "start")
    for key, value in change.items():
        doc[key] = {**doc.get(key, {}), **value}
    with pytest.raises(ConfigError) as caught:
        load_recipe(doc)
    assert message in str(caught.value)


def test_finetune_errors_at_run_time_come_before_the_data(tmp_path, monkeypatch):
    """Missing weights, an `unfreeze` that names no layer and a model whose input does not fit
    the data: errors that name the key, the first two before any data is read or any run
    directory made (the corrected recipe then runs where the wrong one would have)."""
    import json

    import kerascnn.data
    from kerascnn.config import ConfigError
    from kerascnn.recipe import load_recipe
    from kerascnn.verbs import train

    start = tiny_run(tmp_path)
    quiet = dict(verbose=0, log=lambda *a: None)
    with pytest.raises(ConfigError, match="finetune.weights: nothing at"):
        train(load_recipe(finetune_doc(tmp_path, tmp_path / "missing")), **quiet)
    doc = finetune_doc(tmp_path, start.run_dir, output={"dir": str(tmp_path / "b")})
    doc["finetune"]["phases"][1]["unfreeze"] = "stage9"
    real = kerascnn.data.load_data
    monkeypatch.setattr(kerascnn.data, "load_data", lambda *a, **k: pytest.fail("data read"))
    with pytest.raises(ConfigError, match=r"finetune.phases\[1\].unfreeze: No layer .* 'stage9'"):
        train(load_recipe(doc), **quiet)
    doc["finetune"]["phases"][1]["unfreeze"] = 7
    with pytest.raises(ConfigError, match=r"unfreeze = 7 top stages, but model .* has 3"):
        train(load_recipe(doc), **quiet)
    assert not (tmp_path / "b").exists()
    monkeypatch.setattr(kerascnn.data, "load_data", real)
    doc = finetune_doc(
        tmp_path, start.model_path, data={"image_size": [20, 20]}, output={"dir": str(tmp_path / "c")}
    )
    with pytest.raises(ConfigError, match=r"data.image_size: the data gives \(20, 20, 3\) images"):
        train(load_recipe(doc), **quiet)
    # From a .keras file the recipe's own normalize applies.
    doc = finetune_doc(
        tmp_path, start.model_path, data={"normalize": "unit"}, output={"dir": str(tmp_path / "d")}
    )
    train(load_recipe(doc), **quiet)
    assert json.loads((tmp_path / "d" / "data.json").read_text())["std"] == [255.0] * 3


def test_set_reaches_into_phases(tmp_path):
    from kerascnn.config import ConfigError
    from kerascnn.recipe import load_recipe

    doc = finetune_doc(tmp_path, tmp_path / "start")
    recipe = load_recipe(doc, ["finetune.phases.1.epochs=4", "finetune.phases.0.unfreeze=all"])
    assert [p.epochs for p in recipe.phases] == [1, 4] and recipe.phases[0].unfreeze == "all"
    phase = recipe.phase_recipe(1, tmp_path / "fine")
    assert phase.train.learning_rate == 0.001 and phase.train.epochs == 4
    assert phase.fingerprint != recipe.phase_recipe(0, tmp_path / "fine").fingerprint
    with pytest.raises(ConfigError, match="finetune.phases has 2 entries, numbered from 0"):
        load_recipe(doc, ["finetune.phases.2.epochs=4"])
    with pytest.raises(
        ConfigError,
        match=r"--set finetune.phases.1.learning_rate=0: "
        r"finetune.phases\[1\].learning_rate: must be positive",
    ):
        load_recipe(doc, ["finetune.phases.1.learning_rate=0"])


@pytest.mark.slow
@pytest.mark.parametrize(
    "recipe,application", [("resnet50_finetune_folder", "ResNet50"), ("vgg16_finetune_flowers", "VGG16")]
)
def test_shipped_imagenet_finetune_recipes_run_from_a_weights_file(tmp_path, recipe, application):
    """The shipped ImageNet recipes, shrunk by --set, with keras.applications weights from a file
    (random here: no internet) ported into the zoo: the ported kernels reach phase 1's model
    unchanged and frozen, through an image folder (ResNet-50) and tfds (VGG-16, mock data)."""
    import keras
    import tensorflow_datasets as tfds

    from kerascnn.runs.saving import load_model

    constructor = getattr(keras.applications, application)
    source = constructor(weights=None, include_top=False, input_shape=(32, 32, 3))
    weights = tmp_path / f"{application}.weights.h5"
    source.save_weights(weights)
    argv = [
        REPO / "recipes" / f"{recipe}.toml",
        "--output",
        tmp_path / "run",
        "--set",
        f'finetune.weights="{weights}"',
        "--set",
        "data.image_size=[32, 32]",
        "--set",
        "data.load_size=[36, 36]",
        "--set",
        "data.batch_size=8",
        "--set",
        "finetune.phases.0.epochs=1",
        "--set",
        "finetune.phases.1.epochs=1",
        "--set",
        "finetune.keep_hidden=false",
    ]
    if recipe.startswith("resnet50"):
        from PIL import Image

        rng = np.random.default_rng(0)
        for k in range(3):
            (tmp_path / "images" / f"class{k}").mkdir(parents=True)
            for i in range(8):
                pixels = rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(tmp_path / "images" / f"class{k}" / f"{i}.png")
        assert run_cli(*argv, "--set", f'data.path="{tmp_path / "images"}"') == 0
        pairs = [("stem_conv", "conv1_conv")]
    else:
        with tfds.testing.mock_data(num_examples=24):
            assert run_cli(*argv) == 0
        pairs = [("stage1_conv1", "block1_conv1"), ("stage5_conv3", "block5_conv3")]
    first = load_model(tmp_path / "run" / "1-head" / "model.keras")
    for ours, theirs in pairs:
        np.testing.assert_array_equal(first.get_layer(ours).kernel, source.get_layer(theirs).kernel)
        assert not first.get_layer(ours).trainable
    assert (tmp_path / "run" / "model.keras").is_file()


# --- stage membership: one rule for freeze, unfreeze = K, trainable_report and the phases ----------

NAMED = {
    "defaults": {"norm": "batch"},
    "stages": [
        {"name": "conva", "blocks": ["conv3-8", "maxpool"]},
        {
            "name": "convb",
            "blocks": [{"block": "conv", "filters": 8, "kernel_size": 3, "name": "convb_x_y"}],
        },
        {"name": "top", "blocks": ["conv3-8"]},
    ],
    "head": {"pool": "avg"},
}


def test_a_stage_name_with_an_underscore_is_refused_with_the_reason(tmp_path):
    """Layer names are `<stage>_<item>` and every part reads a layer's stage as the text before its
    first underscore: `conv_a` used to be accepted and then read as stage `conv` by freezing,
    `unfreeze = K`, trainable_report and the phases."""
    from kerascnn.config import ConfigError
    from kerascnn.recipe import load_recipe
    from kerascnn.verbs import train

    spec = {**NAMED, "stages": [{**NAMED["stages"][0], "name": "conv_a"}, *NAMED["stages"][1:]]}
    message = (
        r"stages\[0\].name: stage name 'conv_a' contains '_'.*read a layer's stage as the "
        r"text before its first underscore, so 'conv_a''s layers would be read as stage "
        r"'conv'.*Hint: Name it without underscores, e.g. 'conva'"
    )
    with pytest.raises(ConfigError, match=message):
        kerascnn.build_from_spec({**spec, "input_shape": [16, 16, 3]}, classes=3)
    doc = {
        "model": {"spec": spec},
        "data": {"source": "synthetic", "classes": 3, "samples": 60, "image_size": [16, 16]},
        "output": {"dir": str(tmp_path / "run"), "tensorboard": False},
    }
    with pytest.raises(ConfigError, match=message):
        train(load_recipe(doc, name="t"), verbose=0, log=lambda *a: None)
    assert not (tmp_path / "run").exists()


def test_freeze_report_and_two_phases_read_the_same_stages(tmp_path):
    """A spec whose stage and block names are more than `stage<i>` (a block named `convb_x_y`):
    `freeze`, `trainable_report` and a two-phase fine-tuning recipe (`unfreeze = 1`: the top stage)
    agree on which layers each stage holds; GoogLeNet's reported stages are its feature stages."""
    import json

    from kerascnn.recipe import load_recipe
    from kerascnn.spec import stage_of
    from kerascnn.training.freezing import trainable_stages
    from kerascnn.verbs import train

    model = kerascnn.build_from_spec(
        {**NAMED, "input_shape": [16, 16, 3], "head": {"pool": "avg", "classes": 3}}
    )
    assert [r.stage for r in trainable_report(model)] == ["conva", "convb", "top", "head"]
    assert trainable_stages(model) == ["conva", "convb", "top", "head"]
    freeze(model, "convb")
    frozen = {stage_of(layer.name) for layer in model.layers[1:] if not layer.trainable}
    assert frozen == {"conva", "convb"}
    rows = {r.stage: r for r in trainable_report(model)}
    assert rows["convb"].trainable == 0 and rows["convb"].frozen > 0 and rows["top"].trainable

    quiet = dict(verbose=0, log=lambda *a: None)
    start = {
        "model": {"spec": NAMED},
        "data": {
            "source": "synthetic",
            "classes": 3,
            "samples": 120,
            "image_size": [16, 16],
            "batch_size": 16,
        },
        "train": {"epochs": 1},
        "output": {"dir": str(tmp_path / "start"), "tensorboard": False},
    }
    train(load_recipe(start, name="start"), **quiet)
    doc = finetune_doc(tmp_path, tmp_path / "start")
    result = train(load_recipe(doc, name="fine"), **quiet)
    assert [p["phase"] for p in result.metrics["phases"]] == ["1-head", "2-top"]
    before = kerascnn.load_model(tmp_path / "start" / "model.keras")
    after = kerascnn.load_model(tmp_path / "fine" / "2-top" / "model.keras")
    for stage, trained in (("conva", False), ("convb", False), ("top", True)):
        old = {
            w.path: np.array(w)
            for layer in before.layers
            if stage_of(layer.name) == stage
            for w in layer.trainable_weights
        }
        new = {
            w.path: np.array(w)
            for layer in after.layers
            if stage_of(layer.name) == stage
            for w in layer.weights
            if w.path in old
        }
        assert old and set(old) == set(new), stage
        same = all(np.array_equal(old[k], new[k]) for k in old)
        assert same != trained, f"stage {stage}: trained {not same}, expected {trained}"
    recorded = json.loads((tmp_path / "fine" / "2-top" / "metrics.json").read_text())
    assert recorded["epochs"] == 1

    googlenet = kerascnn.build("googlenet", aux=True)
    features = kerascnn.build("googlenet", features=True)
    assert [r.stage for r in trainable_report(googlenet)] == ["stem", *features.output, "head"]


_ON_JAX = """
import json, sys
import numpy as np
import keras
import kerascnn
from kerascnn.recipe import load_recipe
root = sys.argv[1]
start = json.loads(sys.argv[2])
fine = json.loads(sys.argv[3])
search = json.loads(sys.argv[4])
assert keras.backend.backend() == "jax"
kerascnn.train(load_recipe(start, name="start"), verbose=0, log=lambda *a: None)
result = kerascnn.train(load_recipe(fine, name="fine"), verbose=0, log=lambda *a: None)
tuned = kerascnn.tune(load_recipe(search, name="search"), verbose=0, log=lambda *a: None)
print(json.dumps({"phases": [p["phase"] for p in result.metrics["phases"]],
                  "test": result.metrics["test"]["accuracy"],
                  "trials": [t.status for t in tuned.trials]}))
"""


@pytest.mark.slow
def test_training_fine_tuning_and_a_search_run_on_jax(tmp_path):
    """On the JAX backend (TensorFlow still feeding the data): a run, a two-phase fine-tuning from
    it whose first phase keeps the frozen stages bit-identical, and a two-trial search."""
    import json
    import os
    import subprocess
    import sys

    import keras

    start = {
        "model": {"spec": {k: v for k, v in SPEC.items() if k != "input_shape"}},
        "data": {
            "source": "synthetic",
            "classes": 3,
            "samples": 120,
            "image_size": [16, 16],
            "batch_size": 16,
        },
        "train": {"epochs": 1, "optimizer": "adam", "learning_rate": 0.01},
        "output": {"dir": str(tmp_path / "start"), "tensorboard": False},
    }
    fine = finetune_doc(tmp_path, tmp_path / "start")
    search = {
        **start,
        "tune": {
            "max_trials": 2,
            "space": {"train.learning_rate": {"type": "choice", "values": [0.01, 0.001]}},
        },
        "output": {"dir": str(tmp_path / "search"), "tensorboard": False},
    }
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _ON_JAX,
            str(tmp_path),
            json.dumps(start),
            json.dumps(fine),
            json.dumps(search),
        ],
        env={**os.environ, "KERAS_BACKEND": "jax"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["phases"] == ["1-head", "2-top"] and 0 <= found["test"] <= 1
    assert found["trials"] == ["COMPLETED", "COMPLETED"]
    before = keras.saving.load_model(tmp_path / "start" / "model.keras")
    phase1 = keras.saving.load_model(tmp_path / "fine" / "1-head" / "model.keras")
    for name in ("stage1_conv1", "stage1_conv1_bn", "stage2_conv1", "stage3_conv1_bn"):
        for a, b in zip(
            before.get_layer(name).get_weights(), phase1.get_layer(name).get_weights(), strict=True
        ):
            np.testing.assert_array_equal(a, b, err_msg=name)  # frozen through phase 1, BN too
