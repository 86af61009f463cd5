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

from kerascnn import optim
from kerascnn.config import ConfigError
from kerascnn.config.limits import MAX_EPOCHS
from kerascnn.training.rates import rate_multipliers

__all__ = [
    "make_optimizer",
    "make_loss",
    "compile_model",
    "check_outputs",
    "schedule_callbacks",
    "repeat_labels",
    "StopOnNonFinite",
    "Plateau",
    "decay_form",
    "describe_update",
    "run_length",
    "steps_per_execution",
    "streams_note",
    "streams_of",
]


def make_optimizer(t, steps_per_epoch: int = 1, epochs: int | None = None, rate_multipliers=None):
    """The optimizer of a `[train]` section (`kerascnn.recipe.TrainSection`): "sgd" (momentum in
    `momentum_form`, Nesterov), "adam", "adamw" or "rmsprop" at `learning_rate` under `schedule` (a
    `kerascnn.optim.Schedule` stepping per batch, in epochs or iterations, or a constant rate that
    `Plateau` changes), with weight decay in `weight_decay_form` over `weight_decay_scope`
    (`kerascnn.optim`), and the moving average of the weights with `ema`."""
    if t.schedule == "plateau":
        rate = t.learning_rate
    else:
        epochs = t.epochs if epochs is None else epochs
        length = _length(t, epochs, steps_per_epoch)
        milestones = t.milestones or (
            tuple(range(t.step_every, math.ceil(length), t.step_every)) if t.step_every else ()
        )
        rate = optim.Schedule(
            t.schedule,
            t.learning_rate,
            steps_per_epoch,
            length,
            milestones,
            t.gamma,
            warmup=t.warmup,
            warmup_shape=t.warmup_shape,
            warmup_learning_rate=t.warmup_learning_rate,
            min_learning_rate=t.min_learning_rate,
            unit=t.schedule_unit,
            accumulation=t.gradient_accumulation_steps,
        )
    decay = dict(
        weight_decay=t.weight_decay or None,
        weight_decay_form=decay_form(t),
        weight_decay_scope=t.weight_decay_scope,
        rate_multipliers=rate_multipliers or None,
    )
    average = {"use_ema": True, "ema_momentum": t.ema_momentum} if t.ema else {}
    if t.gradient_accumulation_steps > 1:  # Keras' own: the mean gradient of N batches, one update
        average["gradient_accumulation_steps"] = t.gradient_accumulation_steps
    if t.optimizer == "sgd":
        return optim.SGD(
            rate,
            momentum=float(t.momentum),
            nesterov=t.nesterov,
            momentum_form=t.momentum_form,
            **decay,
            **average,
        )
    if t.optimizer == "adam":
        return optim.Adam(rate, **decay, **average)
    if t.optimizer == "adamw":
        return optim.AdamW(rate, **{**decay, "weight_decay": t.weight_decay}, **average)
    return optim.RMSprop(rate, momentum=float(t.momentum), **decay, **average)


