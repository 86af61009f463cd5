"""The input path without TensorFlow (issue 33): NumPy resizes and Pillow decoding against
TensorFlow's own ops, and the grain feed against the tf.data pipeline for the same recipe and seed:
the same images, classes and splits, each augmentation key meaning the same thing, batches that are
a function of (seed, epoch, batch) so a resumed run sees what it would have seen."""

import numpy as np
import pytest
from augmentations import EVERY_DRAW

from kerascnn.data import images


@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")


SIZES = [(8, 8), (37, 53), (120, 90), (5, 9)]
TARGETS = [(32, 32), (16, 24), (7, 5), (224, 224)]


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
@pytest.mark.parametrize("source", SIZES)
def test_resize_is_tensorflows(tf, source, interpolation):
    x = np.random.default_rng(0).uniform(0, 255, (*source, 3)).astype("float32")
    for size in [*TARGETS, (source[0], source[1] + 3)]:
        ours = images.resize(x, size, interpolation)
        theirs = tf.image.resize(x, size, method=interpolation).numpy()
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, atol=2e-3, err_msg=f"{source} -> {size}")
    batch = np.stack([x, x[::-1]])  # a batch resizes as its images do
    np.testing.assert_allclose(
        images.resize(batch, (16, 24), interpolation)[1],
        images.resize(x[::-1], (16, 24), interpolation),
        atol=1e-4,
    )


@pytest.mark.parametrize("method", ["stretch", "pad", "shorter"])
def test_every_resize_mode_is_the_tf_data_paths(tf, method):
    from kerascnn.data.resize import fit_size

    rng = np.random.default_rng(1)
    for source in SIZES:
        x = rng.uniform(0, 255, (*source, 3)).astype("float32")
        for size in TARGETS:
            theirs = fit_size(tf.constant(x), size, method, "bicubic").numpy()
            ours = images.fit_size(x, size, method, "bicubic")
            np.testing.assert_allclose(ours, theirs, atol=2e-3, err_msg=f"{source} -> {size}")
        for size in TARGETS:  # Keras' loader's "pad" for folders: aspect kept, black around
            np.testing.assert_allclose(
                images.resize_with_pad(x, *size), tf.image.resize_with_pad(x, *size).numpy(), atol=2e-3
            )


def _save(path, array, mode, **options):
    from PIL import Image

    Image.fromarray(array).convert(mode).save(path, **options)
    return str(path)


@pytest.mark.parametrize("suffix", ["png", "gif", "bmp", "webp"])
def test_pillow_decodes_the_pixels_tensorflow_decodes(tf, tmp_path, suffix):
    from PIL import Image

    rgb = np.random.default_rng(2).integers(0, 256, (30, 20, 3)).astype("uint8")
    rgb = np.asarray(Image.fromarray(rgb).resize((40, 60)))  # smooth: GIF's palette holds it
    for mode in ("RGB", "L", "RGBA", "P"):
        if suffix == "bmp" and mode == "P":
            continue  # TensorFlow misreads palette BMPs (Pillow reads them right)
        path = _save(tmp_path / f"{mode}.{suffix}", rgb, mode)
        for channels in (1, 3):
            try:
                theirs = tf.io.decode_image(
                    tf.io.read_file(path), channels=channels, expand_animations=False
                ).numpy()
            except tf.errors.InvalidArgumentError:
                continue  # TensorFlow decodes grey only from PNG and JPEG
            ours = images.decode(path, channels)
            assert ours.shape == theirs.shape and ours.dtype == np.uint8
            differ = ours.astype(int) - theirs
            assert np.abs(differ).max() <= 1, (mode, channels)
            assert (differ != 0).mean() < 0.01, (mode, channels)  # grey from RGB PNG: rounding


