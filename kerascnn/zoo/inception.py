"""Inception-v4 and Inception-ResNet-v2: Szegedy, Ioffe, Vanhoucke & Alemi, "Inception-v4,
Inception-ResNet and the Impact of Residual Connections on Learning", AAAI 2017.

Every module is a `branches` (or `inception_resnet`) block whose branches are written in the layer
notation, so the tables below read like the paper's figures. Both networks take 299x299 inputs, use BN
after every convolution (epsilon 1e-3, as in the authors' TF-slim code) and end with global average
pooling, dropout 0.2 (keep 0.8) and the classifier.

Inception-v4 (Figures 3-9): the stem (Figure 3) to 35x35x384, 4 x Inception-A (Figure 4), Reduction-A
(Figure 7, with k, l, m, n = 192, 224, 256, 384) to 17x17x1024, 7 x Inception-B (Figure 5), Reduction-B
(Figure 8) to 8x8x1536, 3 x Inception-C (Figure 6). Branch order, and which of each 1x7/7x1 pair comes
first, follow the authors' released TF-slim model (the figures draw some pairs the other way round;
parameter counts and multiply-adds are the same).

Inception-ResNet-v2 follows the authors' released model (TF-slim, which keras.applications ports) rather
than the paper's Figures 15-19, whose channel numbers do not add up (Figure 17's 1x1 outputs 1154
channels into a 1152-channel 17x17 grid; Figure 18's reduction outputs 2144 channels, Figure 19 then
expects 2048): the stem to 35x35x192 and the 35x35x320 "mixed 5b" module, 10 x block35 (scale 0.17),
the reduction to 17x17x1088, 20 x block17 (scale 0.1), the reduction to 8x8x2080, 10 x block8 (scale
0.2; the last one with scale 1.0 and no ReLU), a 1x1 convolution to 1536 channels. The paper's figure
repeats 5, 10 and 5 blocks (`repeats=(5, 10, 5)`). BN layers have a learned scale here (gamma); the
released model has none, which is gamma = 1, so ported weights are exact (`kerascnn.port_weights`).
"""

from __future__ import annotations

from kerascnn.zoo.registry import register_model

PAPER = (
    "Szegedy, Ioffe, Vanhoucke & Alemi, Inception-v4, Inception-ResNet and the Impact of "
    "Residual Connections on Learning, AAAI 2017"
)

AVGPOOL = "avgpool3 s1 same"
MAXPOOL = "maxpool3 s2 valid"

# --- Inception-v4 ---------------------------------------------------------------------------------
V4_STEM = [
    "conv3-32 s2 valid",
    "conv3-32 valid",
    "conv3-64",  # 149x149x32, 147x147x32, 147x147x64
    ("mixed3a", [[MAXPOOL], ["conv3-96 s2 valid"]]),  # 73x73x160
    (
        "mixed4a",
        [["conv1-64", "conv3-96 valid"], ["conv1-64", "conv1x7-64", "conv7x1-64", "conv3-96 valid"]],
    ),  # 71x71x192
    ("mixed5a", [["conv3-192 s2 valid"], [MAXPOOL]]),  # 35x35x384
]
INCEPTION_A = [
    ["conv1-96"],
    ["conv1-64", "conv3-96"],
    ["conv1-64", "conv3-96", "conv3-96"],
    [AVGPOOL, "conv1-96"],
]  # 35x35x384
REDUCTION_A = [
    ["conv3-384 s2 valid"],
    ["conv1-192", "conv3-224", "conv3-256 s2 valid"],
    [MAXPOOL],
]  # k, l, m, n = 192, 224, 256, 384: 17x17x1024
INCEPTION_B = [
    ["conv1-384"],
    ["conv1-192", "conv1x7-224", "conv7x1-256"],
    ["conv1-192", "conv7x1-192", "conv1x7-224", "conv7x1-224", "conv1x7-256"],
    [AVGPOOL, "conv1-128"],
]  # 17x17x1024
REDUCTION_B = [
    ["conv1-192", "conv3-192 s2 valid"],
    ["conv1-256", "conv1x7-256", "conv7x1-320", "conv3-320 s2 valid"],
    [MAXPOOL],
]  # 8x8x1536
SPLIT = [["conv1x3-256"], ["conv3x1-256"]]
INCEPTION_C = [
    ["conv1-256"],
    ["conv1-384", SPLIT],
    ["conv1-384", "conv3x1-448", "conv1x3-512", SPLIT],
    [AVGPOOL, "conv1-256"],
]  # 8x8x1536

# --- Inception-ResNet-v2 (the released model) -------------------------------------------------------
IRV2_STEM = [
    "conv3-32 s2 valid",
    "conv3-32 valid",
    "conv3-64",
    "maxpool3 s2",
    "conv1-80 valid",
    "conv3-192 valid",
    "maxpool3 s2",
]  # 35x35x192
MIXED_5B = [
    ["conv1-96"],
    ["conv1-48", "conv5-64"],
    ["conv1-64", "conv3-96", "conv3-96"],
    [AVGPOOL, "conv1-64"],
]  # 35x35x320
BLOCK35 = [["conv1-32"], ["conv1-32", "conv3-32"], ["conv1-32", "conv3-48", "conv3-64"]]
MIXED_6A = [
    ["conv3-384 s2 valid"],
    ["conv1-256", "conv3-256", "conv3-384 s2 valid"],
    [MAXPOOL],
]  # 17x17x1088
BLOCK17 = [["conv1-192"], ["conv1-128", "conv1x7-160", "conv7x1-192"]]
MIXED_7A = [
    ["conv1-256", "conv3-384 s2 valid"],
    ["conv1-256", "conv3-288 s2 valid"],
    ["conv1-256", "conv3-288", "conv3-320 s2 valid"],
    [MAXPOOL],
]  # 8x8x2080
BLOCK8 = [["conv1-192"], ["conv1-192", "conv1x3-224", "conv3x1-256"]]


