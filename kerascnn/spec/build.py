"""Networks as data: validate a spec completely, then build it as a Keras Functional model.

A spec (a dict, or a TOML/YAML file) has these keys:

    name = "resnet18"                 # the model's name
    input_shape = [224, 224, 3]       # height, width, channels
    [defaults]                        # convolution arguments for every layer (see CONV_ARGS)
    norm = "batch"                    #   "batch" or "none"
    activation = "relu"
    stem = ["conv7-64 s2", "maxpool3 s2 p1"]     # a list of items, or one block table
    [[stages]]                        # repeated block form:
    block = "basic"                   #   a registered block ...
    repeats = 2                       #   ... this many times,
    strides = 1                       #   the first one with this stride,
    filters = 64                      #   and these arguments for each
    [[stages]]                        # or list form:
    blocks = ["conv3-64", "maxpool", {block = "se", ratio = 8}]
    post = ["bn", "relu"]             # optional layers after the last stage (pre-activation nets)
    [head]                            # optional: classifier_head's arguments; omit for a backbone
    classes = 1000

Items in `stem`, `blocks` and `post` are notation strings (see `kerascnn.blocks.notation`) or block
tables (`{block = "inception", filters = [...], name = "inception3a"}`).

Layer names encode place: the stem's layers start with `stem_`, stage i's with its name (`stage{i}` by
default), the head's with `head_`. Items are named `{stage}_{kind}{n}` (`stage1_conv2`,
`stage2_block1`) unless given a `name`, which must then be the stage's name or start with it and an
underscore. A layer's stage is therefore the text before the first underscore of its name
(`stage_of`), one rule that freezing, `unfreeze = K`, fine-tuning phases, `trainable_report` and
feature extraction all read; stage names may not contain an underscore themselves.

Validation checks every key, type, notation item, block argument and name before any layer exists.
Value errors that only show while building (a feature map that vanishes, groups that do not divide
the channels) are reported with the stage, the item and its line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras

from kerascnn.backend.internals import plain_variable_scopes, recursion_headroom
from kerascnn.blocks import BLOCKS, CONV_ARGS, SIDE_OUTPUTS
from kerascnn.blocks.core import conv_bn_act
from kerascnn.blocks.head import classifier_head
from kerascnn.blocks.notation import LayerSpec, build_layer, parse_layer
from kerascnn.config import ConfigError, Source, check_call, check_keys, check_value, load_document
from kerascnn.config.errors import did_you_mean
from kerascnn.config.validation import accepts_var_kwargs, parameters

TOP_KEYS = ("name", "input_shape", "defaults", "stem", "stages", "post", "head")
STAGE_KEYS = ("name", "block", "repeats", "blocks")  # the rest of a repeated stage: block arguments
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_STAGE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_VANISH = ("would be zero or negative", "negative dimension", "Negative dimension")


@dataclass
class Item:
    """One thing to build: a notation layer or a block call, with where it came from."""

    path: tuple
    name: str
    layer: LayerSpec | None = None
    block: str | None = None
    kwargs: dict = field(default_factory=dict)

    @property
    def side_output(self) -> bool:
        return self.block in SIDE_OUTPUTS


@dataclass
class Plan:
    """A validated spec: everything needed to build, nothing left to check but runtime shapes."""

    name: str
    input_shape: tuple
    defaults: dict
    stages: list[tuple[str, list[Item]]]  # ("stem", ...), ("stage1", ...), ..., ("post", ...)
    head: dict | None
    source: Source


def load_spec(spec: dict | str | Path) -> tuple[dict, Source]:
    """A spec dict and its `Source` from a dict or a `.toml`/`.yaml` path."""
    if isinstance(spec, (str, Path)):
        return load_document(spec)
    if isinstance(spec, dict):
        return spec, Source()
    raise ConfigError(
        f"a spec must be a dict or the path of a .toml/.yaml file. Received: {type(spec).__name__}."
    )


def validate_spec(
    spec: dict | str | Path, *, input_shape=None, classes: int | None = None, name: str | None = None
) -> Plan:
    """Check a whole spec and return its `Plan`; raise `ConfigError` at the first problem.

    `input_shape`, `classes` and `name` override the spec's own values.
    """
    data, source = load_spec(spec)
    check_keys(data, TOP_KEYS, path=(), source=source)
    if "stages" not in data and "stem" not in data:
        raise source.error(
            (),
            "a spec needs `stages` (or at least a `stem`).",
            hint="see kerascnn.spec.build for the format.",
        )
    model_name = name if name is not None else data.get("name", "model")
    model_name = check_value(model_name, str, path=("name",), source=source)
    _check_name(model_name, ("name",), source, what="model name")

    shape = input_shape if input_shape is not None else data.get("input_shape")
    if shape is None:
        raise source.error(
            ("input_shape",),
            "missing: the input's height, width and channels.",
            hint="add input_shape = [224, 224, 3].",
        )
    shape = check_value(shape, tuple[int | None, int | None, int], path=("input_shape",), source=source)
    if any(d is not None and d < 1 for d in shape):
        raise source.error(("input_shape",), f"dimensions must be positive. Received: {list(shape)}.")

    defaults = data.get("defaults", {})
    defaults = check_value(defaults, dict, path=("defaults",), source=source)
    defaults = check_call(
        conv_bn_act,
        defaults,
        path=("defaults",),
        source=source,
        given=[k for k in parameters(conv_bn_act) if k not in CONV_ARGS],
        what="defaults",
    )

    head = None
    if "head" in data and data["head"] is not None:
        head = check_value(data["head"], dict, path=("head",), source=source)
        if classes is not None:
            head = {**head, "classes": classes}
        head = check_call(classifier_head, head, path=("head",), source=source, what="the head")
    elif classes is not None:
        head = {"classes": classes}

    names: dict[str, tuple] = {}
    stages: list[tuple[str, list[Item]]] = []
    if "stem" in data:
        stages.append(
            ("stem", _items(data["stem"], "stem", ("stem",), source, names, head, single_name="stem"))
        )
    raw_stages = check_value(data.get("stages", []), list, path=("stages",), source=source)
    for i, raw in enumerate(raw_stages):
        path = ("stages", i)
        raw = check_value(raw, dict, path=path, source=source)
        stage_name = check_value(
            raw.get("name", f"stage{i + 1}"), str, path=path + ("name",), source=source
        )
        _check_stage_name(stage_name, path + ("name",), source)
        if stage_name in ("stem", "post", "head") or any(stage_name == s for s, _ in stages):
            raise source.error(path + ("name",), f"stage name {stage_name!r} is already used.")
        stages.append((stage_name, _stage(raw, stage_name, path, source, names, head)))
    if "post" in data:
        stages.append(("post", _items(data["post"], "post", ("post",), source, names, head)))
    return Plan(
        name=model_name,
        input_shape=tuple(shape),
        defaults=defaults,
        stages=stages,
        head=head,
        source=source,
    )


def build_from_spec(
    spec: dict | str | Path, *, input_shape=None, classes: int | None = None, name: str | None = None
):
    """Build a `keras.Model` from a spec dict or a `.toml`/`.yaml` file.

    The whole spec is validated first (see `validate_spec`). A spec with side-output blocks (GoogLeNet's
    auxiliary classifiers) gives a model with several outputs: the main one first, then each side
    output in order.

    Raises:
        ConfigError: anything wrong with the spec, located by key path, file and line.
    """
    plan = validate_spec(spec, input_shape=input_shape, classes=classes, name=name)
    return build_plan(plan)


@dataclass
class Graph:
    """The tensors of a built plan: what the zoo needs to choose a model's outputs."""

    inputs: Any
    stage_outputs: dict[str, Any]  # "stem", "stage1", ..., "post" -> the stage's last tensor
    side_outputs: list
    output: Any  # the head's output, or the last stage's when there is no head


