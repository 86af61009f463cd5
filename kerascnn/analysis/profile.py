"""`profile(model)`: one row per layer call with shapes, parameters, multiply-adds, activation memory and
receptive field, and the totals the classic-CNN tables argue with.

The model's graph is re-traced symbolically (every layer's `compute_output_spec`, nothing runs), with
the batch size set, in the order the building code reads (see `_reading_order`), so any Functional or Sequential Keras model can be profiled, nested models are
expanded (`backbone/conv1`), a shared layer gets one row per call (its weights counted once), and a
model built for any input size can be profiled at a concrete one (`input_shape=`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import keras
from keras import tree

from kerascnn.analysis.costs import CONVENTION, find_rule

# Optimizer state per trainable parameter, in parameter-sized slots.
OPTIMIZER_SLOTS = {"sgd": 0, "momentum": 1, "nesterov": 1, "rmsprop": 1, "adagrad": 1,
                   "adadelta": 2, "adam": 2, "adamw": 2, "nadam": 2, "adamax": 2, "lion": 1}


@dataclass(frozen=True)
class LayerProfile:
    """One layer call.

    Attributes:
        name: the layer's name, prefixed by the enclosing models' (`backbone/conv1`); a shared layer's
            later calls are `name (call 2)`, ...
        type: the layer class name.
        output_shapes: the shape of each output, batch dimension included.
        trainable_params, non_trainable_params: weights first seen at this call (a shared layer's
            later calls and tied weights count 0).
        param_bytes: their size in bytes.
        macs: multiply-adds for the batch (see `costs.CONVENTION`); None when the layer type has no
            rule, so it is not counted (never a silent zero).
        activations: output values for the batch.
        activation_bytes: their size in bytes (the output dtype: 2 for float16/bfloat16).
        inplace: the layer can overwrite or view its input (activations, dropout, flatten), so the
            totals do not count its output again (see `Profile.activations`).
        receptive_field: input pixels one output position sees, per spatial axis; None where it is
            not defined (no spatial axes, global pooling, flatten, unknown layers).
        stride: the output's step in input pixels per spatial axis (the product of the strides so far).
    """

    name: str
    type: str
    output_shapes: tuple[tuple[int, ...], ...]
    trainable_params: int
    non_trainable_params: int
    param_bytes: int
    macs: int | None
    activations: int
    activation_bytes: int
    inplace: bool = False
    receptive_field: tuple[int, ...] | None = None
    stride: tuple[int, ...] | None = None

    @property
    def params(self) -> int:
        return self.trainable_params + self.non_trainable_params

    @property
    def output_shape(self) -> tuple[int, ...]:
        """The first (usually only) output's shape."""
        return self.output_shapes[0]


@dataclass(frozen=True)
class TrainingMemory:
    """Bytes a training step holds, as the lecture tables estimate it (an upper estimate: frameworks
    free or fuse some of it): weights, their gradients, the optimizer's slots, every layer's output
    and the gradient of every layer's output."""

    weights: int
    gradients: int
    optimizer_state: int
    activations: int
    activation_gradients: int

    @property
    def total(self) -> int:
        return (self.weights + self.gradients + self.optimizer_state + self.activations
                + self.activation_gradients)

    def to_dict(self) -> dict:
        return {**asdict(self), "total": self.total}