def _module(name, branch_list):
    return {"block": "branches", "name": name, "branches": branch_list}


def inception_v4(*, repeats: tuple[int, int, int] = (4, 7, 3), dropout: float = 0.2) -> dict:
    """Inception-v4: `repeats` Inception-A, -B and -C modules (the paper: 4, 7, 3)."""
    _check_repeats(repeats)
    a, b, c = repeats
    stem = [item if isinstance(item, str) else _module(f"stem_{item[0]}", item[1]) for item in V4_STEM]
    return {
        "defaults": {"bn_epsilon": 1e-3},
        "stem": stem,
        "stages": [
            {
                "name": "stage1",
                "blocks": [_module(f"stage1_block{j}", INCEPTION_A) for j in range(1, a + 1)],
            },
            {
                "name": "stage2",
                "blocks": [
                    _module("stage2_reduction", REDUCTION_A),
                    *(_module(f"stage2_block{j}", INCEPTION_B) for j in range(1, b + 1)),
                ],
            },
            {
                "name": "stage3",
                "blocks": [
                    _module("stage3_reduction", REDUCTION_B),
                    *(_module(f"stage3_block{j}", INCEPTION_C) for j in range(1, c + 1)),
                ],
            },
        ],
        "head": {"pool": "avg", "dropout": dropout},
    }


def inception_resnet_v2(
    *,
    repeats: tuple[int, int, int] = (10, 20, 10),
    scales: tuple[float, float, float] = (0.17, 0.1, 0.2),
    dropout: float = 0.2,
    drop_path: float = 0.0,
) -> dict:
    """Inception-ResNet-v2: `repeats` 35x35, 17x17 and 8x8 residual blocks with residual `scales`;
    `drop_path`: stochastic depth, residual block l of L dropping with `drop_path * l / L` (as
    the ResNets' option)."""
    _check_repeats(repeats)
    if (
        not isinstance(drop_path, (int, float))
        or isinstance(drop_path, bool)
        or not (0 <= drop_path < 1)
    ):
        raise ValueError(f"`drop_path` must be in [0, 1). Received: drop_path={drop_path!r}")
    total, counted = sum(repeats), []
    if len(scales) != 3 or not all(
        isinstance(s, (int, float)) and not isinstance(s, bool) and s > 0 for s in scales
    ):
        raise ValueError(f"`scales` must be three positive numbers. Received: scales={scales!r}")

    def residual(stage, j, branch_list, scale, last=False):
        block = {
            "block": "inception_resnet",
            "name": f"{stage}_block{j}",
            "branches": branch_list,
            "scale": scale,
        }
        if last:  # the released model's final block8: scale 1.0, no ReLU
            block.update(scale=1.0, final_activation=False)
        counted.append(block)
        if drop_path:
            block["drop_path"] = drop_path * len(counted) / total
        return block

    n35, n17, n8 = repeats
    s35, s17, s8 = scales
    return {
        "defaults": {"bn_epsilon": 1e-3},
        "stem": list(IRV2_STEM),
        "stages": [
            {
                "name": "stage1",
                "blocks": [
                    _module("stage1_mixed5b", MIXED_5B),
                    *(residual("stage1", j, BLOCK35, s35) for j in range(1, n35 + 1)),
                ],
            },
            {
                "name": "stage2",
                "blocks": [
                    _module("stage2_reduction", MIXED_6A),
                    *(residual("stage2", j, BLOCK17, s17) for j in range(1, n17 + 1)),
                ],
            },
            {
                "name": "stage3",
                "blocks": [
                    _module("stage3_reduction", MIXED_7A),
                    *(residual("stage3", j, BLOCK8, s8, last=j == n8) for j in range(1, n8 + 1)),
                    "conv1-1536",
                ],
            },
        ],
        "head": {"pool": "avg", "dropout": dropout},
    }


def _check_repeats(repeats):
    if len(repeats) != 3 or not all(
        isinstance(r, int) and not isinstance(r, bool) and r >= 1 for r in repeats
    ):
        raise ValueError(f"`repeats` must be three positive integers. Received: repeats={repeats!r}")


_INPUT = dict(input_shape=(299, 299, 3))
register_model(
    "inception_v4",
    inception_v4,
    family="inception",
    paper=PAPER,
    params=42_679_816,
    published="timm inception_v4 (a port of the TF-slim model): 42,679,816 parameters",
    **_INPUT,
)
register_model(
    "inception_resnet_v2",
    inception_resnet_v2,
    family="inception",
    paper=PAPER,
    params=55_843_464,
    published="keras.applications InceptionResNetV2: 55,873,736 parameters "
    "(55,813,192 trainable; BN without gamma: 30,272 fewer)",
    **_INPUT,
)
