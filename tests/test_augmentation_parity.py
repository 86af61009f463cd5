"""Each augmentation means one thing on every input path (issue 44): for each row of the table
(`kerascnn.data.augment.TABLE`), its tf.data, NumPy and JAX operations, run as their paths run them
(tf.data's inside a dataset's map, the device's jitted), agree with the row's meaning and with each
other: what is decided exactly (a flip is the mirrored image, a crop a window of the padded image, a
whole-image resized crop the image resized, a mix the combination its label says), and what is drawn
in distribution (how often an image is flipped, where it is cropped, how much of it a crop covers,
how much of it is mixed), over 400 draws on 8x8 images. A new row is tested by every test here once
it has its `CASES` entry (a test says so when it has none).

The tolerance of a comparison in distribution: two paths' draws (and a path's draws against the
meaning where it fixes the distribution: a flip's 1/2, a crop's uniform places) agree unless a
two-sample test (chi-square for a few outcomes, Kolmogorov-Smirnov for many) gives p < 1e-3, which
paths that draw alike do once in a thousand comparisons (the draws are seeded: a passing test
passes every time). At 400 draws that fails a path that flips with probability 0.65 instead of 1/2,
or never draws one place that the others draw (a bound off by one), or crops over scale [0.5, 1]
where the others crop over [0.3, 1] (tested in `test_the_tolerance_tells_apart_what_it_should`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np
import pytest

from kerascnn.data.augment import PATHS, TABLE, WHY_NOT, Setting, asked, refusal
from kerascnn.recipe import AugmentSection, DataSection

P_MIN = 1e-3  # the smallest p-value at which two paths' draws still agree (the module docstring)
DRAWS = 400  # images drawn per path and row
SIZE = (8, 8)
RANDAUGMENT_BATCH = 4  # RandAugment chooses its operations once a batch: 100 batches of 4


@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")


# --- inputs ---------------------------------------------------------------------------------------


def coordinates(n: int, height: int, width: int) -> np.ndarray:
    """`n` copies of an image whose pixels say where they are: channel 0 the row + 1, channel 1 the
    column + 1 (0 is then only ever padding), channel 2 a constant 100."""
    rows, cols = np.meshgrid(np.arange(height) + 1.0, np.arange(width) + 1.0, indexing="ij")
    image = np.stack([rows, cols, np.full_like(rows, 100.0)], -1).astype(np.float32)
    return np.repeat(image[None], n, 0)


def constants(n: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` constant images, the i-th of value 10 (i + 1), and one-hot labels of `n` classes: a mixed
    image's value and its label then both say the weights of its two images."""
    values = (np.arange(n, dtype=np.float32) + 1) * 10
    return np.ones((n, *SIZE, 3), np.float32) * values[:, None, None, None], np.eye(n, dtype=np.float32)