def assemble(plan: Plan) -> Graph:
    """Create every layer of a validated `Plan` on a new `keras.Input`."""
    inputs = keras.Input(shape=plan.input_shape, name="input")
    x = inputs
    stage_outputs, side_outputs = {}, []
    with plain_variable_scopes():  # a third faster on TensorFlow (kerascnn.backend.internals)
        for stage, items in plan.stages:
            for item in items:
                y = _build_item(x, item, stage, plan)
                if item.side_output:
                    side_outputs.append(y)
                else:
                    x = y
            stage_outputs[stage] = x
        if plan.head is not None:
            x = _guard(
                lambda: classifier_head(x, name="head", **plan.head), x, ("head",), "head", "head", plan
            )
    return Graph(inputs=inputs, stage_outputs=stage_outputs, side_outputs=side_outputs, output=x)


def build_plan(plan: Plan):
    """Build the Functional model of a validated `Plan` (side outputs after the main one)."""
    graph = assemble(plan)
    outputs = [graph.output, *graph.side_outputs] if graph.side_outputs else graph.output
    with recursion_headroom():
        return keras.Model(graph.inputs, outputs, name=plan.name)


# --- validation -------------------------------------------------------------------------------------


def _stage(raw: dict, stage: str, path: tuple, source: Source, names: dict, head) -> list[Item]:
    if ("block" in raw) == ("blocks" in raw):
        raise source.error(
            path,
            "a stage needs either `block` (with `repeats`) or a `blocks` list, "
            "not both and not neither.",
        )
    if "blocks" in raw:
        check_keys(
            raw, ("name", "blocks"), path=path, source=source, owner="a stage with a `blocks` list"
        )
        return _items(raw["blocks"], stage, path + ("blocks",), source, names, head)
    block = _block_fn(raw["block"], path + ("block",), source)
    repeats = check_value(raw.get("repeats", 1), int, path=path + ("repeats",), source=source)
    if repeats < 1:
        raise source.error(path + ("repeats",), f"must be at least 1. Received: {repeats}.")
    kwargs = {k: v for k, v in raw.items() if k not in STAGE_KEYS}
    kwargs = _check_block_args(raw["block"], block, kwargs, path, source, head, name=f"{stage}_block1")
    first = kwargs
    rest = {k: v for k, v in kwargs.items() if k != "strides"}
    items = []
    for j in range(1, repeats + 1):
        name = f"{stage}_block{j}"
        _claim(name, path, source, names)
        items.append(Item(path=path, name=name, block=raw["block"], kwargs=first if j == 1 else rest))
    return items


