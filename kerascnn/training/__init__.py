"""Training: `train(recipe)` runs a recipe with `model.fit` into a resumable run directory."""

from kerascnn.training.fit import RunResult, build_model
from kerascnn.training.run import train

__all__ = ["RunResult", "build_model", "train"]
