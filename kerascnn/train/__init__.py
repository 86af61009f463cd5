"""Training: `train(recipe)` runs a recipe with `model.fit` into a resumable run directory."""

from kerascnn.train.fit import RunResult, build_model
from kerascnn.train.run import train

__all__ = ["RunResult", "build_model", "train"]
