"""kerascnn: the classic convolutional networks, declared as data and built with Keras 3.

The verbs take a recipe (a file, a shipped recipe's name, a dict or a loaded `Recipe`) and return a
result: `kerascnn.train(recipe)` -> `RunResult`, `kerascnn.tune(recipe)` -> `TuneResult`,
`kerascnn.evaluate(run)` -> `Evaluation`, `kerascnn.predict(run, images)` -> `[Prediction]`.

Attributes are imported on first use, so `import kerascnn` (and `kerascnn --help`) stays fast and does
not load Keras or a backend until a model is actually built.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"


def _default_backend() -> None:
    """Keras' default backend is TensorFlow (and Keras writes "tensorflow" into keras.json on its
    first import): where TensorFlow is not installed and neither `KERAS_BACKEND` nor keras.json
    names another backend, kerascnn asks Keras for JAX, else PyTorch, before Keras is imported
    (Keras itself would fail on its first import). The TensorFlow-free install of README relies
    on it; the backend shows on each run's device line."""
    import importlib.util
    import json
    import os
    import sys

    if "KERAS_BACKEND" in os.environ or "keras" in sys.modules:
        return

    def found(module):
        try:
            return importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            return False

    if found("tensorflow"):
        return
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json"), encoding="utf-8") as f:
            if json.load(f).get("backend", "tensorflow") != "tensorflow":
                return  # a backend chosen there
    except (OSError, ValueError, AttributeError):
        pass
    for backend, module in (("jax", "jax"), ("torch", "torch")):
        if found(module):
            os.environ["KERAS_BACKEND"] = backend
            return


_default_backend()

_EXPORTS = {
    "build": "kerascnn.zoo",
    "list_models": "kerascnn.zoo",
    "get_model_info": "kerascnn.zoo",
    "drop_side_outputs": "kerascnn.zoo",
    "register_model": "kerascnn.zoo",
    "port_weights": "kerascnn.zoo",
    "load_model": "kerascnn.saving",
    "profile": "kerascnn.analysis",
    "build_from_spec": "kerascnn.spec",
    "load_spec": "kerascnn.spec",
    "register_block": "kerascnn.blocks",
    "ConfigError": "kerascnn.config",
    "LocalResponseNormalization": "kerascnn.layers",
    "ChannelPadding": "kerascnn.layers",
    "load_recipe": "kerascnn.recipe",
    "freeze": "kerascnn.finetune",
    "unfreeze": "kerascnn.finetune",
    "replace_head": "kerascnn.finetune",
    "trainable_report": "kerascnn.finetune",
    "HyperCNN": "kerascnn.hypermodel",
    # The verbs: a recipe in, a result out.
    "train": "kerascnn.training",
    "tune": "kerascnn.search",
    "evaluate": "kerascnn.inference",
    "predict": "kerascnn.inference",
    "export": "kerascnn.exporting",
    "explain": "kerascnn.visualize",
}
_SUBMODULES = {
    "analysis",
    "blocks",
    "config",
    "data",
    "exporting",
    "finetune",
    "hypermodel",
    "inference",
    "layers",
    "recipe",
    "saving",
    "search",
    "spec",
    "training",
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
