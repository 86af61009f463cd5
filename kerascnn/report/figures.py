"""Pictures for a report page, as `data:` URIs: the page is one file, opened from the file system
with nothing fetched. Plots with matplotlib's object API (no pyplot: the backend is left alone)."""

from __future__ import annotations

import base64
import io

import numpy as np

__all__ = ["png_uri", "upscaled", "heat_overlay", "overlaid_curves", "trial_scores", "confusion_picture"]

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


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def overlaid_curves(runs: list[tuple[str, list[dict]]]) -> bytes:
    """Several runs' curves on shared axes: loss and accuracy against epochs, each run one colour,
    validation solid and training dashed."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(10, 4), dpi=110)
    axes = fig.subplots(1, 2)
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for k, (name, rows) in enumerate(runs):
            colour = f"C{k % 10}"
            epochs = [int(r["epoch"]) for r in rows]
            for key, style in ((f"val_{metric}", "-"), (metric, "--")):
                values = [r.get(key) for r in rows]
                if rows and all(v not in (None, "") for v in values):
                    label = f"{name} ({'validation' if key.startswith('val_') else 'training'})"
                    ax.plot(
                        epochs,
                        [float(v) for v in values],
                        style,
                        color=colour,
                        label=label,
                        marker="o" if len(rows) < 20 else None,
                        markersize=3,
                    )
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def trial_scores(trials: list[dict], objective: str) -> bytes | None:
    """A search's completed trials: the objective by trial, in the order they ran."""
    from matplotlib.figure import Figure

    done = [
        (str(t["trial"]), float(t["objective"]))
        for t in trials
        if t.get("status") == "COMPLETED" and t.get("objective") not in (None, "")
    ]
    if not done:
        return None
    done.sort(key=lambda d: (len(d[0]), d[0]))  # keras-tuner's ids count up: "0", "1", ... "10"
    fig = Figure(figsize=(6, 3.2), dpi=110)
    ax = fig.subplots()
    ax.plot(range(len(done)), [d[1] for d in done], "o-")
    ax.set_xticks(range(len(done)), [d[0] for d in done])
    ax.set_xlabel("trial")
    ax.set_ylabel(objective)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def confusion_picture(rates) -> bytes:
    """A row-normalized confusion matrix too large for a table (ImageNet's 1000 classes) as a
    picture: one pixel-square a cell, true classes down, predicted across."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 6.2), dpi=110)
    ax = fig.subplots()
    image = ax.imshow(np.asarray(rates), cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xlabel("predicted class (index)")
    ax.set_ylabel("true class (index)")
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of the true class")
    fig.tight_layout()
    return _png(fig)
