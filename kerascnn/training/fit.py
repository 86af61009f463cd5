"""A run's `model.fit`: the recipe's data, model and update set up in its run directory, then
`model.fit` over the epochs still to train. Training ends there; what a run does before (the
directory claimed) and after (the reported model, its test, metrics.json, the pictures, the card,
the page) is composed by `kerascnn.verbs`.

The path: the recipe checked (`checked`: a Python model function, an inline spec) -> in a claimed
run directory, `prepare`: the data (tf.data or grain) -> the model (zoo, spec or function) in the
distribution's scope -> compile (optimizer, weight decay, schedule, label smoothing, auxiliary
losses) -> the run's records (recipe, run.json, data.json: `rundir.record`) -> the training state
built -> the backup restored (a resumed run) -> the callbacks (backup for resume, last and best
checkpoints, history, TensorBoard: `checkpoints`) -> `fit`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras

from kerascnn.backend.internals import build_training_state
from kerascnn.config import ConfigError
from kerascnn.config.installed import installed
from kerascnn.data import load_data
from kerascnn.data.feed import for_keras
from kerascnn.recipe import Recipe
from kerascnn.runs import rundir
from kerascnn.runs.rundir import RunDir
from kerascnn.spec import build_from_spec, validate_spec
from kerascnn.training import checkpoints, devices, stopping
from kerascnn.training.averaging import KeepBest
from kerascnn.training.compile import (
    check_outputs,
    compile_model,
    repeat_labels,
    run_length,
    schedule_callbacks,
    streams_of,
)
from kerascnn.training.throughput import Throughput
from kerascnn.zoo import build

__all__ = ["Fit", "checked", "prepare", "fit", "build_model", "check_spec", "epoch_steps"]


@dataclass
class Fit:
    """A run's `model.fit`, set up by `prepare` and run by `fit`.

    Attributes:
        recipe, path, resume: the recipe, its run directory, and whether the run resumes.
        model, data: the compiled model and `load_data`'s result.
        monitor: what chooses the best epoch (`[output] best_by`).
        length: the epochs to reach and the batches of the last one (`train.iterations` may cut it).
        steps: the batches of a whole epoch; streams: the lengths of the epochs' batch streams.
        start_epoch: the epochs already trained (a resumed run).
        precision, strategy_name: what the run trains with.
        tensorboard: whether TensorBoard logs are written.
        seconds: how long `fit` took this session (None before).
        stopped: why the run ended before its last epoch, in words (`kerascnn.training.stopping`:
            early stopping, the time budget), else None.
    """

    recipe: Recipe
    path: Path
    resume: bool
    model: keras.Model
    data: object
    monitor: str
    length: tuple[int, int]
    steps: int
    streams: tuple
    start_epoch: int
    precision: str
    strategy_name: str
    tensorboard: bool
    callbacks: list
    throughput: Throughput
    seconds: float | None = None
    stopped: str | None = None

    @property
    def test(self):
        """The test split as the model's outputs take it (None without one)."""
        return None if self.data.test is None else repeat_labels(self.data.test, len(self.model.outputs))

    @property
    def trained_epochs(self) -> int:
        return self.length[0] - self.start_epoch


def checked(recipe: Recipe, model: Callable | None) -> Recipe:
    """The recipe checked before its run directory or its data is touched: a model function
    `(input_shape, classes) -> keras.Model` for a recipe without `[model]` (its qualified name
    enters the fingerprint), or the recipe's `[model]` (an inline spec validated)."""
    if recipe.finetune is not None and recipe.phase is None:
        raise ValueError("a recipe with [finetune] runs its phases: kerascnn.train(recipe).")
    if model is not None:
        if recipe.model.name is not None or recipe.model.spec is not None:
            raise ValueError(
                "train(model=...) builds the network in Python; the recipe must not "
                "also have a [model]. Received a recipe with [model] "
                f"{recipe.model.name or 'spec'!r}."
            )
        if not callable(model):
            raise ValueError(
                f"`model` must be a function (input_shape, classes) -> keras.Model. Received: {model!r}."
            )
        builder = f"{getattr(model, '__module__', '?')}.{getattr(model, '__qualname__', model)}"
        return dataclasses.replace(recipe, builder=builder)
    if recipe.model.name is None and recipe.model.spec is None:
        raise recipe.error(
            (),
            "the recipe has no [model]: give its `name` (a registered model) or a `spec`.",
            hint="from Python, pass train(recipe, model=fn).",
        )
    check_spec(recipe)
    return recipe


