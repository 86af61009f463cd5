"""LeNet-5's own layers as blocks: trainable subsampling and the partially connected C3.

LeCun, Bottou, Bengio & Haffner, "Gradient-Based Learning Applied to Document Recognition",
Proc. IEEE 1998, section II.B and Table I.
"""

from __future__ import annotations

from kerascnn.blocks.core import activation_layer
from kerascnn.layers import ConnectionTableConv2D, Subsampling2D

# Table I: the S2 maps each C3 map reads. Maps 0-5 read three contiguous S2 maps, 6-11 four
# contiguous ones, 12-14 four discontinuous ones, and map 15 all six.
LENET5_C3_TABLE = (
    (0, 1, 2),
    (1, 2, 3),
    (2, 3, 4),
    (3, 4, 5),
    (0, 4, 5),
    (0, 1, 5),
    (0, 1, 2, 3),
    (1, 2, 3, 4),
    (2, 3, 4, 5),
    (0, 3, 4, 5),
    (0, 1, 4, 5),
    (0, 1, 2, 5),
    (0, 1, 3, 4),
    (1, 2, 4, 5),
    (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


def subsampling(x, *, activation: str | None = "lecun_tanh", name: str):
    """S2/S4: add each 2x2 window, scale by a trainable per-map coefficient, add a bias, squash.

    2 parameters per map (S2: 12, S4: 32). Layers: `name` (Subsampling2D), `{name}_act`.
    """
    x = Subsampling2D(2, name=name)(x)
    return activation_layer(x, activation, name=f"{name}_act")


def table_conv(
    x,
    *,
    table: tuple[tuple[int, ...], ...] = LENET5_C3_TABLE,
    kernel_size: int = 5,
    activation: str | None = "lecun_tanh",
    name: str,
):
    """C3: a 5x5 "valid" convolution in which output map j reads only the input maps `table[j]`.

    With the paper's Table I on S2's 14x14x6 output: 10x10x16 and 1,516 parameters (a full
    connection would have 2,416). "The main reason is to keep the number of connections within
    reasonable bounds. More importantly, it forces a break of symmetry in the network."
    Layers: `name` (ConnectionTableConv2D), `{name}_act`.
    """
    x = ConnectionTableConv2D(table, kernel_size=kernel_size, name=name)(x)
    return activation_layer(x, activation, name=f"{name}_act")
