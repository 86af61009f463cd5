"""The learning-rate range test (L. N. Smith, "Cyclical Learning Rates for Training Neural Networks",
WACV 2017, section 3.3; fastai's `lr_find`): train the recipe's model on its data for about a hundred
steps while the learning rate grows exponentially from `start` to `end`, record the loss of each
step, and suggest a rate a tenth of the one with the lowest (smoothed) loss, below where the loss
starts to rise.

Nothing is written into a run directory and nothing is kept: the network is a fresh one, built,
trained and dropped; `out` is the only file written (the plot of loss against rate). The recipe's
optimizer, loss and data (augmentation included) are the run's own; its schedule is replaced by the
sweep, one step a call. Differences from fastai: the suggestion is its former `min / 10` rule (the
rate of steepest descent is printed beside it); the sweep stops when the smoothed loss passes four
times its lowest, as fastai's does.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from kerascnn.config import ConfigError
from kerascnn.data import load_data
from kerascnn.data.feed import for_keras
from kerascnn.recipe import as_recipe
from kerascnn.training.compile import compile_model, progress
from kerascnn.training.fit import build_model, check_spec, epoch_steps
from kerascnn.visualize import figures
from kerascnn.zoo import drop_side_outputs

__all__ = ["LRFind", "lr_find"]


@dataclass
class LRFind:
    """A learning-rate sweep.

    Attributes:
        rates: the learning rate of each step taken.
        losses: each step's training loss (the batch's own, not Keras' running mean).
        smoothed: the losses smoothed (exponential moving average, 0.98, bias-corrected).
        lowest: the rate at the lowest smoothed loss.
        steepest: the rate where the smoothed loss falls fastest (per factor of rate).
        suggestion: `lowest / 10`, the rate to train at.
        plot: the picture written, or None.
    """

    rates: list[float]
    losses: list[float]
    smoothed: list[float]
    lowest: float
    steepest: float
    suggestion: float
    plot: Path | None = None

    def override(self) -> str:
        return f"train.learning_rate={self.suggestion:.3g}"


class _Sweep(keras.callbacks.Callback):
    def __init__(self, rates: np.ndarray, diverge: float = 4.0):
        super().__init__()
        self.rates, self.diverge = rates, diverge
        self.losses: list[float] = []
        self.smoothed: list[float] = []
        self._mean = 0.0
        self._average = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._index_in_epoch, self._previous_mean = 0, 0.0

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate.assign(float(self.rates[len(self.losses)]))

    def on_train_batch_end(self, batch, logs=None):
        # Keras' logs hold the epoch's running mean: this batch's loss is what moved it.
        mean, k = float(logs["loss"]), self._index_in_epoch
        loss = (k + 1) * mean - k * self._previous_mean
        self._index_in_epoch, self._previous_mean = k + 1, mean
        self.losses.append(loss)
        step = len(self.losses)
        self._average = 0.98 * self._average + 0.02 * loss
        smooth = self._average / (1 - 0.98**step)
        self.smoothed.append(smooth)
        if not math.isfinite(smooth) or step >= len(self.rates):
            self.model.stop_training = True
        elif step > 10 and smooth > self.diverge * min(self.smoothed):
            self.model.stop_training = True


def lr_find(
    recipe,
    *,
    start: float = 1e-7,
    end: float = 10.0,
    steps: int = 100,
    out: str | Path | None = None,
    verbose=0,
) -> LRFind:
    """Sweep the learning rate from `start` to `end` over `steps` training steps of the recipe's
    model and data, and suggest one (see the module docstring). `out`: a .png/.svg/.pdf of loss
    against rate (never overwritten)."""
    if not (0 < start < end) or steps < 10:
        raise ConfigError(
            f"the sweep needs 0 < start < end and at least 10 steps. Received: start={start}, "
            f"end={end}, steps={steps}."
        )
    if out is not None:
        out = figures.new_picture(out)
    recipe = as_recipe(recipe)
    if recipe.finetune is not None:
        raise ConfigError(
            f"{recipe.name}: lr-find sweeps a recipe's [model] from scratch; a [finetune] recipe's "
            f"phases start from trained weights.",
            hint="sweep the recipe's network with its [data] in a recipe without [finetune], or "
            "set each phase's learning_rate by hand.",
        )
    check_spec(recipe)
    keras.utils.set_random_seed(recipe.train.seed)
    sweep_train = dataclasses.replace(
        recipe.train, schedule="plateau", steps_per_execution=1, ema=False, learning_rate=start
    )
    recipe = dataclasses.replace(recipe, train=sweep_train)
    data = load_data(recipe, drop_remainder=True)  # equal batches: each step's loss is exact
    model = build_model(recipe, data.input_shape, data.classes)
    if len(model.outputs) > 1:
        model = drop_side_outputs(model)
    per_epoch = epoch_steps(data)
    compile_model(model, recipe, per_epoch)
    rates = start * (end / start) ** (np.arange(steps) / (steps - 1))
    sweep = _Sweep(rates)
    epochs = math.ceil(steps / per_epoch)
    train_input, steps_per_epoch = for_keras(data.train, 0, epochs)
    model.fit(
        train_input,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=[sweep],
        verbose=progress(verbose),
        shuffle=False,
    )
    return _result(rates[: len(sweep.losses)], sweep.losses, sweep.smoothed, out, recipe.name)


def _result(rates, losses, smoothed, out, title) -> LRFind:
    finite = [i for i, s in enumerate(smoothed) if math.isfinite(s)]
    if len(finite) < 5:
        raise ConfigError(
            f"the loss was not finite from the sweep's first steps (rate {rates[0]:g}): "
            f"nothing to suggest; start lower."
        )
    low = min(finite, key=lambda i: smoothed[i])
    logs = np.log10(np.asarray(rates, np.float64))
    values = np.asarray(smoothed, np.float64)
    slopes = np.gradient(values[: low + 1], logs[: low + 1]) if low >= 2 else np.zeros(1)
    steep = int(np.argmin(slopes))
    found = LRFind(
        rates=[float(r) for r in rates],
        losses=[float(v) for v in losses],
        smoothed=[float(v) for v in smoothed],
        lowest=float(rates[low]),
        steepest=float(rates[steep]),
        suggestion=float(rates[low]) / 10,
    )
    if out is not None:
        found.plot = figures.save(figures.lr_sweep(found, title), out)
    return found
