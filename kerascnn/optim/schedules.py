"""Learning-rate schedules as the papers state them, in epochs or in iterations, computed per step.

One registered, serializable `LearningRateSchedule` (so a saved model's optimizer reloads in safe
mode) covers the step schedule (ResNet: divide by 10 at epochs 30, 60, 90 on ImageNet; at 32k and 48k
*iterations* on CIFAR-10, which stay 32k and 48k whatever the training split's size), cosine
annealing, one-cycle and a constant rate, each with an optional warm-up: linear (Goyal et al. 2017)
or at a constant low rate (ResNet-110: 0.01 for about 400 iterations, then 0.1). "Divide by 10 when
the validation error stops improving" (AlexNet) is a callback instead
(`kerascnn.training.compile.Plateau`), since it depends on the metrics.

Every position is converted to optimizer steps once, in Python, and the rate is computed in Keras'
`floatx`: in float64 the rate is the paper's number exactly (0.1, not float32's 0.10000000149).
A step's rate is the rate for the update at that step (the first update is step 0), as PyTorch's
schedulers stepped per iteration give it: a milestone at iteration 32000 makes the 32001st update
the first at the lower rate.
"""

from __future__ import annotations

import math

import keras
from keras import ops

__all__ = ["Schedule", "EpochSchedule", "KINDS", "UNITS", "WARMUP_SHAPES"]

KINDS = ("constant", "step", "cosine", "onecycle")
UNITS = ("epochs", "iterations")
WARMUP_SHAPES = ("linear", "constant")


def _cos(x):
    """cos in `x`'s dtype. Keras 3.15's `ops.cos` computes in `result_type(x, float)`, which is
    float32 on JAX even for float64 `x`: the schedule's float64 rate would round."""
    if keras.backend.backend() == "jax":
        import jax.numpy as jnp

        return jnp.cos(x)
    return ops.cos(x)


