"""`fit_recipe(recipe)`: one recipe, one `model.fit`, one run directory (see `rundir`).

The path of a run: validate (done when the recipe loaded) -> run directory (resume or refuse) ->
seed, precision, distribution -> data (tf.data or grain) -> model (zoo or spec) -> compile
(optimizer, weight
decay, schedule, label smoothing, auxiliary losses) -> fit with callbacks (backup for resume, last and
best checkpoints, history, TensorBoard: `checkpoints`) -> the run's model (`[output] model`: the final
weights or the best epoch's) as model.keras, both tested -> metrics.json, curves.png.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras

from kerascnn.config import ConfigError
from kerascnn.recipe import Recipe
from kerascnn.report import write_report
from kerascnn.runs import rundir
from kerascnn.runs.card import write_card
from kerascnn.runs.feeding import Feeding
from kerascnn.runs.rundir import RunDir
from kerascnn.training import checkpoints, devices
from kerascnn.training.compile import (
    check_outputs,
    compile_model,
    describe_update,
    progress,
    repeat_labels,
    run_length,
    schedule_callbacks,
    streams_note,
    streams_of,
)
from kerascnn.training.throughput import Throughput


@dataclass
class RunResult:
    """What `kerascnn.train` returns.

    Attributes:
        run_dir: the run directory.
        metrics: metrics.json's content: epochs, the monitored value and best epoch, the best and
            final history rows, seconds, images/s, the test split's metrics with the best weights
            (a fine-tuning run: each phase's, and the last phase's test metrics).
        model_path: the model for inference (`model.keras`).
    """

    run_dir: Path
    metrics: dict
    model_path: Path


def fit_recipe(
    recipe: Recipe,
    *,
    model: Callable | None = None,
    restart: bool = False,
    verbose: int | str = "auto",
    log=print,
    normalization=None,
    start: tuple[str, str | None] | None = None,
) -> RunResult:
    """Run a recipe without `[finetune]` (or one fine-tuning phase's recipe) with one `model.fit`;
    `kerascnn.training.train` is the entry that also runs `[finetune]` recipes. The arguments are
    `train`'s; `normalization` is a `Preprocessing` to normalize the images as, instead of the
    recipe's `normalize` (a fine-tuning phase: as the pretrained network expects them); `start`:
    where the weights started from and their terms, in words, for the run's model card (None:
    random initialization)."""
    if recipe.finetune is not None and recipe.phase is None:
        raise ValueError("a recipe with [finetune] runs its phases: kerascnn.training.train(recipe).")
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
        recipe = dataclasses.replace(recipe, builder=builder)
    elif recipe.model.name is None and recipe.model.spec is None:
        raise recipe.error(
            (),
            "the recipe has no [model]: give its `name` (a registered model) or a `spec`.",
            hint="from Python, pass train(recipe, model=fn).",
        )
    t = recipe.train
    verbose = progress(verbose)
    check_spec(recipe)
    distributed = devices.initialize_workers(recipe)
    with rundir.claim(recipe, restart=restart, worker=distributed) as (path, resume):
        keras.utils.set_random_seed(t.seed)
        precision = devices.precision(t.mixed_precision)
        keras.mixed_precision.set_global_policy(precision)
        try:
            with checkpoints.stop_on_sigterm():
                return _run(recipe, model, path, resume, precision, verbose, log, normalization, start)
        except KeyboardInterrupt as e:  # Ctrl-C or SIGTERM: the backup holds every finished epoch
            if RunDir(path).state.exists():
                rundir.update_state(path, status="interrupted")
            log(
                f"interrupted ({'SIGTERM' if isinstance(e, checkpoints.Terminated) else 'Ctrl-C'}"
                f"); run the same command again to resume {path} after its last finished epoch"
            )
            raise
        except OSError as e:  # a full disk: only a file of this run (the data was read before)
            raise _unwritable(e, path) from None
        finally:
            keras.mixed_precision.set_global_policy("float32")


def _unwritable(error: OSError, path: Path) -> Exception:
    """A file of the run that could not be written (a full disk, a quota) as one plain
    `DiskWriteError` saying what the run holds; any other OSError as it is."""
    epochs = len(checkpoints.read_history(RunDir(path).history))
    done = f"it holds {_plural(epochs, 'finished epoch')}" if epochs else "no epoch had finished"
    found = rundir.unwritable(
        error, path, resume=(f"{done}; free some space and run the same command again to resume")
    )
    if found is not error:
        with contextlib.suppress(OSError):  # the disk may still be full
            if RunDir(path).state.exists():
                rundir.update_state(path, status="interrupted", error=f"could not write {found.target}")
    return found


def _run(
    recipe: Recipe,
    builder,
    path: Path,
    resume: bool,
    precision: str,
    verbose,
    log,
    normalization,
    start=None,
) -> RunResult:
    from kerascnn.data import load_data

    t = recipe.train
    strategy, strategy_name = devices.strategy_for(t.distribution, recipe)
    # Across processes every worker must run the same number of equal batches.
    data = load_data(
        recipe, drop_remainder=t.distribution == "multi_worker", normalization=normalization
    )
    with strategy.scope():
        model = build_model(recipe, data.input_shape, data.classes, builder=builder)
        if not resume:  # the data loaded and the model built: the run's first files
            rundir.begin(path, recipe)
        rundir.check_architecture(path, model, resume=resume)
        outputs = len(model.outputs)
        check_outputs(model, t, lambda message: recipe.error(("train", "aux_loss_weights"), message))
        steps = epoch_steps(data)
        epochs, last_steps = run_length(t, steps)
        streams = streams_of(data)
        if streams and last_steps < steps:  # a cut last epoch is a stream of its own length too
            streams += (last_steps,)
        compile_model(model, recipe, steps, streams=streams)
    train_ds, val_ds, test_ds = (repeat_labels(ds, outputs) for ds in (data.train, data.val, data.test))
    with strategy.scope():
        build_training_state(model, train_ds)
    RunDir(path).write_feeding(Feeding.from_dict(data.to_dict()))
    rundir.update_state(path, environment=devices.environment(precision, strategy_name))
    if not RunDir(path).batch.exists():  # what the network is fed, before it is fed it
        from kerascnn.visualize.batch import draw_batch

        draw_batch(data, RunDir(path).batch, name=recipe.name)

    monitor = _monitor(recipe, has_val=val_ds is not None)
    start_epoch, rows, best_so_far, states = (
        checkpoints.restore(model, path, monitor, log) if resume else (0, [], None, {})
    )
    throughput = Throughput(data.sizes.get("train", 0))
    logs = recipe.output.tensorboard and tensorboard_available()
    callbacks = _callbacks(
        t, path, throughput, monitor, rows, best_so_far, states, has_val=val_ds is not None
    )
    if logs:
        callbacks.append(keras.callbacks.TensorBoard(str(RunDir(path).logs)))
    for line in _start_lines(
        recipe,
        path,
        model,
        data,
        resumed_after=start_epoch if resume else None,
        precision=precision,
        strategy_name=strategy_name,
        streams=streams,
        length=(epochs, last_steps),
        tensorboard=logs,
    ):
        log(line)

    started = time.perf_counter()
    try:
        cut = (last_steps, last_steps * recipe.data.batch_size) if last_steps < steps else None

        def train_from(first):
            return repeat_labels(data.train_from(first), outputs)

        _fit(model, (train_from, val_ds), (start_epoch, epochs, cut), callbacks, verbose, throughput)
    except checkpoints.TrainingDiverged as e:
        rundir.update_state(path, status="diverged", error=e.message)
        raise
    seconds = time.perf_counter() - started
    result = _finish(recipe, path, data, test_ds, monitor, seconds, epochs - start_epoch, log)
    start, terms = start or (None, None)
    write_card(path, start=start, start_terms=terms)  # after run.json says "finished"
    if recipe.output.report:
        log(f"  report {write_report(path)}")
    return result


def _callbacks(t, path, throughput, monitor, rows, best_so_far, states, *, has_val: bool) -> list:
    """The run's callbacks in their order: throughput first (the row Checkpoints writes and Keras'
    epoch line carry its numbers), then the schedule's, then Checkpoints, so that an epoch's
    backup holds what the schedule changed at its end (the plateau's lower rate, its counters)."""
    schedule = schedule_callbacks(t, has_val=has_val, verbose=1, state=states)
    stateful = [c for c in schedule if hasattr(c, "state")]
    return [
        throughput,
        *schedule,
        checkpoints.Checkpoints(path, monitor, rows, best_so_far, stateful=stateful),
    ]


def _start_lines(
    recipe, path, model, data, *, resumed_after, precision, strategy_name, streams, length, tensorboard
) -> list[str]:
    """The lines a run's log starts with: the run, the model, the data, the device and the update."""
    t = recipe.train
    epochs, last_steps = length
    outputs = len(model.outputs)
    sizes = " / ".join(f"{k} {data.sizes[k]:,}" for k in ("train", "val", "test") if k in data.sizes)
    lines = [
        f"kerascnn train: {recipe.name} -> {path}"
        + (f" (resuming after epoch {resumed_after})" if resumed_after is not None else ""),
        f"  model  {model.name}: {model.count_params():,} parameters, input "
        f"{'x'.join(map(str, data.input_shape))}, {data.classes} classes"
        + (f", {outputs - 1} auxiliary heads" if outputs > 1 else ""),
        f"  data   {data.description}: {sizes} images, batch {recipe.data.batch_size}; "
        f"{data.pipeline}" + (" (training batches made on the device)" if data.on_device else ""),
        *(f"  data   {line}" for line in data.describe_classes()),
    ]
    if data.skipped:
        from kerascnn.data.folder import describe_bad

        lines.append(
            f"  data   skipped {len(data.skipped)} unreadable image file"
            f'{"s" if len(data.skipped) > 1 else ""} (data.bad_images = "skip"): '
            + describe_bad(data.skipped, shown=len(data.skipped))
        )
    calls = model.steps_per_execution
    lines.append(
        f"  device {devices.describe_device()}; precision {precision}; distribution "
        f"{strategy_name}; {calls} batch{'es' if calls > 1 else ''} a call"
        f"{streams_note(calls, t.steps_per_execution, streams)}; "
        f"{t.optimizer} lr {t.learning_rate:g} ({t.schedule}), {_plural(epochs, 'epoch')}"
        + (
            f" ({t.iterations:,} iterations: the last epoch {_plural(last_steps, 'batch')})"
            if t.iterations
            else ""
        )
    )
    if t.weight_decay:
        lines.append(f"  update {describe_update(t)}")
    if recipe.output.tensorboard and not tensorboard:
        lines.append(
            "  note   no TensorBoard logs: Keras writes them with TensorFlow, which is not "
            "installed here (history.csv and curves.png hold the same numbers; "
            "output.tensorboard = false drops this line)"
        )
    return lines


def _fit(model, datasets, span, callbacks, verbose, throughput) -> None:
    """`model.fit` over `span`, the training batches `train_from(first)` and the validation split
    (`datasets`): the first epoch, the end, and for a last epoch cut short by
    `train.iterations` its batches and images (else None): such an epoch is a call of its own that
    takes only those batches. Also when the backup holds every epoch (killed after the last one):
    fit then trains nothing, and last.keras is written from the restored weights."""
    from kerascnn.data.feed import for_keras

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


def tensorboard_available() -> bool:
    """Keras' TensorBoard callback writes with `tensorflow.summary`: without TensorFlow the run
    says in one line that it writes no logs, and goes on."""
    from kerascnn.config.installed import installed

    return installed("tensorflow")


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
        from kerascnn.zoo import build

        try:
            return build(m.name, input_shape=input_shape, classes=classes, **m.options)
        except ConfigError as e:
            raise recipe.error(("model", "options"), e.message, hint=e.hint) from None
    from kerascnn.spec import build_from_spec

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
    from kerascnn.spec import validate_spec

    spec = _spec_of(recipe)
    try:
        validate_spec(spec, input_shape=(None, None, recipe.data.channels or 3), classes=2)
    except ConfigError as e:
        if not isinstance(spec, dict) or e.file is not None:
            raise
        raise recipe.error(("model", "spec", *e.path), e.message, hint=e.hint) from None


def build_training_state(model, dataset) -> None:
    """Make the compiled metrics' and losses' variables now, from the dataset's element spec.

    Keras on TensorFlow makes them inside the first traced train step when no distribution strategy
    is set, and a `tf.function` whose first trace creates variables is traced a second time: every
    run paid for two traces of its train step (ResNet-20: 2.0 s each on 2 cores; plain-56: 5 s).
    Keras' own `_symbolic_build` (what it runs first under a strategy and on JAX) builds them
    symbolically; without it (another Keras), nothing changes but the time.
    """
    from keras import tree

    from kerascnn.keras_internals import symbolic_build

    batch = tree.map_structure(
        lambda spec: keras.KerasTensor(tuple(spec.shape), spec.dtype.name), dataset.element_spec
    )
    symbolic_build(model, batch)


def _finish(recipe, path, data, test_ds, monitor, seconds, trained_epochs, log) -> RunResult:
    from kerascnn.runs.saving import load_model

    run = RunDir(path)
    rows = checkpoints.read_history(run.history)
    scored = [r for r in rows if r.get(monitor) not in (None, "")]
    best_value = checkpoints.best_of(monitor, (float(r[monitor]) for r in scored))
    best_row = next((r for r in scored if float(r[monitor]) == best_value), {})
    chosen = recipe.output.model
    metrics = {
        "epochs": len(rows),
        "monitor": monitor,
        "best_epoch": int(best_row["epoch"]) if best_row else None,
        "model": chosen,
        "best": _numbers(best_row),
        "final": _numbers(rows[-1]) if rows else {},
        "seconds": round(seconds, 2),
        "images_per_second": (
            round(trained_epochs * data.sizes["train"] / seconds, 1)
            if seconds > 0 and trained_epochs and "train" in data.sizes
            else None
        ),
    }
    if data.skipped:
        metrics["skipped_images"] = {"count": len(data.skipped), "files": data.skipped}
    # The final weights (last.keras) and the best epoch's (best.keras): the same when the best
    # epoch is the last.
    same = not run.best.exists() or (bool(rows) and metrics["best_epoch"] == len(rows))
    files = {"final": run.last, "best": run.last if same else run.best}
    loaded = load_model(files[chosen])
    # A new Functional model over the same layers: main output only, and not compiled (no
    # optimizer in the file, nothing but Keras and kerascnn's layers needed to load it).
    inference = keras.Model(loaded.inputs, loaded.outputs[0], name=loaded.name)
    model_path = run.model
    checkpoints.atomic_save(inference, model_path)  # before compiling: no optimizer state
    if test_ds is not None:
        metrics.update(_tested(loaded, inference, files, chosen, same, test_ds))
    rundir.write_atomic(RunDir(path).metrics, json.dumps(metrics, indent=2))
    plot_curves(rows, RunDir(path).curves, title=recipe.name)
    rundir.update_state(
        path, status="finished", finished=time.strftime("%Y-%m-%d %H:%M:%S"), epochs=len(rows)
    )
    import shutil

    shutil.rmtree(path / checkpoints.BACKUP, ignore_errors=True)  # finished: never resumed
    report = [
        f"done: {_plural(len(rows), 'epoch')} in {seconds:.1f} s this session"
        + (f" ({metrics['images_per_second']:,.0f} images/s)" if metrics["images_per_second"] else "")
    ]
    if best_row:
        report.append(
            f"  best {monitor} {float(best_row[monitor]):.4f} at epoch "
            f"{metrics['best_epoch']}; final "
            + ", ".join(
                f"{k} {v:.4f}"
                for k, v in metrics["final"].items()
                if k not in ("learning_rate", "seconds", "images_per_second", "data_wait")
            )
        )
        final = metrics["final"]
        if "images_per_second" in final and "data_wait" in final:
            report.append(
                f"  last epoch trained {final['images_per_second']:,.0f} images/s, "
                f"{final['data_wait']:.0%} of its time waiting for data"
            )
    from kerascnn.runs.metrics import tested

    for label, values in tested(metrics):
        report.append(f"  {label}: " + ", ".join(f"{k} {v:.4f}" for k, v in values.items()))
    report.append(f"  saved {model_path}, metrics.json, history.csv, curves.png")
    for line in report:
        log(line)
    return RunResult(run_dir=path, metrics=metrics, model_path=model_path)


def _tested(loaded, inference, files: dict, chosen: str, same: bool, test_ds) -> dict:
    """metrics.json's test results: `test_final` and `test_best`, and `test`, the run's model's
    (`chosen`). The run's model is evaluated, then the other file's weights are loaded into the same
    compiled model (its test step traced once) and evaluated; once when they are the same."""
    from kerascnn.data.feed import for_keras

    first = test_ds.map(lambda x, y: (x, y[0] if isinstance(y, tuple) else y))
    inference.compile(loss=keras.losses.CategoricalCrossentropy(), metrics=["accuracy"])
    build_training_state(inference, first)

    def evaluate() -> dict:
        test_input, test_steps = for_keras(first)
        values = inference.evaluate(test_input, steps=test_steps, verbose=0, return_dict=True)
        return {k: float(v) for k, v in values.items()}

    other = "best" if chosen == "final" else "final"
    found = {chosen: evaluate()}
    if same:
        found[other] = found[chosen]
    else:
        loaded.load_weights(files[other])  # weights only: the file is this run's own
        found[other] = evaluate()
    return {f"test_{k}": v for k, v in found.items()} | {"test": found[chosen]}


def _numbers(row: dict) -> dict:
    """A history row's values (a column added by a later version is empty in earlier rows)."""
    return {k: float(v) for k, v in row.items() if k != "epoch" and v not in ("", None)}


def plot_curves(
    rows: list[dict], target: Path, title: str = "", phases: list[tuple[int, str]] = ()
) -> None:
    """Loss and accuracy per epoch, training against validation; `phases` marks where each
    fine-tuning phase starts (after that many epochs, its name)."""
    if not rows:
        return
    from matplotlib.figure import Figure  # no pyplot: leaves the backend alone
    from matplotlib.ticker import MaxNLocator

    epochs = [int(r["epoch"]) for r in rows]
    fig = Figure(figsize=(10, 4), dpi=110)
    axes = fig.subplots(1, 2)
    for ax, metric in zip(axes, ("loss", "accuracy")):
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
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    rundir.written(target, lambda: fig.savefig(target))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {'batches' if word == 'batch' else word + 's'}"


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
