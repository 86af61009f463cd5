"""The verbs, each composed of the packages that do its parts: `train` (a run: the recipe, its
data and model, `model.fit`, then the reported model tested, the pictures, the card and the page),
`tune` (a search: keras-tuner's trials, then the search's page), `show_batch` (a recipe's first
batch as its network receives it), `port` (published weights saved as a model), `average` (a run's
best kept epochs averaged and tested); the lines a run logs (`lines`)."""

from kerascnn.runs.metrics import RunResult
from kerascnn.verbs.average import average
from kerascnn.verbs.batch import show_batch
from kerascnn.verbs.train import train
from kerascnn.verbs.tune import tune

__all__ = ["train", "RunResult", "tune", "show_batch", "average"]
