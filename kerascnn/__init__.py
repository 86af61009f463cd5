"""kerascnn: the classic convolutional networks, declared as data and built with Keras 3.

The verbs take a recipe (a file, a shipped recipe's name, a dict or a loaded `Recipe`) and return a
result: `kerascnn.train(recipe)` -> `RunResult`, `kerascnn.tune(recipe)` -> `TuneResult`,
`kerascnn.evaluate(run)` -> `Evaluation`, `kerascnn.predict(run, images)` -> `[Prediction]`.

Attributes are imported on first use, so `import kerascnn` (and `kerascnn --help`) stays fast and does
not load Keras or a backend until a model is actually built. This face is for users: kerascnn's own
modules import what they use from where it lives.
"""

from __future__ import annotations

import importlib

from kerascnn.backend.choice import choose_default

__version__ = "0.1.0"

choose_default()  # before anything imports Keras

_EXPORTS = {
    "build": "kerascnn.zoo",
    "list_models": "kerascnn.zoo",
    "get_model_info": "kerascnn.zoo",
    "drop_side_outputs": "kerascnn.zoo",
    "register_model": "kerascnn.zoo",
    "port_weights": "kerascnn.zoo",
    "load_model": "kerascnn.runs.saving",
    "profile": "kerascnn.analysis",
    "build_from_spec": "kerascnn.spec",
    "load_spec": "kerascnn.spec",
    "register_block": "kerascnn.blocks",
    "ConfigError": "kerascnn.config",
    "LocalResponseNormalization": "kerascnn.layers",
    "ChannelPadding": "kerascnn.layers",
    "load_recipe": "kerascnn.recipe",
    "freeze": "kerascnn.training.freezing",
    "unfreeze": "kerascnn.training.freezing",
    "replace_head": "kerascnn.training.freezing",
    "trainable_report": "kerascnn.training.freezing",
    "HyperCNN": "kerascnn.tuning.hypermodel",
    # The verbs: a recipe in, a result out.
    "train": "kerascnn.verbs",
    "lr_find": "kerascnn.training",
    "show_batch": "kerascnn.verbs",
    "average": "kerascnn.verbs",
    "tune": "kerascnn.verbs",
    "evaluate": "kerascnn.inference",
    "predict": "kerascnn.inference",
    "export": "kerascnn.inference.exporting",
    "explain": "kerascnn.inference.explaining",
    "write_report": "kerascnn.report",
}

# `kerascnn.<name>` for each package and module at the top: imported on first use.
_SUBMODULES = {
    "analysis",
    "backend",
    "blocks",
    "cli",
    "config",
    "data",
    "inference",
    "layers",
    "losses",
    "optim",
    "recipe",
    "report",
    "runs",
    "spec",
    "training",
    "tuning",
    "verbs",
    "visualize",
    "zoo",
}

__all__ = sorted(_EXPORTS) + sorted(_SUBMODULES) + ["__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"kerascnn.{name}")
    raise AttributeError(f"module 'kerascnn' has no attribute {name!r}")


def __dir__():
    return __all__