def natural(n: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` smooth random images (0-255) with labels 0."""
    rng = np.random.default_rng(0)
    coarse = rng.uniform(0, 255, (n, 4, 4, 3)).astype(np.float32)
    return np.repeat(np.repeat(coarse, 2, 1), 2, 2), np.zeros(n, np.int32)


# --- what each path makes of a row ----------------------------------------------------------------


def run(path: str, row, setting, images, labels, batches: int = 1):
    """The row's operation on `path` over `batches` batches of `images` (split evenly), each batch
    drawing from its own seed, as that path draws: a stateless TensorFlow seed in a dataset's map
    (rows of stage "image": each image its own, as the tf.data path gives them before batching), a
    NumPy generator, a JAX key under `jax.jit`. NumPy arrays back, the batches concatenated."""
    step = row.operation(path)(setting)
    xs, ys = np.array_split(images, batches), np.array_split(labels, batches)
    if path == "tf_data":
        made = _tf_data(step, row.stage, xs, ys)
    elif path == "numpy":
        made = [step(x, y, np.random.default_rng([k, 1])) for k, (x, y) in enumerate(zip(xs, ys))]
    else:
        import jax

        jitted = jax.jit(step)
        made = [jitted(x, y, jax.random.key(k)) for k, (x, y) in enumerate(zip(xs, ys))]
    return tuple(np.concatenate([np.asarray(part[i]) for part in made]) for i in (0, 1))


def _tf_data(step, stage, xs, ys):
    import tensorflow as tf

    if stage == "image":
        each = tf.data.Dataset.from_tensor_slices((np.concatenate(xs), np.concatenate(ys)))
        made = each.enumerate().map(lambda i, xy: step(*xy, tf.stack([i, tf.constant(7, tf.int64)])))
        x, y = zip(*made.as_numpy_iterator())
        return [(np.stack(x), np.stack(y))]
    batches = tf.data.Dataset.from_generator(
        lambda: zip(xs, ys),
        output_signature=(
            tf.TensorSpec((None, *xs[0].shape[1:]), tf.float32),
            tf.TensorSpec((None, *ys[0].shape[1:]), tf.as_dtype(ys[0].dtype)),
        ),
    )
    made = batches.enumerate().map(lambda k, xy: step(*xy, tf.stack([k, tf.constant(7, tf.int64)])))
    return list(made.as_numpy_iterator())


# --- the checks of each row -----------------------------------------------------------------------


def window_place(out: np.ndarray, padding: int) -> tuple[int, int]:
    """Where a crop of a `coordinates` image (padded by `padding`) was taken: (top, left) in the
    padded image."""
    rows, cols = np.arange(out.shape[0])[:, None], np.arange(out.shape[1])[None, :]
    inside = out[..., 0] > 0
    top = int((out[..., 0] - rows)[inside].max()) - 1 + padding
    left = int((out[..., 1] - cols)[inside].max()) - 1 + padding
    return top, left


def windows(padding: int):
    """Each image exactly the window of the padded input its top-left pixel says."""

    def check(images, labels, out, out_labels):
        padded = np.pad(images, [(0, 0), (padding, padding), (padding, padding), (0, 0)])
        for image, crop in zip(padded, out):
            top, left = window_place(crop, padding)
            np.testing.assert_array_equal(crop, image[top : top + SIZE[0], left : left + SIZE[1]])
        np.testing.assert_array_equal(out_labels, labels)

    return check


def places(padding: int, fits: int):
    """Each crop's place, numbered over the `fits` x `fits` places that fit."""

    def statistic(images, out, out_labels):
        return {
            "place": np.array([t * fits + left for t, left in (window_place(c, padding) for c in out)])
        }

    return statistic


def mirrored_or_not(images, labels, out, out_labels):
    flipped = np.all(out == images[:, :, ::-1], axis=(1, 2, 3))
    assert np.all(flipped | np.all(out == images, axis=(1, 2, 3)))
    np.testing.assert_array_equal(out_labels, labels)


def flipped(images, out, out_labels):
    return {"flipped": (out[:, 0, 0, 1] > out[:, 0, -1, 1]).astype(int)}


def resized_boxes(images, labels, out, out_labels):
    """Each crop resized to `SIZE`, its values within the image's (a crop of the whole image:
    `test_a_crop_of_the_whole_image_is_the_image_resized_on_every_path`)."""
    assert out.shape == (len(images), *SIZE, 3) and out.dtype == np.float32
    assert out.min() >= images.min() - 1e-3 and out.max() <= images.max() + 1e-3
    np.testing.assert_array_equal(out_labels, labels)


def box_extent(images, out, out_labels):
    """How many rows and columns of the image a crop spans (its coordinates' range)."""
    return {
        "rows": out[..., 0].max((1, 2)) - out[..., 0].min((1, 2)),
        "columns": out[..., 1].max((1, 2)) - out[..., 1].min((1, 2)),
    }


def in_range(images, labels, out, out_labels):
    assert out.shape == images.shape and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 255
    np.testing.assert_array_equal(out_labels, labels)


def change(images, out, out_labels):
    """Each batch's mean change of a pixel (RandAugment draws its operations per batch)."""
    per_image = np.abs(out - images).mean((1, 2, 3))
    return {"change": per_image.reshape(-1, RANDAUGMENT_BATCH).mean(1)}


def convex(images, labels, out, out_labels):
    """Each image the combination of (at most) two images its label says: a constant image (MixUp's,
    or CutMix's box of nothing or everything) has the label's mean of the values; in any other
    (CutMix's) each pixel is one image's, and the label their shares of the pixels."""
    values = images[:, 0, 0, 0]
    np.testing.assert_allclose(out_labels.sum(1), 1, atol=1e-5)
    assert ((out_labels > 1e-6).sum(1) <= 2).all()
    for image, label in zip(out, out_labels):
        pixels = image[..., 0].ravel()
        if pixels.std() < 1e-3:
            assert pixels[0] == pytest.approx(label @ values, rel=1e-5)
        else:
            shares = np.isclose(pixels[None, :], values[:, None], atol=1e-3).mean(1)
            np.testing.assert_allclose(label, shares, atol=1e-5)


def own_share(images, out, out_labels):
    """What share of each image is its own (its label's weight on its own class)."""
    return {"own": np.diagonal(out_labels).copy()}


@dataclass(frozen=True)
class Case:
    """How a row is tested: the setting that asks for it alone, its inputs (`DRAWS` images and
    their labels), the batches they are drawn in, what each output must be exactly, and the
    statistics of the draws (name -> one value an image or a batch) and where the meaning fixes
    them, their expected distribution (name -> probabilities of 0, 1, ...)."""

    augment: dict
    inputs: Callable
    exact: Callable
    statistics: Callable
    size: tuple[int, int] = SIZE
    cropped: bool = False
    batches: int = 1
    expected: dict | None = None
    slow_draws: bool = False  # its distribution needs many batches: the slow tier


CASES = {
    "load_size": Case(
        augment={},
        inputs=lambda: (coordinates(DRAWS, 10, 10), np.zeros(DRAWS, np.int32)),
        exact=windows(0),
        statistics=places(0, 3),
        cropped=True,
        expected={"place": np.full(9, 1 / 9)},
    ),
    "scale": Case(
        augment={"scale": (0.3, 1.0), "ratio": (0.75, 4 / 3)},
        inputs=lambda: (coordinates(DRAWS, 16, 16), np.zeros(DRAWS, np.int32)),
        exact=resized_boxes,
        statistics=box_extent,
    ),
    "crop_padding": Case(
        augment={"crop_padding": 2},
        inputs=lambda: (coordinates(DRAWS, *SIZE), np.zeros(DRAWS, np.int32)),
        exact=windows(2),
        statistics=places(2, 5),
        expected={"place": np.full(25, 1 / 25)},
    ),
    "flip": Case(
        augment={"flip": True},
        inputs=lambda: (coordinates(DRAWS, *SIZE), np.zeros(DRAWS, np.int32)),
        exact=mirrored_or_not,
        statistics=flipped,
        expected={"flipped": np.array([0.5, 0.5])},
    ),
    "randaugment": Case(
        augment={"randaugment": 2},
        inputs=lambda: natural(DRAWS),
        exact=in_range,
        statistics=change,
        batches=DRAWS // RANDAUGMENT_BATCH,
        slow_draws=True,
    ),
    "mixup": Case(
        augment={"mixup": 0.4},
        inputs=lambda: constants(DRAWS),
        exact=convex,
        statistics=own_share,
    ),
    "cutmix": Case(
        augment={"cutmix": 1.0},
        inputs=lambda: constants(DRAWS),
        exact=convex,
        statistics=own_share,
    ),
}


def case_of(row) -> Case:
    assert row.key in CASES, f"the table's row {row.key!r} has no parity case: add it to CASES"
    return CASES[row.key]


def setting_of(row) -> Setting:
    case = case_of(row)
    return Setting(AugmentSection(**case.augment), size=case.size, cropped=case.cropped, seed=3)


def paths_of(row) -> list[str]:
    """The paths that have the row's operation (their libraries installed)."""
    found = []
    for path in PATHS:
        library = {"tf_data": "tensorflow", "numpy": "numpy", "jax": "jax"}[path]
        if row.operation(path) is not None:
            pytest.importorskip(library)
            found.append(path)
    return found


ROWS = [pytest.param(row, id=row.key) for row in TABLE]
DRAWN = [  # a row whose draws take many batches to see: the slow tier
    pytest.param(row, id=row.key, marks=[pytest.mark.slow] if CASES[row.key].slow_draws else [])
    if row.key in CASES
    else pytest.param(row, id=row.key)
    for row in TABLE
]


# --- the table ------------------------------------------------------------------------------------


def test_every_augment_key_is_a_row_or_one_of_its_options():
    """A key added to `[data.augment]` without a row of the table (or a row's option) fails here."""
    keys = {f.name for f in fields(AugmentSection)}
    covered = {row.key for row in TABLE if row.section == "augment"}
    covered |= {option for row in TABLE for option in row.options}
    assert covered == keys, f"not in the table: {keys - covered}; not keys: {covered - keys}"


@pytest.mark.parametrize("row", ROWS)
def test_a_row_means_what_the_docs_say(row):
    """The row's meaning is the docs' (docs/recipes.md, from the schema's docstrings), word for
    word; its options are keys of `[data.augment]`; the setting of its case asks for it alone."""
    from kerascnn.cli.reference import attribute_docs

    section = {"augment": AugmentSection, "data": DataSection}[row.section]
    assert row.meaning == attribute_docs(section)[row.key]
    assert set(row.options) <= {f.name for f in fields(AugmentSection)}
    assert row.stage in ("batch", "image", "mixed")
    assert asked(setting_of(row)) == [row]


@pytest.mark.parametrize("row", ROWS)
def test_a_path_without_the_operation_refuses_it_by_name(row):
    """Asked for alone, a row is refused exactly by the paths that have no operation for it, in the
    words of today's refusals: the path's reason, then every row it cannot make."""
    setting = setting_of(row)
    for path in PATHS:
        why = refusal(path, setting)
        if row.operation(path) is None:
            assert why.startswith(WHY_NOT[path] + " (no ") and row.name in why
        else:
            assert why is None
    if row.jax is None:
        assert refusal("jax", setting) == (
            "it crops and flips only (no random-resized crop, RandAugment, MixUp or CutMix)"
        )


# --- the paths against each other -----------------------------------------------------------------


@pytest.mark.parametrize("row", ROWS)
def test_every_path_makes_exactly_what_the_row_decides(row):
    """What a row decides (not draws) is the same on every path: each output is exactly what the
    meaning makes of its input (the case's `exact`), its shape and labels as they should be."""
    case, setting = case_of(row), setting_of(row)
    images, labels = case.inputs()
    few = 8 if case.slow_draws else DRAWS  # the slow tier draws them all
    for path in paths_of(row):
        out, out_labels = run(path, row, setting, images[:few], labels[:few], min(case.batches, 2))
        case.exact(images[:few], labels[:few], out, out_labels)


def test_a_crop_of_the_whole_image_is_the_image_resized_on_every_path():
    """The random-resized crop's deterministic part: at scale 1 and the image's own aspect ratio
    the box is the whole image, and every path resizes it as `tf.image.resize` does."""
    from kerascnn.data import images as numpy_images

    (row,) = [row for row in TABLE if row.key == "scale"]
    image = np.random.default_rng(1).uniform(0, 255, (8, 12, 3)).astype(np.float32)
    setting = Setting(AugmentSection(scale=(1.0, 1.0), ratio=(1.5, 1.5)), size=SIZE, seed=3)
    expected = numpy_images.resize(image, SIZE)
    for path in paths_of(row):
        out, _ = run(path, row, setting, image[None].repeat(4, 0), np.zeros(4, np.int32))
        np.testing.assert_allclose(out, np.repeat(expected[None], 4, 0), atol=2e-3, err_msg=path)


@pytest.mark.parametrize("row", DRAWN)
def test_the_paths_draw_alike(row):
    """What a row draws has one distribution on every path, and the meaning's where it fixes one
    (the tolerance: the module docstring)."""
    from scipy import stats

    case, setting = case_of(row), setting_of(row)
    images, labels = case.inputs()
    drawn = {}
    for path in paths_of(row):
        out, out_labels = run(path, row, setting, images, labels, case.batches)
        drawn[path] = case.statistics(images, out, out_labels)
    assert len(drawn) >= 2, f"{row.key}: one path only"
    first, *others = drawn
    for name, values in drawn[first].items():
        for other in others:
            assert agree(values, drawn[other][name]) >= P_MIN, f"{row.key} {name}: {first} vs {other}"
        for path in drawn:
            if case.expected and name in case.expected:
                p = case.expected[name]
                counts = np.bincount(drawn[path][name], minlength=len(p))
                assert stats.chisquare(counts, p * counts.sum()).pvalue >= P_MIN, (row.key, path)


def agree(a, b) -> float:
    """The p-value of two samples being drawn alike: chi-square over their outcomes when they take
    few values, else Kolmogorov-Smirnov."""
    from scipy import stats

    a, b = np.asarray(a), np.asarray(b)
    outcomes = np.union1d(a, b)
    if len(outcomes) <= 30 and np.all(outcomes == np.round(outcomes)):
        table = np.array([[np.sum(a == v) for v in outcomes], [np.sum(b == v) for v in outcomes]])
        if table.shape[1] == 1:
            return 1.0
        return float(stats.chi2_contingency(table).pvalue)
    return float(stats.ks_2samp(a, b).pvalue)


def test_the_tolerance_tells_apart_what_it_should():
    """The differences the module docstring says 400 draws tell apart, told apart."""
    rng = np.random.default_rng(11)
    fair = (rng.random(DRAWS) < 0.5).astype(int)
    assert agree(fair, (rng.random(DRAWS) < 0.65).astype(int)) < P_MIN
    places = rng.integers(0, 25, DRAWS)
    assert agree(places, rng.integers(0, 20, DRAWS)) < P_MIN  # five places never drawn
    assert agree(rng.uniform(0.3, 1, DRAWS), rng.uniform(0.5, 1, DRAWS)) < P_MIN
    assert agree(fair, (rng.random(DRAWS) < 0.5).astype(int)) >= P_MIN


def test_normalization_and_one_hot_are_one_on_every_path(tf):
    """After the augmentations, each path normalizes (BGR first where asked) and one-hot encodes a
    batch alike: the grain path's NumPy, the device's JAX and the tf.data path's TensorFlow."""
    pytest.importorskip("jax")
    from kerascnn.data.device import DeviceFeed
    from kerascnn.data.feed import Augmenter, Feed
    from kerascnn.data.preprocessing import Preprocessing
    from kerascnn.data.sources import ArrayPart

    images, _ = natural(12)
    labels = np.arange(12, dtype=np.int32) % 3
    pre = Preprocessing((8, 8, 3), (8, 8), "stretch", (100.0, 110.0, 120.0), (50.0, 60.0, 70.0), True)
    make = Augmenter(pre=pre, classes=3, augment=AugmentSection(), training=True, seed=5)
    grain = Feed(ArrayPart(images, labels), 12, make, seed=5)
    device = DeviceFeed(images, labels, pre=pre, classes=3, batch_size=12, seed=5)
    x, y = grain.batch(2, 0)
    dx, dy = (np.asarray(a) for a in device.batch(2, 0))
    np.testing.assert_allclose(dx, x, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(dy, y)
    chosen = grain.order(2)
    tx = pre.normalize(tf.constant(images[chosen])).numpy()
    np.testing.assert_allclose(tx, x, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(tf.one_hot(labels[chosen], 3).numpy(), y)