def _items(
    raw, stage: str, path: tuple, source: Source, names: dict, head, single_name: str | None = None
) -> list[Item]:
    """A list of notation strings and block tables (or, for the stem, a single block table)."""
    if isinstance(raw, dict) and single_name:
        return [_block_item(raw, stage, path, source, names, head, default_name=single_name)]
    raw = check_value(raw, list, path=path, source=source)
    counts: dict[str, int] = {}
    items = []
    for i, entry in enumerate(raw):
        item_path = path + (i,)
        if isinstance(entry, str):
            try:
                layer = parse_layer(entry)
            except ValueError as e:
                raise source.error(item_path, str(e), value=entry) from None
            counts[layer.name_kind] = counts.get(layer.name_kind, 0) + 1
            name = f"{stage}_{layer.name_kind}{counts[layer.name_kind]}"
            _claim(name, item_path, source, names)
            items.append(Item(path=item_path, name=name, layer=layer))
        elif isinstance(entry, dict):
            counts["block"] = counts.get("block", 0) + 1
            items.append(
                _block_item(
                    entry,
                    stage,
                    item_path,
                    source,
                    names,
                    head,
                    default_name=f"{stage}_block{counts['block']}",
                )
            )
        else:
            raise source.error(
                item_path,
                f"expected a layer string such as 'conv3-64' or a block table. Received: {entry!r}.",
            )
    return items


def _block_item(
    raw: dict, stage: str, path: tuple, source: Source, names: dict, head, default_name: str
) -> Item:
    if "block" not in raw:
        raise source.error(
            path,
            "a block table needs `block`, the block's registered name.",
            hint="registered blocks: " + ", ".join(sorted(BLOCKS)) + ".",
        )
    fn = _block_fn(raw["block"], path + ("block",), source)
    name = raw.get("name", default_name)
    name = check_value(name, str, path=path + ("name",), source=source)
    _check_name(name, path + ("name",), source, what="block name")
    if name != default_name and stage_of(name) != stage:
        raise source.error(
            path + ("name",),
            f"block name {name!r} must be its stage's name "
            f"{stage!r} or start with '{stage}_', so that the "
            f"stage's layers are read back as the stage's.",
            hint=f"use e.g. '{stage}_{name}'.",
        )
    _claim(name, path, source, names)
    kwargs = {k: v for k, v in raw.items() if k not in ("block", "name")}
    kwargs = _check_block_args(raw["block"], fn, kwargs, path, source, head, name)
    return Item(path=path, name=name, block=raw["block"], kwargs=kwargs)


def _check_block_args(block_name, fn, kwargs, path, source, head, name):
    extra = None
    if accepts_var_kwargs(fn):
        extra = {k: p for k, p in parameters(conv_bn_act).items() if k in CONV_ARGS}
    given = []
    if block_name in SIDE_OUTPUTS and head is not None:
        given.append("classes")  # side classifiers default to the head's classes
    checked = check_call(
        fn, kwargs, path=path, source=source, extra=extra, given=given, what=f"block {block_name!r}"
    )
    check = getattr(fn, "check_args", None)
    if check is not None:  # what annotations cannot say (a branch list's notation, say)
        try:
            check(name=name, **checked)
        except ValueError as e:
            key = next((k for k in checked if k in str(e)), None)  # the argument it is about
            raise source.error(
                path + ((key,) if key else ()), str(e), value=getattr(e, "item", None)
            ) from None
    return checked


