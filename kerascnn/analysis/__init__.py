"""Analysis: per-layer shapes, parameters, multiply-adds, activation memory and receptive field.

`profile(model)` works on any Functional or Sequential Keras model; `register_cost` teaches it a layer
type it does not know.
"""

from kerascnn.analysis.costs import CONVENTION, Cost, register_cost
from kerascnn.analysis.profile import profile
from kerascnn.analysis.result import (
    OPTIMIZER_SLOTS,
    LayerProfile,
    Profile,
    TrainingMemory,
)

__all__ = [
    "CONVENTION",
    "OPTIMIZER_SLOTS",
    "Cost",
    "LayerProfile",
    "Profile",
    "TrainingMemory",
    "profile",
    "register_cost",
]
