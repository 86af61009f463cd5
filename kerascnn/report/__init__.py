"""A run on one page: `report.html`, written at the end of every run (fine-tuning runs and each of
their phases, searches too) and again by `kerascnn report RUN`; `kerascnn report RUN1 RUN2 ...`
compares runs on one page.

A run's page: the recipe as resolved; the data (classes, images per class and split, files
skipped and why, how images are fed); the learning curves; the metrics; on the test split (else
the validation split), the confusion matrix (row-normalized, the counts kept), per-class
precision, recall and F1, the most-confused pairs and the most confident mistakes with their
Grad-CAM; a training batch as the network receives it (`batch.png`); images/s and the share of
each epoch spent waiting for data; the network's parameters and multiply-adds; the environment
(docs/training.md, "The run's page"). A model card (`card`: README.md) beside it.

Every page is one file, its pictures inside it (`data:` URIs): it opens from the file system,
copied anywhere, with nothing fetched.
"""

from __future__ import annotations

import time
from pathlib import Path

from kerascnn import __version__
from kerascnn.config import ConfigError, load_document
from kerascnn.config.limits import read_bounded
from kerascnn.report.card import feeding_text
from kerascnn.report.facts import read_run, read_search
from kerascnn.report.figures import png_uri
from kerascnn.report.page import render, write_page
from kerascnn.report.results import held_out
from kerascnn.runs.metrics import result_rows
from kerascnn.runs.rundir import RunDir
from kerascnn.visualize.figures import overlaid_curves, trial_scores

__all__ = ["write_report", "compare_runs", "show_report", "ReportView"]


def write_report(path) -> Path:
    """Write `<path>/report.html` for a run, a fine-tuning run or a search (`RunDir.kind`), over the
    page written before; returns its path."""
    if RunDir(path).kind() == "search":
        return _search_page(path)
    return _run_page(path)


def _common() -> dict:
    return {
        "version": __version__,
        "written": time.strftime("%Y-%m-%d %H:%M:%S"),
        "png": png_uri,
    }


def _run_page(path) -> Path:
    run = read_run(path)
    held, unavailable = None, None
    try:
        if run.feeding is not None and RunDir(path).trained_model() is not None:
            held = held_out(run.path, run.feeding)
    except ConfigError as e:  # the data moved or went since the run: the rest of the page stands
        unavailable = f"The held-out results could not be made: {e}"
    sizes = (run.feeding.details.get("sizes") or {}) if run.feeding else {}
    skipped = run.metrics.get("skipped_images", {}).get("files", {})
    keys, rows = _metric_table(run.metrics)
    text = render(
        "run.html",
        run=run,
        held=held,
        unavailable=unavailable,
        sizes=[(s, sizes[s]) for s in ("train", "val", "test") if s in sizes],
        skipped=sorted(skipped.items()),
        feeding_text=feeding_text(run.feeding.preprocessing) if run.feeding else "",
        metric_keys=keys,
        metric_rows=rows,
        throughput=(throughput := run.throughput()),
        every=_every(len(throughput)),
        environment=list((run.state.get("environment") or {}).items()),
        **_common(),
    )
    return write_page(RunDir(path).report, text)


TABLE_ROWS = 50  # epochs a page's table lists; history.csv holds each