def _block_fn(block, path, source):
    block = check_value(block, str, path=path, source=source)
    if block not in BLOCKS:
        raise source.error(
            path,
            f"unknown block {block!r}.",
            hint=did_you_mean(block, BLOCKS) or "registered blocks: " + ", ".join(sorted(BLOCKS)) + ".",
        )
    return BLOCKS[block]


def _check_name(name, path, source, what):
    if not _NAME.match(name):
        raise source.error(path, f"{what} {name!r} must be an identifier (letters, digits, '_').")


def stage_of(layer_name: str) -> str:
    """The stage a layer belongs to: the text before the first underscore of its name
    (`stage3_block2_conv1` -> `stage3`, `inception4a_b2_reduce` -> `inception4a`, `head_logits` ->
    `head`). Specs guarantee it (stage names have no underscore; every item is named
    `{stage}_...`); for keras.applications' names it gives their block groups (`conv4`)."""
    return layer_name.split("_", 1)[0]


def _check_stage_name(name, path, source):
    if not isinstance(name, str) or not _STAGE_NAME.match(name):
        if isinstance(name, str) and "_" in name and _NAME.match(name):
            raise source.error(
                path,
                (
                    f"stage name {name!r} contains '_'. Layer names are '<stage>_<item>' and "
                    f"freezing, `unfreeze`, fine-tuning phases and trainable_report read a layer's "
                    f"stage as the text before its first underscore, so {name!r}'s layers would be "
                    f"read as stage {stage_of(name)!r}."
                ),
                hint=f"name it without underscores, e.g. {name.replace('_', '')!r}.",
            )
        raise source.error(
            path, f"stage name {name!r} must be letters and digits, starting with a letter."
        )


def _claim(name: str, path: tuple, source: Source, names: dict) -> None:
    if name in names:
        first = source.line_of(names[name])
        where = f" (first used on line {first})" if first else ""
        raise source.error(path, f"the name {name!r} is used twice{where}; layer names must be unique.")
    names[name] = path


# --- building ---------------------------------------------------------------------------------------


def _build_item(x, item: Item, stage: str, plan: Plan):
    if item.layer is not None:
        return _guard(
            lambda: build_layer(x, item.layer, name=item.name, defaults=plan.defaults),
            x,
            item.path,
            stage,
            item.name,
            plan,
        )
    fn = BLOCKS[item.block]
    accepted = parameters(fn)
    var_kwargs = accepts_var_kwargs(fn)
    kwargs = {k: v for k, v in plan.defaults.items() if var_kwargs or k in accepted}
    if item.side_output and "classes" not in item.kwargs and plan.head is not None:
        kwargs["classes"] = plan.head["classes"]
    kwargs.update(item.kwargs)
    return _guard(lambda: fn(x, name=item.name, **kwargs), x, item.path, stage, item.name, plan)


def _guard(build, x, path, stage, item_name, plan: Plan):
    """Run one item's build; turn a failure into a ConfigError that says where and why."""
    try:
        y = build()
    except ConfigError:
        raise
    except (ValueError, TypeError) as e:
        message = str(e).split("\n\nArguments received")[0].strip()
        if any(marker in message for marker in _VANISH):
            raise plan.source.error(path, _too_small(plan, stage, item_name, x)) from None
        raise plan.source.error(
            path, f"cannot build '{item_name}' in stage '{stage}': {_plain(message)}"
        ) from None
    if len(y.shape) == 4 and any(d is not None and d < 1 for d in y.shape[1:3]):
        raise plan.source.error(path, _too_small(plan, stage, item_name, x))
    return y


def _too_small(plan: Plan, stage: str, item_name: str, x) -> str:
    h, w, _ = plan.input_shape
    got = "x".join(str(d) for d in x.shape[1:])
    return (
        f"the input {h}x{w} is too small for this network: the feature map vanishes in stage "
        f"'{stage}' at '{item_name}', which receives a {got} map. Use a larger input_shape or "
        f"remove a downsampling layer."
    )


def _plain(message: str) -> str:
    """Keras messages carry ANSI colour codes in some versions; drop them."""
    return re.sub(r"\x1b\[[0-9;]*m", "", message)
