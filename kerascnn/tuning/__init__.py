"""Hyperparameter search with keras-tuner: a recipe's `[tune]` table searched by `tune(recipe)`
(`search`), and `HyperCNN`, the zoo as a keras-tuner HyperModel of its own (`hypermodel`)."""

from kerascnn.tuning.hypermodel import DEFAULT_SPACE, HyperCNN, SearchFailed
from kerascnn.tuning.search import (
    FailOnNaN,
    RecipeHyperModel,
    TrialRow,
    TuneResult,
    format_results,
    trial_rows,
    tune,
    tune_fingerprint,
)

__all__ = [
    "tune",
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