@dataclass(frozen=True)
class Profile:
    """The rows of `profile(model)` and their totals (see `LayerProfile`)."""

    model_name: str
    batch_size: int
    rows: tuple[LayerProfile, ...]
    convention: str = field(default=CONVENTION, repr=False)

    @property
    def trainable_params(self) -> int:
        return sum(r.trainable_params for r in self.rows)

    @property
    def non_trainable_params(self) -> int:
        return sum(r.non_trainable_params for r in self.rows)

    @property
    def params(self) -> int:
        return self.trainable_params + self.non_trainable_params

    @property
    def param_bytes(self) -> int:
        return sum(r.param_bytes for r in self.rows)

    @property
    def macs(self) -> int:
        """Multiply-adds of the counted layers, for the batch."""
        return sum(r.macs for r in self.rows if r.macs is not None)

    @property
    def activations(self) -> int:
        """Output values for the batch, the input included, counted as the lecture tables count
        them: a layer that can work in place (a ReLU after a convolution, dropout, flatten) adds
        nothing, so VGG16 holds 15.2M values per image. Keras without XLA fusion materialises the
        in-place rows too: add `r.activations` of the rows with `r.inplace` for that figure."""
        return sum(r.activations for r in self.rows if not r.inplace)

    @property
    def activation_bytes(self) -> int:
        return sum(r.activation_bytes for r in self.rows if not r.inplace)

    @property
    def not_counted(self) -> list[str]:
        """Rows whose layer type has no multiply-add rule (see `costs.register_cost`)."""
        return [r.name for r in self.rows if r.macs is None]

    def __getitem__(self, name: str) -> LayerProfile:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(f"no layer named {name!r} in the profile of {self.model_name!r}.")

    def select(self, *types: str) -> list[LayerProfile]:
        """The rows of the given layer types, e.g. `select("Conv2D", "Dense")`."""
        return [r for r in self.rows if r.type in types]

    def training_memory(self, optimizer: str | int = "momentum",
                        batch_size: int | None = None) -> TrainingMemory:
        """Bytes for one training step: weights + gradients + optimizer slots + activations and their
        gradients (for `batch_size` images; default the profile's).

        Args:
            optimizer: a name (`OPTIMIZER_SLOTS`: "sgd" 0 slots, "momentum" 1, "adam" 2, ...) or the
                number of parameter-sized slots it keeps.
        """
        if isinstance(optimizer, str):
            if optimizer.lower() not in OPTIMIZER_SLOTS:
                raise ValueError(f"unknown optimizer {optimizer!r}. Known: "
                                 f"{', '.join(OPTIMIZER_SLOTS)}, or give the number of slots.")
            slots = OPTIMIZER_SLOTS[optimizer.lower()]
        elif isinstance(optimizer, int) and not isinstance(optimizer, bool) and optimizer >= 0:
            slots = optimizer
        else:
            raise ValueError(f"`optimizer` must be a name or a number of slots. "
                             f"Received: {optimizer!r}")
        batch = self.batch_size if batch_size is None else _positive(batch_size, "batch_size")
        per_param = self.param_bytes / self.params if self.params else 4
        trainable_bytes = round(self.trainable_params * per_param)
        forward = self.activation_bytes * batch // self.batch_size
        return TrainingMemory(weights=self.param_bytes, gradients=trainable_bytes,
                              optimizer_state=slots * trainable_bytes, activations=forward,
                              activation_gradients=forward)

    def totals(self) -> dict:
        return {"params": self.params, "trainable_params": self.trainable_params,
                "non_trainable_params": self.non_trainable_params,
                "param_bytes": self.param_bytes, "macs": self.macs,
                "activations": self.activations, "activation_bytes": self.activation_bytes}

    def to_dict(self) -> dict:
        """Everything, JSON-ready: the totals, `not_counted`, the convention and a `layers` list."""
        layers = []
        for r in self.rows:
            row = asdict(r)
            row["output_shapes"] = [list(s) for s in r.output_shapes]
            for key in ("receptive_field", "stride"):
                row[key] = list(row[key]) if row[key] is not None else None
            layers.append(row)
        return {"model": self.model_name, "batch_size": self.batch_size, **self.totals(),
                "not_counted": self.not_counted, "convention": self.convention,
                "training_memory": self.training_memory().to_dict(), "layers": layers}

    def __str__(self) -> str:
        from kerascnn.analysis.report import text_table

        return text_table(self)

    def _repr_markdown_(self) -> str:
        """The per-layer table and the totals, as a notebook shows a profile."""
        from kerascnn.analysis.report import to_markdown

        return to_markdown(self)


