"""Using a trained run: `evaluate` and `predict` feed images exactly as validation did, from a run
directory, a folder of labelled images or a recipe; a bare model must say how it was normalized."""

import json
import shutil

import numpy as np
import pytest

from kerascnn.config import ConfigError
from kerascnn.data import synthetic_images
from kerascnn.inference import evaluate, load_trained, predict
from kerascnn.recipe import load_recipe
from kerascnn.verbs import train

SPEC = {
    "defaults": {"norm": "batch"},
    "stages": [{"blocks": ["conv3-16", "maxpool"]}, {"blocks": ["conv3-32", "maxpool"]}],
    "head": {"pool": "avg"},
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished run on the synthetic task at 20x20, fed 24x24 images cropped to 20x20."""
    root = tmp_path_factory.mktemp("inference")
    recipe = load_recipe(
        {
            "model": {"spec": SPEC},
            "data": {
                "source": "synthetic",
                "classes": 3,
                "samples": 360,
                "image_size": [20, 20],
                "load_size": [24, 24],
                "batch_size": 32,
            },
            "train": {"epochs": 4, "optimizer": "adam", "learning_rate": 0.01},
            "output": {"dir": str(root / "run"), "tensorboard": False},
        },
        name="inference",
    )
    return train(recipe, verbose=0, log=lambda *a: None)


def labelled_folder(root, count=6):
    """PNGs of the synthetic task's images, one sub-folder per class, as users keep them."""
    from PIL import Image

    images, labels = synthetic_images(3, 3 * count, (20, 20), 3, seed=0)  # as the run saw them
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.astype(np.uint8)).save(folder / f"{i}.png")
    return root


def test_evaluate_repeats_the_runs_test_metrics(run):
    result = evaluate(run.run_dir)
    assert result.examples == 72 and result.data.endswith("test split")
    assert result.accuracy == pytest.approx(run.metrics["test"]["accuracy"], abs=1e-6)
    assert result.loss == pytest.approx(run.metrics["test"]["loss"], rel=1e-3)
    assert result.accuracy > 0.8  # chance: 1/3
    assert np.asarray(result.confusion).sum() == 72 and result.top5_accuracy is None
    assert set(result.per_class) == {"0", "1", "2"}
    val = evaluate(run.run_dir, split="val")
    assert val.examples == 29


