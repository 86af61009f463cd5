"""Images in NumPy, as TensorFlow's image ops compute them: the input path that runs without
TensorFlow (`kerascnn.data.feed`, prediction and explanation on JAX and PyTorch) decodes with Pillow
and resizes here, to the same numbers the tf.data path gives.

- `decode(path, channels)`: `tf.io.decode_image(..., channels, expand_animations=False)` with
  Pillow: the first frame of an animation, alpha dropped, palettes expanded, grey as libjpeg and
  libpng make it for TensorFlow; uint8 HxWxC. PNG, GIF, BMP and WebP decode to TensorFlow's pixels
  (grey from RGB PNG: 99.6 % equal, the rest off by one); JPEG differs by a few levels, because
  TensorFlow's `decode_image` uses libjpeg's fast integer DCT and Pillow the accurate one (equal
  to TensorFlow's `dct_method="INTEGER_ACCURATE"`). Pillow also decodes grey BMP, GIF and WebP,
  which TensorFlow refuses.
- `resize(image, size, interpolation)`: `tf.image.resize` without antialiasing (half-pixel centres;
  "bilinear"; "bicubic" with Keys' a = -0.5, its table of 1,024 steps and its weights renormalized
  at the borders), separably: each output pixel reads two or four input pixels along each axis.
  Equal to TensorFlow's within float32 rounding (tests/test_images.py, on every resize mode).
- `crop_or_pad`, `resize_with_pad`, `fit_size`: `tf.image.resize_with_crop_or_pad`,
  `tf.image.resize_with_pad` and `kerascnn.data.resize.fit_size`.

NumPy rather than a backend's image ops: the feed's worker threads then never touch the device
(JAX would place every op there), and the numbers do not depend on which backend runs.
"""

from __future__ import annotations

import os

import numpy as np

from kerascnn.data.choice import decoder as default

__all__ = [
    "load_image",
    "decode",
    "resize",
    "crop_or_pad",
    "resize_with_pad",
    "fit_size",
    "grey_to_rgb",
    "rgb_to_grey",
    "readable_formats",
    "decode_failure",
    "KERAS_FORMATS",
]

# What keras.utils.image_dataset_from_directory reads.
KERAS_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_TABLE = 1024  # TensorFlow's bicubic coefficient table: the fraction rounded to 1/1024
_KEYS_A = -0.5


def load_image(path, channels: int, decoder: str | None = None) -> np.ndarray:
    """The image file at `path` as float32 HxWx`channels`, decoded as this backend's input path
    decodes (`decoder`: "tensorflow" or "pillow"; default `kerascnn.data.choice.decoder()`): what
    prediction and explanation feed through `Preprocessing`, as validation did in training."""
    if decoder is None:
        decoder = default()
    if decoder == "tensorflow":
        import tensorflow as tf

        image = tf.io.decode_image(
            tf.io.read_file(str(path)), channels=channels, expand_animations=False
        )
        return np.asarray(image, np.float32)
    return decode(str(path), channels).astype(np.float32)


def decode(path: str, channels: int) -> np.ndarray:
    """The image file at `path` as uint8 HxWx`channels` (1 or 3), decoded with Pillow."""
    from PIL import Image

    with Image.open(path) as image:
        if channels == 1 and image.format == "JPEG":
            image.draft("L", image.size)  # libjpeg's own grey (the Y channel), as TensorFlow's
        image.seek(0)  # an animation's first frame, as expand_animations=False
        image.load()
        if image.mode == "L" or (channels == 3 and image.mode == "RGB"):
            array = np.asarray(image, dtype=np.uint8)
        elif channels == 1:  # libpng's grey, as TensorFlow asks it (0.299, 0.587; truncated)
            rgb = np.asarray(image.convert("RGB"), dtype=np.int64)
            array = ((rgb @ np.asarray([9798, 19235, 3735])) >> 15).astype(np.uint8)
        else:
            array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    array = array[..., None] if array.ndim == 2 else array
    return np.repeat(array, 3, axis=-1) if channels == 3 and array.shape[-1] == 1 else array


def decode_failure(path: str, channels: int) -> str | None:
    """Why Pillow cannot decode the file at `path` (None: it decodes), in the words
    `kerascnn.data.folder` uses for every decoder."""
    from PIL import Image, UnidentifiedImageError

    try:
        if os.path.getsize(path) == 0:
            return "an empty file"
        decode(path, channels)
    except OSError as e:
        if isinstance(e, UnidentifiedImageError):
            return "not an image (another kind of file under an image's name)"
        if e.errno is not None:
            return f"unreadable: {e.strerror or e}"
        return f"damaged: {' '.join(str(e).split())}"
    except (ValueError, SyntaxError, Image.DecompressionBombError) as e:
        return f"damaged: {' '.join(str(e).split())}"
    return None


def readable_formats() -> tuple[str, ...]:
    """The suffixes Pillow reads among the ones kerascnn reads (Keras' five, and WebP)."""
    from PIL import features

    return KERAS_FORMATS + ((".webp",) if features.check("webp") else ())


def grey_to_rgb(image: np.ndarray) -> np.ndarray:
    return np.repeat(image, 3, axis=-1)


def rgb_to_grey(image: np.ndarray) -> np.ndarray:
    """`tf.image.rgb_to_grayscale`: ITU-R 601 weights, float."""
    weights = np.asarray([0.2989, 0.5870, 0.1140], np.float32)
    return (image.astype(np.float32) @ weights)[..., None]


