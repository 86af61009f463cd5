"""`kerascnn show batch`: a recipe's first training batch as the network receives it, the picture's
pixels checked against the pipeline's own batch, denormalized here independently."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from kerascnn.data import load_data
from kerascnn.recipe import load_recipe


def glyph_recipe(**data):
    return load_recipe(
        {
            "model": {"name": "lenet5"},
            "data": {
                "source": "glyphs",
                "classes": 4,
                "samples": 64,
                "batch_size": 12,
                "image_size": [24, 24],
                "channels": 3,
                "pipeline": "grain",
                "normalize": "caffe",  # BGR, the ImageNet mean subtracted: both undone for display
                "augment": {"randaugment": 2, "flip": True},
                **data,
            },
            "output": {"tensorboard": False},
        },
        name="shown",
    )


def test_the_picture_shows_the_pipeline_s_own_first_batch_denormalized(tmp_path):
    from kerascnn.verbs import show_batch

    recipe = glyph_recipe()
    shown = show_batch(recipe, tmp_path / "batch.png")

    data = load_data(recipe)  # the pipeline, loaded again: batch 0 of epoch 0 is a pure function
    x, y = data.train.batch(0, 0)
    pre = data.preprocessing
    assert pre.bgr and pre.std == (1.0, 1.0, 1.0)
    x, y = np.asarray(x), np.asarray(y)
    expected = np.clip(np.rint((x * np.array(pre.std) + np.array(pre.mean))[..., ::-1]), 0, 255)
    picture = np.asarray(Image.open(shown.path).convert("RGB"))
    assert len(shown.boxes) == len(x) == 12 and shown.scale == 4  # 24 px images drawn 4x
    for k, (left, top) in enumerate(shown.boxes):
        tile = picture[top : top + 24 * 4 : 4, left : left + 24 * 4 : 4]
        np.testing.assert_array_equal(tile, expected[k].astype(np.uint8))
    assert shown.labels == [data.class_names[i] for i in y.argmax(1)]
    # RandAugment changed the images: without augmentation the same batch differs
    plain = load_data(glyph_recipe(augment={})).train.batch(0, 0)[0]
    assert not np.array_equal(np.asarray(plain), x)
    assert "BGR to RGB" in shown.normalization


def test_show_batch_on_the_command_line_never_overwrites(tmp_path, capsys):
    from kerascnn.cli import main

    recipe = tmp_path / "r.toml"
    recipe.write_text(
        '[model]\nname = "lenet5"\n[data]\nsource = "digits"\nbatch_size = 8\n'
        "[data.augment]\nmixup = 0.4\n[output]\ntensorboard = false\n"
    )
    out = tmp_path / "b.png"
    assert main(["show", "batch", str(recipe), "--out", str(out), "--count", "6"]) == 0
    said = capsys.readouterr().out
    assert said.startswith(f"saved {out}: 6 images; shown as x * std + mean")
    assert Image.open(out).size[0] >= 480
    assert main(["show", "batch", str(recipe), "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err


@pytest.mark.parametrize("label, text", [([0, 1, 0], "b"), ([0.25, 0, 0.75], "c 0.75 / a 0.25")])
def test_a_mixed_label_shows_its_classes_and_shares(label, text):
    from kerascnn.visualize.batch import label_text

    assert label_text(np.array(label, np.float32), ["a", "b", "c"]) == text


def test_a_fine_tuning_recipe_is_shown_normalized_as_its_starting_run_was(tmp_path):
    """The phases feed images normalized with the starting run's data.json, not statistics of the
    new data: the picture undoes the same."""
    import json

    from kerascnn.verbs import show_batch

    start = tmp_path / "pretrained"
    start.mkdir()
    (start / "model.keras").write_bytes(b"")  # read only when a phase builds its model
    (start / "data.json").write_text(
        json.dumps({"input_shape": [16, 16, 1], "load_size": [16, 16], "mean": [10.0], "std": [50.0]})
    )
    recipe = load_recipe(
        {
            "data": {"source": "glyphs", "classes": 3, "samples": 30, "batch_size": 6},
            "finetune": {"weights": str(start), "phases": [{"epochs": 1, "unfreeze": "none"}]},
            "output": {"tensorboard": False},
        },
        name="tuned",
    )
    shown = show_batch(recipe, tmp_path / "batch.png")
    assert shown.normalization == "shown as x * std + mean (std 50, mean 10)"
