"""What a run writes while it trains, and how an interrupted run picks up: no kill, at any point,
loses a finished epoch, leaves a half-written file in place of a good one, or replaces the best model
with a worse one.

Every file is written whole or not at all: to a temporary name beside it, then `os.replace`d over
the old one (an atomic rename on POSIX and Windows). At the end of each epoch, in this order:

1. the backup: `backup/epoch-0007.weights.h5` (weights and optimizer state, `model.save_weights`),
   then its record `backup/epoch-0007.json` (the epoch, the weights file's size and SHA-256, the
   epoch's history row). The record is the commit: written after the file it names, so a record
   always names a complete file. The two newest epochs are kept.
2. `history.csv`, with the epoch's row.
3. `best.keras`, when the monitored value is the best so far (the lowest loss, the highest
   accuracy: `[output] best_by`).

A rerun resumes from the newest backup whose file matches its record and loads; when that one is
damaged (a disk error, a hand edit) it says so and falls back to the one before, and when no backup
is readable although epochs were recorded, it stops with a message rather than start from scratch.
What is replayed: the interrupted epoch, from its start, from the weights and optimizer state at the
end of the last finished epoch (as Keras' `BackupAndRestore` does). On either input path each
epoch's order and augmentation are functions of the seed and the epoch (`Data.train_from`,
`kerascnn.data.feed`), so the replayed epochs see the batches the first run would have, and the run
ends bit-identical to one never stopped.

History rows come from the records as well as history.csv, so a kill between steps 1 and 2 loses no
row; the best model's threshold is the lowest loss in either, so a best.keras written just before a
kill (its loss is in history.csv, step 2 before step 3) is only replaced by a better model.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import signal
import threading
import time
from pathlib import Path

from kerascnn.config import ConfigError, first_line, option
from kerascnn.config.limits import read_json
from kerascnn.runs.metrics import best_of, higher_is_better
from kerascnn.runs.rundir import (
    RunDir,
    read_history,  # history.csv's rows, checked
    write_atomic,
    written,
)
from kerascnn.runs.rundir import write_rows as write_history
from kerascnn.training.compile import StopOnNonFinite, averaged_weights

__all__ = [
    "Checkpoints",
    "Terminated",
    "TrainingDiverged",
    "atomic_save",
    "best_of",
    "higher_is_better",
    "read_history",
    "restore",
    "stop_on_sigterm",
]

BACKUP = RunDir.BACKUP
KEEP = 2


class TrainingDiverged(ConfigError):
    """The training loss became NaN or infinite; the run stopped before saving anything from it."""

    def __init__(self, message: str):
        super().__init__(
            message,
            hint=f"lower train.learning_rate (or add a warm-up: train.warmup) and run "
            f"again with {option('restart', True)}; this run is kept "
            f"as it is.",
        )


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler's preemption, `kill`, `docker stop`) arrived: treated as Ctrl-C."""


@contextlib.contextmanager
def stop_on_sigterm():
    """Inside the block, SIGTERM raises `Terminated` in the main thread instead of ending the
    process where it stands, so the run records that it was interrupted and says how to resume
    (what it wrote is safe either way). Elsewhere than the main thread: nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Terminated("SIGTERM")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def atomic_save(model, target: Path, *, weights_only: bool = False) -> None:
    """`model.save(target)` (or `save_weights`), whole or not at all; an OSError (a full disk)
    names `target`."""
    target = Path(target)
    # Keras picks the format from the suffix: the temporary name keeps it.
    suffix = ".weights.h5" if weights_only else target.suffix
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp{suffix}")
    try:
        written(
            target,
            lambda: (
                model.save_weights(tmp) if weights_only else model.save(tmp),
                os.replace(tmp, target),
            ),
        )
    finally:
        tmp.unlink(missing_ok=True)


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _records(backup: Path) -> list[Path]:
    """The backup's commit records, newest first."""
    if not backup.is_dir():
        return []
    found = [p for p in backup.glob("epoch-*.json") if p.stem[len("epoch-") :].isdigit()]
    return sorted(found, key=lambda p: int(p.stem[len("epoch-") :]), reverse=True)


