"""The preprocessing record: what turns a raw image into the network's input (size, resize, crop,
interpolation, mean, std, channel order), kept in a run's `data.json` so that evaluation and
prediction repeat exactly what validation did during training; and the normalizations' statistics."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from kerascnn.data import images
from kerascnn.data.images import crop_or_pad
from kerascnn.data.resize import fit_size

__all__ = ["Preprocessing", "fixed_statistics", "measured_statistics"]

IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)  # keras.applications.imagenet_utils, mode "caffe"


@dataclass(frozen=True)
class Preprocessing:
    """Raw image (HxWxC, values 0-255) -> network input, as in evaluation.

    Attributes:
        input_shape: the network's (height, width, channels).
        load_size: the size images are first brought to; the centre `input_shape[:2]` is then
            cropped (equal to the input size when there is no crop).
        resize: "stretch" (to `load_size` exactly), "pad" (centred on black, or centre-cropped) or
            "shorter" (the shorter side to `load_size`, the aspect kept, the centre cropped: timm's
            and torchvision's evaluation resize).
        interpolation: "bilinear" or "bicubic", for "stretch" and "shorter".
        mean, std: per channel, subtracted and divided after the crop (in BGR order with `bgr`).
        bgr: reverse the channels to BGR first (the Caffe convention of keras.applications' VGG
            and ResNet weights).
    """

    input_shape: tuple[int, int, int]
    load_size: tuple[int, int]
    resize: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    bgr: bool = False
    interpolation: str = "bilinear"

    @classmethod
    def from_dict(cls, facts: dict) -> Preprocessing:
        shape = tuple(int(v) for v in facts["input_shape"])
        return cls(
            input_shape=shape,
            load_size=tuple(int(v) for v in facts.get("load_size", shape[:2])),
            resize=str(facts.get("resize", "stretch")),
            mean=tuple(float(v) for v in facts["mean"]),
            std=tuple(float(v) for v in facts["std"]),
            bgr=bool(facts.get("bgr", False)),
            interpolation=str(facts.get("interpolation", "bilinear")),
        )

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def shape(self, image):
        """Channels converted and brought to `load_size` (what training caches and augments); a
        NumPy image is shaped in NumPy (`kerascnn.data.images`, TensorFlow's numbers)."""
        channels = self.input_shape[2]
        if isinstance(image, np.ndarray):
            image = image.astype(np.float32)
            if image.shape[-1] != channels:
                image = images.grey_to_rgb(image) if channels == 3 else images.rgb_to_grey(image)
            return images.fit_size(image, self.load_size, self.resize, self.interpolation)
        import tensorflow as tf

        if image.shape[-1] != channels:
            image = (
                tf.image.grayscale_to_rgb(image) if channels == 3 else tf.image.rgb_to_grayscale(image)
            )
        image = fit_size(image, self.load_size, self.resize, self.interpolation)
        return tf.ensure_shape(image, (*self.load_size, channels))

    def centre(self, image):
        h, w = self.input_shape[:2]
        if tuple(self.load_size) == (h, w):
            return image
        if isinstance(image, np.ndarray):
            return crop_or_pad(image, h, w)
        import tensorflow as tf

        return tf.image.resize_with_crop_or_pad(image, h, w)

    def normalize(self, image):
        if self.bgr:
            image = image[..., ::-1]
        if isinstance(image, np.ndarray):
            return (
                (image - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
            ).astype(np.float32)
        import tensorflow as tf

        return (image - tf.constant(self.mean, "float32")) / tf.constant(self.std, "float32")

    def __call__(self, image):
        """The evaluation path for one image: shape, centre crop, normalize (a NumPy image in
        NumPy, a tensor in TensorFlow)."""
        if isinstance(image, np.ndarray):
            return self.normalize(self.centre(self.shape(image)))
        import tensorflow as tf

        return self.normalize(self.centre(self.shape(tf.cast(image, "float32"))))


def fixed_statistics(kind: str, channels: int) -> tuple[list[float], list[float]]:
    """Mean and std per channel of the normalizations that need no data: "none", "unit",
    "imagenet", "caffe" (in BGR order), "tf"."""
    if kind == "caffe":
        mean = list(CAFFE_MEAN_BGR) if channels == 3 else [float(np.mean(CAFFE_MEAN_BGR))]
        return mean, [1.0] * channels
    if kind == "tf":
        return [127.5] * channels, [127.5] * channels
    if kind == "none":
        return [0.0] * channels, [1.0] * channels
    if kind == "unit":
        return [0.0] * channels, [255.0] * channels
    if kind == "imagenet":
        if channels == 1:
            return [float(np.mean(IMAGENET_MEAN))], [float(np.mean(IMAGENET_STD))]
        return list(IMAGENET_MEAN), list(IMAGENET_STD)


def measured_statistics(batches, channels: int) -> tuple[list[float], list[float]]:
    """The mean and std per channel of `batches` of images (NumPy, values 0-255): "standardize"'s
    statistics of the training images."""
    total = np.zeros(channels)
    squares = np.zeros(channels)
    count = 0
    for batch in batches:
        flat = batch.reshape(-1, channels).astype("float64")
        total += flat.sum(0)
        squares += (flat**2).sum(0)
        count += flat.shape[0]
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 1e-12))
    return [float(m) for m in mean], [float(max(s, 1e-3)) for s in std]
