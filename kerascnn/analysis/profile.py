"""`profile(model)`: one row per layer call with shapes, parameters, multiply-adds, activation memory and
receptive field, and the totals the classic-CNN tables argue with.

The model's graph is re-traced symbolically (every layer's `compute_output_spec`, nothing runs), with
the batch size set, in the order the building code reads (see `_reading_order`), so any Functional
or Sequential Keras model can be profiled, nested models are
expanded (`backbone/conv1`), a shared layer gets one row per call (its weights counted once), and a
model built for any input size can be profiled at a concrete one (`input_shape=`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import keras
from keras import tree

from kerascnn.analysis.costs import find_rule
from kerascnn.analysis.result import LayerProfile, Profile, positive_int
from kerascnn.backend.internals import producing_layer, producing_node


def profile(model, *, batch_size: int = 1, input_shape: Sequence[int | None] | None = None) -> Profile:
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
    batch_size = positive_int(batch_size, "batch_size")
    graph = _graph_of(model)
    if graph is None:
        raise ValueError(
            f"`profile` reads a Functional or Sequential model's graph; "
            f"{type(model).__name__!r} is not one (a subclassed model has no graph to "
            f"read). Build it with keras.Model(inputs, outputs)."
        )
    shapes = [tuple(t.shape[1:]) for t in graph.inputs]
    if input_shape is not None:
        if len(shapes) != 1:
            raise ValueError(
                f"`input_shape` applies to a model with one input; {model.name!r} has {len(shapes)}."
            )
        given = tuple(input_shape)
        if len(given) != len(shapes[0]) or any(
            not isinstance(d, int) or isinstance(d, bool) or d < 1 for d in given
        ):
            raise ValueError(
                f"`input_shape` must be {len(shapes[0])} positive integers (no batch "
                f"dimension). Received: input_shape={input_shape!r}"
            )
        shapes = [given]
    for t, shape in zip(graph.inputs, shapes):
        if any(d is None for d in shape):
            raise ValueError(
                f"input {_input_name(t)!r} of {model.name!r} has shape {(None, *shape)}; "
                f"profile needs every dimension: pass input_shape=(224, 224, 3) or "
                f"the size you use."
            )
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
            self._row(_input_name(t), "InputLayer", [tensor], 0, 0, 0, 0, inplace=False)
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
        self._row(
            name,
            type(layer).__name__,
            outputs,
            trainable,
            non_trainable,
            param_bytes,
            None if cost is None else int(cost.macs),
            inplace=cost is not None and cost.inplace,
        )
        return outputs

    def _remember(self, tensor, state):
        self.rf[id(tensor)] = state
        self.alive.append(tensor)

    def _row(self, name, kind, outputs, trainable, non_trainable, param_bytes, macs, *, inplace):
        state = self.rf.get(id(outputs[0]))
        local = isinstance(state, _RF)
        self.rows.append(
            LayerProfile(
                name=name,
                type=kind,
                output_shapes=tuple(tuple(t.shape) for t in outputs),
                trainable_params=trainable,
                non_trainable_params=non_trainable,
                param_bytes=param_bytes,
                macs=macs,
                activations=sum(math.prod(t.shape) for t in outputs),
                activation_bytes=sum(math.prod(t.shape) * _itemsize(t.dtype) for t in outputs),
                inplace=inplace,
                receptive_field=state.size if local else None,
                stride=state.jump if local else None,
            )
        )


def _reading_order(graph) -> list:
    """The graph's layer calls in the order its code reads: depth-first from the outputs, each
    merge's inputs in argument order, so an inception module lists branch 1, then branch 2's
    reduction and convolution, ..., then the concatenation (Keras' own order groups by depth)."""
    stop = {id(t) for t in graph.inputs}

    order, done = [], set()
    stack = [(producing_node(t), False) for t in reversed(graph.outputs) if id(t) not in stop]
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
            if id(t) not in stop and id(producing_node(t)) not in done:
                stack.append((producing_node(t), False))
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
    layer = producing_layer(tensor)
    return getattr(layer, "name", None) or getattr(tensor, "name", None) or "input"


def _itemsize(dtype) -> int:
    name = keras.backend.standardize_dtype(dtype)
    if name == "bool":
        return 1
    bits = re.search(r"(\d+)$", name)
    return int(bits.group(1)) // 8 if bits else 4
