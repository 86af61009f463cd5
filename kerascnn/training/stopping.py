"""When a run ends before its last epoch: early stopping (`train.early_stopping`) and a time budget
(`train.time_budget`). Either way the run is a finished run: its model is chosen, tested and saved
as the recipe says (`[output] model`), and `reason` says in words why it stopped, for the log,
run.json and metrics.json.

- `EarlyStop` is Keras' `EarlyStopping` (Ultralytics' `patience`, fastai's
  `EarlyStoppingCallback`): the run stops when the monitored value has not improved by more than
  `min_delta` for `patience` epochs. Its counters are part of each epoch's backup (as the plateau
  schedule's), so a run killed and resumed stops at the epoch a run never stopped would.
- `TimeBudget` (Ultralytics' `time=`): an epoch starts only when it fits in what is left of the
  budget, judged by the longest epoch of this command so far (training and validation). The budget
  is each command's: a resumed run, or a finished one continued with more epochs
  (`kerascnn.runs.rundir.prepare`), has the whole budget again.
"""

from __future__ import annotations

import time

import keras

from kerascnn.recipe.checks import budget_seconds
from kerascnn.runs.metrics import higher_is_better
from kerascnn.runs.rundir import BUDGET_STOP

__all__ = ["EarlyStop", "TimeBudget", "stopping_callbacks"]


def stopping_callbacks(
    t, monitor: str, epochs: int, *, has_val: bool, state: dict | None = None
) -> list:
    """The callbacks that may end `[train]`'s run of `epochs` early: `EarlyStop` on
    `early_stopping_monitor` ("auto": the run's `monitor`, `[output] best_by`), its counters from
    `state` (a resumed run's backup), and `TimeBudget`."""
    found = []
    if t.early_stopping:
        watched = monitor if t.early_stopping_monitor == "auto" else t.early_stopping_monitor
        found.append(
            EarlyStop(
                monitor=watched if has_val else watched.removeprefix("val_"),
                patience=t.early_stopping,
                min_delta=t.early_stopping_min_delta,
                state=(state or {}).get(EarlyStop.key),
            )
        )
    if t.time_budget:
        found.append(TimeBudget(budget_seconds(t.time_budget), t.time_budget, epochs))
    return found


class EarlyStop(keras.callbacks.EarlyStopping):
    """Keras' EarlyStopping whose counters (the best value and its epoch, the epochs waited, and
    whether it stopped) are part of a run's state (`state()`, `state=`), kept across the two
    `fit` calls of a run whose last epoch is cut (Keras' own starts them over at every `fit`)."""

    key = "early_stopping"

    def __init__(self, *, monitor: str, patience: int, min_delta: float, state: dict | None = None):
        mode = "max" if higher_is_better(monitor) else "min"
        super().__init__(monitor=monitor, patience=patience, min_delta=min_delta, mode=mode)
        self.reason = None if not state else state.get("stopped")
        self._resumed = state
        self._begun = False

    def on_train_begin(self, logs=None):
        if self._begun:  # the second `fit` of a cut last epoch: the counters go on
            return
        self._begun = True
        super().on_train_begin(logs)
        if self._resumed:
            self.best = self._resumed["best"]
            self.best_epoch = int(self._resumed["best_epoch"])
            self.wait = int(self._resumed["wait"])

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if self.model.stop_training and self.stopped_epoch == epoch and self.reason is None:
            self.reason = (
                f"early stopping: {self.monitor} has not improved by more than "
                f"{abs(self.min_delta):g} for {self.patience} epochs (best {self.best:.4g}, "
                f"epoch {self.best_epoch + 1})"
            )

    def on_train_end(self, logs=None):  # Keras' own prints a line: ours is the run's log's
        pass

    def state(self) -> dict:
        best = None if self.best is None else float(self.best)
        return {
            "best": best,
            "best_epoch": int(self.best_epoch),
            "wait": int(self.wait),
            "stopped": self.reason,
        }


class TimeBudget(keras.callbacks.Callback):
    """Ends the run of `epochs` at the end of the last epoch that fits in `seconds` of this
    command's training (the module docstring); `text` is the budget as the recipe gives it."""

    def __init__(self, seconds: float, text: str, epochs: int):
        super().__init__()
        self.seconds, self.text, self.epochs = seconds, text, epochs
        self.reason = None
        self._started = None
        self._longest = 0.0

    def on_train_begin(self, logs=None):
        if self._started is None:  # not again at the second `fit` of a cut last epoch
            self._started = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        self._longest = max(self._longest, now - self._epoch_started)
        used = now - self._started
        if epoch + 1 < self.epochs and used + self._longest > self.seconds:
            self.model.stop_training = True
            self.reason = (
                f"{BUDGET_STOP}: {self.text} leaves no room for epoch {epoch + 2} ({used:.0f} s "
                f"used, the longest epoch took {self._longest:.0f} s)"
            )
