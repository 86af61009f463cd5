"""The model zoo: every architecture of the classic CNN line as data, found by name.

Importing this package registers every family (plain data, no Keras); `build(name)` makes a model
(and imports Keras on first use), `list_models()` lists them.
"""

# Registered in the order of the lecture's line: LeNet-5, AlexNet/ZFNet, VGG, NiN, GoogLeNet,
# Inception-v4, the ResNets, DenseNet.
from kerascnn.zoo import lenet, alexnet, vgg, nin, googlenet, inception, resnet, densenet  # noqa: F401, I001
from kerascnn.zoo.registry import MODELS, ModelInfo, get_model_info, list_models, register_model

_BUILD = {
    "build": "factory",
    "drop_side_outputs": "factory",
    "make_spec": "factory",
    "port_weights": "weights.applications",
}

__all__ = ["MODELS", "ModelInfo", *_BUILD, "get_model_info", "list_models", "register_model"]


def __getattr__(name: str):
    if name in _BUILD:  # keeps `kerascnn list` free of the Keras import
        import importlib

        return getattr(importlib.import_module(f"kerascnn.zoo.{_BUILD[name]}"), name)
    raise AttributeError(f"module 'kerascnn.zoo' has no attribute {name!r}")
