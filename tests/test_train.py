"""Recipes and `kerascnn train`: validation before anything runs, every data source through the real
loading code, training that learns, auxiliary losses, run directories that are never clobbered (kills and
resumes: tests/test_reliability.py)."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from kerascnn.cli.reference import recipe_reference
from kerascnn.config import ConfigError
from kerascnn.recipe import load_recipe
from kerascnn.verbs import train

REPO = Path(__file__).resolve().parents[1]

# A small CNN as an inline spec: what a user writes for their own network.
SMALL_CNN = {
    "defaults": {"norm": "batch"},
    "stages": [{"blocks": ["conv3-16", "maxpool"]}, {"blocks": ["conv3-32", "maxpool"]}],
    "head": {"pool": "avg"},
}


def recipe(tmp_path, **tables):
    doc = {
        "model": {"spec": SMALL_CNN},
        "data": {
            "source": "synthetic",
            "classes": 4,
            "samples": 400,
            "image_size": [16, 16],
            "batch_size": 32,
        },
        "train": {"epochs": 3, "optimizer": "adam", "learning_rate": 0.01},
        # No TensorBoard logs and no report page: cheaper runs (test_report.py tests the page).
        "output": {"dir": str(tmp_path / "run"), "tensorboard": False, "report": False},
    }
    for key, value in tables.items():
        doc[key] = {**doc.get(key, {}), **value}
    return load_recipe(doc, name="test")


def history(run_dir):
    with open(Path(run_dir) / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


# --- recipes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,message",
    [
        (
            '[model]\nname = "lenet5"\n[data]\nsource = "digits"\n[train]\nepochz = 3\n',
            "recipe.toml:6: train.epochz: unknown key 'epochz' for [train]. "
            "Hint: Did you mean 'epochs'?",
        ),
        (
            '[model]\nname = "resnet5"\n[data]\nsource = "digits"\n',
            "recipe.toml:2: model.name: unknown model 'resnet5'. Hint: Did you mean 'resnet56'",
        ),
        (
            '[model]\nname = "lenet5"\nspec = "x.toml"\n[data]\nsource = "digits"\n',
            "model: give exactly one of `name`",
        ),
        ('[model]\nname = "lenet5"\n[data]\nsource = "tfds"\n', "data: source 'tfds' needs `name`"),
        (
            '[model]\nname = "lenet5"\n[data]\nsource = "digits"\n[train]\nschedule = "step"\n',
            "train.milestones: schedule 'step' needs milestones",
        ),
        (
            '[model]\nname = "lenet5"\n[data]\nsource = "digits"\nbatch_size = "big"\n',
            "recipe.toml:5: data.batch_size: expected an integer. Received: 'big'",
        ),
        (
            '[model]\nname = "lenet5"\n[data]\nsource = "digits"\n[data.augment]\nflips = true\n',
            "data.augment.flips: unknown key 'flips' for [data.augment]. Hint: Did you mean 'flip'?",
        ),
        ('[model]\nname = "lenet5"\n', "the recipe needs [data] with a `source`"),
        (
            '[model]\nname = "lenet5"\n[data]\nsource = "digits"\n[optimizer]\nlr = 1\n',
            "unknown key 'optimizer' for a recipe",
        ),
    ],
)
def test_recipe_errors_name_file_line_and_key(tmp_path, text, message):
    path = tmp_path / "recipe.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as excinfo:
        load_recipe(path)
    assert message in str(excinfo.value)


def test_overrides_and_resolved_recipe(tmp_path):
    r = load_recipe(
        REPO / "recipes" / "lenet5_digits.toml",
        ["train.epochs=3", "data.image_size=[28, 28]", "train.optimizer=sgd", "data.augment.flip=true"],
    )
    assert (r.train.epochs, r.data.image_size, r.train.optimizer) == (3, (28, 28), "sgd")
    assert r.augment.flip and r.augment.crop_padding == 2
    again = load_recipe(REPO / "recipes" / "lenet5_digits.toml", ["train.epochs=9"])
    different = load_recipe(REPO / "recipes" / "lenet5_digits.toml", ["train.seed=1"])
    base = load_recipe(REPO / "recipes" / "lenet5_digits.toml")
    assert again.fingerprint == base.fingerprint != different.fingerprint  # epochs may change
    for bad, message in [("train.epochs", "expects KEY=VALUE"), ("trian.epochs=3", "'train'")]:
        with pytest.raises(ConfigError, match=message):
            load_recipe(REPO / "recipes" / "lenet5_digits.toml", [bad])
    # The reference (docs/recipes.md) is generated from the same schema, meanings included.
    assert (
        "| `epochs` | an integer | `10` | epochs to train (a resumed run finishes this many in all). |"
    ) in recipe_reference()


# --- training ---------------------------------------------------------------------------------------


def test_synthetic_task_is_learned_and_the_run_directory_is_complete(tmp_path):
    from kerascnn.training import devices

    r = recipe(
        tmp_path,
        train={
            "epochs": 6,
            "schedule": "cosine",
            "weight_decay": 1e-4,
            "optimizer": "sgd",
            "learning_rate": 0.05,
            "nesterov": True,
        },
    )
    messages = []
    result = train(r, verbose=0, log=messages.append)
    run = result.run_dir
    # The start lines: the images of each class, then the device's defaults
    # (test_trainer_defaults_follow_the_device).
    assert messages[3] == "  data   training images per class: 0 72, 1 72, 2 72, 3 72"
    assert f"precision {devices.precision('auto')}; " in messages[4]
    assert "; 8 batches a call; " in messages[4]
    # The update in words: SGD's weight_decay is the L2 penalty ("auto"), on the kernels.
    assert messages[5] == (
        "  update weight decay 0.0001 as the L2 penalty (added to the gradient), on the kernels; "
        "momentum 0.9, Nesterov, in Caffe's form"
    )
    assert result.metrics["test"]["accuracy"] > 0.8  # chance: 0.25
    assert {
        "recipe.yaml",
        "run.json",
        "data.json",
        "history.csv",
        "metrics.json",
        "last.keras",
        "best.keras",
        "model.keras",
        "curves.png",
        "batch.png",
    } <= {p.name for p in run.iterdir()}
    assert not (run / "backup").exists()
    assert not (run / "report.html").exists()  # output.report = false (the helper's)
    assert [int(row["epoch"]) for row in history(run)] == [1, 2, 3, 4, 5, 6]
    rates = [float(row["learning_rate"]) for row in history(run)]
    assert rates[0] > rates[-1]  # cosine
    assert all(float(row["seconds"]) > 0 for row in history(run))  # each epoch's time
    # Each epoch's throughput and data wait (kerascnn.training.throughput), kept in metrics.json.
    assert all(float(row["images_per_second"]) > 0 for row in history(run))
    assert all(0 <= float(row["data_wait"]) <= 1 for row in history(run))
    assert {"images_per_second", "data_wait"} <= set(result.metrics["final"])
    assert json.loads((run / "run.json").read_text())["status"] == "finished"
    # The model card (kerascnn.report.card): what, on what, the results, how to feed it, again.
    card = (run / "README.md").read_text()
    assert card.startswith(f"# {r.name}\n") and "Started from: random initialization." in card
    # The test result of the run's model, labelled: the best epoch's weights (the default).
    from kerascnn.runs.metrics import tested

    (label, values), *other = tested(result.metrics)
    assert label.endswith(": the run's model") and values == result.metrics["test"]
    assert ("best weights" in label) == (result.metrics["best_epoch"] != 6) and len(other) <= 1
    assert f"| {label} | {result.metrics['test']['accuracy']:.4f} |" in card
    pre = json.loads((run / "data.json").read_text())
    assert f"mean ({', '.join(f'{m:g}' for m in pre['mean'])})" in card
    assert f"kerascnn train {run / 'recipe.yaml'} --output " in card
    # The saved recipe reloads to the same run; the saved model reloads in safe mode.
    assert load_recipe(run / "recipe.yaml").fingerprint == r.fingerprint
    import kerascnn

    model = kerascnn.load_model(run / "model.keras")
    assert model.output_shape == (None, 4)
    # A finished run is never overwritten; --restart puts a new one beside it.
    with pytest.raises(ConfigError, match="finished; kerascnn never overwrites a run") as refused:
        train(r, verbose=0, log=lambda *a: None)
    assert "Pass restart=True to start a new run" in str(refused.value)  # Python's words
    other = recipe(tmp_path, train={"epochs": 1})
    with pytest.raises(ConfigError, match="different recipe"):
        train(other, verbose=0, log=lambda *a: None)
    again = train(other, restart=True, verbose=0, log=lambda *a: None)
    assert again.run_dir == run.with_name("run-2") and (run / "model.keras").exists()


def test_trainer_defaults_follow_the_device(tmp_path, monkeypatch):
    """Mixed precision where the device computes in 16 bits natively; 8 batches a compiled call on
    TensorFlow; tf.data's autotuner off unless asked for (BENCHMARKS.md has the measurements)."""
    import tensorflow as tf

    from kerascnn.backend import devices as backend_devices
    from kerascnn.data import load_data
    from kerascnn.training import compile as compile_setup
    from kerascnn.training import devices

    monkeypatch.setattr(backend_devices, "cpu_has_bf16", lambda: True)  # AMX or AVX-512 BF16
    assert [devices.precision(s) for s in ("auto", True, False)] == ["mixed_bfloat16"] * 2 + ["float32"]
    monkeypatch.setattr(backend_devices, "cpu_has_bf16", lambda: False)
    assert [devices.precision(s) for s in ("auto", True, False)] == [
        "float32",
        "mixed_bfloat16",
        "float32",
    ]
    gpu = tf.config.PhysicalDevice("/physical_device:GPU:0", "GPU")
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [gpu])
    for capability, policy in [
        ((7, 5), "mixed_float16"),
        ((8, 0), "mixed_bfloat16"),
        ((9, 0), "mixed_bfloat16"),
    ]:
        monkeypatch.setattr(
            tf.config.experimental,
            "get_device_details",
            lambda device, c=capability: {"compute_capability": c},
        )
        assert devices.precision("auto") == policy, capability
    monkeypatch.undo()

    assert compile_setup.steps_per_execution("auto") == 8 and compile_setup.steps_per_execution(3) == 3
    with tf.distribute.MirroredStrategy(["/cpu:0"]).scope():  # Keras' multi-step loop fails there
        assert compile_setup.steps_per_execution("auto") == 1
        with pytest.raises(
            ConfigError,
            match="train.steps_per_execution: Keras cannot run several "
            "batches a call under TensorFlow's MirroredStrategy",
        ):
            compile_setup.steps_per_execution(4, recipe(tmp_path))
    for value, message in [
        (0, "train.steps_per_execution: must be a positive integer. Received: 0"),
        ("fast", "train.steps_per_execution: expected"),
    ]:
        with pytest.raises(ConfigError, match=message):
            recipe(tmp_path, train={"steps_per_execution": value})
    assert load_data(recipe(tmp_path)).train.options().autotune.enabled is False
    assert load_data(recipe(tmp_path, data={"autotune": True})).train.options().autotune.enabled


