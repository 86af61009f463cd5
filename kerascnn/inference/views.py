"""The papers' test-time views of an image: one centre crop; the four corners and the centre
(AlexNet, Krizhevsky et al. 2012, Sec. 4.1: "five 224x224 patches (the four corner patches and the
center patch)"); those five and their horizontal reflections, "ten patches in all"; and each of them
at several scales (VGG, Simonyan & Zisserman 2015, Sec. 3.2: the image's smallest side rescaled to Q
for each Q, the softmax averaged over crops and scales).

What differs from the papers: VGG's dense evaluation (the fully connected layers turned into
convolutions over the whole image) is not done: every view is a crop of the network's input size.
GoogLeNet's 144 crops per image are 4 scales x 3 squares x 6 crops x 2 mirrors; `crops` and
`scales` give the corner-and-centre part of it, not the three squares.
"""

from __future__ import annotations

import numpy as np

from kerascnn.config import ConfigError

CROPS = (1, 5, 10)


def crop_boxes(size, crop, crops: int) -> list[tuple[int, int, bool]]:
    """(top, left, mirrored) of each view of a `size` image cropped to `crop`: the centre first,
    then top-left, top-right, bottom-left, bottom-right, then the same mirrored."""
    if crops not in CROPS:
        raise ConfigError(f"crops must be 1, 5 or 10. Received: {crops!r}.")
    (h, w), (ch, cw) = size, crop
    dy, dx = h - ch, w - cw
    boxes = [(dy // 2, dx // 2)]  # the centre as tf.image.resize_with_crop_or_pad takes it
    if crops > 1:
        boxes += [(0, 0), (0, dx), (dy, 0), (dy, dx)]
    views = [(top, left, False) for top, left in boxes]
    if crops == 10:
        views += [(top, left, True) for top, left in boxes]
    return views


def views(images: np.ndarray, crop, crops: int) -> list[np.ndarray]:
    """Each view of a batch (n, H, W, C): `crops` arrays (n, crop_h, crop_w, C)."""
    ch, cw = crop
    out = []
    for top, left, mirrored in crop_boxes(images.shape[1:3], crop, crops):
        view = images[:, top : top + ch, left : left + cw]
        out.append(view[:, :, ::-1] if mirrored else view)
    return out


def load_sizes(pre, crops: int, scales) -> list[tuple[int, int]]:
    """The sizes the images are brought to before cropping: the run's own load size, or each scale
    (the shorter side, the input's aspect kept)."""
    if crops not in CROPS:
        raise ConfigError(f"crops must be 1, 5 or 10. Received: {crops!r}.")
    h, w = pre.input_shape[:2]
    if scales:
        sizes = []
        for q in scales:
            if not isinstance(q, int) or isinstance(q, bool) or q < min(h, w):
                raise ConfigError(
                    f"each scale is the size of the images' shorter side before "
                    f"cropping, at least the input's {min(h, w)}. Received: "
                    f"{q!r}."
                )
            sizes.append((q * h // min(h, w), q * w // min(h, w)))
    else:
        sizes = [tuple(pre.load_size)]
    if crops > 1 and any(size == (h, w) for size in sizes):
        raise ConfigError(
            f"{crops} crops are taken from images larger than the {h}x{w} input, "
            f"but the images are brought to {h}x{w} first, so every corner is the "
            f"centre.",
            hint=f"give scales above {min(h, w)} (e.g. --scales "
            f"{min(h, w) + min(h, w) // 8}): each image's shorter "
            f"side is brought to that size, then cropped.",
        )
    return sizes
