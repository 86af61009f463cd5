"""ResNet and its heirs from one function: a stem, stages of residual blocks, global pooling, a
classifier.

- ResNet-18/34/50/101/152: He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition",
  CVPR 2016, Table 1. Post-activation, projection shortcuts (option B), stride on the bottleneck's first
  1x1 as in the paper and keras.applications (`stride_on="3x3"` gives torchvision's "v1.5"; the parameter
  count is the same). Convolutions have no bias: their BN's shift makes it redundant (keras.applications'
  ResNet50 has biases, hence its 25,636,712 against 25,557,032 here and in torchvision).
- CIFAR ResNet-20/32/44/56/110/1202: the same paper, section 4.2: a 3x3 stem with 16 filters, three
  stages of n basic blocks with 16, 32, 64 filters (depth 6n + 2), parameter-free option-A shortcuts.
- Pre-activation ResNets: He, Zhang, Ren & Sun, "Identity Mappings in Deep Residual Networks", ECCV 2016.
  BN-ReLU before each convolution, a bare convolution in the stem, a final BN-ReLU before pooling; the
  stride on the bottleneck's 3x3 as in the authors' Torch code. CIFAR 164 and 1001 use bottlenecks
  (depth 9n + 2) with 16, 32, 64 base filters.
- Wide ResNets: Zagoruyko & Komodakis, "Wide Residual Networks", BMVC 2016. WRN-28-10 (CIFAR):
  pre-activation basic blocks widened 10x, n = 4: the paper's 4.00% model, without dropout
  (`block_dropout=0.3` between the convolutions gives its 3.89% model). WRN-50-2
  (ImageNet): ResNet-50 with bottlenecks twice as wide inside.
- ResNeXt: Xie, Girshick, Dollar, Tu & He, "Aggregated Residual Transformations for Deep Neural
  Networks", CVPR 2017: grouped 3x3 convolutions of cardinality C and width d ("32x4d"), stride on the
  3x3.
- SE-ResNet / SE-ResNeXt: Hu, Shen & Sun, "Squeeze-and-Excitation Networks", CVPR 2018: an SE module
  (r = 16) on every residual branch before the addition.
"""

from __future__ import annotations

from typing import Literal

from kerascnn.zoo.registry import register_model

RESNET = "He, Zhang, Ren & Sun, Deep Residual Learning for Image Recognition, CVPR 2016"
PREACT = "He, Zhang, Ren & Sun, Identity Mappings in Deep Residual Networks, ECCV 2016"
WRN = "Zagoruyko & Komodakis, Wide Residual Networks, BMVC 2016"
RESNEXT = (
    "Xie, Girshick, Dollar, Tu & He, Aggregated Residual Transformations for Deep Neural "
    "Networks, CVPR 2017"
)
SENET = "Hu, Shen & Sun, Squeeze-and-Excitation Networks, CVPR 2018"