def _taps(in_size: int, out_size: int, interpolation: str) -> tuple[np.ndarray, np.ndarray]:
    """(indices, weights), each (out_size, taps): the input pixels an output pixel reads along one
    axis, and their weights, as TensorFlow's resize kernels compute them."""
    scale = np.float32(in_size) / np.float32(out_size)
    where = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
    floor = np.floor(where)
    delta = where - floor
    floor = floor.astype(np.int64)
    if interpolation == "bilinear":
        lower = np.maximum(floor, 0)
        upper = np.minimum(np.ceil(where).astype(np.int64), in_size - 1)
        return np.stack([lower, upper], 1), np.stack([1 - delta, delta], 1).astype(np.float32)
    if interpolation != "bicubic":
        raise ValueError(f"interpolation must be 'bilinear' or 'bicubic'. Received: {interpolation!r}.")
    step = np.rint(delta * _TABLE).astype(np.int64)  # lrintf(delta * kTableSize)
    near = step.astype(np.float32) / np.float32(_TABLE)  # distance to floor, as the table has it
    a = np.float32(_KEYS_A)

    def inner(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def outer(x):  # 1 < |x| <= 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    indices = np.stack([floor - 1, floor, floor + 1, floor + 2], 1)
    weights = np.stack([outer(near + 1), inner(near), inner(1 - near), outer(2 - near)], 1).astype(
        np.float32
    )
    inside = (indices >= 0) & (indices < in_size)
    weights = np.where(inside, weights, np.float32(0))
    total = weights.sum(1, keepdims=True)
    weights = np.where(np.abs(total) > 0, weights / np.where(total == 0, 1, total), weights)
    return np.clip(indices, 0, in_size - 1), weights.astype(np.float32)


def _along(image: np.ndarray, axis: int, out_size: int, interpolation: str) -> np.ndarray:
    in_size = image.shape[axis]
    if in_size == out_size:
        return image
    indices, weights = _taps(in_size, out_size, interpolation)
    shape = [1] * image.ndim
    shape[axis] = out_size
    out = None
    for t in range(indices.shape[1]):
        term = np.take(image, indices[:, t], axis=axis) * weights[:, t].reshape(shape)
        out = term if out is None else out + term
    return out


def resize(image: np.ndarray, size, interpolation: str = "bilinear") -> np.ndarray:
    """`tf.image.resize(image, size, method=interpolation)` (antialias off) of one HxWxC image or
    a batch NxHxWxC, float32."""
    image = np.asarray(image, np.float32)
    rows, cols = (0, 1) if image.ndim == 3 else (1, 2)
    height, width = int(size[0]), int(size[1])
    if interpolation == "bilinear":  # TensorFlow interpolates across, then down
        return _along(_along(image, cols, width, interpolation), rows, height, interpolation)
    return _along(_along(image, rows, height, interpolation), cols, width, interpolation)


def crop_or_pad(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """`tf.image.resize_with_crop_or_pad`: the centre cropped, or the image centred on zeros."""
    rows, cols = (0, 1) if image.ndim == 3 else (1, 2)
    h, w = image.shape[rows], image.shape[cols]
    top, left = max((h - height) // 2, 0), max((w - width) // 2, 0)
    index = [slice(None)] * image.ndim
    index[rows], index[cols] = slice(top, top + min(h, height)), slice(left, left + min(w, width))
    image = image[tuple(index)]
    if image.shape[rows] == height and image.shape[cols] == width:
        return image
    pad = [(0, 0)] * image.ndim
    below, right = max((height - h) // 2, 0), max((width - w) // 2, 0)
    pad[rows] = (below, height - image.shape[rows] - below)
    pad[cols] = (right, width - image.shape[cols] - right)
    return np.pad(image, pad)


def resize_with_pad(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """`tf.image.resize_with_pad` (bilinear): the aspect ratio kept, centred on black."""
    f32 = np.float32  # TensorFlow's arithmetic: 8 / (8 / 224) is 223.99998 in float32
    h, w = f32(image.shape[0]), f32(image.shape[1])
    ratio = max(w / f32(width), h / f32(height))
    inner_h, inner_w = h / ratio, w / ratio
    resized = resize(image, (int(np.floor(inner_h)), int(np.floor(inner_w))))
    top = max(0, int(np.floor((f32(height) - inner_h) / 2)))
    left = max(0, int(np.floor((f32(width) - inner_w) / 2)))
    out = np.zeros((height, width, image.shape[2]), np.float32)
    out[top : top + resized.shape[0], left : left + resized.shape[1]] = resized
    return out


def fit_size(
    image: np.ndarray, size, method: str = "stretch", interpolation: str = "bilinear"
) -> np.ndarray:
    """`kerascnn.data.resize.fit_size` in NumPy: "stretch", "pad" or "shorter", of one HxWxC image
    or a batch of images of one size."""
    size = (int(size[0]), int(size[1]))
    image = np.asarray(image, np.float32)
    if tuple(image.shape[-3:-1]) == size:
        return image
    if method == "pad":
        return crop_or_pad(image, *size)
    if method == "shorter":
        shape = np.asarray(image.shape[-3:-1], np.float32)
        scale = np.float32(max(size)) / shape.min()
        resized = np.floor(shape * scale + np.float32(1e-4)).astype(np.int64)
        image = resize(image, np.maximum(resized, max(size)), interpolation)
        return crop_or_pad(image, *size)
    return resize(image, size, interpolation)