def test_evaluate_a_folder_and_predict_files(run, tmp_path, capsys):
    folder = labelled_folder(tmp_path / "labelled")
    result = evaluate(run.run_dir / "model.keras", folder)
    assert result.examples == 18 and result.accuracy > 0.8
    predictions = predict(run.run_dir, folder, top=2)
    assert len(predictions) == 18 and all(len(p.classes) == 2 for p in predictions)
    assert all(p.probabilities[0] >= p.probabilities[1] for p in predictions)
    hits = [p.classes[0] == p.path.split("/")[-2] for p in predictions]
    assert np.mean(hits) == pytest.approx(result.accuracy)  # the same preprocessing both ways
    from kerascnn.cli import main

    plot = tmp_path / "confusion.png"
    assert (
        main(["evaluate", str(run.run_dir), "--data", str(folder), "--json", "--confusion", str(plot)])
        == 0
    )
    assert json.loads(capsys.readouterr().out)["examples"] == 18 and plot.stat().st_size > 5000
    assert main(["evaluate", str(run.run_dir), "--confusion", str(plot)]) == 2  # kept
    assert "does not overwrite" in capsys.readouterr().err
    assert main(["predict", str(run.run_dir), str(folder / "0"), "--top", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 6 and all("%" in line for line in lines)


def test_bad_targets_and_data_are_plain_errors(run, tmp_path):
    bare = tmp_path / "elsewhere" / "model.keras"
    bare.parent.mkdir()
    shutil.copy(run.run_dir / "model.keras", bare)
    with pytest.raises(ConfigError, match="normalized is unknown"):
        load_trained(bare)
    trained = load_trained(bare, normalize="unit")
    assert trained.class_names == ["0", "1", "2"] and trained.preprocessing.std == (255.0,) * 3
    with pytest.raises(ConfigError, match="has no run recipe"):
        evaluate(trained)
    wrong = tmp_path / "wrong"
    (wrong / "cat").mkdir(parents=True)
    with pytest.raises(ConfigError, match="Unknown: cat"):
        evaluate(run.run_dir, wrong)
    with pytest.raises(ConfigError, match="no image or folder"):
        predict(run.run_dir, [tmp_path / "missing.png"])
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(ConfigError, match="not an image"):
        predict(run.run_dir, [tmp_path / "text.png"])
    with pytest.raises(ConfigError, match="holds no trained model"):
        load_trained(tmp_path)


# --- the papers' test protocols: multi-crop, multi-scale, ensembles ---------------------------------


def pngs(root, images, labels):
    from PIL import Image

    for i, (image, label) in enumerate(zip(images, labels)):
        (root / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.astype(np.uint8)).save(root / str(label) / f"{i:03d}.png")
    return root


def independent(model, pre, images, views):
    """Softmax averaged over `views` (top, left, mirrored, size) computed here with numpy and
    model.predict, image by image set, not through kerascnn's evaluation."""
    import tensorflow as tf

    total = 0
    for top, left, mirrored, size in views:
        x = images if size == images.shape[1:3] else tf.image.resize(images, size).numpy()
        x = x[:, top : top + 20, left : left + 20]
        x = x[:, :, ::-1] if mirrored else x
        x = (x - np.asarray(pre.mean, "float32")) / np.asarray(pre.std, "float32")
        total = total + model.predict(x, verbose=0).astype("float64")
    return total / len(views)


def summary_of(p, y):
    return (float(-np.mean(np.log(p[np.arange(len(y)), y]))), float(np.mean(p.argmax(1) == y)))


def test_ten_crops_and_scales_are_the_mean_of_each_view_evaluated_alone(run, tmp_path):
    """AlexNet's ten views (four corners, the centre, and their mirror images) and VGG's scales:
    `evaluate` gives the loss and accuracy of the softmax averaged over exactly those views."""
    images, labels = synthetic_images(3, 30, (24, 24), 3, seed=3)
    folder = pngs(tmp_path / "labelled", images, labels)
    order = np.argsort([f"{label}/{i:03d}.png" for i, label in enumerate(labels)], kind="stable")
    x, y = (
        images[order].astype(np.uint8).astype("float32"),
        labels[order].astype(int),
    )  # the folder's order
    trained = load_trained(run.run_dir)
    corners = [(2, 2), (0, 0), (0, 4), (4, 0), (4, 4)]
    ten = [(t, left, m, (24, 24)) for m in (False, True) for t, left in corners]
    expected = independent(trained.model, trained.preprocessing, x, ten)
    got = evaluate(run.run_dir, folder, crops=10)
    assert got.examples == 30 and got.protocol == {"crops": 10, "scales": None}
    assert (got.loss, got.accuracy) == pytest.approx(summary_of(expected, y), rel=1e-5)
    confusion = np.zeros((3, 3), int)
    np.add.at(confusion, (y, expected.argmax(1)), 1)
    assert got.confusion == confusion.tolist()
    centre = evaluate(run.run_dir, folder)  # the default: one centre crop, as before
    assert (centre.loss, centre.accuracy) == pytest.approx(
        summary_of(independent(trained.model, trained.preprocessing, x, ten[:1]), y), rel=1e-5
    )
    assert centre.loss != pytest.approx(got.loss, rel=1e-3)  # the views do change the answer
    # Two scales, five crops each: the shorter side to 24 and to 28, then the corners and centre.
    wide = [(4, 4), (0, 0), (0, 8), (8, 0), (8, 8)]
    views = [(t, left, False, (24, 24)) for t, left in corners] + [
        (t, left, False, (28, 28)) for t, left in wide
    ]
    scaled = evaluate(run.run_dir, folder, crops=5, scales=[24, 28])
    assert (scaled.loss, scaled.accuracy) == pytest.approx(
        summary_of(independent(trained.model, trained.preprocessing, x, views), y), rel=1e-5
    )


def test_an_ensemble_averages_its_members_and_an_ensemble_of_one_is_that_model(run, tmp_path, capsys):
    import keras

    images, labels = synthetic_images(3, 30, (24, 24), 3, seed=4)
    folder = pngs(tmp_path / "labelled", images, labels)
    alone = evaluate(run.run_dir, folder)
    one = evaluate([run.run_dir], folder)
    assert one.to_dict() | {"model": "", "members": None} == alone.to_dict() | {
        "model": "",
        "members": None,
    }
    assert one.members[0].to_dict() == alone.to_dict()
    # A second member: the same run with other classifier weights.
    other = tmp_path / "other"
    shutil.copytree(run.run_dir, other)
    model = keras.models.load_model(other / "model.keras")
    layer = model.get_layer("head_logits")
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel[:, ::-1] * 0.7, bias[::-1]])
    model.save(other / "model.keras")
    pair = evaluate([run.run_dir, other], folder)
    order = np.argsort([f"{label}/{i:03d}.png" for i, label in enumerate(labels)], kind="stable")
    x, y = images[order].astype(np.uint8).astype("float32"), labels[order].astype(int)
    members = [load_trained(t) for t in (run.run_dir, other)]
    p = [independent(m.model, m.preprocessing, x, [(2, 2, False, (24, 24))]) for m in members]
    assert (pair.loss, pair.accuracy) == pytest.approx(summary_of((p[0] + p[1]) / 2, y), rel=1e-5)
    for member, q in zip(pair.members, p):
        assert (member.loss, member.accuracy) == pytest.approx(summary_of(q, y), rel=1e-5)
    from kerascnn.cli import main

    assert main(["evaluate", str(run.run_dir), str(other), "--data", str(folder), "--crops", "10"]) == 0
    out = capsys.readouterr().out
    assert (
        "an ensemble of 2" in out
        and "10 crops" in out
        and "ensemble of 2" in out.split("\n", 1)[1]
        and str(other) in out
    )


