"""AlexNet and ZFNet.

AlexNet: Krizhevsky, Sutskever & Hinton, "ImageNet Classification with Deep Convolutional Neural
Networks", NIPS 2012, section 3 and Fig. 2. Five convolutions, ReLU, local response normalization after
the first two, overlapping 3x3/2 max-pooling, two FC-4096 layers with dropout 0.5, 60 million parameters.
The input is 227x227 (the paper's "224" does not give its 55x55 conv1 output). `groups=2` reproduces the
two-GPU split (conv2, conv4 and conv5 see only the maps on their own GPU): 60,965,224 parameters;
one tower: 62,378,344. Departure: He-normal initialization (the paper used N(0, 0.01) and biases of 1).

ZFNet: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014, Fig. 3:
conv1 7x7/2 (96), conv2 5x5/2 (256), conv3-5 3x3 (384, 384, 256), 224x224 input; the feature maps
110 -> 55 -> 26 -> 13 -> 6 follow the figure. `wide=True` uses 512, 1024, 512 maps in conv3-5, the
larger model of the paper's Table 3 (the one the lecture quotes). The paper's "contrast normalization"
is LRN here.
"""

from __future__ import annotations

from kerascnn.zoo.registry import register_model

ALEXNET_PAPER = (
    "Krizhevsky, Sutskever & Hinton, ImageNet Classification with Deep Convolutional "
    "Neural Networks, NIPS 2012"
)
ZFNET_PAPER = "Zeiler & Fergus, Visualizing and Understanding Convolutional Networks, ECCV 2014"


def alexnet(*, groups: int = 1, lrn: bool = True, dropout: float = 0.5) -> dict:
    """AlexNet: conv1 11x11/4 (96) -> LRN -> pool -> conv2 5x5 (256) -> LRN -> pool -> conv3-5 ->
    pool."""
    g = f" g{groups}" if groups > 1 else ""
    norm = ["LRN"] if lrn else []
    return {
        "defaults": {"norm": "none"},
        "stages": [
            {"blocks": ["conv11-96 s4 p0", *norm, "maxpool3 s2"]},  # 227 -> 55 -> 27
            {"blocks": [f"conv5-256{g}", *norm, "maxpool3 s2"]},  # 27 -> 13
            {"blocks": ["conv3-384", f"conv3-384{g}", f"conv3-256{g}", "maxpool3 s2"]},  # 13 -> 6
        ],
        "head": {"pool": "flatten", "hidden": [4096, 4096], "dropout": dropout},
    }


def zfnet(*, wide: bool = False, lrn: bool = True, dropout: float = 0.5) -> dict:
    """ZFNet: AlexNet with a 7x7/2 first layer and a strided conv2 (Zeiler & Fergus, Fig. 3)."""
    c3, c4, c5 = (512, 1024, 512) if wide else (384, 384, 256)
    norm = ["LRN"] if lrn else []
    return {
        "defaults": {"norm": "none"},
        "stages": [
            {"blocks": ["conv7-96 s2 p1", *norm, "maxpool3 s2 same"]},  # 224 -> 110 -> 55
            {"blocks": ["conv5-256 s2 p0", *norm, "maxpool3 s2 same"]},  # 55 -> 26 -> 13
            {"blocks": [f"conv3-{c3}", f"conv3-{c4}", f"conv3-{c5}", "maxpool3 s2"]},  # 13 -> 6
        ],
        "head": {"pool": "flatten", "hidden": [4096, 4096], "dropout": dropout},
    }


register_model(
    "alexnet",
    alexnet,
    family="alexnet",
    paper=ALEXNET_PAPER,
    input_shape=(227, 227, 3),
    params=62_378_344,
    published="60 million parameters (two-GPU split: build('alexnet', groups=2), 60,965,224)",
)
register_model(
    "zfnet",
    zfnet,
    family="alexnet",
    paper=ZFNET_PAPER,
    params=62_357_608,
    published="Fig. 3 layer sizes; top-5 error 16.4% -> 11.7% (ensemble)",
)