def test_jpeg_differs_only_by_tensorflows_fast_dct(tf, tmp_path):
    rgb = np.random.default_rng(3).integers(0, 256, (48, 64, 3)).astype("uint8")
    path = _save(tmp_path / "a.jpg", rgb, "RGB", quality=90)
    accurate = tf.io.decode_jpeg(
        tf.io.read_file(path), channels=3, dct_method="INTEGER_ACCURATE"
    ).numpy()
    np.testing.assert_array_equal(images.decode(path, 3), accurate)
    fast = tf.io.decode_image(tf.io.read_file(path), channels=3).numpy()
    assert np.abs(images.decode(path, 3).astype(int) - fast).max() <= 8


def test_damaged_files_are_named_in_the_same_words_by_both_decoders(tmp_path):
    from kerascnn.data.folder import check_images

    good = _save(tmp_path / "good.png", np.zeros((8, 8, 3), "uint8"), "RGB")
    jpeg = _save(tmp_path / "cut.jpg", np.full((64, 64, 3), 90, "uint8"), "RGB")
    with open(jpeg, "r+b") as f:
        f.truncate(200)
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image")
    paths = [good, jpeg, str(tmp_path / "empty.png"), str(tmp_path / "text.png")]
    for decoder in ("pillow", "tensorflow"):
        bad = check_images(paths, channels=3, decoder=decoder)
        assert sorted(bad) == sorted(paths[1:]), decoder
        assert bad[paths[2]] == "an empty file"
        assert bad[paths[3]] == "not an image (another kind of file under an image's name)"
        assert bad[jpeg].startswith("damaged: "), (decoder, bad[jpeg])


def _recipe(pipeline, **data):
    from kerascnn.recipe import load_recipe

    doc = {
        "model": {"name": "lenet5"},
        "data": {"pipeline": pipeline, **data},
        "output": {"tensorboard": False},
    }
    return load_recipe(doc, name="feed")


def _batches(dataset):
    return [tuple(np.asarray(part) for part in batch) for batch in dataset.as_numpy_iterator()]


@pytest.mark.parametrize(
    "data",
    [
        {"source": "digits", "batch_size": 64},
        {"source": "glyphs", "classes": 5, "samples": 200, "batch_size": 32, "train_per_class": 20},
        {
            "source": "synthetic",
            "classes": 3,
            "samples": 90,
            "image_size": [24, 24],
            "load_size": [28, 28],
            "resize": "pad",
            "batch_size": 16,
            "class_subset": [2, 0],
        },
    ],
    ids=["digits", "glyphs", "synthetic-cropped-subset"],
)
def test_both_paths_give_the_same_splits_statistics_and_evaluation_batches(tf, data):
    from kerascnn.data import load_data

    fed, piped = load_data(_recipe("grain", **data)), load_data(_recipe("tf.data", **data))
    assert fed.pipeline == "grain" and piped.pipeline == "tf.data"
    assert fed.sizes == piped.sizes and fed.class_names == piped.class_names
    assert fed.train_counts == piped.train_counts
    np.testing.assert_allclose(fed.preprocessing.mean, piped.preprocessing.mean, rtol=1e-6)
    np.testing.assert_allclose(fed.preprocessing.std, piped.preprocessing.std, rtol=1e-6)
    assert fed.preprocessing == piped.preprocessing
    for split in ("val", "test"):
        ours, theirs = _batches(getattr(fed, split)), _batches(getattr(piped, split))
        assert len(ours) == len(theirs) == len(getattr(fed, split))
        for (x, y), (tx, ty) in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(x, tx, atol=1e-4)
            np.testing.assert_array_equal(y, ty)
    ((x, y),) = fed.train.take(1).as_numpy_iterator()
    spec = fed.train.element_spec
    assert spec[0].shape == (None, *fed.input_shape) and x.shape[1:] == fed.input_shape
    assert y.shape == (len(x), fed.classes) and np.allclose(y.sum(1), 1)