def restore(model, run_dir: Path, monitor: str, log=print) -> tuple[int, list[dict], float | None, dict]:
    """Load the newest good backup into `model` (built and compiled).

    Returns the epochs it holds (0: none, start from the beginning), the history rows up to them,
    the best `monitor` value the run has recorded (the best model's threshold), and the state
    of the callbacks that keep one (`Checkpoints(stateful=...)`: the plateau's counters), by key.
    Raises `ConfigError` when epochs were recorded but no backup is readable.
    """
    run_dir = Path(run_dir)
    backup = run_dir / BACKUP
    rows = read_history(RunDir(run_dir).history)
    damaged = []
    for record_path in _records(backup):
        try:
            record = read_json(record_path)
            epoch, weights = int(record["epoch"]), backup / record["weights"]
            if weights.parent != backup or not weights.is_file():
                raise ValueError(f"{record['weights']!r} is missing")
            if weights.stat().st_size != record["size"] or _digest(weights) != record["sha256"]:
                raise ValueError(f"{weights.name} does not match its record (truncated or changed)")
            if model.optimizer is not None and not model.optimizer.built:
                model.optimizer.build(model.trainable_variables)
            model.load_weights(weights)
            row = dict(record["row"])
            states = dict(record.get("callbacks", {}))
        except Exception as e:  # noqa: BLE001  (any failure: try the previous backup)
            damaged.append(f"{record_path.name}: {first_line(e)}")
            continue
        if damaged:
            log(
                f"  warning: the newer backup is unreadable ({'; '.join(damaged)}); resuming from "
                f"epoch {epoch}'s, so the epochs after it are trained again"
            )
        by_epoch = {int(r["epoch"]): r for r in rows}
        by_epoch.setdefault(epoch, row)
        kept = [by_epoch[e] for e in sorted(by_epoch) if e <= epoch]
        values = [float(r[monitor]) for r in [*rows, row] if r.get(monitor) not in (None, "")]
        return epoch, kept, best_of(monitor, values), states
    if damaged or rows:
        what = (
            f"every backup is unreadable ({'; '.join(damaged)})"
            if damaged
            else f"history.csv records {len(rows)} finished epoch(s) but {backup} holds no backup"
        )
        raise ConfigError(
            f"cannot resume the run in {run_dir}: {what}. kerascnn will not start it "
            f"again from scratch over its files.",
            hint=f"pass {option('restart', True)} to start a new run beside it (this one is kept).",
        )
    return 0, [], None, {}


class Checkpoints(StopOnNonFinite):
    """The run's files, epoch by epoch (the module docstring gives the order and why), last.keras
    when training ends, and a stop with `TrainingDiverged` as soon as the training loss is not
    finite (`StopOnNonFinite`; nothing from the diverged epoch is written: the backup and
    best.keras stay good). The callbacks in `stateful` (each with a `key` and a `state()`: the
    plateau's counters) run before this one, and their state at the end of each epoch is part of
    that epoch's backup record, so that a resumed run carries on from it."""

    def __init__(self, run_dir: Path, monitor: str, rows: list[dict], best: float | None, stateful=()):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.monitor = monitor
        self.rows = list(rows)
        self.higher = higher_is_better(monitor)
        self.best = (-math.inf if self.higher else math.inf) if best is None else best
        self.stateful = list(stateful)

    def on_train_begin(self, logs=None):
        (self.run_dir / BACKUP).mkdir(exist_ok=True)
        for folder in (self.run_dir, self.run_dir / BACKUP):  # left by a kill while writing
            for tmp in folder.glob(".*.tmp*"):
                tmp.unlink(missing_ok=True)
        write_history(RunDir(self.run_dir).history, self.rows)

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)  # the epoch and its rate, for the row and the stop
        self._started = time.perf_counter()

    def diverged(self, loss: float, epoch: int, batch: int, rate: float) -> Exception:
        return TrainingDiverged(
            f"the training loss became {loss} at epoch {epoch}, batch {batch} (learning rate "
            f"{rate:g}); the run stopped. Nothing from this epoch was saved: the backup and "
            f"best.keras hold the last good epoch."
        )

    def on_epoch_end(self, epoch, logs=None):
        # (A non-finite epoch loss was already stopped at its batch: on_train_batch_end.)
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}
        row["learning_rate"] = self._rate
        row["seconds"] = round(time.perf_counter() - self._started, 3)  # training and validation
        self._commit_backup(epoch + 1, row)
        self.rows.append(row)
        write_history(RunDir(self.run_dir).history, self.rows)
        value = row.get(self.monitor)
        if value is not None and (value > self.best if self.higher else value < self.best):
            self.best = value
            with averaged_weights(self.model):  # validated on the average (`ema`): kept so
                atomic_save(self.model, RunDir(self.run_dir).best)

    def on_train_end(self, logs=None):
        with averaged_weights(self.model):  # the final model is the average too (`ema`)
            atomic_save(self.model, RunDir(self.run_dir).last)

    def _commit_backup(self, epoch: int, row: dict) -> None:
        backup = self.run_dir / BACKUP
        weights = backup / f"epoch-{epoch:04d}.weights.h5"
        atomic_save(self.model, weights, weights_only=True)
        record = {
            "epoch": epoch,
            "weights": weights.name,
            "size": weights.stat().st_size,
            "sha256": _digest(weights),
            "row": row,
            "callbacks": {c.key: c.state() for c in self.stateful},
        }
        write_atomic(backup / f"epoch-{epoch:04d}.json", json.dumps(record, indent=1))
        for old in _records(backup)[KEEP:]:
            old.unlink(missing_ok=True)
            (backup / f"{old.stem}.weights.h5").unlink(missing_ok=True)
        for stale in backup.glob("epoch-*.weights.h5"):  # left by a kill before its record
            if not (backup / f"{stale.name[: -len('.weights.h5')]}.json").exists():
                stale.unlink(missing_ok=True)
