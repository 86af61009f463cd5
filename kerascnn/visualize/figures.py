"""Every chart kerascnn draws, in one place: a run's curves (`curves.png`), several runs' curves
overlaid, a search's trial scores, a confusion matrix, the learning-rate range test. A picture's
name is checked before anything is computed (`new_picture`, from `kerascnn.config.paths`: the
command line checks it before Keras loads).

matplotlib's object API, never pyplot: the user's plotting backend is left alone. matplotlib is
imported inside each function: a run without pictures never loads it.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from kerascnn.config.paths import new_picture

__all__ = [
    "new_picture",  # `kerascnn.config.paths`' check, here beside what it names
    "save",
    "png",
    "curves",
    "overlaid_curves",
    "trial_scores",
    "confusion",
    "confusion_picture",
    "lr_sweep",
]


def _figure(width: float, height: float):
    from matplotlib.figure import Figure  # no pyplot: leaves the backend alone

    return Figure(figsize=(width, height), dpi=110)


def save(fig, path) -> Path:
    """The figure to `path`, its folder made now that there is something to put in it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def png(fig) -> bytes:
    """The figure as PNG bytes (a report page embeds them)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _epoch_axes(ax, metric: str, *, legend_size=None) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=legend_size)


def curves(rows: list[dict], title: str = "", phases: list[tuple[int, str]] = ()):
    """A run's loss and accuracy per epoch, training against validation (history.csv's rows);
    `phases` marks where each fine-tuning phase starts (after that many epochs, its name). None
    without rows."""
    if not rows:
        return None
    epochs = [int(r["epoch"]) for r in rows]
    fig = _figure(10, 4)
    for ax, metric in zip(fig.subplots(1, 2), ("loss", "accuracy")):
        keys = [
            k for k in rows[0] if k == metric or (k.endswith(f"_{metric}") and not k.startswith("val_"))
        ][:1]
        for key in keys:
            marker = "o" if len(rows) < 20 else None  # one epoch is a point, not a line
            ax.plot(epochs, [float(r[key]) for r in rows], label="training", marker=marker, markersize=3)
            if f"val_{key}" in rows[0]:
                values = [float(r[f"val_{key}"]) for r in rows]
                ax.plot(epochs, values, label="validation", marker=marker, markersize=3)
        for start, name in phases:
            ax.axvline(start + 0.5, color="grey", linestyle="--", linewidth=0.8)
            ax.annotate(
                name,
                (start + 0.5, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(3, -12),
                textcoords="offset points",
                fontsize=8,
                color="grey",
            )
        _epoch_axes(ax, metric)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def overlaid_curves(runs: list[tuple[str, list[dict]]]) -> bytes:
    """Several runs' curves on shared axes: loss and accuracy against epochs, each run one colour,
    validation solid and training dashed."""
    fig = _figure(10, 4)
    for ax, metric in zip(fig.subplots(1, 2), ("loss", "accuracy")):
        for k, (name, rows) in enumerate(runs):
            epochs = [int(r["epoch"]) for r in rows]
            for key, style in ((f"val_{metric}", "-"), (metric, "--")):
                values = [r.get(key) for r in rows]
                if rows and all(v not in (None, "") for v in values):
                    label = f"{name} ({'validation' if key.startswith('val_') else 'training'})"
                    ax.plot(
                        epochs,
                        [float(v) for v in values],
                        style,
                        color=f"C{k % 10}",
                        label=label,
                        marker="o" if len(rows) < 20 else None,
                        markersize=3,
                    )
        _epoch_axes(ax, metric, legend_size=7)
    fig.tight_layout()
    return png(fig)


def trial_scores(trials: list[dict], objective: str) -> bytes | None:
    """A search's completed trials: the objective by trial, in the order they ran."""
    done = [
        (str(t["trial"]), float(t["objective"]))
        for t in trials
        if t.get("status") == "COMPLETED" and t.get("objective") not in (None, "")
    ]
    if not done:
        return None
    done.sort(key=lambda d: (len(d[0]), d[0]))  # keras-tuner's ids count up: "0", "1", ... "10"
    fig = _figure(6, 3.2)
    ax = fig.subplots()
    ax.plot(range(len(done)), [d[1] for d in done], "o-")
    ax.set_xticks(range(len(done)), [d[0] for d in done])
    ax.set_xlabel("trial")
    ax.set_ylabel(objective)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return png(fig)


def confusion(matrix, class_names: list[str], title: str):
    """A confusion matrix of counts, rows the true class, columns the predicted one, coloured by
    the share of each true class; classes named up to 30, counts written up to 15."""
    matrix = np.asarray(matrix, dtype=float)
    rates = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    k = len(class_names)
    size = min(3 + 0.4 * k, 14)
    fig = _figure(size, size)
    ax = fig.subplots()
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    if k <= 30:
        ax.set_xticks(range(k), class_names, rotation=90)
        ax.set_yticks(range(k), class_names)
        if k <= 15:
            for i in range(k):
                for j in range(k):
                    if matrix[i, j]:
                        colour = "white" if rates[i, j] > 0.5 else "black"
                        ax.text(
                            j, i, int(matrix[i, j]), ha="center", va="center", fontsize=8, color=colour
                        )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig


def confusion_picture(rates) -> bytes:
    """A row-normalized confusion matrix too large for a table (ImageNet's 1000 classes) as a
    picture: one pixel-square a cell, true classes down, predicted across."""
    fig = _figure(7, 6.2)
    ax = fig.subplots()
    image = ax.imshow(np.asarray(rates), cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xlabel("predicted class (index)")
    ax.set_ylabel("true class (index)")
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of the true class")
    fig.tight_layout()
    return png(fig)


def lr_sweep(found, title: str):
    """The learning-rate range test: each step's loss and its smoothing against the rate (log
    scale), the lowest loss and the suggested rate marked (`found`: an `LRFind`)."""
    fig = _figure(7, 4)
    ax = fig.subplots()
    ax.plot(found.rates, found.losses, color="0.75", linewidth=0.8, label="loss of each step")
    ax.plot(found.rates, found.smoothed, label="smoothed")
    ax.axvline(found.suggestion, color="C2", linestyle="--", label=f"suggested {found.suggestion:.3g}")
    ax.axvline(found.lowest, color="C3", linestyle=":", label=f"lowest loss {found.lowest:.3g}")
    ax.set_xscale("log")
    finite = [v for v in found.smoothed if math.isfinite(v)]
    lowest = min([v for v in found.losses if math.isfinite(v)] + finite)
    ax.set_ylim(lowest * 0.9, min(max(finite), 4 * min(finite)) * 1.1)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    ax.set_title(f"{title}: learning-rate range test")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