def _every(epochs: int) -> int:
    """List every k-th epoch (and the last) so that a table has at most `TABLE_ROWS` rows."""
    return max(1, -(-epochs // TABLE_ROWS))


_SHOWN = ("accuracy", "loss", "val_accuracy", "val_loss", "top5_accuracy")


def _metric_table(metrics: dict) -> tuple[list[str], list[tuple[str, dict]]]:
    """metrics.json as rows (`kerascnn.runs.metrics.result_rows`: the test results of the run's
    model and of the other, each phase's best, the best and the last epoch)."""
    rows = result_rows(metrics)
    keys = [k for k in _SHOWN if any(k in values for _, values in rows)]
    return keys, rows


def _search_page(path) -> Path:
    search = read_search(path)
    scores = trial_scores(search.trials, search.objective)
    text = render(
        "search.html",
        search=search,
        best=search.best(),
        scores=png_uri(scores) if scores else None,
        **_common(),
    )
    return write_page(RunDir(path).report, text)


def compare_runs(paths, out) -> Path:
    """Write `out` (.html): the runs' curves overlaid and their metrics side by side; never over a
    file kerascnn did not write."""
    import os

    paths = [Path(p) for p in paths]
    if len(paths) < 2:
        raise ConfigError(f"comparing needs two runs or more. Received: {len(paths)}.")
    for p in paths:
        if RunDir(p).kind() != "run":
            raise ConfigError(f"{p} is a search, not a run: its page is `kerascnn report {p}`.")
    runs = [read_run(p) for p in paths]
    names = _distinct([r.name for r in runs], paths)
    out = Path(out)
    rows = _side_by_side(runs)
    links = [Path(os.path.relpath(RunDir(p).report, out.resolve().parent)).as_posix() for p in paths]
    curves = overlaid_curves([(n, r.history) for n, r in zip(names, runs)])
    for run, name in zip(runs, names):
        run.name = name
    text = render("compare.html", runs=runs, rows=rows, links=links, curves=png_uri(curves), **_common())
    return write_page(out, text)


def _distinct(names: list[str], paths: list[Path]) -> list[str]:
    """Run names, each made unique by its directory's name where two share one."""
    return [n if names.count(n) == 1 else f"{n} ({p.name})" for n, p in zip(names, paths)]


def _side_by_side(runs) -> list[tuple[str, list[str]]]:
    def value(metrics, section, key, digits=4):
        v = metrics.get(section, {}).get(key) if section else metrics.get(key)
        return "" if v in (None, "") else f"{float(v):.{digits}f}"

    rows = [
        ("status", [r.state.get("status", "?") for r in runs]),
        ("model", [_model_of(r) for r in runs]),
        ("epochs", [str(r.metrics.get("epochs", len(r.history))) for r in runs]),
        ("best epoch", [str(r.metrics.get("best_epoch") or "") for r in runs]),
        ("the run's model", [f"{r.metrics.get('model', 'best')} weights" for r in runs]),
    ]
    for key in ("accuracy", "loss", "top5_accuracy"):
        cells = [value(r.metrics, "test", key) for r in runs]
        if any(cells):
            rows.append((f"test {key} (the run's model)", cells))
    for key in ("val_accuracy", "val_loss", "accuracy", "loss"):
        cells = [value(r.metrics, "best", key) for r in runs]
        if any(cells):
            rows.append((f"best epoch's {key}", cells))
    rows.append(("training time (s)", [value(r.metrics, None, "seconds", 1) for r in runs]))
    rows.append(("images/s", [value(r.metrics, None, "images_per_second", 0) for r in runs]))
    return rows


def _model_of(run) -> str:
    """The recipe's model name (or "spec"), read from recipe.yaml by the safe document loader."""
    try:
        doc, _ = load_document(RunDir(run.path).recipe)
    except ConfigError:
        return "?"
    model = doc.get("model") or {}
    return str(model.get("name") or ("spec" if model.get("spec") else "?"))


class ReportView:
    """A report page shown in a notebook: the page in an `<iframe srcdoc>` (its styles stay in
    it), `path` where it lies."""

    def __init__(self, path: Path, height: int = 720):
        self.path, self.height = Path(path), height

    def __repr__(self) -> str:
        return f"ReportView({str(self.path)!r})"

    def _repr_html_(self) -> str:
        import html

        text = read_bounded(self.path, 256 << 20, what="a report page").decode("utf-8")
        return (
            f'<iframe title="{html.escape(str(self.path))}" srcdoc="{html.escape(text)}" '
            f'style="width: 100%; height: {self.height}px; border: 1px solid #dde2ea"></iframe>'
        )


def show_report(path, *, height: int = 720) -> ReportView:
    """A run's, a search's or a comparison's page, to show in a notebook (`display` it, or end a
    cell with it). A run or search directory without a page gets one written first."""
    path = Path(path)
    if path.is_dir():
        page = RunDir(path).report
        path = page if page.is_file() else write_report(path)
    return ReportView(path, height)