def _folder(root, broken=False):
    from PIL import Image

    rng = np.random.default_rng(4)
    for name in ("cat", "dog"):
        (root / name).mkdir(parents=True)
        for i in range(6):
            size = (int(rng.integers(20, 40)), int(rng.integers(20, 40)))
            array = rng.integers(0, 256, (*size, 3)).astype("uint8")
            Image.fromarray(array).save(root / name / f"{i}.png")
    if broken:
        (root / "dog" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut short")
    return root


@pytest.mark.parametrize("resize", ["stretch", "pad", "shorter"])
def test_an_image_folder_gives_the_same_batches_on_both_paths(tf, tmp_path, resize):
    from kerascnn.data import load_data

    root = _folder(tmp_path / "images")
    data = {
        "source": "folder",
        "path": str(root),
        "image_size": [16, 16],
        "channels": 3,
        "resize": resize,
        "interpolation": "bicubic",
        "batch_size": 4,
        "validation_split": 0.25,
        "normalize": "imagenet",
    }
    fed, piped = load_data(_recipe("grain", **data)), load_data(_recipe("tf.data", **data))
    assert fed.sizes == piped.sizes == {"train": 9, "val": 3}
    for (x, y), (tx, ty) in zip(_batches(fed.val), _batches(piped.val), strict=True):
        np.testing.assert_allclose(x, tx, atol=1e-4)
        np.testing.assert_array_equal(y, ty)


def test_a_damaged_image_stops_or_is_skipped_on_the_grain_path(tmp_path):
    from kerascnn.config import ConfigError
    from kerascnn.data import load_data

    root = _folder(tmp_path / "images", broken=True)
    data = {"source": "folder", "path": str(root), "image_size": [16, 16], "batch_size": 4}
    with pytest.raises(ConfigError, match=r"dog/broken.jpg \(damaged: "):
        load_data(_recipe("grain", **data))
    fed = load_data(_recipe("grain", bad_images="skip", **data))
    assert list(fed.skipped) == [str((root / "dog" / "broken.jpg").resolve())]
    assert sum(fed.sizes.values()) == 12


def test_grain_batches_are_a_function_of_seed_epoch_and_batch():
    """What makes a resumed run see the batches it would have seen: batch k of epoch e is the
    same whenever it is made, whatever came before; epochs differ; augmentation is drawn."""
    from kerascnn.data import load_data

    data = {
        "source": "glyphs",
        "classes": 4,
        "samples": 120,
        "batch_size": 16,
        "augment": {"crop_padding": 2, "flip": True, "mixup": 0.2},
    }
    fed = load_data(_recipe("grain", **data)).train
    again = load_data(_recipe("grain", **data)).train
    late = [batch[0] for batch in fed.dataset(first_epoch=2, epochs=1)]
    for index in (4, 0):
        np.testing.assert_array_equal(again.batch(2, index)[0], late[index])
        np.testing.assert_array_equal(again.batch(2, index)[1], fed.batch(2, index)[1])
    assert not np.array_equal(fed.batch(2, 0)[0], fed.batch(3, 0)[0])
    assert sorted(np.concatenate([fed.order(5)])) == list(range(fed.size))
    assert not np.array_equal(fed.order(5), fed.order(6))
    soft = fed.batch(0, 0)[1]
    assert not np.all(np.isin(soft, (0.0, 1.0)))  # MixUp's soft labels
    np.testing.assert_allclose(soft.sum(1), 1, atol=1e-5)


def test_tf_data_epochs_are_a_function_of_seed_and_epoch():
    """The tf.data path's side of a resume that sees the batches it would have seen: the first pass
    of `train_from(2)` is the third pass of `train` (order, random-resized crops, padded crops,
    flips, RandAugment, MixUp or CutMix), a second `load_data` makes the same epochs (RandAugment's
    draws no longer depend on which of tf.data's parallel calls ran first), and epochs differ."""
    pytest.importorskip("tensorflow")
    from kerascnn.data import load_data

    data = {
        "source": "glyphs",
        "classes": 4,
        "samples": 120,
        "batch_size": 16,
        "augment": EVERY_DRAW,
    }

    def epoch(ds):
        return [tuple(np.asarray(part) for part in batch) for batch in ds]

    loaded = load_data(_recipe("tf.data", **data))
    passes = [epoch(loaded.train) for _ in range(3)]
    late = epoch(load_data(_recipe("tf.data", **data)).train_from(2))
    assert len(late) == len(passes[2]) == loaded.steps_per_epoch
    for (x, y), (x2, y2) in zip(late, passes[2], strict=True):
        np.testing.assert_array_equal(x, x2)
        np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(passes[0][0][0], passes[1][0][0])
    soft = np.concatenate([y for _, y in passes[0]])
    assert not np.all(np.isin(soft, (0.0, 1.0)))  # mixed labels
    np.testing.assert_allclose(soft.sum(1), 1, atol=1e-5)


def test_numpy_augmentations_mean_what_the_tf_data_ones_do():
    from kerascnn.data.augment_numpy import random_crops, random_flips, random_resized_crop

    rng = np.random.default_rng(5)
    x = np.arange(2 * 6 * 6, dtype="float32").reshape(2, 6, 6, 1)
    crops = random_crops(np.repeat(x[:1], 400, 0), (4, 4), rng)
    tops = {int(c[0, 0, 0]) // 6 for c in crops}
    lefts = {int(c[0, 0, 0]) % 6 for c in crops}
    assert tops == lefts == {0, 1, 2}  # every place that fits, uniform
    padded = random_crops(np.ones((300, 4, 4, 1), "float32"), (4, 4), rng, padding=2)
    assert padded.min() == 0 and padded.max() == 1 and padded.shape == (300, 4, 4, 1)
    assert (padded.sum((1, 2, 3)) == 16).mean() == pytest.approx(1 / 25, abs=0.04)
    flipped = random_flips(np.repeat(x[:1], 400, 0), rng)
    mirrored = np.all(flipped == x[0, :, ::-1], axis=(1, 2, 3))
    assert np.all(mirrored | np.all(flipped == x[0], axis=(1, 2, 3)))
    assert 0.4 < mirrored.mean() < 0.6
    image = rng.uniform(0, 255, (40, 60, 3)).astype("float32")
    out = random_resized_crop(image, (0.08, 1.0), (0.75, 4 / 3), (16, 16), rng)
    assert out.shape == (16, 16, 3) and out.dtype == np.float32
    whole = random_resized_crop(image, (1.0, 1.0), (1.5, 1.5), (40, 60), rng)
    np.testing.assert_allclose(whole, image, atol=1e-3)  # the whole image: nothing else fits


def test_tensorflow_datasets_are_read_through_data_source_on_the_grain_path(tmp_path):
    """`tfds.data_source` (no TensorFlow needed to read a prepared dataset), on tfds' mock data;
    a dataset not prepared is one line saying that preparing one needs TensorFlow."""
    import tensorflow_datasets as tfds

    from kerascnn.config import ConfigError
    from kerascnn.data import load_data

    data = {
        "source": "tfds",
        "name": "mnist",
        "image_size": [32, 32],
        "resize": "pad",
        "batch_size": 16,
        "data_dir": str(tmp_path / "tfds"),
    }
    with tfds.testing.mock_data(num_examples=40):
        fed = load_data(_recipe("grain", **data))
        ((x, y),) = fed.train.take(1).as_numpy_iterator()
        subset = load_data(_recipe("grain", class_subset=[3, 1], **data))
        ((sx, sy),) = subset.val.take(1).as_numpy_iterator()
    assert fed.classes == 10 and fed.class_names[:2] == ["0", "1"]
    assert x.shape == (16, 32, 32, 1) and y.shape == (16, 10)
    assert subset.class_names == ["3", "1"] and sum(subset.train_counts) == subset.sizes["train"]
    assert sy.shape[1] == 2 and len(sx) == min(16, subset.sizes["val"])
    with pytest.raises(
        ConfigError,
        match=r"cannot read 'mnist' for the grain input path .*"
        r"preparing one needs TensorFlow",
    ):
        load_data(_recipe("grain", **data))


DEVICE_FEED = """
import json, sys
import numpy as np
from kerascnn.data import load_data
from kerascnn.recipe import load_recipe

def recipe(**data):
    return load_recipe({"model": {"name": "lenet5"}, "data": {
        "source": "glyphs", "classes": 4, "samples": 96, "batch_size": 16, "image_size": [16, 16],
        "load_size": [20, 20], "normalize": "unit", "test_fraction": 0.25,
        "augment": {"crop_padding": 2, "flip": True}, **data}}, name="device")

fed = load_data(recipe(on_device=True))
host = load_data(recipe(on_device=False))
x, y = fed.train.batch(3, 1)
hx, hy = host.train.batch(3, 1)
again = load_data(recipe(on_device=True)).train
late = [np.asarray(b[0]) for b in again.dataset(first_epoch=3, epochs=1)]
try:
    load_data(recipe(on_device=True, augment={"mixup": 0.2}))
    refused = ""
except Exception as e:
    refused = str(e)
print("RESULT", json.dumps({
    "on_device": [fed.on_device, host.on_device], "type": type(x).__module__.split(".")[0],
    "shape": list(x.shape), "labels_equal": bool(np.array_equal(np.asarray(y), hy)),
    "resumed_equal": bool(np.array_equal(late[1], np.asarray(x))),
    "epochs_differ": not np.array_equal(np.asarray(fed.train.batch(4, 1)[0]), np.asarray(x)),
    "range": [float(np.min(x)), float(np.max(x))],
    "host_range": [float(hx.min()), float(hx.max())],
    "zero_border": float((np.asarray(x) == 0).mean()), "host_zero": float((hx == 0).mean()),
    "refused": refused}))
"""


def test_the_device_feed_crops_and_flips_on_the_device_in_the_grain_paths_order(tmp_path):
    """`data.on_device = true` on JAX (a CPU here): the training batches are JAX arrays made by
    one jitted function, holding the images the grain path's batch holds (same order: the labels
    are equal), cropped from load_size, padded, flipped and normalized alike; batch k of epoch e
    is the same when made again (a resumed run); a recipe with MixUp is refused, saying why."""
    import json
    import os
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", DEVICE_FEED],
        env={**os.environ, "KERAS_BACKEND": "jax"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.split("RESULT ", 1)[1])
    assert found["on_device"] == [True, False] and found["type"] == "jaxlib"
    assert found["shape"] == [16, 16, 16, 1] and found["labels_equal"]
    assert found["resumed_equal"] and found["epochs_differ"]
    assert found["range"][0] == 0 and found["range"][1] <= 1 and found["host_range"][1] <= 1
    assert 0.01 < found["zero_border"] and abs(found["zero_border"] - found["host_zero"]) < 0.25
    assert (
        "data.on_device: the training images cannot be held and augmented on the device: "
        "it crops and flips only"
    ) in found["refused"]


@pytest.mark.parametrize(
    "augment",
    [{"cutmix": 1.0}, {"randaugment": 2, "mixup": 0.2, "cutmix": 1.0}],
    ids=["cutmix", "randaugment-mixup-or-cutmix"],
)
def test_keras_augmentation_layers_run_in_the_grain_feed(augment):
    """RandAugment, MixUp and CutMix (Keras' layers; CutMix's labels mixed by the pixels pasted,
    tests/test_regularizers.py) in the grain path's batches: soft labels that sum to one, each
    image keeping a share of its own class and mixed with one other image at most, the images
    changed."""
    from kerascnn.data import load_data

    data = {
        "source": "glyphs",
        "classes": 4,
        "samples": 120,
        "batch_size": 16,
        "normalize": "none",
        "augment": augment,
    }
    plain = load_data(_recipe("grain", **{**data, "augment": {}})).train
    fed = load_data(_recipe("grain", **data)).train
    x, y = fed.batch(1, 0)
    px, py = plain.batch(1, 0)
    assert x.shape == px.shape and y.shape == py.shape
    np.testing.assert_allclose(y.sum(1), 1, atol=1e-5)
    assert not np.array_equal(x, px)
    mixed = (y.max(1) < 1) & (y.max(1) > 0)
    assert mixed.any()
    own = y[np.arange(len(y)), py.argmax(1)]  # the same images in the same order as without
    assert (own > 0).all()  # each image keeps a share of its own class
    assert ((y > 1e-6).sum(1) <= 2).all()  # mixed with one other image at most