@keras.saving.register_keras_serializable(package="kerascnn")
class Schedule(keras.optimizers.schedules.LearningRateSchedule):
    """The learning rate at a step, from a schedule written in epochs or iterations.

    Args:
        kind: "constant", "step", "cosine" or "onecycle".
        learning_rate: the base (peak) rate.
        steps_per_epoch: optimizer steps in an epoch.
        length: the run's length in `unit` (cosine and one-cycle end there).
        milestones: "step": where the rate is multiplied by `gamma`, in `unit`.
        gamma: the factor of "step".
        warmup: the warm-up's length in `unit` (0: none).
        warmup_shape: "linear" (from `warmup_learning_rate` up to the base rate) or "constant"
            (`warmup_learning_rate` throughout, then the schedule).
        warmup_learning_rate: where a linear warm-up starts, or the constant warm-up's rate.
        min_learning_rate: cosine's floor.
        unit: "epochs" or "iterations": the unit of `length`, `milestones` and `warmup`.
        accumulation: batches per optimizer step (`train.gradient_accumulation_steps`): Keras
            calls a schedule with the batches seen, and the schedule counts optimizer steps (an
            iteration is an update; an epoch of `steps_per_epoch` batches is that many / N updates).
    """

    def __init__(
        self,
        kind: str,
        learning_rate: float,
        steps_per_epoch: int,
        length: float,
        milestones=(),
        gamma: float = 0.1,
        warmup: float = 0,
        warmup_shape: str = "linear",
        warmup_learning_rate: float = 0.0,
        min_learning_rate: float = 0.0,
        unit: str = "epochs",
        accumulation: int = 1,
    ):
        for name, value, choices in (
            ("kind", kind, KINDS),
            ("unit", unit, UNITS),
            ("warmup_shape", warmup_shape, WARMUP_SHAPES),
        ):
            if value not in choices:
                listed = ", ".join(map(repr, choices))
                raise ValueError(f"`{name}` must be one of {listed}. Received: {name}={value!r}")
        self.kind, self.unit = kind, unit
        self.learning_rate = float(learning_rate)
        self.steps_per_epoch = int(steps_per_epoch)
        self.length = float(length)
        self.milestones = [int(m) for m in milestones]
        self.gamma = float(gamma)
        self.warmup = float(warmup)
        self.warmup_shape = warmup_shape
        self.warmup_learning_rate = float(warmup_learning_rate)
        self.min_learning_rate = float(min_learning_rate)
        self.accumulation = int(accumulation)

    def steps(self, position: float) -> float:
        """A position in the schedule's unit, in optimizer steps."""
        if self.unit == "iterations":
            return float(position)
        return float(position) * self.steps_per_epoch / self.accumulation

    def __call__(self, step):
        dtype = keras.config.floatx()
        if self.accumulation > 1:  # the batches Keras counts, as optimizer steps
            step = ops.floor_divide(step, self.accumulation)
        step = ops.cast(step, dtype)

        def c(value):  # every constant a tensor of the dtype (Keras 3.15 promotes Python floats,
            return ops.convert_to_tensor(value, dtype)  # and ops.minimum, to float32 on PyTorch)

        base, one, zero = c(self.learning_rate), c(1.0), c(0.0)
        warm, length = self.steps(self.warmup), self.steps(self.length)
        if self.kind == "constant":
            rate = base
        elif self.kind == "step":
            passed = zero
            for m in self.milestones:
                passed = passed + ops.cast(step >= c(self.steps(m)), dtype)
            rate = base * ops.power(c(self.gamma), passed)
        elif self.kind == "cosine":
            low = c(self.min_learning_rate)
            progress = ops.clip((step - c(warm)) / c(max(length - warm, 1e-9)), zero, one)
            rate = low + c(0.5) * (base - low) * (one + _cos(c(math.pi) * progress))
        else:  # one-cycle (Smith & Topin 2018; PyTorch's OneCycleLR defaults)
            peak_at = c(0.3 * length)
            low, final = base / c(25.0), base / c(1e4)
            up = low + (base - low) * ops.clip(step / peak_at, zero, one)
            down_progress = ops.clip((step - peak_at) / (c(length) - peak_at), zero, one)
            down = final + c(0.5) * (base - final) * (one + _cos(c(math.pi) * down_progress))
            rate = ops.where(step < peak_at, up, down)
        if warm:
            start = c(self.warmup_learning_rate)
            if self.warmup_shape == "constant":
                early = start
            else:
                early = start + (base - start) * ops.clip(step / c(warm), zero, one)
            rate = ops.where(step < c(warm), early, rate)
        return ops.cast(rate, dtype)

    def get_config(self):
        return {
            "kind": self.kind,
            "learning_rate": self.learning_rate,
            "steps_per_epoch": self.steps_per_epoch,
            "length": self.length,
            "milestones": self.milestones,
            "gamma": self.gamma,
            "warmup": self.warmup,
            "warmup_shape": self.warmup_shape,
            "warmup_learning_rate": self.warmup_learning_rate,
            "min_learning_rate": self.min_learning_rate,
            "unit": self.unit,
            "accumulation": self.accumulation,
        }


@keras.saving.register_keras_serializable(package="kerascnn")
class EpochSchedule(Schedule):
    """The schedule as files written before `Schedule` name it (epochs only, a linear warm-up from
    0): read back as a `Schedule`."""

    def __init__(
        self,
        kind,
        learning_rate,
        steps_per_epoch,
        epochs,
        milestones=(),
        gamma=0.1,
        warmup_epochs=0,
        min_learning_rate=0.0,
    ):
        super().__init__(
            kind,
            learning_rate,
            steps_per_epoch,
            epochs,
            milestones,
            gamma,
            warmup=warmup_epochs,
            min_learning_rate=min_learning_rate,
        )

    @classmethod
    def from_config(cls, config):
        return Schedule(
            **{
                **{k: v for k, v in config.items() if k not in ("epochs", "warmup_epochs")},
                "length": config["epochs"],
                "warmup": config.get("warmup_epochs", 0),
            }
        )
