"""The verbs, each composed of the packages that do its parts: `train` (a run: the recipe, its
data and model, `model.fit`, then the reported model tested, the pictures, the card and the page),
`show_batch` (a recipe's first batch as its network receives it); the lines a run logs
(`lines`)."""

from kerascnn.runs.metrics import RunResult
from kerascnn.verbs.batch import show_batch
from kerascnn.verbs.train import train

__all__ = ["train", "RunResult", "show_batch"]
