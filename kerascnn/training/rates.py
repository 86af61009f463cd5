"""Discriminative learning rates (`train.layer_decay`, in `[train]` or a fine-tuning phase): each
stage trains at the rate of the stage above it times the decay, the classifier at the full rate.

This is layer-wise rate decay as BEiT and timm's `--layer-decay` apply it, counted in the stages a
layer's name gives (`kerascnn.spec.stage_of`: stem, stage1, ..., head) rather than timm's blocks, and
fastai's discriminative rates (`slice(lo, hi)`: rates geometric from the stem's `lo` to the head's
`hi`; here `hi` is the learning rate and lo = hi x decay^(stages - 1)). The optimizer scales each
variable's rate (`kerascnn.optim`, `rate_multipliers`), not its gradient, so Adam's steps shrink
too.
"""

from __future__ import annotations

from kerascnn.spec import stage_of
from kerascnn.training.freezing import trainable_stages

__all__ = ["stage_rates", "rate_multipliers"]


def stage_rates(model, decay: float) -> dict[str, float]:
    """Each stage that holds weights (in order) and its rate multiplier: 1 for the last (the
    classifier), `decay` for the one before, `decay**2` before that, down to the stem."""
    stages = trainable_stages(model)
    return {stage: decay ** (len(stages) - 1 - i) for i, stage in enumerate(stages)}


def rate_multipliers(model, decay: float | None) -> dict[str, float]:
    """The optimizer's `rate_multipliers`: each trainable variable's path and its stage's
    multiplier (`stage_rates`); {} without a decay (every rate the learning rate)."""
    if decay is None or decay == 1.0:
        return {}
    rates = stage_rates(model, decay)
    found = {}
    for layer in model.layers:
        for variable in layer.trainable_weights:
            found[variable.path] = rates[stage_of(layer.name)]
    return found