def resnet(
    *,
    block: Literal["basic", "bottleneck"],
    depths: tuple[int, ...],
    widths: tuple[int, ...] = (64, 128, 256, 512),
    stem: Literal["imagenet", "cifar"] = "imagenet",
    stem_pool: Literal["pad", "ceil"] = "pad",
    preact: bool = False,
    shortcut: Literal["A", "B", "C", "none"] = "B",
    stride_on: Literal["1x1", "3x3"] = "1x1",
    downsample: Literal["first", "last"] = "first",
    groups: int = 1,
    base_width: int = 64,
    width_factor: float = 1.0,
    attention: str | None = None,
    attention_args: dict | None = None,
    block_dropout: float = 0.0,
    dropout: float = 0.0,
    drop_path: float = 0.0,
    zero_init_last: bool = False,
) -> dict:
    """A residual network: `depths[i]` blocks of `widths[i]` filters in stage i+1, each stage but the
    first starting with a stride of 2.

    Args:
        block: "basic" (two 3x3) or "bottleneck" (1x1-3x3-1x1, output 4 x width).
        depths: blocks per stage.
        widths: base filters per stage.
        stem: "imagenet" (7x7/2 conv and 3x3/2 max-pool) or "cifar" (one 3x3 conv, 16 filters).
        stem_pool: the ImageNet stem's max-pool: "pad" (padded by 1, as torchvision and
            keras.applications) or "ceil" (Caffe's ceil mode, no padding in front: the SENet
            authors' models, `legacy_seresnet50` in timm).
        preact: pre-activation blocks, bare stem convolution and a final BN-ReLU.
        shortcut: "A" (zero-padding), "B" (projection where shapes change), "C" (always project)
            or "none": the paper's plain network of the same depth, the baseline of its Fig. 4 and
            6 (registered as plain18, plain34, plain20, ..., plain56).
        stride_on: in bottlenecks, the convolution that strides ("1x1": paper, "3x3": v1.5).
        downsample: which block of a stage strides: "first" (the papers; stages 2, 3, ...) or "last"
            (the TF-slim / keras.applications ResNetV2 arrangement: the last block of every stage but
            the last strides, its shortcut a subsampling identity; `kerascnn.port_weights` uses it
            for ResNet50V2/101V2/152V2).
        groups: cardinality of the 3x3 convolutions (ResNeXt).
        base_width: ResNeXt's width per group d.
        width_factor: Wide ResNet's k.
        attention: "se" for SE-ResNets; None or "none" for none (a recipe or search space can
            only write the string).
        attention_args: e.g. `{"ratio": 16}`.
        block_dropout: dropout between a basic block's convolutions (WRN).
        dropout: dropout before the classifier.
        drop_path: stochastic depth (Huang et al., "Deep Networks with Stochastic Depth", ECCV
            2016): the drop probability of the last block's residual branch; block l of L drops
            with `drop_path * l / L`, the paper's linear decay of the survival probability to
            `p_L = 1 - drop_path` (the paper's 0.5 is `drop_path = 0.5`). Inverted scaling at
            training time (`kerascnn.layers.DropPath`); inference is deterministic.
        zero_init_last: each residual branch starts as zero, every block an identity at the start
            (Goyal et al., "Accurate, Large Minibatch SGD", 2017, Sec. 5.1: the last BN's scale).
    """
    if len(depths) != len(widths):
        raise ValueError(
            f"`depths` and `widths` must have one entry per stage. "
            f"Received: depths={tuple(depths)}, widths={tuple(widths)}"
        )
    from kerascnn.blocks.attention import ATTENTION  # keeps kerascnn.zoo free of Keras

    if attention == "none":
        attention = None
    if attention is not None and attention not in ATTENTION:
        raise ValueError(
            f"`attention` must be 'none' or one of {sorted(ATTENTION)}. "
            f"Received: attention={attention!r}"
        )
    args: dict = {"preact": preact, "shortcut": shortcut, "groups": groups, "width_factor": width_factor}
    if attention:
        args.update(attention=attention, attention_args=attention_args or {})
    if zero_init_last:
        args.update(zero_init_last=True)
    if block == "bottleneck":
        args.update(stride_on=stride_on, base_width=base_width)
    elif block_dropout:
        args.update(dropout=block_dropout)
    if stem_pool not in ("pad", "ceil"):
        raise ValueError(f"`stem_pool` must be 'pad' or 'ceil'. Received: stem_pool={stem_pool!r}")
    if stem == "imagenet":
        stem_spec: dict | list = {"block": "resnet_stem", "preact": preact}
        if stem_pool == "ceil":
            stem_spec["pool_padding"] = "same"
    else:
        stem_spec = ["conv3-16 nobn linear" if preact else "conv3-16"]
    spec = {
        "stem": stem_spec,
        "stages": [
            _stage(block, n, w, i, len(depths), downsample, args)
            for i, (n, w) in enumerate(zip(depths, widths))
        ],
        "head": {"pool": "avg", "dropout": dropout},
    }
    if preact:
        spec["post"] = ["bn", "relu"]
    if drop_path:
        _stochastic_depth(spec["stages"], drop_path)
    return spec


def _stochastic_depth(stages: list[dict], drop_path: float) -> None:
    """Block l of L (counted over the whole network) drops its branch with `drop_path * l / L`."""
    if (
        not isinstance(drop_path, (int, float))
        or isinstance(drop_path, bool)
        or not (0 <= drop_path < 1)
    ):
        raise ValueError(f"`drop_path` must be in [0, 1). Received: drop_path={drop_path!r}")
    for stage in stages:  # a stage of repeats becomes its list of blocks, named as before
        if "repeats" in stage:
            repeats = stage["repeats"]
            first = {k: v for k, v in stage.items() if k != "repeats"}
            rest = {**first, "strides": 1}
            stage.clear()
            stage["blocks"] = [first] + [dict(rest) for _ in range(repeats - 1)]
    total = sum(len(stage["blocks"]) for stage in stages)
    index = 0
    for stage in stages:
        for block in stage["blocks"]:
            index += 1
            block["drop_path"] = drop_path * index / total


def _stage(block, repeats, filters, index, count, downsample, args):
    if downsample == "first":
        return {
            "block": block,
            "repeats": repeats,
            "filters": filters,
            "strides": 1 if index == 0 else 2,
            **args,
        }
    last_stride = 2 if index < count - 1 else 1
    return {
        "blocks": [
            {"block": block, "filters": filters, "strides": last_stride if j == repeats else 1, **args}
            for j in range(1, repeats + 1)
        ]
    }


def _register(
    name,
    paper,
    params,
    published,
    *,
    input_shape=(224, 224, 3),
    classes=1000,
    dataset="ImageNet",
    **variant,
):
    register_model(
        name,
        resnet,
        family="resnet",
        paper=paper,
        variant=variant,
        params=params,
        published=published,
        input_shape=input_shape,
        classes=classes,
        dataset=dataset,
    )


_IMAGENET = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
# torchvision's counts (the same architecture without conv biases); Table 1 of the paper lists FLOPs.
_TORCHVISION = {18: 11_689_512, 34: 21_797_672, 50: 25_557_032, 101: 44_549_160, 152: 60_192_808}
_FLOPS = {18: "1.8", 34: "3.6", 50: "3.8", 101: "7.6", 152: "11.3"}

