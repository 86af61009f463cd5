"""What a report shows, read from the directory a run or a search left behind (`RunDir`'s files):
never from the process that trained, so `kerascnn report RUN` makes the same page again later, on
another machine, from the files alone. Every file is read with a bound on its size."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kerascnn.config.limits import MAX_DOCUMENT_BYTES, read_bounded, read_json_object
from kerascnn.data.feeding import Feeding
from kerascnn.runs.rundir import RunDir, read_history, read_rows

__all__ = ["RunFacts", "SearchFacts", "read_run", "read_search"]

MAX_PICTURE_BYTES = 32 << 20  # curves.png, batch.png


def read_text(path: Path, limit: int = MAX_DOCUMENT_BYTES) -> str | None:
    if not path.is_file():
        return None
    return read_bounded(path, limit, what="a file of a run").decode("utf-8", errors="replace")


def read_picture(path: Path) -> bytes | None:
    return read_bounded(path, MAX_PICTURE_BYTES, what="a picture") if path.is_file() else None


@dataclass
class RunFacts:
    """A run directory's files, read: what its page shows besides the held-out results."""

    path: Path
    name: str
    state: dict
    recipe_text: str | None
    feeding: object | None  # kerascnn.data.feeding.Feeding (None: no data.json yet)
    metrics: dict
    history: list[dict]
    curves: bytes | None
    batch: bytes | None
    phases: list[str] = field(default_factory=list)  # a fine-tuning run's phase directories

    @property
    def class_names(self) -> list[str]:
        if self.feeding is None:
            return []
        return self.feeding.names(int(self.feeding.details.get("classes") or 0))

    def count_splits(self) -> list[str]:
        """The splits whose images per class data.json records."""
        counts = (self.feeding.details.get("counts") if self.feeding else None) or {}
        return [s for s in ("train", "val", "test") if s in counts]

    def data_rows(self) -> list[dict]:
        """Per class: its images in each split that data.json counts (`count_splits`)."""
        counts = (self.feeding.details.get("counts") if self.feeding else None) or {}
        return [
            {"name": name, **{s: counts[s][i] for s in self.count_splits() if i < len(counts[s])}}
            for i, name in enumerate(self.class_names)
        ]

    def throughput(self) -> list[dict]:
        """Each epoch's images/s and share of time spent waiting for data (history.csv)."""
        rows = []
        for row in self.history:
            speed, wait = row.get("images_per_second"), row.get("data_wait")
            if speed not in (None, "") and wait not in (None, ""):
                rows.append(
                    {"epoch": row["epoch"], "speed": float(speed), "wait": float(wait)}
                    | ({"phase": row["phase"]} if row.get("phase") else {})
                )
        return rows


def read_run(path) -> RunFacts:
    run = RunDir(path)
    state = read_json_object(run.state)
    feeding = Feeding.read(run.data) if run.data.is_file() else None
    metrics = read_json_object(run.metrics) if run.metrics.is_file() else {}
    history = read_history(run.history)
    phases = [str(p.get("phase")) for p in metrics.get("phases", []) if isinstance(p, dict)]
    return RunFacts(
        path=run.path,
        name=str(state.get("recipe") or run.path.name),
        state=state,
        recipe_text=read_text(run.recipe),
        feeding=feeding,
        metrics=metrics if isinstance(metrics, dict) else {},
        history=history,
        curves=read_picture(run.curves),
        batch=read_picture(run.batch),
        phases=phases,
    )


@dataclass
class SearchFacts:
    """A search directory's files, read: its trials (results.csv, the best first) and its best
    recipe."""

    path: Path
    name: str
    state: dict
    trials: list[dict]
    best_recipe: str | None

    @property
    def objective(self) -> str:
        return str(self.state.get("objective") or "objective")

    @property
    def columns(self) -> list[str]:
        """The tuned values' names (results.csv's columns between status and objective)."""
        keys = list(self.trials[0]) if self.trials else []
        return [k for k in keys if k not in ("trial", "status", "objective", "reason")]

    def best(self) -> dict | None:
        """The best completed trial: results.csv's first row (the search writes the best first)."""
        return next((t for t in self.trials if t.get("status") == "COMPLETED"), None)


def read_search(path) -> SearchFacts:
    run = RunDir(path)
    state = read_json_object(run.search_state)
    return SearchFacts(
        path=run.path,
        name=str(state.get("recipe") or run.path.name),
        state=state,
        trials=read_rows(run.results),
        best_recipe=read_text(run.best_recipe),
    )
