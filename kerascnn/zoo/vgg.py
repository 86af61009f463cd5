"""VGG: Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition",
ICLR 2015. Each configuration is written as its column of the paper's Table 1, in the paper's notation.

All convolutions are 3x3 (1x1 in C) with stride 1 and padding 1, max-pooling is 2x2/2, and the head is
FC-4096, FC-4096, FC-1000 with dropout 0.5 after the first two; no batch normalization (`norm="batch"`
gives the later VGG-BN variants). Table 2's parameter counts: 133, 133, 133, 134, 138, 144 million.
"""

from __future__ import annotations

from typing import Literal

from kerascnn.zoo.registry import register_model

PAPER = (
    "Simonyan & Zisserman, Very Deep Convolutional Networks for Large-Scale Image Recognition, ICLR 2015"
)

# Table 1, one list per stage (the maxpool that ends each stage is added by `vgg`).
CONFIGS = {
    "A": [
        ["conv3-64"],
        ["conv3-128"],
        ["conv3-256", "conv3-256"],
        ["conv3-512", "conv3-512"],
        ["conv3-512", "conv3-512"],
    ],
    "A-LRN": [
        ["conv3-64", "LRN"],
        ["conv3-128"],
        ["conv3-256", "conv3-256"],
        ["conv3-512", "conv3-512"],
        ["conv3-512", "conv3-512"],
    ],
    "B": [
        ["conv3-64", "conv3-64"],
        ["conv3-128", "conv3-128"],
        ["conv3-256", "conv3-256"],
        ["conv3-512", "conv3-512"],
        ["conv3-512", "conv3-512"],
    ],
    "C": [
        ["conv3-64", "conv3-64"],
        ["conv3-128", "conv3-128"],
        ["conv3-256", "conv3-256", "conv1-256"],
        ["conv3-512", "conv3-512", "conv1-512"],
        ["conv3-512", "conv3-512", "conv1-512"],
    ],
    "D": [
        ["conv3-64", "conv3-64"],
        ["conv3-128", "conv3-128"],
        ["conv3-256", "conv3-256", "conv3-256"],
        ["conv3-512", "conv3-512", "conv3-512"],
        ["conv3-512", "conv3-512", "conv3-512"],
    ],
    "E": [
        ["conv3-64", "conv3-64"],
        ["conv3-128", "conv3-128"],
        ["conv3-256", "conv3-256", "conv3-256", "conv3-256"],
        ["conv3-512", "conv3-512", "conv3-512", "conv3-512"],
        ["conv3-512", "conv3-512", "conv3-512", "conv3-512"],
    ],
}


def vgg(
    *,
    config: Literal["A", "A-LRN", "B", "C", "D", "E"],
    dropout: float = 0.5,
    kernel_initializer: str = "he_normal",
) -> dict:
    """A VGG configuration (a column of Table 1). `kernel_initializer`: the convolutions' ("he_normal"
    by default; "glorot_uniform" is the random initialization the paper's Section 3.1 names for
    training the deep configurations without pre-training, the one that goes with its inputs
    centred but not scaled, `normalize = "caffe"`; the paper itself started them from configuration
    A's weights, which started from N(0, 0.01))."""
    return {
        "defaults": {"norm": "none", "kernel_initializer": kernel_initializer},
        "stages": [{"blocks": [*layers, "maxpool"]} for layers in CONFIGS[config]],
        "head": {"pool": "flatten", "hidden": [4096, 4096], "dropout": dropout},
    }


for _name, _config, _params, _millions in [
    ("vgg11", "A", 132_863_336, 133),
    ("vgg11_lrn", "A-LRN", 132_863_336, 133),
    ("vgg13", "B", 133_047_848, 133),
    ("vgg16_c", "C", 133_638_952, 134),
    ("vgg16", "D", 138_357_544, 138),
    ("vgg19", "E", 143_667_240, 144),
]:
    register_model(
        _name,
        vgg,
        family="vgg",
        paper=PAPER,
        variant={"config": _config},
        params=_params,
        published=f"Table 2: {_millions}M parameters (configuration {_config})",
    )