def prepare(
    recipe: Recipe, path: Path, resume: bool, *, builder=None, normalization=None, log=print
) -> Fit:
    """The run's `model.fit` set up in its claimed directory `path`: data, model, compile, the
    run's first files (a new run), the backup restored (a resumed run), the callbacks.
    `normalization`: a `Preprocessing` to normalize the images as instead of the recipe's
    `normalize` (a fine-tuning phase: as the pretrained network expects them)."""
    t = recipe.train
    precision = keras.mixed_precision.global_policy().name
    strategy, strategy_name = devices.strategy_for(t.distribution, recipe)
    # Across processes every worker must run the same number of equal batches.
    data = load_data(
        recipe, drop_remainder=t.distribution == "multi_worker", normalization=normalization
    )
    with strategy.scope():
        model = build_model(recipe, data.input_shape, data.classes, builder=builder)
        check_outputs(model, t, lambda message: recipe.error(("train", "aux_loss_weights"), message))
        steps = epoch_steps(data)
        epochs, last_steps = run_length(t, steps)
        streams = streams_of(data)
        if streams and last_steps < steps:  # a cut last epoch is a stream of its own length too
            streams += (last_steps,)
        compile_model(model, recipe, steps, streams=streams)
        # The data loaded, the model built and compiled: the run's records (a new run's first files).
        environment = devices.environment(precision, strategy_name)
        rundir.record(path, recipe, model, data.feeding, environment=environment, resume=resume)
        build_training_state(model, repeat_labels(data.train, len(model.outputs)))
    has_val = data.val is not None
    monitor = _monitor(recipe, has_val=has_val)
    start_epoch, rows, best_so_far, states = (
        checkpoints.restore(model, path, monitor, log) if resume else (0, [], None, {})
    )
    if resume:  # restored: training again (a finished run continued too)
        rundir.update_state(path, status="running", stopped=None)
    throughput = Throughput(data.sizes.get("train", 0))
    stops = stopping.stopping_callbacks(t, monitor, epochs, has_val=has_val, state=states)
    stopped = next((c.reason for c in stops if c.reason), None)
    if stopped:  # stopped early, then killed before its files were made: train nothing more
        epochs, last_steps = start_epoch, steps
    callbacks = _callbacks(
        t, path, (throughput, stops), monitor, (rows, best_so_far, states), has_val,
        keep_best=recipe.output.keep_best,
    )  # fmt: skip
    tensorboard = recipe.output.tensorboard and installed("tensorflow")
    if tensorboard:  # Keras writes the logs with `tensorflow.summary`
        callbacks.append(keras.callbacks.TensorBoard(str(RunDir(path).logs)))
    return Fit(
        recipe, path, resume, model, data, monitor, (epochs, last_steps), steps, streams,
        start_epoch, precision, strategy_name, tensorboard, callbacks, throughput, stopped=stopped,
    )  # fmt: skip


def fit(run: Fit, verbose) -> Fit:
    """`model.fit` over the epochs still to train; a loss that is no longer finite stops the run,
    marked "diverged". Returns `run` with the seconds it took."""
    outputs = len(run.model.outputs)
    epochs, last_steps = run.length
    cut = (last_steps, last_steps * run.recipe.data.batch_size) if last_steps < run.steps else None
    val = None if run.data.val is None else repeat_labels(run.data.val, outputs)

    def train_from(first):
        return repeat_labels(run.data.train_from(first), outputs)

    started = time.perf_counter()
    try:
        _fit(
            run.model,
            (train_from, val),
            (run.start_epoch, epochs, cut),
            run.callbacks,
            verbose,
            run.throughput,
        )
    except checkpoints.TrainingDiverged as e:
        rundir.update_state(run.path, status="diverged", error=e.message)
        raise
    stopped = next((c.reason for c in run.callbacks if getattr(c, "reason", None)), run.stopped)
    return dataclasses.replace(run, seconds=time.perf_counter() - started, stopped=stopped)


def _callbacks(t, path, timing_and_stops, monitor, restored, has_val: bool, keep_best=0) -> list:
    """The run's callbacks in their order: throughput first (the row Checkpoints writes and Keras'
    epoch line carry its numbers), then the schedule's, then those that may stop the run, then
    Checkpoints, so that an epoch's backup holds what the others changed at its end (the
    plateau's lower rate, the counters of both). `restored`: the history rows, the best value
    and the callbacks' state of a resumed run."""
    throughput, stops = timing_and_stops
    rows, best_so_far, states = restored
    schedule = schedule_callbacks(t, has_val=has_val, verbose=1, state=states)
    stateful = [c for c in [*schedule, *stops] if hasattr(c, "state")]
    kept = [KeepBest(path, monitor, keep_best, rows)] if keep_best else []
    return [
        throughput,
        *schedule,
        *stops,
        checkpoints.Checkpoints(path, monitor, rows, best_so_far, stateful=stateful),
        *kept,  # the epoch's row in history.csv first
    ]


