"""DenseNet: Huang, Liu, van der Maaten & Weinberger, "Densely Connected Convolutional Networks",
CVPR 2017.

ImageNet DenseNet-121/169/201/264 (Table 1): DenseNet-BC with growth rate k = 32, bottleneck layers
(1x1 conv to 4k, then 3x3 to k), compression 0.5 in the transitions, a 7x7/2 stem with 2k filters and a
3x3/2 max-pool, a final BN-ReLU, global average pooling and a linear classifier. CIFAR DenseNet-BC-100
(k = 12): a 3x3 stem with 2k filters and three dense blocks of 16 bottleneck layers (depth 6n + 4).

Each stage here is one dense block; the transition that halves the resolution opens the next stage (so a
stage's output is its dense block's, at its own resolution, for feature extraction). The layers are the
paper's, in the paper's order.
"""

from __future__ import annotations

from typing import Literal

from kerascnn.zoo.registry import register_model

PAPER = "Huang, Liu, van der Maaten & Weinberger, Densely Connected Convolutional Networks, CVPR 2017"


def densenet(
    *,
    blocks: tuple[int, ...],
    growth_rate: int = 32,
    bottleneck: bool = True,
    compression: float = 0.5,
    stem: Literal["imagenet", "cifar"] = "imagenet",
    block_dropout: float = 0.0,
    dropout: float = 0.0,
) -> dict:
    """A DenseNet with `blocks[i]` layers in dense block i+1.

    Args:
        blocks: layers per dense block ((6, 12, 24, 16) for DenseNet-121).
        growth_rate: k.
        bottleneck: DenseNet-B's 1x1 bottleneck layers.
        compression: theta of the transitions (1 for the plain DenseNet).
        stem: "imagenet" (7x7/2 conv, 3x3/2 max-pool) or "cifar" (one 3x3 conv).
        block_dropout: dropout after each convolution in the dense blocks.
        dropout: dropout before the classifier.
    """
    k = growth_rate
    stem_spec: dict | list = (
        {"block": "resnet_stem", "filters": 2 * k}
        if stem == "imagenet"
        else [f"conv3-{2 * k} nobn linear"]
    )
    stages = []
    for i, layers in enumerate(blocks, start=1):
        dense = {
            "block": "dense",
            "layers": layers,
            "growth_rate": k,
            "bottleneck": bottleneck,
            "dropout": block_dropout,
            "name": f"stage{i}_dense",
        }
        transition = (
            [{"block": "transition", "compression": compression, "name": f"stage{i}_transition"}]
            if i > 1
            else []
        )
        stages.append({"blocks": [*transition, dense]})
    return {
        "stem": stem_spec,
        "stages": stages,
        "post": ["bn", "relu"],
        "head": {"pool": "avg", "dropout": dropout},
    }


for _depth, _blocks, _params, _published in [
    (121, (6, 12, 24, 16), 7_978_856, "torchvision densenet121: 7,978,856 parameters"),
    (169, (6, 12, 32, 32), 14_149_480, "torchvision densenet169: 14,149,480 parameters"),
    (201, (6, 12, 48, 32), 20_013_928, "torchvision densenet201: 20,013,928 parameters"),
    (264, (6, 12, 64, 48), 33_337_704, "Table 1 architecture"),
]:
    register_model(
        f"densenet{_depth}",
        densenet,
        family="densenet",
        paper=PAPER,
        variant={"blocks": _blocks},
        params=_params,
        published=_published,
    )

register_model(
    "densenet_bc_100_12",
    densenet,
    family="densenet",
    paper=PAPER,
    variant={"blocks": (16, 16, 16), "growth_rate": 12, "stem": "cifar"},
    input_shape=(32, 32, 3),
    classes=10,
    dataset="CIFAR-10",
    params=769_186,
    published="Table 2: 0.8M parameters, CIFAR-10+ error 4.51%",
)
