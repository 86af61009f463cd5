"""The best k epochs kept and averaged (`[output] keep_best`, `kerascnn average RUN`): timm's
`--checkpoint-hist` and `avg_checkpoints.py`, with the batch normalization statistics of the
average recomputed on training batches, as SWA (Izmailov et al. 2018) and timm's practice do
(averaged weights with averaged statistics do not match: the statistics belong to the weights).

`KeepBest` keeps the weights of the k best epochs so far by the run's monitor (`[output] best_by`)
in `<run>/best_epochs/epoch-NNNN.weights.h5`, written whole or not at all, the others removed;
`average_weights` sets a model to the mean of such files, every variable in float64 then cast back;
`recompute_batchnorm` runs the training batches through it once in training mode, each BN layer's
moving statistics the cumulative mean of the batches' (PyTorch's `update_bn`: momentum None).
"""

from __future__ import annotations

import re
from pathlib import Path

import keras
import numpy as np

from kerascnn.runs.metrics import higher_is_better
from kerascnn.runs.rundir import RunDir
from kerascnn.training.checkpoints import atomic_save
from kerascnn.training.compile import averaged_weights

__all__ = ["KeepBest", "kept_epochs", "average_weights", "recompute_batchnorm"]

_NAME = re.compile(r"epoch-(\d{4,})\.weights\.h5")


def kept_epochs(run_dir: Path) -> dict[int, Path]:
    """The epochs whose weights `KeepBest` kept in a run, and their files."""
    folder = RunDir(run_dir).kept
    found = {}
    for path in folder.glob("epoch-*.weights.h5") if folder.is_dir() else ():
        if match := _NAME.fullmatch(path.name):
            found[int(match[1])] = path
    return dict(sorted(found.items()))


def best_epochs(rows: list[dict], monitor: str, k: int) -> list[int]:
    """The k best epochs of history rows by `monitor` (ties: the earlier epoch first)."""
    scored = [(float(r[monitor]), int(r["epoch"])) for r in rows if r.get(monitor) not in (None, "")]
    sign = -1.0 if higher_is_better(monitor) else 1.0
    return [epoch for _, epoch in sorted(scored, key=lambda s: (sign * s[0], s[1]))[:k]]


class KeepBest(keras.callbacks.Callback):
    """At each epoch's end (after `Checkpoints`: the epoch's row is in history.csv), the epoch's
    weights kept when they are among the k best so far, and the file of the epoch they displace
    removed. `rows`: the history a resumed run restored."""

    def __init__(self, run_dir: Path, monitor: str, k: int, rows: list[dict]):
        super().__init__()
        self.run_dir, self.monitor, self.k = Path(run_dir), monitor, k
        self.rows = list(rows)

    def on_epoch_end(self, epoch, logs=None):
        self.rows.append({"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}})
        keep = best_epochs(self.rows, self.monitor, self.k)
        folder = RunDir(self.run_dir).kept
        if epoch + 1 in keep:
            folder.mkdir(exist_ok=True)
            with averaged_weights(self.model):  # the validated weights (`ema`), as best.keras
                atomic_save(self.model, folder / f"epoch-{epoch + 1:04d}.weights.h5", weights_only=True)
        for old, path in kept_epochs(self.run_dir).items():
            if old not in keep:
                path.unlink(missing_ok=True)


def average_weights(model, files: list[Path]) -> None:
    """`model` (built as the files were saved from, compiled) set to the mean of their weights."""
    total = None
    for path in files:
        model.load_weights(path)
        values = [np.asarray(keras.ops.convert_to_numpy(w), dtype=np.float64) for w in model.weights]
        total = values if total is None else [t + v for t, v in zip(total, values, strict=True)]
    model.set_weights(
        [
            (t / len(files)).astype(keras.backend.standardize_dtype(w.dtype))
            for t, w in zip(total, model.weights, strict=True)
        ]
    )


def recompute_batchnorm(model, batches) -> int:
    """Each trainable BatchNormalization layer's moving mean and variance set to the cumulative mean
    of those of `batches` (images, or (images, labels) pairs) in training mode; returns the number
    of batches (0: the model has no such layer, and nothing ran). Frozen BN layers (inference mode
    in Keras) keep theirs."""
    layers = [layer for layer in _layers(model) if isinstance(layer, keras.layers.BatchNormalization)]
    layers = [layer for layer in layers if layer.trainable]
    if not layers:
        return 0
    momenta = [layer.momentum for layer in layers]
    count = 0
    try:
        for batch in batches:
            count += 1
            for layer in layers:  # moving = moving * (1 - 1/n) + batch / n: the mean of n batches
                layer.momentum = 1.0 - 1.0 / count
            images = batch[0] if isinstance(batch, (tuple, list)) else batch
            model(images, training=True)
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
    return count


def _layers(model):
    """Every layer of a model, those of the models inside it too."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _layers(layer)
