"""Occlusion sensitivity (Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks",
ECCV 2014, Sec. 4.2 and Fig. 7): a grey square slid over the image, the probability of the class at
each position. Where covering the image makes the probability fall is what the class rests on.

Grey is the mean image: 0 in the network's normalized input (`fill`). The square's positions are
batched through the model (`batch_size` images a call). The map is brought to pixels by giving each
pixel the mean probability over the squares that covered it; `grid=True` returns the probability
per square position instead (ZFNet's Fig. 7 (b)).
"""

from __future__ import annotations

import numpy as np

from kerascnn.config import ConfigError
from kerascnn.visualize.targets import chosen_classes


def positions(size: int, window: int, stride: int) -> list[int]:
    """Top (or left) edges of the square: every `stride` pixels, the last one at the border."""
    last = size - window
    steps = list(range(0, last + 1, stride))
    return steps if steps[-1] == last else steps + [last]


def occlusion(
    model,
    images,
    *,
    classes=None,
    window: int | None = None,
    stride: int | None = None,
    fill: float = 0.0,
    batch_size: int = 256,
    grid: bool = False,
) -> np.ndarray:
    """The class probability with a `window` x `window` square of `fill` at each position.

    Args:
        images: network inputs `(n, H, W, C)`.
        classes: None (each image's top class), one class index, or one per image.
        window: the square's side in pixels (default: a sixth of the shorter side, at least 2).
        stride: its step (default: half the window).
        fill: the square's value in network input (0: the mean image once normalized).
        grid: return `(n, rows, cols)`, one probability per square position, instead of
            `(n, H, W)` per pixel.
    """
    images = np.asarray(images, "float32")
    n, h, w = images.shape[:3]
    window = max(2, min(h, w) // 6) if window is None else window
    stride = max(1, window // 2) if stride is None else stride
    for what, value in (("window", window), ("stride", stride), ("batch_size", batch_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{what} must be a positive integer. Received: {value!r}.")
    if window > min(h, w):
        raise ConfigError(f"the occluding square ({window} pixels) is larger than the image ({h}x{w}).")
    picked = chosen_classes(model, images, classes)
    rows, cols = positions(h, window, stride), positions(w, window, stride)
    boxes = [(top, left) for top in rows for left in cols]
    out = np.empty((n, len(rows), len(cols)), "float32")
    for i in range(n):
        probabilities = []
        for start in range(0, len(boxes), batch_size):
            chunk = boxes[start : start + batch_size]
            batch = np.repeat(images[i : i + 1], len(chunk), axis=0)
            for k, (top, left) in enumerate(chunk):
                batch[k, top : top + window, left : left + window] = fill
            p = np.asarray(model.predict_on_batch(batch), "float32")
            probabilities.append(p[:, picked[i]])
        out[i] = np.concatenate(probabilities).reshape(len(rows), len(cols))
    if grid:
        return out
    total = np.zeros((n, h, w), "float32")
    count = np.zeros((h, w), "float32")
    for r, top in enumerate(rows):
        for c, left in enumerate(cols):
            total[:, top : top + window, left : left + window] += out[:, r, c, None, None]
            count[top : top + window, left : left + window] += 1
    return total / count
