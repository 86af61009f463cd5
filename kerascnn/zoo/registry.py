"""The model registry: every architecture as a row of data beside its family's one spec function.

A family function (`resnet`, `densenet`, ...) takes keyword arguments and returns a spec dict without
`input_shape`; a registry entry binds the arguments that define a variant (`depths=(3, 4, 6, 3)`) and
records the paper, the default input, the default number of classes and the exact parameter count of the
default build (asserted by the tests), beside what the paper itself reports.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kerascnn.config import ConfigError
from kerascnn.config.errors import did_you_mean


@dataclass(frozen=True)
class ModelInfo:
    """One registered architecture."""

    name: str
    family: str
    builder: Callable[..., dict]
    variant: Mapping[str, Any]
    paper: str
    input_shape: tuple[int, int, int] = (224, 224, 3)
    classes: int = 1000
    dataset: str = "ImageNet"  # what the paper trained it on
    params: int | None = None  # trainable parameters of `build(name)`, exact
    published: str = ""  # what the paper (or the reference implementation) reports
    notes: str = ""


MODELS: dict[str, ModelInfo] = {}


def register_model(
    name: str,
    builder: Callable[..., dict],
    *,
    family: str,
    paper: str,
    variant: Mapping[str, Any] | None = None,
    **info,
) -> ModelInfo:
    """Add an architecture to the registry (used by the family modules; users may add their own)."""
    if name in MODELS:
        raise ValueError(f"A model named {name!r} is already registered.")
    entry = ModelInfo(
        name=name, family=family, builder=builder, variant=dict(variant or {}), paper=paper, **info
    )
    MODELS[name] = entry
    return entry


def get_model_info(name: str) -> ModelInfo:
    """The registry entry for `name`; a `ConfigError` with close matches when there is none."""
    if not isinstance(name, str) or name not in MODELS:
        hint = did_you_mean(str(name), MODELS) or "`kerascnn list` shows every model."
        raise ConfigError(f"unknown model {name!r}.", hint=hint)
    return MODELS[name]


def list_models(family: str | None = None) -> list[str]:
    """Registered model names, in registry order (grouped by family), optionally of one family."""
    return [n for n, m in MODELS.items() if family is None or m.family == family]
