"""kerascnn: the classic convolutional networks, declared as data and built with Keras 3.

The verbs take a recipe (a file, a shipped recipe's name, a dict or a loaded `Recipe`) and return a
result: `kerascnn.train(recipe)` -> `RunResult`, `kerascnn.tune(recipe)` -> `TuneResult`,
`kerascnn.evaluate(run)` -> `Evaluation`, `kerascnn.predict(run, images)` -> `[Prediction]`.

Attributes are imported on first use, so `import kerascnn` (and `kerascnn --help`) stays fast and does
not load Keras or a backend until a model is actually built.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

__version__ = "0.1.0"


def _default_backend() -> None:
    """Keras' default backend is TensorFlow (and Keras writes "tensorflow" into keras.json on its
    first import): where TensorFlow is not installed and neither `KERAS_BACKEND` nor keras.json
    names another backend, kerascnn asks Keras for JAX, else PyTorch, before Keras is imported
    (Keras itself would fail on its first import). The TensorFlow-free install of docs/devices.md
    relies on it; the backend shows on each run's device line."""
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
    "train": "kerascnn.training",
    "lr_find": "kerascnn.training",
    "show_batch": "kerascnn.training",
    "tune": "kerascnn.tuning.search",
    "evaluate": "kerascnn.inference",
    "predict": "kerascnn.inference",
    "export": "kerascnn.inference.exporting",
    "explain": "kerascnn.visualize",
    "write_report": "kerascnn.report",
}
# The documented modules (docs/api.md is generated from their `__all__`), in the reading order of
# the package: the model side, then what trains, tunes, evaluates and explains, then the rest.
PUBLIC_MODULES = (
    "kerascnn",
    "kerascnn.blocks",
    "kerascnn.spec",
    "kerascnn.zoo",
    "kerascnn.zoo.weights",
    "kerascnn.analysis",
    "kerascnn.recipe",
    "kerascnn.data",
    "kerascnn.data.folder",
    "kerascnn.training",
    "kerascnn.training.freezing",
    "kerascnn.tuning",
    "kerascnn.inference",
    "kerascnn.inference.exporting",
    "kerascnn.visualize",
    "kerascnn.report",
    "kerascnn.runs",
    "kerascnn.cli.scripting",
    "kerascnn.layers",
    "kerascnn.losses",
    "kerascnn.optim",
    "kerascnn.keras_internals",
    "kerascnn.config",
)
# `kerascnn.<name>` for each package and module at the top: imported on first use.
_SUBMODULES = {module.split(".")[1] for module in PUBLIC_MODULES if module != "kerascnn"} | {"cli"}

# Modules that moved when the package was given one home per concept: their old paths still import
# (the same module object, with a DeprecationWarning naming the new path).
MOVED = {
    "kerascnn.search": "kerascnn.tuning.search",
    "kerascnn.hypermodel": "kerascnn.tuning.hypermodel",
    "kerascnn.finetune": "kerascnn.training.freezing",
    "kerascnn.saving": "kerascnn.runs.saving",
    "kerascnn.exporting": "kerascnn.inference.exporting",
    "kerascnn.scripting": "kerascnn.cli.scripting",
    "kerascnn.reference": "kerascnn.cli.reference",
    "kerascnn.models": "kerascnn.cli.arguments",
    "kerascnn.shipped": "kerascnn.recipe.shipped",
    "kerascnn.building": "kerascnn.keras_internals",
    "kerascnn.training.rundir": "kerascnn.runs.rundir",
    "kerascnn.training.schedules": "kerascnn.optim.schedules",
    "kerascnn.schedules": "kerascnn.optim.schedules",
    "kerascnn.inference.loading": "kerascnn.runs.trained",
    "kerascnn.zoo.pretrained": "kerascnn.zoo.weights.cards",
    "kerascnn.zoo.timm_port": "kerascnn.zoo.weights.timm",
    "kerascnn.zoo.port": "kerascnn.zoo.weights.applications",
    "kerascnn.zoo.transfer": "kerascnn.zoo.weights.channels",
    "kerascnn.config.schema": "kerascnn.config.validation",
}

__all__ = sorted(_EXPORTS) + sorted(_SUBMODULES) + ["__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"kerascnn.{name}")
    if f"kerascnn.{name}" in MOVED:
        return importlib.import_module(f"kerascnn.{name}")
    raise AttributeError(f"module 'kerascnn' has no attribute {name!r}")


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old module path (`MOVED`) as the module it moved to: `import kerascnn.search`,
    and `from kerascnn.finetune import freeze` keep working."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        import warnings

        new = MOVED[spec.name]
        warnings.warn(f"{spec.name} moved to {new}", DeprecationWarning, stacklevel=2)
        return importlib.import_module(new)

    def exec_module(self, module):
        pass  # the module it moved to is imported already


sys.meta_path.append(_MovedModules())


def __dir__():
    return __all__
