"""One training batch as the network receives it (after augmentation), made back into pictures:
`kerascnn show batch RECIPE` (`kerascnn.verbs.show_batch`) and every run's `batch.png`. The
quickest check of how a recipe feeds its network (fastai's
`show_batch`, Ultralytics' `train_batch*.jpg`): a network fine-tuned on images normalized otherwise
than its weights expect predicts nonsense, and the picture shows it at once.

Each image is the batch's own tensor denormalized for display (`x * std + mean`, BGR turned back to
RGB where the recipe feeds BGR, clipped to 0-255 and rounded), tiled in a grid with its label under
it (the class, or the mixed classes and their shares after MixUp or CutMix); the title states the
normalization undone. Small images are enlarged by an integer factor, each pixel a square.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["ShownBatch", "draw_batch", "denormalize", "batch_picture", "first_batch"]

GAP = 4  # pixels between tiles
CAPTION = 14  # the label strip under each tile
TITLE = 34  # the two title lines


@dataclass
class ShownBatch:
    """What `draw_batch` drew: the picture, and where each image's tile is in it.

    Attributes:
        path: the PNG written.
        images: the batch denormalized, uint8 (n, h, w, c): what each tile shows.
        labels: each tile's caption.
        boxes: each tile's (left, top) corner in the picture; its size is `scale` times the image's.
        scale: how many picture pixels a side of one image pixel takes.
        normalization: the sentence in the picture's title.
    """

    path: Path
    images: np.ndarray
    labels: list[str]
    boxes: list[tuple[int, int]]
    scale: int
    normalization: str


def first_batch(data) -> tuple[np.ndarray, np.ndarray]:
    """The first training batch of `kerascnn.data.load_data`'s result, as NumPy arrays: on the
    grain path batch 0 of epoch 0 (what `fit` sees first), on tf.data the dataset's first."""
    x, y = next(iter(data.train))
    if isinstance(y, tuple):  # labels repeated for auxiliary heads
        y = y[0]
    return np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.float32)


def denormalize(x: np.ndarray, preprocessing) -> np.ndarray:
    """Network inputs back to 0-255 RGB pixels (uint8): `x * std + mean`, BGR reversed."""
    pixels = np.asarray(x, np.float64) * np.asarray(preprocessing.std) + np.asarray(preprocessing.mean)
    if preprocessing.bgr and pixels.shape[-1] == 3:
        pixels = pixels[..., ::-1]
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


def label_text(y: np.ndarray, class_names) -> str:
    """The class of a one-hot label; the classes and their shares of a mixed one."""
    order = np.argsort(-y)
    shares = [(class_names[i], float(y[i])) for i in order if y[i] > 0.005][:3]
    if len(shares) == 1 and shares[0][1] > 0.995:
        return str(shares[0][0])
    return " / ".join(f"{name} {share:.2f}" for name, share in shares)


def batch_picture(images: np.ndarray, labels: list[str], title: str, *, columns: int | None = None):
    """The grid: a PIL image, the tiles' corners, and the scale."""
    from PIL import Image, ImageDraw

    n, h, w, c = images.shape
    scale = max(1, 96 // max(h, w))
    columns = columns or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / columns))
    tile_w, tile_h = w * scale, h * scale + CAPTION
    width = max(columns * (tile_w + GAP) + GAP, 480)
    height = TITLE + rows * (tile_h + GAP) + GAP
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    for i, line in enumerate(title.split("\n")[:2]):
        draw.text((GAP, 3 + 15 * i), line, fill="black")
    boxes = []
    for k in range(n):
        left = GAP + (k % columns) * (tile_w + GAP)
        top = TITLE + (k // columns) * (tile_h + GAP)
        tile = np.repeat(np.repeat(images[k], scale, axis=0), scale, axis=1)
        if c == 1:
            tile = np.repeat(tile, 3, axis=2)
        canvas.paste(Image.fromarray(tile, "RGB"), (left, top))
        draw.text((left, top + h * scale + 1), labels[k][: max(4, tile_w // 6)], fill="black")
        boxes.append((left, top))
    return canvas, boxes, scale


def draw_batch(data, path: str | Path, *, name: str, count: int | None = None) -> ShownBatch:
    """Write `path` (PNG): the first training batch of `data` (`kerascnn.data.load_data`'s result)
    as the network receives it, denormalized for display, each image with its label; `name` (the
    recipe's) heads the title. `kerascnn.verbs.show_batch` draws a recipe's; a run draws its
    own into `batch.png` before it trains."""
    x, y = first_batch(data)
    count = min(len(x), count or 64)
    pre = data.preprocessing
    images = denormalize(x[:count], pre)
    labels = [label_text(row, data.class_names) for row in y[:count]]
    mean = "/".join(f"{m:g}" for m in pre.mean)
    std = "/".join(f"{s:g}" for s in pre.std)
    normalization = (
        f"shown as x * std + mean (std {std}, mean {mean}" + (", BGR to RGB" if pre.bgr else "") + ")"
    )
    title = (
        f"{name}: the first training batch, {count} of {len(x)} images as the network "
        f"receives them ({'x'.join(map(str, pre.input_shape))})\n{normalization}"
    )
    canvas, boxes, scale = batch_picture(images, labels, title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return ShownBatch(path, images, labels, boxes, scale, normalization)
