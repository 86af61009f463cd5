"""LeNet-5: LeCun, Bottou, Bengio & Haffner, "Gradient-Based Learning Applied to Document Recognition",
Proc. IEEE 86(11), 1998, section II.B and Fig. 2.

The paper's network: 32x32 input; C1 6@5x5 -> S2 trainable subsampling -> C3 16@5x5 partially connected
(Table I) -> S4 -> C5 120@5x5 -> F6 84, with the squashing function 1.7159 tanh(2x/3) throughout:
60,000 trainable parameters. Departures: the output layer of 10 Euclidean RBF units with fixed,
hand-drawn
7x12 prototypes (trained with a MAP criterion) is a softmax classifier here (+850 parameters);
weights start
from Glorot-uniform rather than U(-2.4/F_in, 2.4/F_in). `modern=True` gives the textbook simplification
(ReLU, max-pooling, full C3).
"""

from __future__ import annotations

from kerascnn.zoo.registry import register_model

PAPER = (
    "LeCun, Bottou, Bengio & Haffner, Gradient-Based Learning Applied to Document Recognition, "
    "Proc. IEEE 1998"
)


def lenet5(*, modern: bool = False, dropout: float = 0.0) -> dict:
    """LeNet-5 as in the paper (`modern=False`) or as usually taught today (`modern=True`)."""
    if modern:
        return {
            "defaults": {"norm": "none", "activation": "relu"},
            "stages": [
                {"blocks": ["conv5-6 valid", "maxpool"]},
                {"blocks": ["conv5-16 valid", "maxpool"]},
            ],
            "head": {"pool": "flatten", "hidden": [120, 84], "dropout": dropout},
        }
    return {
        "defaults": {"norm": "none", "activation": "lecun_tanh", "kernel_initializer": "glorot_uniform"},
        "stages": [
            {"blocks": ["conv5-6 valid", {"block": "subsampling"}]},  # C1, S2
            {"blocks": [{"block": "table_conv"}, {"block": "subsampling"}]},  # C3, S4
            {"blocks": ["conv5-120 valid"]},  # C5
        ],
        "head": {
            "pool": "flatten",
            "hidden": [84],
            "hidden_activation": "lecun_tanh",
            "dropout": dropout,
        },  # F6, output
    }


register_model(
    "lenet5",
    lenet5,
    family="lenet",
    paper=PAPER,
    input_shape=(32, 32, 1),
    classes=10,
    dataset="MNIST",
    params=60_850,
    published="60,000 trainable parameters without the RBF output layer",
)
