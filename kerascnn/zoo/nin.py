"""Network in Network: Lin, Chen & Yan, "Network In Network", ICLR 2014, section 4.2 (CIFAR-10).

Three mlpconv layers (a 5x5, 5x5 and 3x3 convolution, each followed by two 1x1 convolutions: 192-160-96,
192-192-192, 192-192-10), max- then average-pooling 3x3/2 with dropout 0.5 after the first two, and
global average pooling over the last layer's 10 maps as the classifier: no fully connected layer.
Pooling is Caffe's ceil mode (32 -> 16 -> 8). Departure: no ReLU on the 10 class maps before pooling
(the Caffe model has one, which forces the scores to be non-negative).
"""

from __future__ import annotations

from kerascnn.zoo.registry import register_model

PAPER = "Lin, Chen & Yan, Network In Network, ICLR 2014"


def nin(*, dropout: float = 0.5) -> dict:
    """NiN for CIFAR: three mlpconv layers and a global-average-pooling classifier."""
    drop = [f"dropout-{dropout}"] if dropout else []
    return {
        "defaults": {"norm": "none"},
        "stages": [
            {
                "blocks": [
                    {"block": "mlpconv", "filters": [192, 160, 96], "kernel_size": 5},
                    "maxpool3 s2 same",
                    *drop,
                ]
            },
            {
                "blocks": [
                    {"block": "mlpconv", "filters": [192, 192, 192], "kernel_size": 5},
                    "avgpool3 s2 same",
                    *drop,
                ]
            },
            {"blocks": [{"block": "mlpconv", "filters": [192, 192], "kernel_size": 3}]},
        ],
        "head": {"pool": "avg", "classifier": "conv"},  # the third mlpconv's last 1x1 conv
    }


register_model(
    "nin",
    nin,
    family="nin",
    paper=PAPER,
    input_shape=(32, 32, 3),
    classes=10,
    dataset="CIFAR-10",
    params=966_986,
    published="CIFAR-10 test error 10.41% (8.81% with augmentation)",
)