def test_augmentation_draws_each_image_its_own_crop_and_flip_a_batch_at_a_time(tmp_path):
    import tensorflow as tf

    from kerascnn.data import load_data
    from kerascnn.data.augment_tf import random_crops, random_flips

    images = tf.reshape(tf.range(2 * 6 * 5, dtype=tf.float32) + 1, (2, 6, 5, 1))
    places, pairs = set(), set()
    for i in range(100):
        crops = random_crops(images, (6, 5), tf.constant([i, 7]), padding=2).numpy()
        drawn = []
        for image, crop in zip(images.numpy(), crops):
            padded = np.pad(image, [[2, 2], [2, 2], [0, 0]])
            hits = [
                (a, b)
                for a in range(5)
                for b in range(5)
                if np.array_equal(padded[a : a + 6, b : b + 5], crop)
            ]
            assert len(hits) == 1  # a window of the padded image, unchanged
            drawn += hits
        places.update(drawn)
        pairs.add(tuple(drawn))
    assert len(places) == 25 and len(pairs) > 50  # every place; the images draw independently
    flipped = [random_flips(images, tf.constant([i, 3])).numpy() for i in range(20)]
    mirrored = [[np.array_equal(f[k], images.numpy()[k][:, ::-1]) for k in range(2)] for f in flipped]
    assert all(
        m or np.array_equal(f[k], images.numpy()[k])
        for f, row in zip(flipped, mirrored)
        for k, m in enumerate(row)
    )
    assert {m for row in mirrored for m in row} == {True, False}

    # Through the pipeline: the same seed augments the same way, each epoch differently.
    r = recipe(tmp_path, data={"load_size": [20, 20], "augment": {"crop_padding": 2, "flip": True}})
    first, again = (load_data(r).train for _ in range(2))
    epoch1, epoch2 = (np.concatenate([x for x, _ in first.as_numpy_iterator()]) for _ in range(2))
    assert epoch1.shape[1:] == (16, 16, 3)
    np.testing.assert_array_equal(epoch1, np.concatenate([x for x, _ in again.as_numpy_iterator()]))
    assert not np.array_equal(epoch1, epoch2)


