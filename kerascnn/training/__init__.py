"""Training: a recipe's `model.fit` in its run directory (`fit`), the update set up for it
(`compile`), how a run resumes (`checkpoints`), the device and precision (`devices`), a
fine-tuning recipe's phases (`phases`) and what freezing means (`freezing`); `lr_find(recipe)`
sweeps a recipe's learning rate first (Smith's range test). A whole run, composed of these and
the after-run work: `kerascnn.verbs.train`."""

from kerascnn.training.fit import build_model
from kerascnn.training.lr_find import LRFind, lr_find

__all__ = ["build_model", "lr_find", "LRFind"]