def profile(model, *, batch_size: int = 1, input_shape: Sequence[int | None] | None = None
            ) -> Profile:
    """Profile a Functional or Sequential Keras model layer by layer (nothing is executed).

    Args:
        model: any built Functional or Sequential model (a kerascnn model, a keras.applications one,
            your own); nested models are expanded, shared layers get a row per call.
        batch_size: images per batch; multiply-adds and activations are for the whole batch.
        input_shape: profile at this input shape (without the batch dimension) instead of the
            model's own, e.g. a fully convolutional backbone built for `(None, None, 3)`. Only for a
            model with one input.

    Returns:
        A `Profile`: `rows`, and totals `params`, `macs`, `activations`, `activation_bytes`,
        `training_memory(...)`, `not_counted`.

    Raises:
        ValueError: not a Functional/Sequential model, a bad batch size or input shape, or an input
            dimension left unknown.
    """
    batch_size = _positive(batch_size, "batch_size")
    graph = _graph_of(model)
    if graph is None:
        raise ValueError(f"`profile` reads a Functional or Sequential model's graph; "
                         f"{type(model).__name__!r} is not one (a subclassed model has no graph to "
                         f"read). Build it with keras.Model(inputs, outputs).")
    shapes = [tuple(t.shape[1:]) for t in graph.inputs]
    if input_shape is not None:
        if len(shapes) != 1:
            raise ValueError(f"`input_shape` applies to a model with one input; {model.name!r} "
                             f"has {len(shapes)}.")
        given = tuple(input_shape)
        if len(given) != len(shapes[0]) or any(
                not isinstance(d, int) or isinstance(d, bool) or d < 1 for d in given):
            raise ValueError(f"`input_shape` must be {len(shapes[0])} positive integers (no batch "
                             f"dimension). Received: input_shape={input_shape!r}")
        shapes = [given]
    for t, shape in zip(graph.inputs, shapes):
        if any(d is None for d in shape):
            raise ValueError(f"input {_input_name(t)!r} of {model.name!r} has shape {(None, *shape)}; "
                             f"profile needs every dimension: pass input_shape=(224, 224, 3) or "
                             f"the size you use.")
    return _Walker(batch_size).run(model, graph, shapes)


class _RF:
    """Receptive field of a tensor: size and stride per spatial axis, in input pixels."""

    __slots__ = ("size", "jump")

    def __init__(self, size, jump):
        self.size = tuple(size)
        self.jump = tuple(jump)


GLOBAL = "global"  # every position sees the whole input


class _Walker:
    def __init__(self, batch_size: int):
        self.batch_size = batch_size
        self.rows: list[LayerProfile] = []
        self.rf: dict[int, object] = {}  # id(tensor) -> _RF | GLOBAL | None (unknown)
        self.alive: list = []  # keeps the ids above valid
        self.seen_weights: set[int] = set()
        self.calls: dict[str, int] = {}

    def run(self, model, graph, shapes) -> Profile:
        inputs = []
        for t, shape in zip(graph.inputs, shapes):
            tensor = keras.KerasTensor((self.batch_size, *shape), dtype=t.dtype)
            rank = len(shape) - 1
            self._remember(tensor, _RF((1,) * rank, (1,) * rank) if rank > 0 else GLOBAL)
            self._row(_input_name(t), "InputLayer", [tensor], 0, 0, 0, 0,
                      inplace=False)
            inputs.append(tensor)
        self._walk(graph, inputs, prefix="")
        return Profile(model_name=model.name, batch_size=self.batch_size, rows=tuple(self.rows))

    def _walk(self, graph, inputs, prefix):
        tensors = {id(x): y for x, y in zip(graph.inputs, inputs)}
        for node in _reading_order(graph):
            args, kwargs = node.arguments.fill_in(tensors)
            inner = _graph_of(node.operation)
            if inner is not None:  # a nested model: expand it
                flat = [t for t in tree.flatten((args, kwargs)) if isinstance(t, keras.KerasTensor)]
                outputs = self._walk(inner, flat, prefix=f"{prefix}{node.operation.name}/")
            else:
                outputs = self._layer(node.operation, args, kwargs, prefix)
            for x, y in zip(node.outputs, outputs):
                tensors[id(x)] = y
        return [tensors[id(x)] for x in graph.outputs]

    def _layer(self, layer, args, kwargs, prefix):
        inputs = [t for t in tree.flatten((args, kwargs)) if isinstance(t, keras.KerasTensor)]
        outputs = tree.flatten(layer.compute_output_spec(*args, **kwargs))
        rule = find_rule(layer)
        cost = rule(layer, inputs, outputs) if rule is not None else None
        state = _propagate(cost, [self.rf.get(id(t)) for t in inputs])
        for t in outputs:
            self._remember(t, state if len(t.shape) > 2 else GLOBAL)

        trainable = non_trainable = param_bytes = 0
        fresh = {id(w) for w in layer.trainable_weights}
        for w in layer.weights:
            if id(w) in self.seen_weights:
                continue
            self.seen_weights.add(id(w))
            count = math.prod(w.shape)
            param_bytes += count * _itemsize(w.dtype)
            if id(w) in fresh:
                trainable += count
            else:
                non_trainable += count
        name = prefix + layer.name
        self.calls[name] = self.calls.get(name, 0) + 1
        if self.calls[name] > 1:
            name = f"{name} (call {self.calls[name]})"
        self._row(name, type(layer).__name__, outputs, trainable, non_trainable, param_bytes,
                  None if cost is None else int(cost.macs),
                  inplace=cost is not None and cost.inplace)
        return outputs

    def _remember(self, tensor, state):
        self.rf[id(tensor)] = state
        self.alive.append(tensor)

    def _row(self, name, kind, outputs, trainable, non_trainable, param_bytes, macs, *, inplace):
        state = self.rf.get(id(outputs[0]))
        local = isinstance(state, _RF)
        self.rows.append(LayerProfile(
            name=name, type=kind, output_shapes=tuple(tuple(t.shape) for t in outputs),
            trainable_params=trainable, non_trainable_params=non_trainable,
            param_bytes=param_bytes, macs=macs,
            activations=sum(math.prod(t.shape) for t in outputs),
            activation_bytes=sum(math.prod(t.shape) * _itemsize(t.dtype) for t in outputs),
            inplace=inplace,
            receptive_field=state.size if local else None, stride=state.jump if local else None))


