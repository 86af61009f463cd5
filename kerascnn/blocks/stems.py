"""The stems of the seed networks: the first layers, which cut the resolution before the stages.

Plain stacks (LeNet, AlexNet, VGG, NiN, the CIFAR ResNets' single 3x3 conv) need no stem function: the
spec notation writes them directly.
"""

from __future__ import annotations

from kerascnn.blocks.core import conv_bn_act, pool_layer
from kerascnn.layers import LocalResponseNormalization


def resnet_stem(
    x,
    *,
    filters: int = 64,
    kernel_size: int = 7,
    pool: bool = True,
    preact: bool = False,
    pool_padding: int | str = 1,
    name: str,
    **conv_args,
):
    """ResNet's stem (He et al. 2016, Table 1 "conv1" and the 3x3 max-pool of "conv2_x").

    `7x7/2 conv (pad 3) -> BN -> act -> 3x3/2 max-pool (pad 1)`: 224 -> 112 -> 56. DenseNet-121/169/201
    use it with 2k = 64 filters. With `preact=True` the convolution stands alone (with a bias), as in
    pre-activation ResNets, whose first block normalizes. The pooling zero-pads like
    keras.applications and torchvision (harmless after the ReLU); `pool_padding="same"` pools in
    Caffe's ceil mode instead, without padding in front (the SENet authors' models: 112 -> 56 all the
    same, the windows one pixel apart).

    Layers: `{name}_conv` (with `_pad`, `_bn`, `_act`), `{name}_pool` (with `_pad`).
    """
    if preact:
        conv_args = {**conv_args, "norm": None, "activation": None}
    x = conv_bn_act(
        x, filters=filters, kernel_size=kernel_size, strides=2, name=f"{name}_conv", **conv_args
    )
    if pool:
        x = pool_layer(x, kind="max", pool_size=3, strides=2, padding=pool_padding, name=f"{name}_pool")
    return x


def googlenet_stem(x, *, lrn: bool = True, name: str, **conv_args):
    """GoogLeNet's stem (Szegedy et al. 2015, Table 1 and Figure 3), 224 -> 28.

    `conv 7x7/2 (64) -> max-pool 3x3/2 -> LRN -> conv 1x1 (64) -> conv 3x3 (192) -> LRN -> max-pool
    3x3/2`.
    The pools use ceil-mode ("same") as the Caffe original does: 112 -> 56 and 56 -> 28. The LRN layers
    use the Caffe model's constants (size 5, alpha 1e-4 divided by the size as Caffe does, beta 0.75,
    k 1); `lrn=False` drops them, as later BN variants do.

    Layers: `{name}_conv1`, `{name}_pool1`, `{name}_lrn1`, `{name}_conv2`, `{name}_conv3`,
    `{name}_lrn2`, `{name}_pool2`.
    """
    x = conv_bn_act(x, filters=64, kernel_size=7, strides=2, name=f"{name}_conv1", **conv_args)
    x = pool_layer(x, kind="max", pool_size=3, strides=2, padding="same", name=f"{name}_pool1")
    if lrn:
        x = LocalResponseNormalization(5, alpha=1e-4 / 5, beta=0.75, k=1.0, name=f"{name}_lrn1")(x)
    x = conv_bn_act(x, filters=64, kernel_size=1, name=f"{name}_conv2", **conv_args)
    x = conv_bn_act(x, filters=192, kernel_size=3, name=f"{name}_conv3", **conv_args)
    if lrn:
        x = LocalResponseNormalization(5, alpha=1e-4 / 5, beta=0.75, k=1.0, name=f"{name}_lrn2")(x)
    return pool_layer(x, kind="max", pool_size=3, strides=2, padding="same", name=f"{name}_pool2")
