"""Hyperparameter search with keras-tuner: a recipe's `[tune]` table searched (`run_search`; with
its page: `kerascnn.tune`), and `HyperCNN`, the zoo as a keras-tuner HyperModel of its own
(`hypermodel`)."""

from kerascnn.tuning.hypermodel import DEFAULT_SPACE, HyperCNN, SearchFailed
from kerascnn.tuning.search import (
    FailOnNaN,
    RecipeHyperModel,
    TrialRow,
    TuneResult,
    format_results,
    run_search,
    trial_rows,
    tune_fingerprint,
)

__all__ = [
    "run_search",
    "TuneResult",
    "TrialRow",
    "RecipeHyperModel",
    "FailOnNaN",
    "trial_rows",
    "format_results",
    "tune_fingerprint",
    "HyperCNN",
    "DEFAULT_SPACE",
    "SearchFailed",
]
