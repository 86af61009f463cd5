"""metrics.json's results as labelled rows, read in one place by the model card and the report
page: the test split's result of the run's model (`[output] model`: the final weights, as the
papers report, or the best epoch's), the other model's beside it, each phase's best epoch, and the
best and last epochs' history rows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["RunResult", "summary", "best_of", "higher_is_better", "result_rows", "test_label", "tested"]


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


def higher_is_better(monitor: str) -> bool:
    """An accuracy is best at its highest, a loss at its lowest."""
    return "accuracy" in monitor


def best_of(monitor: str, values) -> float | None:
    """The best of `monitor`'s values (None: none)."""
    values = list(values)
    if not values:
        return None
    return max(values) if higher_is_better(monitor) else min(values)


def summary(rows: list[dict], monitor: str, *, model: str, seconds: float, images: int | None) -> dict:
    """metrics.json's account of a run's epochs (history.csv's `rows`): how many, the best epoch
    by `monitor` and its row, the last row, the run's model (`[output] model`: "final" or "best"),
    the seconds of this session and its images/s (`images`: trained this session)."""
    scored = [r for r in rows if r.get(monitor) not in (None, "")]
    best_value = best_of(monitor, (float(r[monitor]) for r in scored))
    best_row = next((r for r in scored if float(r[monitor]) == best_value), {})
    return {
        "epochs": len(rows),
        "monitor": monitor,
        "best_epoch": int(best_row["epoch"]) if best_row else None,
        "model": model,
        "best": _numbers(best_row),
        "final": _numbers(rows[-1]) if rows else {},
        "seconds": round(seconds, 2),
        "images_per_second": round(images / seconds, 1) if seconds > 0 and images else None,
    }


def _numbers(row: dict) -> dict:
    """A history row's values (a column added by a later version is empty in earlier rows)."""
    return {k: float(v) for k, v in row.items() if k != "epoch" and v not in ("", None)}


def test_label(metrics: dict, which: str) -> str:
    """How a test result is named: "test, final weights (epoch 182): the run's model"."""
    epoch = metrics.get("epochs") if which == "final" else metrics.get("best_epoch")
    what = f"{which} weights" + (f" (epoch {epoch})" if epoch else "")
    monitor = metrics.get("monitor")
    if which == "best" and monitor:
        what += f", {'highest' if 'accuracy' in monitor else 'lowest'} {monitor}"
    return f"test, {what}" + (": the run's model" if metrics.get("model", "best") == which else "")


def tested(metrics: dict) -> list[tuple[str, dict]]:
    """The test results, labelled: the run's model first, then the other; one row when the best
    epoch is the last (the same weights)."""
    model = metrics.get("model", "best")
    if "test_final" in metrics and metrics.get("best_epoch") == metrics.get("epochs"):
        label = f"test, final weights (epoch {metrics['epochs']}), also the best epoch: the run's model"
        return [(label, metrics["test_final"])]
    rows = []
    for which in (model, "final" if model == "best" else "best"):
        values = metrics.get(f"test_{which}")
        if values is not None:
            rows.append((test_label(metrics, which), values))
    return rows


def result_rows(metrics: dict) -> list[tuple[str, dict]]:
    """The rows of a run's (or a fine-tuning run's) results: the test results of the run's model,
    then of the other one, each phase's best epoch, the best and the last epoch."""
    rows = tested(metrics)
    if "test" in metrics and not rows:  # metrics.json written before both were kept
        rows.append(("test (best weights)", metrics["test"]))
    for phase in metrics.get("phases", []):
        if "best" in phase:
            label = f"phase {phase['phase']}, best epoch ({phase.get('best_epoch')})"
            rows.append((label, phase["best"]))
    if "best" in metrics:
        rows.append((f"best epoch ({metrics.get('best_epoch')})", metrics["best"]))
    if "final" in metrics:
        rows.append((f"last epoch ({metrics.get('epochs')})", metrics["final"]))
    return rows
