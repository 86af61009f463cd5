"""Every line a run writes to its log, in one place: how a run starts (the run, the model, the
data, the device, the update), how it ends (the epochs, the best and final values, the test
results, the files), how a fine-tuning run starts and ends, and what an interruption says."""

from __future__ import annotations

from pathlib import Path

from kerascnn.backend.devices import describe_device
from kerascnn.data.folder import describe_bad
from kerascnn.runs.metrics import tested
from kerascnn.training import checkpoints
from kerascnn.training.compile import describe_update, streams_note
from kerascnn.training.rates import stage_rates

__all__ = [
    "best_trial",
    "plural",
    "started",
    "finished",
    "interrupted",
    "finetune_started",
    "finetune_finished",
]


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {'batches' if word == 'batch' else word + 's'}"


def started(run) -> list[str]:
    """The lines a run's log starts with (`run`: a `kerascnn.training.fit.Fit`)."""
    recipe, model, data, t = run.recipe, run.model, run.data, run.recipe.train
    epochs, last_steps = run.length
    outputs = len(model.outputs)
    sizes = " / ".join(f"{k} {data.sizes[k]:,}" for k in ("train", "val", "test") if k in data.sizes)
    lines = [
        f"kerascnn train: {recipe.name} -> {run.path}"
        + (f" (resuming after epoch {run.start_epoch})" if run.resume else ""),
        f"  model  {model.name}: {model.count_params():,} parameters, input "
        f"{'x'.join(map(str, data.input_shape))}, {data.classes} classes"
        + (f", {outputs - 1} auxiliary heads" if outputs > 1 else ""),
        f"  data   {data.description}: {sizes} images, batch {recipe.data.batch_size}; "
        f"{data.pipeline}" + (" (training batches made on the device)" if data.on_device else ""),
        *(f"  data   {line}" for line in data.describe_classes()),
    ]
    if data.skipped:
        lines.append(
            f"  data   skipped {len(data.skipped)} unreadable image file"
            f'{"s" if len(data.skipped) > 1 else ""} (data.bad_images = "skip"): '
            + describe_bad(data.skipped, shown=len(data.skipped))
        )
    calls = model.steps_per_execution
    lines.append(
        f"  device {describe_device()}; precision {run.precision}; distribution "
        f"{run.strategy_name}; {calls} batch{'es' if calls > 1 else ''} a call"
        f"{streams_note(calls, t.steps_per_execution, run.streams)}; "
        f"{t.optimizer} lr {t.learning_rate:g} ({t.schedule}), {plural(epochs, 'epoch')}"
        + (
            f" ({t.iterations:,} iterations: the last epoch {plural(last_steps, 'batch')})"
            if t.iterations
            else ""
        )
    )
    if t.weight_decay:
        lines.append(f"  update {describe_update(t)}")
    if t.layer_decay is not None and t.layer_decay != 1.0:
        lines.append(
            f"  update rates by stage (layer_decay {t.layer_decay:g}): "
            + ", ".join(
                f"{stage} x{factor:.3g}" for stage, factor in stage_rates(model, t.layer_decay).items()
            )
        )
    if t.gradient_accumulation_steps > 1:
        n = t.gradient_accumulation_steps
        lines.append(
            f"  update the mean gradient of {n} batches a step "
            f"({n} x {recipe.data.batch_size} = {n * recipe.data.batch_size} images an update)"
        )
    if recipe.output.tensorboard and not run.tensorboard:
        lines.append(
            "  note   no TensorBoard logs: Keras writes them with TensorFlow, which is not "
            "installed here (history.csv and curves.png hold the same numbers; "
            "output.tensorboard = false drops this line)"
        )
    return lines


def finished(metrics: dict, model_path: Path) -> list[str]:
    """The lines a run's log ends with: this session's epochs and speed, the best and final
    values, the test results, the files."""
    speed = metrics["images_per_second"]
    lines = [
        f"done: {plural(metrics['epochs'], 'epoch')} in {metrics['seconds']:.1f} s this session"
        + (f" ({speed:,.0f} images/s)" if speed else "")
    ]
    if metrics.get("stopped"):
        lines.append(f"  stopped after epoch {metrics['epochs']}: {metrics['stopped']}")
    monitor, best = metrics["monitor"], metrics["best"]
    if monitor in best:
        lines.append(
            f"  best {monitor} {best[monitor]:.4f} at epoch {metrics['best_epoch']}; final "
            + ", ".join(
                f"{k} {v:.4f}"
                for k, v in metrics["final"].items()
                if k not in ("learning_rate", "seconds", "images_per_second", "data_wait")
            )
        )
        final = metrics["final"]
        if "images_per_second" in final and "data_wait" in final:
            lines.append(
                f"  last epoch trained {final['images_per_second']:,.0f} images/s, "
                f"{final['data_wait']:.0%} of its time waiting for data"
            )
    for label, values in tested(metrics):
        lines.append(f"  {label}: " + ", ".join(f"{k} {v:.4f}" for k, v in values.items()))
    lines.append(f"  saved {model_path}, metrics.json, history.csv, curves.png")
    return lines


def interrupted(error: KeyboardInterrupt, path: Path) -> str:
    """What Ctrl-C or SIGTERM leaves: the backup holds every finished epoch."""
    how = "SIGTERM" if isinstance(error, checkpoints.Terminated) else "Ctrl-C"
    return (
        f"interrupted ({how}); run the same command again to resume {path} after its last finished epoch"
    )


def finetune_started(recipe, parent: Path, resume: bool, start) -> str:
    return (
        f"kerascnn finetune: {recipe.name} -> {parent}"
        + (" (resuming)" if resume else "")
        + f"; start {start.describe()}, "
        + f"{len(recipe.phases)} phase{'s' if len(recipe.phases) != 1 else ''}"
    )


def phase_kept(index: int, directory: str) -> str:
    return f"phase {index + 1} ({directory}): finished before; kept"


def finetune_finished(metrics: dict, model_path: Path) -> list[str]:
    phases = metrics["phases"]
    return [
        f"finetune done: {metrics['epochs']} epochs in {len(phases)} phases; {_accuracies(phases)}",
        f"  saved {model_path}, metrics.json, history.csv, curves.png",
    ]


def _accuracies(phases: list[dict]) -> str:
    """Each phase's accuracy for the last line of a fine-tuning run: on the test split, or, when
    the data has none, on the validation split at the phase's best epoch (or the training split at
    its end), said as such."""

    def each(section: str, key: str) -> str:
        return "; ".join(f"{p['phase']} {p.get(section, {}).get(key, float('nan')):.4f}" for p in phases)

    if all("accuracy" in p.get("test", {}) for p in phases):
        return f"test accuracy after each: {each('test', 'accuracy')}"
    if all("val_accuracy" in p.get("best", {}) for p in phases):
        return (
            f"the data has no test split; validation accuracy at each phase's best epoch: "
            f"{each('best', 'val_accuracy')} (every epoch in history.csv)"
        )
    return (
        f"the data has no test or validation split; training accuracy at the end of each "
        f"phase: {each('final', 'accuracy')} (every epoch in history.csv)"
    )


def best_trial(best, objective: str, recipe_file: Path) -> str:
    """A search's last line: its best trial, and how to train it."""
    return (
        f"best: trial {best.trial}, {objective} {best.score:.4f}; "
        f"train it with: kerascnn train {recipe_file}"
    )