def run_length(t, steps_per_epoch: int) -> tuple[int, int]:
    """The run's epochs and the batches of its last one: `epochs` whole epochs, or with
    `iterations` (He et al.'s 64k optimizer steps, `gradient_accumulation_steps` batches each) as
    many epochs as it takes, the last one cut where the iterations end."""
    if not t.iterations:
        return t.epochs, steps_per_epoch
    batches = t.iterations * t.gradient_accumulation_steps
    epochs = -(-batches // steps_per_epoch)
    if epochs > MAX_EPOCHS:  # a row of history.csv an epoch: what a run's readers are bounded by
        raise ConfigError(
            f"train.iterations = {t.iterations:,} takes {epochs:,} epochs of {steps_per_epoch:,} "
            f"batches; a run may have at most {MAX_EPOCHS:,}."
        )
    return epochs, batches - (epochs - 1) * steps_per_epoch


def describe_update(t) -> str:
    """The update step in words, for a run's log: "weight decay 1e-4 as the L2 penalty (added to
    the gradient), on every parameter; momentum 0.9, Nesterov, in Torch's form"."""
    form = decay_form(t)
    words = (
        f"weight decay {t.weight_decay:g} "
        + (
            "as the L2 penalty (added to the gradient)"
            if form == "l2"
            else "decoupled (w -= lr * wd * w)"
        )
        + (", on every parameter" if t.weight_decay_scope == "all" else ", on the kernels")
    )
    if t.optimizer in ("sgd", "rmsprop") and t.momentum:
        words += f"; momentum {t.momentum:g}" + (", Nesterov" if t.nesterov else "")
        if t.optimizer == "sgd":
            words += f", in {'Caffe' if t.momentum_form == 'caffe' else 'Torch'}'s form"
    return words


def decay_form(t) -> str:
    """`weight_decay_form` resolved: "auto" is decoupled for AdamW and the L2 penalty for the
    others, as PyTorch's optimizers and Caffe apply `weight_decay`."""
    if t.weight_decay_form != "auto":
        return t.weight_decay_form
    return "decoupled" if t.optimizer == "adamw" else "l2"


def _length(t, epochs: int, steps_per_epoch: int) -> float:
    """The run's length in the schedule's unit (iterations: optimizer steps)."""
    updates = t.iterations or epochs * steps_per_epoch / t.gradient_accumulation_steps
    if t.schedule_unit == "iterations":
        return updates
    return updates * t.gradient_accumulation_steps / steps_per_epoch


def streams_of(data) -> tuple[int, ...]:
    """The epoch lengths, in batches, of `load_data`'s training and validation splits that Keras
    reads as one stream of every epoch (`kerascnn.data.feed.for_keras`: the grain and device
    paths); () when tf.data feeds them, whose epochs end by themselves."""
    return tuple(len(ds) for ds in (data.train, data.val) if getattr(ds, "is_feed", False))


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


def compile_model(model, recipe, steps_per_epoch: int, *, streams=()) -> None:
    """Compile `model` as the recipe's `[train]` says (optimizer, loss weighted over the
    auxiliary outputs, accuracy on the main one, XLA, batches per call: `steps_per_execution`,
    with `streams` the epoch lengths of the splits fed as one stream of every epoch's batches),
    and make the optimizer's slots now, eagerly: made inside the first traced train step instead,
    each costs ~8 ms on TensorFlow (5 s for ResNet-56's 336 variables, against 0.3 s here)."""
    t = recipe.train
    loss = make_loss(t)
    outputs = len(model.outputs)
    kwargs = dict(
        optimizer=make_optimizer(
            t, steps_per_epoch, rate_multipliers=rate_multipliers(model, t.layer_decay)
        ),
        jit_compile=t.jit_compile,
        steps_per_execution=steps_per_execution(t.steps_per_execution, recipe, streams=streams),
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


def schedule_callbacks(t, *, has_val: bool, verbose: int = 0, state: dict | None = None) -> list:
    """The callbacks `[train]` needs: "plateau" is `Plateau` on `plateau_monitor` (the training
    split's metric without validation data), its counters from `state` (a resumed run's backup:
    `Plateau.state`); with `ema`, validation runs on the average (Keras' SwapEMAWeights)."""
    found = [keras.callbacks.SwapEMAWeights()] if t.ema else []
    if t.schedule == "plateau":
        monitor = t.plateau_monitor if has_val else t.plateau_monitor.removeprefix("val_")
        found.append(
            Plateau(
                monitor=monitor,
                factor=t.gamma,
                patience=t.patience,
                min_lr=t.min_learning_rate,
                verbose=verbose,
                state=(state or {}).get(Plateau.key),
            )
        )
    return found


class Plateau(keras.callbacks.ReduceLROnPlateau):
    """Keras' ReduceLROnPlateau whose counters (the best value, the epochs waited, the cooldown)
    are part of a run's state: `state()` goes into each epoch's backup record, and a resumed run
    starts from them (`state=`), so that it lowers the rate at the epochs a run never stopped
    would. Keras' own starts them over at every `fit`."""

    key = "plateau"

    def __init__(self, *args, state: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._resumed = state

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self._resumed:
            self.best = self._resumed["best"]
            self.wait = int(self._resumed["wait"])
            self.cooldown_counter = int(self._resumed["cooldown_counter"])

    def state(self) -> dict:
        best = None if self.best is None else float(self.best)
        return {"best": best, "wait": int(self.wait), "cooldown_counter": int(self.cooldown_counter)}


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


def steps_per_execution(setting, recipe=None, *, streams=()) -> int:
    """`train.steps_per_execution` for a model compiled now; "auto": 8 on TensorFlow, where Keras
    runs them in one `tf.while_loop` (no extra memory or tracing; 4-10% faster for LeNet-5 on 2
    cores, where a step costs about 1.3 ms of Python around the compiled call), 1 on JAX, which
    unrolls them into one program (compile time and memory grow with it: give it explicitly for
    small models), on PyTorch, and under a `tf.distribute` strategy, where Keras' multi-step loop
    fails (Keras 3.15: "You must feed a value for placeholder tensor").

    `streams`: the epoch lengths of the splits Keras reads as one stream of every epoch's batches
    (the grain and device paths, `for_keras`). Keras cuts such a stream into calls of this many
    batches and runs whole calls, so a call that crossed an epoch's end would train on the next
    epoch's batches in this one (a 41-batch epoch ending at iteration 48) and a resumed run would
    part from one never stopped: the number is lowered to the largest that divides every length.
    `streams_note` says so in words."""
    backend = keras.backend.backend()
    distributed = False
    if backend == "tensorflow":
        import tensorflow as tf

        distributed = tf.distribute.has_strategy()
    if setting == "auto":
        chosen = 8 if backend == "tensorflow" and not distributed else 1
    else:
        if distributed and setting > 1 and recipe is not None:
            raise recipe.error(
                ("train", "steps_per_execution"),
                f"Keras cannot run several batches a call under TensorFlow's "
                f"MirroredStrategy. Received: {setting}.",
                hint='leave it "auto" (1 under a strategy) or set 1.',
            )
        chosen = int(setting)
    common = math.gcd(*streams) if streams else 0
    if common:
        chosen = max(d for d in range(1, chosen + 1) if common % d == 0)
    return chosen


def streams_note(chosen: int, setting, streams=()) -> str:
    """Why a run takes fewer batches a call than asked (`steps_per_execution`), or ""."""
    asked = steps_per_execution(setting)
    if not streams or chosen >= asked:
        return ""
    lengths = " and ".join(str(n) for n in streams)
    return (
        f" ({asked} asked: a call ends where an epoch ends, and the epochs here are {lengths} batches)"
    )
