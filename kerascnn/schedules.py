"""Learning-rate schedules by epoch, as the papers state them, computed per step.

One registered, serializable `LearningRateSchedule` (so a saved model's optimizer reloads in safe
mode) covers the step schedule (ResNet: divide by 10 at epochs 30, 60, 90 on ImageNet; at 32k and 48k
iterations on CIFAR-10), cosine annealing, one-cycle and a constant rate, each with optional linear
warm-up. "Divide by 10 when the validation error stops improving" (AlexNet) is Keras'
`ReduceLROnPlateau` callback instead, since it depends on the metrics.
"""

from __future__ import annotations

import math

import keras
from keras import ops

__all__ = ["EpochSchedule"]


@keras.saving.register_keras_serializable(package="kerascnn")
class EpochSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """The learning rate at a step, from a schedule written in epochs.

    Args:
        kind: "constant", "step", "cosine" or "onecycle".
        learning_rate: the base (peak) rate.
        steps_per_epoch: optimizer steps in an epoch.
        epochs: the run's length (cosine and one-cycle end there).
        milestones: "step": epochs at which the rate is multiplied by `gamma`.
        gamma: the factor of "step".
        warmup_epochs: linear warm-up from 0 to the base rate first.
        min_learning_rate: cosine's floor.
    """

    def __init__(
        self,
        kind: str,
        learning_rate: float,
        steps_per_epoch: int,
        epochs: int,
        milestones=(),
        gamma: float = 0.1,
        warmup_epochs: int = 0,
        min_learning_rate: float = 0.0,
    ):
        if kind not in ("constant", "step", "cosine", "onecycle"):
            raise ValueError(
                f"`kind` must be 'constant', 'step', 'cosine' or 'onecycle'. Received: kind={kind!r}"
            )
        self.kind = kind
        self.learning_rate = float(learning_rate)
        self.steps_per_epoch = int(steps_per_epoch)
        self.epochs = int(epochs)
        self.milestones = [int(m) for m in milestones]
        self.gamma = float(gamma)
        self.warmup_epochs = int(warmup_epochs)
        self.min_learning_rate = float(min_learning_rate)

    def __call__(self, step):
        epoch = ops.cast(step, "float32") / float(self.steps_per_epoch)  # fractional epochs
        base = self.learning_rate
        if self.kind == "constant":
            rate = ops.convert_to_tensor(base, "float32")
        elif self.kind == "step":
            passed = sum(ops.cast(epoch >= m, "float32") for m in self.milestones)
            rate = base * ops.power(self.gamma, passed)
        elif self.kind == "cosine":
            start = float(self.warmup_epochs)
            progress = ops.clip((epoch - start) / max(self.epochs - start, 1e-9), 0.0, 1.0)
            rate = self.min_learning_rate + 0.5 * (base - self.min_learning_rate) * (
                1.0 + ops.cos(math.pi * progress)
            )
        else:  # one-cycle (Smith & Topin 2018; PyTorch's OneCycleLR defaults)
            peak_at = 0.3 * self.epochs
            low, final = base / 25.0, base / 1e4
            up = low + (base - low) * ops.clip(epoch / peak_at, 0.0, 1.0)
            down_progress = ops.clip((epoch - peak_at) / (self.epochs - peak_at), 0.0, 1.0)
            down = final + 0.5 * (base - final) * (1.0 + ops.cos(math.pi * down_progress))
            rate = ops.where(epoch < peak_at, up, down)
        if self.warmup_epochs:
            warm = base * ops.minimum(epoch / float(self.warmup_epochs), 1.0)
            rate = ops.where(epoch < self.warmup_epochs, warm, rate)
        return rate

    def get_config(self):
        return {
            "kind": self.kind,
            "learning_rate": self.learning_rate,
            "steps_per_epoch": self.steps_per_epoch,
            "epochs": self.epochs,
            "milestones": self.milestones,
            "gamma": self.gamma,
            "warmup_epochs": self.warmup_epochs,
            "min_learning_rate": self.min_learning_rate,
        }
