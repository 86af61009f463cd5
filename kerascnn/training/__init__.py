"""Training: `train(recipe)` runs a recipe with `model.fit` into a resumable run directory;
`lr_find(recipe)` sweeps its learning rate first (Smith's range test); `show_batch(recipe, path)`
draws its first training batch as the network receives it."""

from kerascnn.training.batches import show_batch
from kerascnn.training.fit import RunResult, build_model
from kerascnn.training.lr_find import LRFind, lr_find
from kerascnn.training.run import train

__all__ = ["RunResult", "build_model", "train", "lr_find", "LRFind", "show_batch"]
