"""The training set-up a recipe's `[train]` says, in one place: the optimizer (with its learning-rate
schedule and decoupled weight decay), the loss and metrics (auxiliary outputs weighted), the check
that the model has the auxiliary outputs the weights are for, the schedule's callbacks, and the stop
on a non-finite loss. `kerascnn train`, every fine-tuning phase, `kerascnn tune` and `HyperCNN` all
build their training from these, so the same `[train]` values train the same way everywhere.
"""

from __future__ import annotations

import contextlib
import math

import keras

__all__ = [
    "make_optimizer",
    "make_loss",
    "compile_model",
    "check_outputs",
    "schedule_callbacks",
    "repeat_labels",
    "StopOnNonFinite",
    "steps_per_execution",
]


def make_optimizer(t, steps_per_epoch: int = 1, epochs: int | None = None):
    """The optimizer of a `[train]` section (`kerascnn.recipe.TrainSection`): "sgd" (momentum,
    Nesterov), "adam", "adamw" or "rmsprop" at `learning_rate` under `schedule` (an
    `EpochSchedule` stepping per batch, or a constant rate that ReduceLROnPlateau changes), with
    decoupled weight decay `weight_decay`, BN's scale and shift and the biases left out unless
    `decay_all`, and the moving average of the weights with `ema`."""
    if t.schedule == "plateau":
        rate = t.learning_rate
    else:
        from kerascnn.schedules import EpochSchedule

        epochs = t.epochs if epochs is None else epochs
        milestones = t.milestones or tuple(
            range(t.step_every, epochs, t.step_every or 1) if t.step_every else ()
        )
        rate = EpochSchedule(
            "constant" if t.schedule == "constant" else t.schedule,
            t.learning_rate,
            steps_per_epoch,
            epochs,
            milestones,
            t.gamma,
            t.warmup_epochs,
            t.min_learning_rate,
        )
    decay = t.weight_decay or None
    average = {"use_ema": True, "ema_momentum": t.ema_momentum} if t.ema else {}
    if t.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(
            rate, momentum=t.momentum, nesterov=t.nesterov, weight_decay=decay, **average
        )
    elif t.optimizer == "adam":
        optimizer = keras.optimizers.Adam(rate, weight_decay=decay, **average)
    elif t.optimizer == "adamw":
        optimizer = keras.optimizers.AdamW(rate, weight_decay=t.weight_decay, **average)
    else:
        optimizer = keras.optimizers.RMSprop(rate, momentum=t.momentum, weight_decay=decay, **average)
    if t.weight_decay and not t.decay_all:
        optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return optimizer


def make_loss(t):
    """Categorical cross-entropy on the pipeline's one-hot labels, with `label_smoothing`."""
    return keras.losses.CategoricalCrossentropy(label_smoothing=t.label_smoothing)


def check_outputs(model, t, error) -> None:
    """One weight in `aux_loss_weights` per auxiliary output of `model`; otherwise
    `raise error(message)`."""
    side = len(model.outputs) - 1
    if len(t.aux_loss_weights) != side:
        raise error(
            f"the model has {side} auxiliary output(s); give one weight for each, e.g. "
            f"aux_loss_weights = {[0.3] * side} (GoogLeNet)."
            if side
            else f"the model has no auxiliary outputs, so aux_loss_weights must be empty. "
            f"Received: {list(t.aux_loss_weights)}."
        )


def compile_model(model, recipe, steps_per_epoch: int) -> None:
    """Compile `model` as the recipe's `[train]` says (optimizer, loss weighted over the
    auxiliary outputs, accuracy on the main one, XLA, batches per call), and make the optimizer's
    slots now, eagerly: made inside the first traced train step instead, each costs ~8 ms on
    TensorFlow (5 s for ResNet-56's 336 variables, against 0.3 s here)."""
    t = recipe.train
    loss = make_loss(t)
    outputs = len(model.outputs)
    kwargs = dict(
        optimizer=make_optimizer(t, steps_per_epoch),
        jit_compile=t.jit_compile,
        steps_per_execution=steps_per_execution(t.steps_per_execution, recipe),
    )
    if outputs == 1:
        model.compile(loss=loss, metrics=["accuracy"], **kwargs)
    else:
        model.compile(
            loss=[loss] * outputs,
            loss_weights=[1.0, *t.aux_loss_weights],
            metrics=[["accuracy"]] + [[] for _ in range(outputs - 1)],
            **kwargs,
        )
    model.optimizer.build(model.trainable_variables)