def _reading_order(graph) -> list:
    """The graph's layer calls in the order its code reads: depth-first from the outputs, each
    merge's inputs in argument order, so an inception module lists branch 1, then branch 2's
    reduction and convolution, ..., then the concatenation (Keras' own order groups by depth)."""
    stop = {id(t) for t in graph.inputs}

    def producer(tensor):
        operation, node_index, _ = tensor._keras_history
        return operation._inbound_nodes[node_index]

    order, done = [], set()
    stack = [(producer(t), False) for t in reversed(graph.outputs) if id(t) not in stop]
    while stack:
        node, expanded = stack.pop()
        if id(node) in done:
            continue
        if expanded:
            done.add(id(node))
            order.append(node)
            continue
        stack.append((node, True))
        for t in reversed(node.input_tensors):
            if id(t) not in stop and id(producer(t)) not in done:
                stack.append((producer(t), False))
    return [node for node in order if not node.is_input]


def _propagate(cost, states):
    """The output's receptive field from the inputs' (see `costs.Cost.spatial`)."""
    if cost is None or cost.spatial == "unknown" or any(s is None for s in states):
        return None
    if cost.spatial == "global":
        return GLOBAL
    local = [s for s in states if isinstance(s, _RF)]
    if not local:  # a merge of global inputs (an SE gate computed from pooled features)
        return GLOBAL
    if cost.spatial == "keep":  # merges of local paths: the widest; global gates do not count
        size = tuple(max(axis) for axis in zip(*(s.size for s in local)))
        jump = tuple(max(axis) for axis in zip(*(s.jump for s in local)))
        return _RF(size, jump)
    rf = local[0]  # a window
    if len(cost.window) != len(rf.size):
        return None
    size = tuple(r + (k - 1) * j for r, k, j in zip(rf.size, cost.window, rf.jump))
    jump = tuple(j * s for j, s in zip(rf.jump, cost.stride))
    return _RF(size, jump)


def _graph_of(model):
    """The Functional graph of a Functional or built Sequential model, else None."""
    if isinstance(model, keras.Sequential):
        model = getattr(model, "_functional", None)
    if isinstance(model, keras.Model) and hasattr(model, "_nodes_by_depth"):
        return model
    return None


def _input_name(tensor) -> str:
    """The InputLayer's name (`input_layer`, `img`), not the tensor's (`keras_tensor_17`)."""
    history = getattr(tensor, "_keras_history", None)
    operation = getattr(history, "operation", None)
    return getattr(operation, "name", None) or getattr(tensor, "name", None) or "input"


def _itemsize(dtype) -> int:
    name = keras.backend.standardize_dtype(dtype)
    if name == "bool":
        return 1
    bits = re.search(r"(\d+)$", name)
    return int(bits.group(1)) // 8 if bits else 4


def _positive(value, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"`{what}` must be a positive integer. Received: {what}={value!r}")
    return value
