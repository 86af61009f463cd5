"""GoogLeNet (Inception v1): Szegedy et al., "Going Deeper with Convolutions", CVPR 2015, Table 1.

The stem (7x7/2 conv, max-pool, LRN, 1x1 and 3x3 convs, LRN, max-pool), nine inception modules with the
widths of Table 1 (3a-3b, 4a-4e, 5a-5b) and max-pools between the groups, 7x7 average pooling, dropout
40% and a linear classifier. `aux=True` adds the two auxiliary classifiers on inception (4a) and (4d)
(section 5) as extra model outputs; training adds their losses with weight 0.3, inference drops them
(`kerascnn.drop_side_outputs`). No batch normalization (`norm="batch"` adds it). Pooling uses
Caffe's ceil
mode, which for GoogLeNet's even sizes equals Keras' "same". Departure from the reference Caffe model:
none in structure (torchvision's port replaces the 5x5 convolutions by 3x3 ones; this keeps 5x5).
Table 1 lists about 6.8M parameters (weights only, rounded per layer).
"""

from __future__ import annotations

from kerascnn.zoo.registry import register_model

PAPER = "Szegedy et al., Going Deeper with Convolutions, CVPR 2015"

# Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
INCEPTION = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}


def googlenet(
    *, aux: bool = False, lrn: bool = True, dropout: float = 0.4, aux_dropout: float = 0.7
) -> dict:
    """GoogLeNet, optionally with its two auxiliary classifiers as side outputs.

    The stages are Table 1's rows: each inception module a stage of its own (`inception3a`, ...,
    `inception5b`, the paper's names), and the max-pools between the groups (`pool3`, `pool4`), so
    that freezing, `unfreeze = K` and reports count the modules the table lists."""

    def module(key, *extra):
        return {
            "name": f"inception{key}",
            "blocks": [
                {"block": "inception", "filters": list(INCEPTION[key]), "name": f"inception{key}"},
                *extra,
            ],
        }

    def side(key):  # an auxiliary classifier on the module's output
        return (
            [{"block": "aux_classifier", "name": f"inception{key}_aux", "dropout": aux_dropout}]
            if aux
            else []
        )

    def pool(group):
        return {"name": f"pool{group}", "blocks": ["maxpool3 s2 same"]}

    return {
        "defaults": {"norm": "none"},
        "stem": {"block": "googlenet_stem", "lrn": lrn},
        "stages": [
            module("3a"),
            module("3b"),
            pool(3),
            module("4a", *side("4a")),
            module("4b"),
            module("4c"),
            module("4d", *side("4d")),
            module("4e"),
            pool(4),
            module("5a"),
            module("5b"),
        ],
        "head": {"pool": "avg", "dropout": dropout},
    }


register_model(
    "googlenet",
    googlenet,
    family="googlenet",
    paper=PAPER,
    params=6_998_552,
    published="Table 1: about 6.8M parameters; top-5 error 6.67% (ensemble)",
)
