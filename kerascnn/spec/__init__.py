"""Networks as data: the spec format, the layer notation, validation and building."""

from kerascnn.blocks.notation import LayerSpec, parse_layer
from kerascnn.spec.build import (
    Graph,
    Plan,
    assemble,
    build_from_spec,
    build_plan,
    load_spec,
    stage_of,
    validate_spec,
)

__all__ = [
    "Graph",
    "LayerSpec",
    "Plan",
    "assemble",
    "build_from_spec",
    "build_plan",
    "load_spec",
    "parse_layer",
    "stage_of",
    "validate_spec",
]