def _fit(model, datasets, span, callbacks, verbose, throughput) -> None:
    """`model.fit` over `span`, the training batches `train_from(first)` and the validation split
    (`datasets`): the first epoch, the end, and for a last epoch cut short by
    `train.iterations` its batches and images (else None): such an epoch is a call of its own that
    takes only those batches. Also when the backup holds every epoch (killed after the last one):
    fit then trains nothing, and last.keras is written from the restored weights."""
    train_from, val_ds = datasets
    start_epoch, epochs, cut_epoch = span
    last_steps, last_images = cut_epoch or (None, None)
    whole = epochs if cut_epoch is None else epochs - 1
    calls = [(first, end) for first, end in ((start_epoch, whole), (whole, epochs)) if first < end]
    for first, end in calls or [(start_epoch, epochs)]:
        # The batches from the first epoch to run on, on either path: a resumed run sees the very
        # batches it would have seen (`Data.train_from`, `kerascnn.data.feed`).
        train_input, per_epoch = for_keras(train_from(first), first, end - first)
        cut = end > whole
        if cut and per_epoch is None:
            train_input = train_input.take(last_steps)  # tf.data: an epoch that ends there
        elif cut:
            per_epoch = last_steps
        throughput.images = last_images if cut else throughput.full
        val_input, val_steps = for_keras(val_ds, 0, end - first)
        model.fit(
            train_input,
            validation_data=val_input,
            epochs=end,
            initial_epoch=first,
            steps_per_epoch=per_epoch,
            validation_steps=val_steps,
            callbacks=callbacks,
            verbose=verbose,
            shuffle=False,
        )  # the data shuffles
        if any(getattr(c, "reason", None) for c in callbacks):  # stopped early: not the cut epoch
            break


def build_model(recipe: Recipe, input_shape, classes, *, builder: Callable | None = None):
    """The recipe's model (or `builder`'s) for this data's input shape and classes."""
    if builder is not None:
        model = builder(tuple(input_shape), int(classes))
        if not isinstance(model, keras.Model):
            raise ValueError(
                f"the model function {recipe.builder or builder!r} must return a "
                f"keras.Model. Received: {type(model).__name__}."
            )
        return model
    m = recipe.model
    if m.name is not None:
        try:
            return build(m.name, input_shape=input_shape, classes=classes, **m.options)
        except ConfigError as e:
            raise recipe.error(("model", "options"), e.message, hint=e.hint) from None
    return build_from_spec(_spec_of(recipe), input_shape=input_shape, classes=classes)


def _spec_of(recipe: Recipe):
    """The recipe's spec: its inline table, or its file (relative to the recipe)."""
    spec = recipe.model.spec
    if isinstance(spec, str):
        spec_path = Path(spec)
        if not spec_path.is_absolute() and recipe.path is not None and not spec_path.exists():
            spec_path = recipe.path.parent / spec_path
        if not spec_path.is_file():
            raise recipe.error(("model", "spec"), f"no spec file at {spec!r}.")
        spec = spec_path
    return spec


def check_spec(recipe: Recipe) -> None:
    """A recipe's spec, validated before the run directory or the data is touched (its input size
    comes from the data, so what depends on sizes shows when it is built); an inline spec's errors
    name the recipe's file, line and key."""
    if recipe.model.spec is None:
        return
    spec = _spec_of(recipe)
    try:
        validate_spec(spec, input_shape=(None, None, recipe.data.channels or 3), classes=2)
    except ConfigError as e:
        if not isinstance(spec, dict) or e.file is not None:
            raise
        raise recipe.error(("model", "spec", *e.path), e.message, hint=e.hint) from None


def _monitor(recipe, *, has_val: bool) -> str:
    """What chooses the best epoch (best.keras): `[output] best_by`, the validation loss by default
    (smoother than accuracy, which on small validation sets ties for many epochs); the training
    split's without a validation set."""
    best_by = recipe.output.best_by
    return best_by if has_val else best_by.removeprefix("val_")


def epoch_steps(data) -> int:
    """Training batches in an epoch of `load_data`'s result: counted by the grain path without
    making them; a tf.data dataset is iterated once."""
    ds = data.train
    return data.steps_per_epoch or (len(ds) if hasattr(ds, "steps") else sum(1 for _ in ds))