def schedule_callbacks(t, *, has_val: bool, verbose: int = 0) -> list:
    """The callbacks `[train]` needs: "plateau" is Keras' ReduceLROnPlateau on the validation loss
    (the training loss without validation data); with `ema`, validation runs on the average
    (Keras' SwapEMAWeights)."""
    found = [keras.callbacks.SwapEMAWeights()] if t.ema else []
    if t.schedule == "plateau":
        found.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss" if has_val else "loss",
                factor=t.gamma,
                patience=t.patience,
                min_lr=t.min_learning_rate,
                verbose=verbose,
            )
        )
    return found


def progress(verbose: int | str = "auto") -> int:
    """Keras' `verbose` for `fit`: "auto" is the live progress bar (1) where someone watches it, a
    terminal or a notebook, and one plain line per epoch (2) when standard output goes to a file
    or a pipe: Keras' bar, which Keras 3 draws whenever the platform is POSIX, would fill a log
    with its carriage returns and escape codes, redrawn many times an epoch."""
    import sys

    if verbose != "auto":
        return int(verbose)
    interactive = getattr(sys.stdout, "isatty", lambda: False)() or "ipykernel" in sys.modules
    return 1 if interactive else 2


@contextlib.contextmanager
def averaged_weights(model):
    """The model holds the optimizer's moving average of its weights while the context lasts (its
    own weights come back after): what best.keras keeps when a recipe sets `ema`."""
    optimizer = getattr(model, "optimizer", None)
    if not getattr(optimizer, "use_ema", False) or not getattr(optimizer, "built", False):
        yield model
        return
    swap = keras.callbacks.SwapEMAWeights()
    swap.set_model(model)
    swap.on_test_begin()  # Keras' own swap (distribution strategies included), as before evaluating
    try:
        yield model
    finally:
        swap.on_test_end()


def repeat_labels(ds, outputs: int):
    """A dataset's labels repeated for each of a model's outputs (GoogLeNet's auxiliary heads)."""
    if ds is None or outputs == 1:
        return ds
    return ds.map(lambda x, y: (x, tuple([y] * outputs)))


class StopOnNonFinite(keras.callbacks.Callback):
    """Stop training at the batch whose loss is NaN or infinite: `diverged(loss, epoch, batch,
    rate)` says how (a run: `TrainingDiverged`, its files kept; a search: a failed trial, the
    search going on). The learning rate reported is the epoch's first step's."""

    def __init__(self, diverged=None):
        super().__init__()
        if diverged is not None:
            self.diverged = diverged
        self._epoch, self._rate = 0, float("nan")

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch + 1
        # The rate of the epoch's first step (read at its end, it would be the next epoch's).
        self._rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            # With steps_per_execution > 1 Keras reports the call's last batch, past the epoch's
            # end when the call was cut short.
            batch = min(batch + 1, self.params.get("steps") or batch + 1)
            raise self.diverged(float(loss), self._epoch, batch, self._rate)

    def diverged(self, loss: float, epoch: int, batch: int, rate: float) -> Exception:
        return RuntimeError(
            f"the training loss became {loss} at epoch {epoch}, batch {batch} (learning rate {rate:g})."
        )


def steps_per_execution(setting, recipe=None) -> int:
    """`train.steps_per_execution` for a model compiled now; "auto": 8 on TensorFlow, where Keras
    runs them in one `tf.while_loop` (no extra memory or tracing; 4-10% faster for LeNet-5 on 2
    cores, where a step costs about 1.3 ms of Python around the compiled call), 1 on JAX, which
    unrolls them into one program (compile time and memory grow with it: give it explicitly for
    small models), on PyTorch, and under a `tf.distribute` strategy, where Keras' multi-step loop
    fails (Keras 3.15: "You must feed a value for placeholder tensor")."""
    backend = keras.backend.backend()
    distributed = False
    if backend == "tensorflow":
        import tensorflow as tf

        distributed = tf.distribute.has_strategy()
    if setting == "auto":
        return 8 if backend == "tensorflow" and not distributed else 1
    if distributed and setting > 1 and recipe is not None:
        raise recipe.error(
            ("train", "steps_per_execution"),
            f"Keras cannot run several batches a call under TensorFlow's "
            f"MirroredStrategy. Received: {setting}.",
            hint='leave it "auto" (1 under a strategy) or set 1.',
        )
    return int(setting)
