"""Block builders: plain functions `(x, *, ..., name) -> tensor` on the Keras Functional API.

Every layer a block creates is named from its `name` prefix, so freezing, feature extraction and weight
porting can key on names (`stage2_block1_conv1`, `inception3a_b2_reduce`). Channel counts are read from
`x.shape`; blocks validate their arguments and raise `ValueError`s that say what was received.

Specs find blocks by name in `BLOCKS`; `register_block` adds a user's own.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from kerascnn.blocks.attention import ATTENTION, squeeze_excite
from kerascnn.blocks.branches import branches, inception_resnet_block
from kerascnn.blocks.core import (
    CONV_ARGS,
    activation_layer,
    conv_bn_act,
    dropout_layer,
    norm_act,
    pool_layer,
)
from kerascnn.blocks.dense import dense_block, transition
from kerascnn.blocks.head import classifier_head
from kerascnn.blocks.inception import auxiliary_classifier, inception_module, naive_inception_module
from kerascnn.blocks.lenet import LENET5_C3_TABLE, subsampling, table_conv
from kerascnn.blocks.nin import mlpconv
from kerascnn.blocks.residual import basic_block, bottleneck_block
from kerascnn.blocks.stems import googlenet_stem, resnet_stem

BLOCKS: dict[str, Callable] = {
    "conv": conv_bn_act,
    "basic": basic_block,
    "bottleneck": bottleneck_block,
    "inception": inception_module,
    "inception_naive": naive_inception_module,
    "branches": branches,
    "inception_resnet": inception_resnet_block,
    "aux_classifier": auxiliary_classifier,
    "se": squeeze_excite,
    "dense": dense_block,
    "transition": transition,
    "mlpconv": mlpconv,
    "subsampling": subsampling,
    "table_conv": table_conv,
    "resnet_stem": resnet_stem,
    "googlenet_stem": googlenet_stem,
}

# Blocks whose output is an extra model output (a side branch); the main path continues from their input.
SIDE_OUTPUTS: set[str] = {"aux_classifier"}


def register_block(name: str, *, side_output: bool = False, overwrite: bool = False):
    """Decorator: make a block function available to specs as `block = "<name>"`.

    The function must take the input tensor first and keyword-only arguments including `name`;
    annotate its arguments (`filters: int`) and specs validate them before anything is built. A
    function attribute `check_args(name=..., **arguments)` that raises ValueError is called too, for
    checks annotations cannot express.

    Example:
        @kerascnn.register_block("my_block")
        def my_block(x, *, filters: int, name: str):
            return kerascnn.blocks.conv_bn_act(x, filters=filters, name=f"{name}_conv")
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"A block name must be an identifier. Received: {name!r}")

    def decorate(fn: Callable) -> Callable:
        if name in BLOCKS and not overwrite and BLOCKS[name] is not fn:
            raise ValueError(
                f"A block named {name!r} is already registered "
                f"({BLOCKS[name].__module__}.{BLOCKS[name].__name__}); "
                f"pass overwrite=True to replace it."
            )
        params = inspect.signature(fn).parameters
        if "name" not in params or params["name"].kind is not inspect.Parameter.KEYWORD_ONLY:
            raise ValueError(f"Block {fn.__name__}() must take a keyword-only `name` argument.")
        BLOCKS[name] = fn
        if side_output:
            SIDE_OUTPUTS.add(name)
        else:
            SIDE_OUTPUTS.discard(name)
        return fn

    return decorate


__all__ = [
    "ATTENTION",
    "BLOCKS",
    "CONV_ARGS",
    "LENET5_C3_TABLE",
    "SIDE_OUTPUTS",
    "activation_layer",
    "auxiliary_classifier",
    "basic_block",
    "bottleneck_block",
    "branches",
    "classifier_head",
    "conv_bn_act",
    "dense_block",
    "dropout_layer",
    "googlenet_stem",
    "inception_module",
    "inception_resnet_block",
    "mlpconv",
    "naive_inception_module",
    "norm_act",
    "pool_layer",
    "register_block",
    "resnet_stem",
    "squeeze_excite",
    "subsampling",
    "table_conv",
    "transition",
]
