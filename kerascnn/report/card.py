"""A model card for every finished run: `README.md` in its directory (Mitchell et al., "Model Cards
for Model Reporting", FAT* 2019, in the short form the Hugging Face Hub shows): what was trained on
what, the results, how to feed the model, where its starting weights came from and under which
terms, and the command that reproduces it. Written from the run's own files (recipe.yaml,
data.json, metrics.json, run.json), so `write_card(run_dir)` writes it again for any finished run.
"""

from __future__ import annotations

from pathlib import Path

from kerascnn import __version__
from kerascnn.config.limits import read_json_object
from kerascnn.data.feeding import Feeding
from kerascnn.runs.metrics import result_rows
from kerascnn.runs.rundir import RunDir, write_atomic

__all__ = ["write_card", "card_text", "feeding_text"]


def write_card(run_dir, *, start: str | None = None, start_terms: str | None = None) -> Path:
    """Write `<run_dir>/README.md` from the run's files. `start`: where its weights started from,
    in words (None: random initialization); `start_terms`: the terms of those weights."""
    run = RunDir(run_dir)
    write_atomic(run.card, card_text(run_dir, start=start, start_terms=start_terms))
    return run.card


def card_text(run_dir, *, start: str | None = None, start_terms: str | None = None) -> str:
    run = RunDir(run_dir)
    state = read_json_object(run.state)
    metrics = read_json_object(run.metrics)
    feeding = Feeding.read(run.data)
    pre = feeding.preprocessing
    details = feeding.details
    name = state.get("recipe") or Path(run_dir).name
    sizes = details.get("sizes") or {}
    classes = feeding.names(int(details.get("classes") or 0))
    lines = [f"# {name}", ""]
    lines += [
        f"A convolutional network trained with kerascnn {state.get('kerascnn', __version__)}"
        f" ({state.get('finished') or 'unfinished'}). Files: `model.keras` (the model for "
        f"inference), `recipe.yaml` (the recipe, every default filled in), `data.json` (how it is "
        f"fed), `metrics.json`, `history.csv`, `curves.png`"
        + (", `batch.png` (a training batch as the network receives it)" if run.batch.exists() else "")
        + f" and `report.html`, the run on one page (`kerascnn report {run_dir}` writes it again).",
        "",
        "## Trained on",
        "",
        f"{details.get('description', 'its recipe data')}: "
        + ", ".join(f"{k} {sizes[k]:,}" for k in ("train", "val", "test") if k in sizes)
        + " images"
        + (f"; {len(classes)} classes" if classes else "")
        + (f" ({', '.join(classes[:20])}{', ...' if len(classes) > 20 else ''})" if classes else "")
        + ".",
        "",
        "Started from: " + (start or "random initialization") + ".",
    ]
    if start_terms:
        lines += ["", f"Terms of the starting weights: {start_terms}."]
    lines += ["", "## Results", ""] + _results(metrics)
    lines += ["", "## How to feed it", "", feeding_text(pre)]
    lines += [
        "",
        f"`kerascnn predict {run_dir} IMAGE ...` and `kerascnn evaluate {run_dir}` read this from "
        f"data.json; in Python, `kerascnn.inference.load_trained({str(run_dir)!r})`.",
        "",
        "## Reproduce",
        "",
        "```",
        f"kerascnn train {run.recipe} --output {Path(str(run_dir) + '-again')}",
        "```",
        "",
        "The recipe fixes the seed; on the grain input path (JAX, PyTorch) a run sees the same "
        "batches in the same order, on tf.data an equivalent but not identical order.",
        "",
    ]
    return "\n".join(lines)


def _results(metrics: dict) -> list[str]:
    rows = ["| | " + " | ".join(_METRICS) + " |", "|---|" + "---|" * len(_METRICS)]

    def row(label, values):
        cells = [f"{values[k]:.4f}" if isinstance(values.get(k), (int, float)) else "" for k in _METRICS]
        return f"| {label} | " + " | ".join(cells) + " |"

    rows += [row(label, values) for label, values in result_rows(metrics)]
    extra = []
    if metrics.get("images_per_second"):
        extra.append(
            f"{metrics['epochs']} epochs in {metrics.get('seconds', 0):,.0f} s "
            f"({metrics['images_per_second']:,.0f} images/s over the session)."
        )
    return rows + ([""] + extra if extra else [])


_METRICS = ("accuracy", "loss", "val_accuracy", "val_loss")


def feeding_text(pre) -> str:
    h, w, c = pre.input_shape
    resize = {
        "stretch": f"resized to {pre.load_size[0]}x{pre.load_size[1]}",
        "pad": f"fitted into {pre.load_size[0]}x{pre.load_size[1]} (padded with black)",
        "shorter": f"the shorter side resized to {min(pre.load_size)} (aspect kept)",
    }.get(pre.resize, pre.resize)
    crop = f", the centre {h}x{w} cropped" if tuple(pre.load_size) != (h, w) else ""
    order = "in BGR order" if pre.bgr else ("in RGB order" if c == 3 else "one grey channel")
    mean = ", ".join(f"{m:g}" for m in pre.mean)
    std = ", ".join(f"{s:g}" for s in pre.std)
    return (
        f"The model takes {h}x{w}x{c} images: 0-255 pixels {resize} ({pre.interpolation}){crop}, "
        f"{order}, then `(x - mean) / std` with mean ({mean}) and std ({std})."
    )
