"""The table of augmentations: one row per recipe key that augments the training images, saying
what the key means (the words of docs/recipes.md) and giving its operation on each input path:
tf.data (`kerascnn.data.augment_tf`), grain's NumPy (`kerascnn.data.augment_numpy`) and the
device's JAX (`kerascnn.data.augment_jax`), or None where a path cannot do it. The paths read the
table; adding a key is its schema field, its row and its operations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kerascnn.data import augment_jax, augment_numpy, augment_tf

__all__ = ["Augmentation", "Setting", "TABLE", "PATHS", "asked", "refusal"]

PATHS = ("tf_data", "numpy", "jax")  # the fields of a row that hold each path's operation

# Why a path refuses the rows it has no operation for (its refusal then lists every such row).
WHY_NOT = {"jax": "it crops and flips only"}


@dataclass(frozen=True)
class Setting:
    """What the operations of a run are made for.

    Attributes:
        augment: the recipe's `[data.augment]` (`kerascnn.recipe.AugmentSection`).
        size: the network's input (height, width): what the crops are.
        cropped: the images are loaded at another size (`data.load_size`) than `size`.
        seed: the run's seed (Keras' layers are made with it; their draws are each batch's own).
    """

    augment: object
    size: tuple[int, int] | None = None
    cropped: bool = False
    seed: int = 0

    @classmethod
    def of(cls, augment, pre, seed: int) -> Setting:
        """The setting of a run that feeds as `pre` (`kerascnn.data.Preprocessing`) does."""
        size = tuple(pre.input_shape[:2])
        return cls(augment, size, tuple(pre.load_size) != size, int(seed))


@dataclass(frozen=True)
class Augmentation:
    """One row of the table.

    Attributes:
        key: the recipe key that asks for it (in `[data.augment]`; `load_size` in `[data]`).
        name: what a refusal calls it.
        meaning: what the key means, in the words of docs/recipes.md.
        tf_data, numpy, jax: the operation on each path, `make(setting) -> step` with
            `step(images, labels, draw) -> (images, labels)` and `draw` the path's randomness (a
            stateless TensorFlow seed, the batch's NumPy generator, a JAX key); None where the
            path cannot do it (`WHY_NOT` says why).
        stage: where it acts: "batch" (the raw images, 0-255, a batch at a time), "image" (the raw
            images, the tf.data path one image at a time before batching: each image's crop has
            its own size) or "mixed" (the normalized images and their one-hot labels; of several
            mixing rows asked, one per batch, each as likely).
        options: the other keys of `[data.augment]` it reads.
        section: the recipe table of `key`: "augment" (`[data.augment]`) or "data".
        applies: whether a setting asks for it; None: when `key` is set (not 0, false or empty).
    """

    key: str
    name: str
    meaning: str
    tf_data: Callable | None
    numpy: Callable | None
    jax: Callable | None
    stage: str = "batch"
    options: tuple[str, ...] = ()
    section: str = "augment"
    applies: Callable[[Setting], bool] | None = None

    def asked(self, setting: Setting) -> bool:
        """Whether `setting` asks for this augmentation."""
        if self.applies is not None:
            return self.applies(setting)
        return bool(getattr(setting.augment, self.key))

    def operation(self, path: str) -> Callable | None:
        """Its operation on `path` (one of `PATHS`)."""
        if path not in PATHS:
            raise ValueError(f"path must be one of {', '.join(PATHS)}. Received: {path!r}.")
        return getattr(self, path)


# In the order the paths apply them (the tf.data path's "image" rows come before batching).
TABLE = (
    Augmentation(
        key="load_size",
        name="random crop",
        meaning="[height, width] the images are first brought to; training then crops "
        "`image_size` at a random place and evaluation the centre (AlexNet and VGG: 256 -> 224).",
        tf_data=augment_tf.crops_from_load_size,
        numpy=augment_numpy.crops_from_load_size,
        jax=augment_jax.crops_from_load_size,
        section="data",
        applies=lambda setting: setting.cropped and setting.augment.scale is None,  # scale crops
    ),
    Augmentation(
        key="scale",
        name="random-resized crop",
        meaning="random-resized crop (AlexNet/GoogLeNet style): the crop covers this range of the "
        "image's area, e.g. [0.08, 1.0], and is resized to `image_size`.",
        tf_data=augment_tf.resized_crop,
        numpy=augment_numpy.resized_crop,
        jax=None,
        stage="image",
        options=("ratio",),
    ),
    Augmentation(
        key="crop_padding",
        name="padded crop",
        meaning="pad by this many pixels, then crop back at a random place (the CIFAR "
        "augmentation of the ResNet paper: 4).",
        tf_data=augment_tf.padded_crops,
        numpy=augment_numpy.padded_crops,
        jax=augment_jax.padded_crops,
    ),
    Augmentation(
        key="flip",
        name="flip",
        meaning="random horizontal flips.",
        tf_data=augment_tf.flips,
        numpy=augment_numpy.flips,
        jax=augment_jax.flips,
    ),
    Augmentation(
        key="randaugment",
        name="RandAugment",
        meaning="RandAugment's N (Cubuk et al. 2020; `keras.layers.RandAugment`): operations per "
        "image after the crops and flips (0: off).",
        tf_data=augment_tf.randaugment,
        numpy=augment_numpy.randaugment,
        jax=None,
        options=("randaugment_magnitude",),
    ),
    Augmentation(
        key="mixup",
        name="MixUp",
        meaning="MixUp's alpha (Zhang et al. 2018; `keras.layers.MixUp`; 0: off): images and "
        "one-hot labels mixed with the same lam ~ Beta(alpha, alpha).",
        tf_data=augment_tf.mixup,
        numpy=augment_numpy.mixup,
        jax=None,
        stage="mixed",
    ),
    Augmentation(
        key="cutmix",
        name="CutMix",
        meaning="CutMix's alpha in (0, 1] (Yun et al. 2019; `keras.layers.CutMix`; 0: off): a box "
        "of another image pasted in, the labels mixed by its share of the pixels. With `mixup`, "
        "one of the two per batch (timm's switch). The loss follows the soft labels.",
        tf_data=augment_tf.cutmix,
        numpy=augment_numpy.cutmix,
        jax=None,
        stage="mixed",
    ),
)


def asked(setting: Setting, stage: str | None = None) -> list[Augmentation]:
    """The rows `setting` asks for, in the table's order (of `stage` only, where given)."""
    return [row for row in TABLE if row.asked(setting) and stage in (None, row.stage)]


def refusal(path: str, setting: Setting) -> str | None:
    """Why `path` cannot make what `setting` asks (None: it can): the path's reason, and every row
    it has no operation for."""
    if all(row.operation(path) is not None for row in asked(setting)):
        return None
    missing = [row.name for row in TABLE if row.operation(path) is None]
    listed = missing[0] if len(missing) == 1 else f"{', '.join(missing[:-1])} or {missing[-1]}"
    return f"{WHY_NOT[path]} (no {listed})"
