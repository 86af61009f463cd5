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
from kerascnn.training import train

SPEC = {"defaults": {"norm": "batch"},
        "stages": [{"blocks": ["conv3-16", "maxpool"]}, {"blocks": ["conv3-32", "maxpool"]}],
        "head": {"pool": "avg"}}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished run on the synthetic task at 20x20, fed 24x24 images cropped to 20x20."""
    root = tmp_path_factory.mktemp("inference")
    recipe = load_recipe({
        "model": {"spec": SPEC},
        "data": {"source": "synthetic", "classes": 3, "samples": 360, "image_size": [20, 20],
                 "load_size": [24, 24], "batch_size": 32},
        "train": {"epochs": 4, "optimizer": "adam", "learning_rate": 0.01},
        "output": {"dir": str(root / "run"), "tensorboard": False}}, name="inference")
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
    assert main(["evaluate", str(run.run_dir), "--data", str(folder), "--json",
                 "--confusion", str(plot)]) == 0
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
