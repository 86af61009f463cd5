"""Pictures for a report page, as `data:` URIs: the page is one file, opened from the file system
with nothing fetched. The charts are drawn by `kerascnn.visualize.figures`; here they are embedded,
and a gallery's small images enlarged and overlaid."""

from __future__ import annotations

import base64
import io

import numpy as np

__all__ = ["png_uri", "upscaled", "heat_overlay"]

SHOWN = 128  # the side an image of the gallery is enlarged to, at least (whole pixels)


def png_uri(picture) -> str:
    """A PNG's bytes, a PIL image or a uint8 array as a data URI."""
    if isinstance(picture, np.ndarray):
        from PIL import Image

        array = picture[..., 0] if picture.ndim == 3 and picture.shape[-1] == 1 else picture
        picture = Image.fromarray(array)
    if not isinstance(picture, (bytes, bytearray)):
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG")
        picture = buffer.getvalue()
    return "data:image/png;base64," + base64.b64encode(picture).decode("ascii")


def upscaled(image: np.ndarray) -> np.ndarray:
    """A small image enlarged by a whole factor, each pixel a square (a 32x32 CIFAR image: 4x)."""
    factor = max(1, -(-SHOWN // max(image.shape[:2])))
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def heat_overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """A heatmap in [0, 1] (the image's size) drawn over the image in the jet colours."""
    from matplotlib import colormaps

    rgb = np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image
    colours = colormaps["jet"](np.clip(heat, 0, 1))[..., :3] * 255
    return np.clip(np.rint((1 - alpha) * rgb + alpha * colours), 0, 255).astype(np.uint8)