def test_digits_quickstart_recipe_learns(tmp_path):
    """The quickstart's real data and model (fewer epochs): well above chance already."""
    r = load_recipe(
        REPO / "recipes" / "lenet5_digits.toml",
        ["train.epochs=4", f"output.dir={json.dumps(str(tmp_path / 'q'))}", "output.tensorboard=true"],
    )
    result = train(r, verbose=0, log=lambda *a: None)
    assert result.metrics["test"]["accuracy"] > 0.85
    assert any((result.run_dir / "logs").rglob("*tfevents*"))
    data = json.loads((result.run_dir / "data.json").read_text())
    assert data["sizes"] == {"test": 360, "val": 144, "train": 1293}
    assert data["input_shape"] == [32, 32, 1]


def test_image_folder_source(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, count in (("train", 24), ("test", 8)):
        for k, colour in enumerate(["red", "blue"]):
            folder = tmp_path / split / colour
            folder.mkdir(parents=True)
            for i in range(count):
                image = rng.integers(0, 60, (20, 20, 3), dtype=np.uint8)
                image[..., 0 if k == 0 else 2] += 180
                Image.fromarray(image).save(folder / f"{i}.png")
    r = recipe(
        tmp_path,
        data={
            "source": "folder",
            "path": str(tmp_path / "train"),
            "test_path": str(tmp_path / "test"),
            "image_size": [16, 16],
            "validation_split": 0.25,
            "batch_size": 8,
            "augment": {"flip": True, "scale": [0.5, 1.0]},
        },
        train={"epochs": 4},
    )
    result = train(r, verbose=0, log=lambda *a: None)
    data = json.loads((result.run_dir / "data.json").read_text())
    assert data["class_names"] == ["blue", "red"] and data["sizes"]["test"] == 16
    assert data["sizes"]["train"] + data["sizes"]["val"] == 48
    assert result.metrics["test"]["accuracy"] >= 0.9
    bad = recipe(
        tmp_path,
        data={"source": "folder", "path": str(tmp_path / "missing")},
        output={"dir": str(tmp_path / "other")},
    )
    with pytest.raises(ConfigError, match="no folder at"):
        train(bad, verbose=0, log=lambda *a: None)


def test_tfds_source_through_tfds_load(tmp_path):
    """The real `tfds.load` path, with tensorflow-datasets' own mock data (no download)."""
    import tensorflow_datasets as tfds

    r = recipe(
        tmp_path,
        data={
            "source": "tfds",
            "name": "cifar10",
            "image_size": [16, 16],
            "validation_split": 0.2,
            "batch_size": 16,
            "augment": {"crop_padding": 2, "flip": True},
        },
        train={"epochs": 1},
    )
    with tfds.testing.mock_data(num_examples=64):
        result = train(r, verbose=0, log=lambda *a: None)
    data = json.loads((result.run_dir / "data.json").read_text())
    assert data["classes"] == 10 and len(data["class_names"]) == 10
    assert data["input_shape"] == [16, 16, 3]
    assert "test" in result.metrics and len(history(result.run_dir)) == 1


def test_auxiliary_losses(tmp_path):
    spec = {
        "stages": [
            {
                "blocks": [
                    "conv3-16",
                    "maxpool",
                    {"block": "aux_classifier", "name": "stage1_aux1", "dropout": 0.0},
                ]
            },
            {"blocks": ["conv3-16", "maxpool"]},
        ],
        "head": {"pool": "avg"},
    }
    r = recipe(
        tmp_path,
        model={"spec": spec},
        data={"image_size": [32, 32]},
        train={"epochs": 2, "aux_loss_weights": [0.3]},
    )
    result = train(r, verbose=0, log=lambda *a: None)
    rows = history(result.run_dir)
    assert any(key.startswith("stage1_aux1") and key.endswith("loss") for key in rows[0])
    import kerascnn

    assert len(kerascnn.load_model(result.run_dir / "model.keras").outputs) == 1  # heads dropped
    assert len(kerascnn.load_model(result.run_dir / "last.keras").outputs) == 2
    missing = recipe(
        tmp_path,
        model={"spec": spec},
        data={"image_size": [32, 32]},
        output={"dir": str(tmp_path / "other")},
    )
    with pytest.raises(ConfigError, match=r"1 auxiliary output\(s\); give one weight for each"):
        train(missing, verbose=0, log=lambda *a: None)
    left = tmp_path / "other"  # refused before the run's records: nothing there to resume
    assert not (left / "run.json").exists() and not list(left.glob("*.yaml"))


def test_killed_after_the_last_epoch_resumes_from_the_backup(tmp_path, monkeypatch):
    """Interrupted between the last epoch's backup and the end of training: the rerun trains
    nothing, restores the backup and writes last.keras from it (saved only when training ends)."""
    from kerascnn.training import checkpoints

    ended = {}

    def interrupted(self, logs=None):
        ended["weights"] = [w.numpy().copy() for w in self.model.weights]
        raise KeyboardInterrupt

    r = recipe(tmp_path, train={"epochs": 2})
    with monkeypatch.context() as patch:
        patch.setattr(checkpoints.Checkpoints, "on_train_end", interrupted)
        with pytest.raises(KeyboardInterrupt):
            train(r, verbose=0, log=lambda *a: None)
    run = tmp_path / "run"
    assert not (run / "last.keras").exists() and (run / "backup").is_dir()
    assert len(history(run)) == 2
    messages = []
    result = train(r, verbose=0, log=messages.append)
    assert "resuming after epoch 2" in messages[0]
    assert [int(row["epoch"]) for row in history(run)] == [1, 2] and result.metrics["epochs"] == 2
    import kerascnn

    last = kerascnn.load_model(run / "last.keras")
    for saved, expected in zip(last.weights, ended["weights"]):
        np.testing.assert_array_equal(saved.numpy(), expected, err_msg=saved.path)


def test_train_command_errors_are_plain(tmp_path, capsys):
    from kerascnn.cli import main

    assert main(["train", str(tmp_path / "nope.toml")]) == 2
    assert "no recipe file at" in capsys.readouterr().err
    assert main(["train", str(REPO / "recipes" / "lenet5_digits.toml"), "--set", "train.lr=0.1"]) == 2
    assert "unknown key 'lr' for [train]" in capsys.readouterr().err


def test_set_errors_name_the_override_not_a_file_line(tmp_path):
    path = REPO / "recipes" / "lenet5_digits.toml"
    with pytest.raises(ConfigError) as excinfo:
        load_recipe(path, ["train.epochs=0"])
    assert str(excinfo.value) == (
        "--set train.epochs=0: train.epochs: must be a positive integer. Received: 0."
    )
    with pytest.raises(ConfigError, match=r"^--set train\.lr=1: train\.lr: unknown key"):
        load_recipe(path, ["train.lr=1"])
    for overrides, message in [
        (["data.load_size=[16, 16]"], "load_size: crops of image_size are taken from"),
        (
            ["train.schedule=step", "train.milestones=[5]", "train.step_every=2"],
            "milestones or step_every, not both",
        ),
        (["train.distribution=multi_worker"], "needs the workers' addresses"),
        (["train.workers=['a:1']"], 'apply to distribution = "multi_worker" only'),
        (["train.distribution=multi_worker", "train.workers=['host']"], '"host:port"'),
        (
            ["train.distribution=multi_worker", "train.workers=['a:1', 'b:1']", "train.worker=2"],
            "between 0 and 1",
        ),
    ]:
        with pytest.raises(ConfigError, match=message):
            load_recipe(path, overrides)


def test_step_every_and_a_model_built_in_python(tmp_path):
    import keras

    from kerascnn.data.feeding import Feeding
    from kerascnn.runs import rundir

    def tiny(input_shape, classes):
        inputs = keras.Input(input_shape)
        x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
        return keras.Model(inputs, keras.layers.Dense(classes, activation="softmax")(x))

    doc = {
        "data": {
            "source": "synthetic",
            "classes": 3,
            "samples": 96,
            "image_size": [12, 12],
            "batch_size": 32,
        },
        "train": {
            "epochs": 3,
            "optimizer": "sgd",
            "learning_rate": 0.1,
            "schedule": "step",
            "step_every": 1,
            "gamma": 0.5,
        },
        "output": {"dir": str(tmp_path / "run"), "tensorboard": False},
    }
    r = load_recipe(doc, name="python")
    with pytest.raises(ConfigError, match="the recipe has no \\[model\\]"):
        train(r, verbose=0, log=lambda *a: None)
    result = train(r, model=tiny, verbose=0, log=lambda *a: None)
    rates = [float(row["learning_rate"]) for row in history(result.run_dir)]
    assert rates == pytest.approx([0.1, 0.05, 0.025])  # x 0.5 after every epoch
    # A resumed run must build the same layers.
    other = keras.Sequential([keras.Input((12, 12, 3)), keras.layers.Flatten(), keras.layers.Dense(3)])
    state = (result.run_dir / "run.json").read_text()
    feeding = Feeding.read(result.run_dir / "data.json")
    with pytest.raises(ConfigError, match="the model built now differs"):
        rundir.record(result.run_dir, r, other, feeding, environment={}, resume=True)
    assert (result.run_dir / "run.json").read_text() == state  # refused before it wrote


# --- data: glyphs, class subsets, few labels, keras.applications normalizations -------------------


def labels_of(ds):
    return np.concatenate([np.argmax(y, -1) for _, y in ds.as_numpy_iterator()])


def test_glyphs_class_subsets_and_few_labels(tmp_path):
    from kerascnn.data import load_data
    from kerascnn.data.sources import glyph_images

    r = recipe(
        tmp_path,
        data={
            "source": "glyphs",
            "class_subset": [7, 3, 5],
            "samples": 90,
            "train_per_class": 4,
            "test_fraction": 0.2,
            "validation_split": 0.1,
            "image_size": None,
        },
    )
    data = load_data(r)
    assert data.input_shape == (32, 32, 1) and data.class_names == ["glyph7", "glyph3", "glyph5"]
    assert data.sizes["train"] == 12 and sorted(np.bincount(labels_of(data.train))) == [4, 4, 4]
    assert data.description == "glyphs 7, 3, 5, 4 training images per class"
    # A glyph is the same whatever the other classes: glyph 5 drawn alone, with no noise in the
    # way, has most of its ink where glyph 5 of the subset does.
    alone, _ = glyph_images([5], 40, seed=1)
    mixed, labels = glyph_images([7, 3, 5], 120, seed=1)
    mean_alone, mean_mixed = alone.mean(0)[..., 0], mixed[labels == 2].mean(0)[..., 0]
    assert np.corrcoef(mean_alone.ravel(), mean_mixed.ravel())[0, 1] > 0.9
    other = mixed[labels == 0].mean(0)[..., 0]
    assert np.corrcoef(mean_alone.ravel(), other.ravel())[0, 1] < 0.6
    # digits: classes 3 and 8 of the real data, renumbered in the order given
    digits = load_data(
        recipe(tmp_path, data={"source": "digits", "class_subset": [8, 3], "image_size": None})
    )
    assert digits.class_names == ["8", "3"] and sum(digits.sizes.values()) == 174 + 183
    with pytest.raises(
        ConfigError,
        match=r"data.class_subset: scikit-learn digits \(8x8\) has no "
        r"class \[12\]",
    ):
        load_data(recipe(tmp_path, data={"source": "digits", "class_subset": [1, 12]}))
    with pytest.raises(ConfigError, match="train_per_class: applies to the sources read into memory"):
        recipe(tmp_path, data={"source": "folder", "path": "x", "train_per_class": 5})
    with pytest.raises(ConfigError, match="class_subset: must list at least 2 different"):
        recipe(tmp_path, data={"class_subset": [1, 1]})


def test_class_subset_of_a_folder_renumbers_the_labels(tmp_path):
    from PIL import Image

    from kerascnn.data import load_data

    for k, name in enumerate(["ant", "bee", "cat"]):
        folder = tmp_path / "images" / name
        folder.mkdir(parents=True)
        for i in range(4):
            Image.fromarray(np.full((8, 8, 3), 60 * k + i, np.uint8)).save(folder / f"{i}.png")
    r = recipe(
        tmp_path,
        data={
            "source": "folder",
            "path": str(tmp_path / "images"),
            "class_subset": [2, 0],
            "validation_split": 0.0,
            "image_size": [8, 8],
            "normalize": "none",
            "batch_size": 4,
        },
    )
    data = load_data(r)
    assert data.classes == 2 and data.class_names == ["cat", "ant"]
    seen = {}
    for x, y in data.train.unbatch().as_numpy_iterator():
        seen.setdefault(int(np.argmax(y)), set()).add(int(x[0, 0, 0]) // 60)
    assert seen == {0: {2}, 1: {0}}  # cat images are class 0 now, ant images class 1
    assert data.train_counts == [4, 4]


def test_the_run_prints_each_class_image_count_and_warns_of_a_class_too_small(tmp_path):
    """A folder whose class 'cat' holds one image: the run's log gives every class's training
    images and warns, naming the class; beyond 20 classes the counts are summarized."""
    from PIL import Image

    from kerascnn.data import load_data

    for name, count in (("ant", 6), ("bee", 6), ("cat", 1)):
        folder = tmp_path / "images" / name
        folder.mkdir(parents=True)
        for i in range(count):
            Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(folder / f"{i}.png")
    r = recipe(
        tmp_path,
        data={
            "source": "folder",
            "path": str(tmp_path / "images"),
            "validation_split": 0.0,
            "image_size": [8, 8],
            "batch_size": 4,
        },
        train={"epochs": 1},
    )
    lines = []
    train(r, verbose=0, log=lines.append)
    assert "  data   training images per class: ant 6, bee 6, cat 1" in lines
    assert (
        "  data   warning: 1 class has fewer than 5 training images ('cat' 1): too few to "
        "learn a class from, or to measure it on; add images of it"
    ) in lines
    many = load_data(recipe(tmp_path, data={"classes": 25, "samples": 500}))
    assert sum(many.train_counts) == many.sizes["train"] and len(many.train_counts) == 25
    (line,) = many.describe_classes()  # about 14 of each class: no warning
    counts = sorted(many.train_counts)
    assert line.startswith(
        f"training images per class: {counts[0]} to {counts[-1]} (median "
        f"{int(np.median(counts))}); fewest: "
    )


def test_caffe_and_tf_normalizations_match_keras_applications(tmp_path):
    import keras

    from kerascnn.data import load_data

    for mode, normalize in (("caffe", "caffe"), ("tf", "tf"), ("torch", "imagenet")):
        r = recipe(tmp_path, data={"normalize": normalize, "samples": 16, "classes": 2})
        data = load_data(r)
        pre = data.preprocessing
        image = np.random.default_rng(0).uniform(0, 255, (1, 16, 16, 3)).astype("float32")
        expected = keras.applications.imagenet_utils.preprocess_input(image.copy(), mode=mode)
        np.testing.assert_allclose(np.asarray(pre.normalize(image)), expected, rtol=1e-5, atol=1e-4)


# --- what a new user meets first: the defaults and the log ------------------------------------------

VGG_SPEC = {
    "defaults": {"norm": "none"},  # VGG's own style: 3x3 stacks, max-pools, no BN, FC layers
    "stages": [
        {"blocks": ["conv3-16", "conv3-16", "maxpool"]},
        {"blocks": ["conv3-32", "conv3-32", "maxpool"]},
    ],
    "head": {"pool": "flatten", "hidden": [64]},
}


@pytest.mark.parametrize(
    "model",
    [
        pytest.param({"name": "lenet5"}, id="lenet5"),
        pytest.param({"name": "resnet20"}, id="resnet20", marks=pytest.mark.slow),
        pytest.param({"spec": VGG_SPEC}, id="vgg_spec"),
    ],
)
def test_a_minimal_recipe_learns_with_the_default_training(tmp_path, model):
    """[model], [data] source (and how many generated images), a batch size and epochs, nothing
    else: the default [train] (Adam at 0.001) learns every small zoo network on the offline glyphs
    within 3 epochs. The former default, SGD at 0.1, took LeNet-5's loss to 12 and its accuracy to
    20%."""
    doc = {
        "model": model,
        "data": {"source": "glyphs", "samples": 1200, "batch_size": 64},
        "train": {"epochs": 3},
        "output": {"dir": str(tmp_path / "run"), "tensorboard": False, "report": False},
    }
    r = load_recipe(doc, name="minimal")
    assert (r.train.optimizer, r.train.learning_rate, r.train.schedule) == ("adam", 1e-3, "constant")
    result = train(r, verbose=0, log=lambda *a: None)
    losses = [float(row["loss"]) for row in history(result.run_dir)]
    assert losses == sorted(losses, reverse=True), losses  # falls every epoch
    assert result.metrics["test"]["accuracy"] > 0.6, result.metrics  # 10 glyphs: chance is 0.1


def test_a_log_written_to_a_file_has_one_plain_line_per_epoch(tmp_path, monkeypatch, capfd):
    """`kerascnn train ... > log.txt`: Keras' progress bar, redrawn with carriage returns and escape
    codes many times an epoch, used to fill the file; standard output that is not a terminal now
    gets one plain line per epoch (Keras' verbose=2). A terminal keeps the live bar."""
    import sys

    import yaml

    from kerascnn.cli import main
    from kerascnn.training.compile import progress

    doc = {
        "model": {"spec": SMALL_CNN},
        "data": {
            "source": "synthetic",
            "classes": 3,
            "samples": 300,
            "image_size": [12, 12],
            "batch_size": 16,
        },
        "train": {"epochs": 2, "steps_per_execution": 1},
        "output": {"dir": str(tmp_path / "run"), "tensorboard": False},
    }
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(doc))
    capfd.readouterr()
    assert main(["train", str(tmp_path / "recipe.yaml")]) == 0  # standard output: not a terminal
    text = capfd.readouterr().out
    assert "\x1b" not in text and "\r" not in text and "\b" not in text, repr(text[:500])
    lines = text.splitlines()
    assert [line for line in lines if line.startswith("Epoch ")] == ["Epoch 1/2", "Epoch 2/2"]
    per_epoch = [line for line in lines if " - loss: " in line or " - accuracy: " in line]
    assert len(per_epoch) == 2 and all(line.startswith("14/14 - ") for line in per_epoch), lines

    class Terminal:
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stdout", Terminal())
    assert progress("auto") == 1 and progress(0) == 0


def test_one_training_set_up_for_train_phases_tune_and_hypercnn(tmp_path):
    """The optimizer (schedule, weight decay kept off BN and biases), loss and auxiliary-output
    check come from one place (kerascnn.training.compile) for `kerascnn train`, fine-tuning phases,
    `kerascnn tune` trials and HyperCNN: the same values give the same optimizer. (HyperCNN's AdamW
    used to default to a weight decay of 0.004, the recipes' to 0.)"""
    import keras_tuner

    import kerascnn
    from kerascnn.recipe import TrainSection
    from kerascnn.training.compile import make_optimizer
    from kerascnn.tuning.hypermodel import HyperCNN
    from kerascnn.tuning.search import RecipeHyperModel

    def described(optimizer):
        config = optimizer.get_config()
        rate = config.pop("learning_rate")
        return (
            type(optimizer).__name__,
            rate,
            config["weight_decay"],
            config.get("momentum"),
            sorted(getattr(optimizer, "_exclude_from_weight_decay_names", None) or []),
        )

    for values in (
        {"optimizer": "adamw", "learning_rate": 0.01},
        {"optimizer": "adamw", "learning_rate": 0.01, "weight_decay": 1e-4},
        {"optimizer": "sgd", "learning_rate": 0.1, "momentum": 0.8, "weight_decay": 5e-4},
    ):
        expected = described(make_optimizer(TrainSection(**values)))
        hp = keras_tuner.HyperParameters()
        for key, value in values.items():
            hp.Fixed(key, value)
        hm = HyperCNN(
            "lenet5",
            input_shape=(32, 32, 1),
            classes=3,
            space={k: {"type": "fixed", "value": v} for k, v in values.items()},
        )
        assert described(hm.optimizer(hp)) == expected, values
    assert described(make_optimizer(TrainSection(optimizer="adamw")))[2] == 0.0

    doc = {
        "model": {"spec": SMALL_CNN},
        "data": {
            "source": "synthetic",
            "classes": 3,
            "samples": 96,
            "image_size": [12, 12],
            "batch_size": 32,
        },
        "train": {
            "epochs": 2,
            "optimizer": "sgd",
            "learning_rate": 0.05,
            "weight_decay": 1e-4,
            "schedule": "cosine",
        },
        "tune": {"max_trials": 1, "space": {"train.momentum": {"type": "fixed", "value": 0.9}}},
        "output": {"dir": str(tmp_path / "run"), "tensorboard": False},
    }
    r = load_recipe(doc, name="same")
    trial = RecipeHyperModel(r).build(keras_tuner.HyperParameters())
    trained = train(r, verbose=0, log=lambda *a: None)
    model = kerascnn.load_model(trained.run_dir / "best.keras")
    # the same class, cosine schedule (its configuration), weight decay and momentum
    assert described(trial.optimizer)[:4] == described(model.optimizer)[:4]


def test_the_verbs_are_callable_from_the_top(tmp_path, monkeypatch):
    """`kerascnn.train`, `tune`, `evaluate`, `predict` are functions of the package (not modules:
    the training package is `kerascnn.training`, the search module `kerascnn.tuning.search`), taking a
    recipe file, a shipped recipe's name, a dict or a loaded Recipe, and returning documented
    results."""
    import inspect

    import kerascnn
    import kerascnn.training.fit  # importing the packages does not shadow the verbs
    import kerascnn.tuning.search
    import kerascnn.verbs.train

    for verb in ("train", "tune", "evaluate", "predict"):
        assert inspect.isfunction(getattr(kerascnn, verb)), verb
        assert "Returns" in inspect.getdoc(getattr(kerascnn, verb)), verb
    doc = {
        "model": {"spec": SMALL_CNN},
        "data": {
            "source": "synthetic",
            "classes": 3,
            "samples": 96,
            "image_size": [12, 12],
            "batch_size": 32,
        },
        "output": {"dir": str(tmp_path / "run"), "tensorboard": False, "report": False},
    }
    run = kerascnn.train(doc, overrides=["train.epochs=1"], verbose=0, log=lambda *a: None)
    assert isinstance(run, kerascnn.verbs.RunResult) and run.metrics["epochs"] == 1
    assert (
        kerascnn.evaluate(run.run_dir).examples
        == json.loads((run.run_dir / "data.json").read_text())["sizes"]["test"]
    )
    monkeypatch.chdir(tmp_path)
    run = kerascnn.train(
        "lenet5_digits",
        overrides=["train.epochs=1", "output.tensorboard=false", "output.report=false"],
        verbose=0,
        log=lambda *a: None,
    )
    assert run.run_dir == Path("runs/lenet5_digits") and run.metrics["epochs"] == 1
    with pytest.raises(ConfigError, match="no shipped recipe named 'lenet5_digit'"):
        kerascnn.train("lenet5_digit")


def test_the_throughput_callback_measures_images_per_second_and_the_wait_for_data():
    """Between steps is waiting for data (timm's data time); the epoch's time ends with its last
    step (validation is not counted)."""
    from kerascnn.training.throughput import Throughput

    now = [0.0]
    callback = Throughput(images=400, clock=lambda: now[0])
    callback.on_epoch_begin(0)
    for step in range(4):  # 0.3 s waiting for the batch, then a 0.2 s step
        now[0] += 0.3
        callback.on_train_batch_begin(step)
        now[0] += 0.2
        callback.on_train_batch_end(step)
    now[0] += 5.0  # validation
    logs = {"loss": 1.0}
    callback.on_epoch_end(0, logs)
    assert logs == {"loss": 1.0, "images_per_second": 200.0, "data_wait": 0.6}


def test_each_epoch_s_log_line_carries_images_per_second_and_the_data_wait(tmp_path, capsys):
    r = recipe(tmp_path, train={"epochs": 1})
    train(r, verbose=2, log=lambda *a: None)
    line = next(x for x in capsys.readouterr().out.splitlines() if " - loss: " in x)
    assert "images_per_second: " in line and "data_wait: " in line, line