def test_protocols_refuse_what_they_cannot_do(run, tmp_path, capsys):
    bare = tmp_path / "bare.keras"
    shutil.copy(run.run_dir / "model.keras", bare)
    images, labels = synthetic_images(3, 6, (20, 20), 3, seed=5)
    folder = pngs(tmp_path / "labelled", images, labels)
    with pytest.raises(ConfigError, match="every corner is the centre") as error:
        evaluate(load_trained(bare, normalize="unit"), folder, crops=10)
    assert "--scales 22" in str(error.value)
    with pytest.raises(ConfigError, match="at least the input's 20. Received: 16"):
        evaluate(run.run_dir, folder, scales=[16])
    with pytest.raises(ConfigError, match="crops must be 1, 5 or 10. Received: 3"):
        evaluate(run.run_dir, folder, crops=3)
    with pytest.raises(ConfigError, match="has input shape"):
        import keras

        small = keras.Sequential(
            [
                keras.Input((16, 16, 3)),
                keras.layers.Flatten(),
                keras.layers.Dense(3, activation="softmax"),
            ]
        )
        small.save(tmp_path / "small.keras")
        evaluate([run.run_dir, load_trained(tmp_path / "small.keras", normalize="unit")], folder)
    from kerascnn.cli import main

    with pytest.raises(SystemExit):
        main(["evaluate", str(run.run_dir), "--crops", "3"])
    assert "invalid choice: 3" in capsys.readouterr().err
    assert main(["evaluate", str(run.run_dir), str(tmp_path / "missing")]) == 2
    assert "no run directory or model at" in capsys.readouterr().err


@pytest.mark.slow  # end to end; over 10 s on 2 cores (README's command stays under 10 min)
def test_evaluate_and_predict_run_on_jax_as_on_tensorflow(run, tmp_path):
    """A run trained on TensorFlow, evaluated (five crops at a larger scale) and used to predict on
    the JAX backend in another process: the images reach the model as NumPy arrays (JAX's jit
    takes no TensorFlow tensors), and the results are TensorFlow's within bfloat16's rounding."""
    import os
    import subprocess
    import sys

    folder = labelled_folder(tmp_path / "labelled", count=2)
    files = sorted(str(p) for p in folder.rglob("*.png"))
    env = {**os.environ, "KERAS_BACKEND": "jax"}

    def on_jax(*argv):
        done = subprocess.run(
            [sys.executable, "-m", "kerascnn.cli", *argv, "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout)

    jax_eval = on_jax("evaluate", str(run.run_dir), "--crops", "5", "--scales", "26")
    tf_eval = evaluate(run.run_dir, crops=5, scales=[26])
    assert jax_eval["examples"] == tf_eval.examples == 72
    assert abs(jax_eval["accuracy"] - tf_eval.accuracy) <= 2 / 72
    assert jax_eval["loss"] == pytest.approx(tf_eval.loss, abs=0.02)
    jax_pred = on_jax("predict", str(run.run_dir), *files, "--top", "3")
    tf_pred = predict(run.run_dir, files, top=3)
    for j, t in zip(jax_pred, tf_pred, strict=True):
        got = {entry["class"]: entry["probability"] for entry in j["top"]}
        expected = dict(zip(t.classes, t.probabilities))
        assert got.keys() == expected.keys()
        assert all(abs(got[c] - expected[c]) < 0.02 for c in expected), (got, expected)
