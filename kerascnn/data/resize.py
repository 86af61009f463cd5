"""Bringing one image to a size: the resizes the input pipeline (`Preprocessing.shape`) and the
image-folder loader (`kerascnn.data.folder`) share."""

from __future__ import annotations

__all__ = ["fit_size"]


def fit_size(image, size, method: str = "stretch", interpolation: str = "bilinear"):
    """One image (HxWxC tensor) brought to `size`: "stretch" resizes it to `size`; "pad" centres it
    on a black canvas or crops its centre (no resampling); "shorter" resizes its shorter side to
    `size` keeping the aspect ratio, then crops the centre (timm's and torchvision's evaluation
    transform, `Resize(size) + CenterCrop`, to a pixel of rounding)."""
    import tensorflow as tf

    if tuple(image.shape[:2]) == tuple(size):
        return image
    if method == "pad":
        return tf.image.resize_with_crop_or_pad(image, *size)
    if method == "shorter":
        shape = tf.cast(tf.shape(image)[:2], "float32")
        scale = float(max(size)) / tf.reduce_min(shape)
        resized = tf.cast(tf.math.floor(shape * scale + 1e-4), "int32")
        image = tf.image.resize(image, tf.maximum(resized, max(size)), method=interpolation)
        return tf.image.resize_with_crop_or_pad(image, *size)
    return tf.image.resize(image, size, method=interpolation)