for _depth, (_block, _depths) in _IMAGENET.items():
    _register(
        f"resnet{_depth}",
        RESNET,
        _TORCHVISION[_depth],
        f"Table 1: {_FLOPS[_depth]}x10^9 FLOPs; torchvision resnet{_depth}: "
        f"{_TORCHVISION[_depth]:,} parameters",
        block=_block,
        depths=_depths,
    )

_CIFAR = dict(input_shape=(32, 32, 3), classes=10, dataset="CIFAR-10")
for _depth, _millions, _params in [
    (20, "0.27", 269_722),
    (32, "0.46", 464_154),
    (44, "0.66", 658_586),
    (56, "0.85", 853_018),
    (110, "1.7", 1_727_962),
    (1202, "19.4", 19_421_274),
]:
    _n = (_depth - 2) // 6
    _register(
        f"resnet{_depth}",
        RESNET,
        _params,
        f"Table 6: {_millions}M parameters",
        block="basic",
        depths=(_n,) * 3,
        widths=(16, 32, 64),
        stem="cifar",
        shortcut="A",
        **_CIFAR,
    )

# The plain baselines (section 4.1, Table 2 / Fig. 4 on ImageNet; section 4.2, Fig. 6 on CIFAR-10):
# the same networks with no shortcuts; deeper plain networks train worse, the residual ones do not.
for _depth, _params in [(18, 11_515_688), (34, 21_623_848)]:
    _block, _depths = _IMAGENET[_depth]
    _register(
        f"plain{_depth}",
        RESNET,
        _params,
        f"Table 2: plain-{_depth}, {_FLOPS[_depth]}x10^9 FLOPs like resnet{_depth}; Fig. 4: "
        f"plain-34 trains worse than plain-18",
        block=_block,
        depths=_depths,
        shortcut="none",
    )
for _depth, _params in [(20, 269_722), (32, 464_154), (44, 658_586), (56, 853_018)]:
    _n = (_depth - 2) // 6
    _register(
        f"plain{_depth}",
        RESNET,
        _params,
        "Fig. 6 (left): the deeper the plain network, the higher its training error",
        block="basic",
        depths=(_n,) * 3,
        widths=(16, 32, 64),
        stem="cifar",
        shortcut="none",
        **_CIFAR,
    )

_PREACT_PARAMS = {18: 11_687_784, 34: 21_795_944, 50: 25_549_416, 101: 44_541_544, 152: 60_185_192}
for _depth, (_block, _depths) in _IMAGENET.items():
    _register(
        f"preact_resnet{_depth}",
        PREACT,
        _PREACT_PARAMS[_depth],
        "the ResNet's weights; BN layers sit before the convolutions",
        block=_block,
        depths=_depths,
        preact=True,
        stride_on="3x3",
    )
for _depth, _millions, _params in [(164, "1.7", 1_703_274), (1001, "10.2", 10_327_722)]:
    _n = (_depth - 2) // 9
    _register(
        f"preact_resnet{_depth}",
        PREACT,
        _params,
        f"Table 2: {_millions}M parameters",
        block="bottleneck",
        depths=(_n,) * 3,
        widths=(16, 32, 64),
        stem="cifar",
        preact=True,
        stride_on="3x3",
        **_CIFAR,
    )

_register(
    "wide_resnet28_10",
    WRN,
    36_479_210,
    "Table 4/5: 36.5M parameters",
    block="basic",
    depths=(4, 4, 4),
    widths=(16, 32, 64),
    stem="cifar",
    preact=True,
    width_factor=10.0,
    **_CIFAR,
)
_register(
    "wide_resnet50_2",
    WRN,
    68_883_240,
    "torchvision wide_resnet50_2: 68,883,240 parameters",
    block="bottleneck",
    depths=(3, 4, 6, 3),
    width_factor=2.0,
    stride_on="3x3",
)
_register(
    "resnext50_32x4d",
    RESNEXT,
    25_028_904,
    "Table 1: 25.0M parameters; torchvision: 25,028,904",
    block="bottleneck",
    depths=(3, 4, 6, 3),
    groups=32,
    base_width=4,
    stride_on="3x3",
)
_register(
    "resnext101_32x8d",
    RESNEXT,
    88_791_336,
    "torchvision resnext101_32x8d: 88,791,336",
    block="bottleneck",
    depths=(3, 4, 23, 3),
    groups=32,
    base_width=8,
    stride_on="3x3",
)
_register(
    "se_resnet50",
    SENET,
    28_088_024,
    "Table 2: 28.1M parameters (3.87 GFLOPs)",
    block="bottleneck",
    depths=(3, 4, 6, 3),
    attention="se",
)
_register(
    "se_resnet101",
    SENET,
    49_326_872,
    "Table 2: 49.3M parameters (7.60 GFLOPs)",
    block="bottleneck",
    depths=(3, 4, 23, 3),
    attention="se",
)
_register(
    "se_resnext50_32x4d",
    SENET,
    27_559_896,
    "Table 2: 27.6M parameters (4.25 GFLOPs)",
    block="bottleneck",
    depths=(3, 4, 6, 3),
    groups=32,
    base_width=4,
    stride_on="3x3",
    attention="se",
)
