"""metrics.json's results as labelled rows, read in one place by the model card and the report
page: the test split's result of the run's model (`[output] model`: the final weights, as the
papers report, or the best epoch's), the other model's beside it, each phase's best epoch, and the
best and last epochs' history rows."""

from __future__ import annotations

__all__ = ["result_rows", "test_label", "tested"]


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
