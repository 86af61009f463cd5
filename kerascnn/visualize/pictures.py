"""The pictures: a heatmap over its image, a layer's filters as a grid (AlexNet's Fig. 3: "96
convolutional kernels of size 11x11x3 learned by the first convolutional layer"), and each stage's
strongest feature maps for one image (ZFNet's Fig. 2 shows the strongest activations per layer).
matplotlib's Figure without pyplot, so the caller's backend is left alone."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from kerascnn.config import ConfigError
from kerascnn.config.errors import did_you_mean
from kerascnn.visualize.figures import _figure
from kerascnn.visualize.figures import save as _save
from kerascnn.visualize.targets import feature_stages


def _show(ax, image: np.ndarray) -> None:
    image = np.asarray(image, "float32")
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    ax.imshow(np.clip(image / 255.0, 0, 1), cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
    ax.set_axis_off()


def overlay(
    image: np.ndarray, heatmap: np.ndarray, path: str | Path, *, title: str = "", alpha: float = 0.45
) -> Path:
    """The image (0-255, H x W x C) beside itself under the heatmap (H x W, [0, 1]), as a PNG."""
    fig = _figure(6.4, 3.4)
    left, right = fig.subplots(1, 2)
    _show(left, image)
    _show(right, image)
    shown = right.imshow(heatmap, cmap="jet", alpha=alpha, vmin=0, vmax=1)
    fig.colorbar(shown, ax=right, fraction=0.046)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    _save(fig, path)
    return Path(path)


def first_conv(model) -> str:
    """The first layer with a 2-D convolution kernel (height, width, in, out)."""
    for layer in model.layers:
        kernel = getattr(layer, "kernel", None)
        if kernel is not None and len(kernel.shape) == 4:
            return layer.name
    raise ConfigError(f"{model.name!r} has no convolution layer.")


def plot_filters(model, path: str | Path, *, layer: str | None = None, limit: int = 256) -> Path:
    """A convolution's filters as a grid of small images: in colour for a first layer over RGB
    (each filter scaled to [0, 1] on its own, as AlexNet's Fig. 3), otherwise each filter's mean
    over its input channels in grey."""
    name = layer or first_conv(model)
    try:
        found = model.get_layer(name)
    except ValueError:
        convs = [
            x.name for x in model.layers if len(getattr(getattr(x, "kernel", None), "shape", ())) == 4
        ]
        raise ConfigError(
            f"{model.name!r} has no layer named {name!r}. Convolutions: "
            f"{', '.join(convs[:12])}{', ...' if len(convs) > 12 else ''}.",
            hint=did_you_mean(name, convs),
        ) from None
    kernel = getattr(found, "kernel", None)
    if kernel is None or len(kernel.shape) != 4:
        raise ConfigError(
            f"layer {name!r} is a {type(found).__name__}, not a 2-D convolution: "
            f"it has no filters to draw."
        )
    weights = np.asarray(keras_value(kernel), "float32")  # (kh, kw, in, out)
    count = min(weights.shape[-1], limit)
    tiles = np.moveaxis(weights[..., :count], -1, 0)  # (out, kh, kw, in)
    tiles = tiles if tiles.shape[-1] == 3 else tiles.mean(-1, keepdims=True)
    low = tiles.min(axis=(1, 2, 3), keepdims=True)
    span = tiles.max(axis=(1, 2, 3), keepdims=True) - low
    tiles = (tiles - low) / np.where(span > 0, span, 1)
    cols = math.ceil(math.sqrt(count))
    rows = math.ceil(count / cols)
    fig = _figure(max(3.0, cols * 0.5), max(3.0, rows * 0.5) + 0.4)
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax, tile in zip(axes, list(tiles) + [None] * (len(axes) - count)):
        ax.set_axis_off()
        if tile is not None:
            ax.imshow(
                tile[..., 0] if tile.shape[-1] == 1 else tile,
                cmap="gray",
                vmin=0,
                vmax=1,
                interpolation="nearest",
            )
    fig.suptitle(
        f"{name}: {count} of {weights.shape[-1]} filters, "
        f"{weights.shape[0]}x{weights.shape[1]}x{weights.shape[2]}",
        fontsize=9,
    )
    _save(fig, path)
    return Path(path)


def keras_value(variable):
    import keras

    return keras.ops.convert_to_numpy(variable)


def stage_features(model, image: np.ndarray, *, top: int = 8) -> dict[str, np.ndarray]:
    """Each stage's `top` strongest feature maps (by mean activation) for one network input:
    stage -> (top, h, w)."""
    import keras

    stages = feature_stages(model)
    probe = keras.Model(model.inputs[0], [model.get_layer(n).output for n in stages.values()])
    outputs = probe(np.asarray(image, "float32")[None], training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    found = {}
    for stage, maps in zip(stages, outputs):
        maps = np.asarray(keras.ops.convert_to_numpy(maps), "float32")[0]  # (h, w, c)
        order = np.argsort(-maps.mean(axis=(0, 1)))[:top]
        found[stage] = np.moveaxis(maps[..., order], -1, 0)
    return found


def plot_features(
    model, image: np.ndarray, shown: np.ndarray, path: str | Path, *, top: int = 8
) -> Path:
    """The image, then one row per stage: its `top` strongest feature maps for this image."""
    features = stage_features(model, image, top=top)
    rows = len(features) + 1
    fig = _figure(1.2 * (top + 1), 1.25 * rows)
    axes = fig.subplots(rows, top + 1, squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    _show(axes[0, 0], shown)
    axes[0, 0].set_title("input", fontsize=7)
    for r, (stage, maps) in enumerate(features.items(), start=1):
        axes[r, 0].text(
            0.5,
            0.5,
            f"{stage}\n{maps.shape[1]}x{maps.shape[2]}",
            ha="center",
            va="center",
            fontsize=7,
            transform=axes[r, 0].transAxes,
        )
        for c, fmap in enumerate(maps, start=1):
            axes[r, c].imshow(fmap, cmap="viridis", interpolation="nearest")
    fig.tight_layout()
    _save(fig, path)
    return Path(path)
