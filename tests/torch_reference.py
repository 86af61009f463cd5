"""An independent PyTorch (float64) twin of a Keras Functional model's training-mode forward pass.

`TorchTwin(model)` reads each layer's config and the current values of its variables, and computes
what the layer's documented semantics say, with torch: no Keras code runs in the forward pass. The
twin's parameters are torch leaves (one per `model.trainable_weights` entry, in that order, Keras
shapes), so a test can train the same network in PyTorch from the same initial weights and compare
outputs, gradients and updates with Keras'.

Training mode: BatchNormalization normalizes with the batch's mean and biased variance (a frozen one,
`trainable=False`, uses its moving statistics, as Keras 3 does); Dropout and DropPath must have rate
0 (their random masks cannot be mirrored). Moving statistics are not updated. Tensors stay in Keras'
NHWC layout; convolutions and pools permute to torch's NCHW and back.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["TorchTwin"]

DTYPE = torch.float64


def _lecun_tanh(x):
    """LeNet-5's squashing function 1.7159 * tanh(2x / 3)."""
    return 1.7159 * torch.tanh(x * (2.0 / 3.0))


ACTIVATIONS = {
    "linear": lambda x: x,
    "relu": torch.relu,
    "relu6": lambda x: torch.clamp(x, 0.0, 6.0),
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softmax": lambda x: torch.softmax(x, dim=-1),
    "silu": F.silu,
    "swish": F.silu,
    "elu": F.elu,
    "softplus": F.softplus,
    "lecun_tanh": _lecun_tanh,
}


def _activation_name(config) -> str:
    """The activation's name from its serialized form: "relu", or a registered function's dict
    (`{"config": "kerascnn>lecun_tanh", ...}`)."""
    if config is None:
        return "linear"
    if isinstance(config, dict):
        config = config.get("config")
    if not isinstance(config, str):
        raise NotImplementedError(f"activation {config!r} is not supported by TorchTwin")
    name = config.split(">")[-1]
    if name not in ACTIVATIONS:
        raise NotImplementedError(f"activation {name!r} is not supported by TorchTwin")
    return name


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _same_pads(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's "same" padding of one dimension: (before, after), the extra pixel after."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def _nchw(x):
    return x.permute(0, 3, 1, 2)


def _nhwc(x):
    return x.permute(0, 2, 3, 1)


def _spatial_pads(x, kernel, strides, dilation=(1, 1)):
    """F.pad's (left, right, top, bottom) for TF "same" on an NCHW tensor."""
    top, bottom = _same_pads(x.shape[2], kernel[0], strides[0], dilation[0])
    left, right = _same_pads(x.shape[3], kernel[1], strides[1], dilation[1])
    return left, right, top, bottom


def _channels_last(layer, config):
    if config.get("data_format", "channels_last") != "channels_last":
        raise NotImplementedError(f"layer {layer.name!r}: TorchTwin supports channels_last only")


class TorchTwin:
    """A Keras Functional model's training-mode forward in PyTorch, float64, from the layers' configs."""

    def __init__(self, keras_model):
        self.model = keras_model
        self.params = [
            torch.tensor(np.asarray(keras.ops.convert_to_numpy(v)), dtype=DTYPE, requires_grad=True)
            for v in keras_model.trainable_weights
        ]
        self.names = [v.path for v in keras_model.trainable_weights]
        self._values = {id(v): p for v, p in zip(keras_model.trainable_weights, self.params)}
        for v in keras_model.non_trainable_weights:  # frozen weights: constants
            if id(v) not in self._values:
                self._values[id(v)] = torch.tensor(
                    np.asarray(keras.ops.convert_to_numpy(v)), dtype=DTYPE
                )
        self._graph = self._compile_graph(keras_model)

    # The graph ------------------------------------------------------------------------------------

    def _compile_graph(self, model):
        """The model's nodes in topological order, each with its torch function; checks every layer
        up front (unsupported types, random layers) so that a bad model fails at construction."""
        if isinstance(model, keras.Sequential):
            model = model._functional
        if not hasattr(model, "_nodes_by_depth"):
            raise NotImplementedError(f"{type(model).__name__} {model.name!r} is not a Functional model")
        steps = []
        for depth in sorted(model._nodes_by_depth, reverse=True):
            for node in model._nodes_by_depth[depth]:
                if node.operation is None or node.is_input:
                    continue
                steps.append((node, self._compile_layer(node.operation)))
        return model.inputs, steps, model.outputs

    def _run_graph(self, graph, inputs):
        """Evaluate the compiled graph on torch inputs: (outputs, logits by output position or None)."""
        graph_inputs, steps, graph_outputs = graph
        values = {id(t): x for t, x in zip(graph_inputs, inputs)}
        logits = {}
        pending = list(steps)
        while pending:  # topological by depth; a node whose inputs are not ready waits a round
            waiting = []
            for node, fn in pending:
                if any(id(t) not in values for t in node.input_tensors):
                    waiting.append((node, fn))
                    continue
                outs, pre = fn([values[id(t)] for t in node.input_tensors])
                for t, y in zip(node.outputs, outs):
                    values[id(t)] = y
                if pre is not None:
                    logits[id(node.outputs[0])] = pre
            if len(waiting) == len(pending):
                raise RuntimeError("TorchTwin: the graph has nodes that cannot be computed")
            pending = waiting
        return [values[id(t)] for t in graph_outputs], [logits.get(id(t)) for t in graph_outputs]

    def forward(self, x):
        """The model's outputs for `x` (NHWC float64; a list for several inputs), training mode: one
        tensor per output, the logits (the value before the softmax) where an output ends with a
        softmax."""
        inputs = list(x) if isinstance(x, (list, tuple)) else [x]
        outputs, logits = self._run_graph(self._graph, inputs)
        return [pre if pre is not None else y for y, pre in zip(outputs, logits)]

    __call__ = forward

    def keras_order_values(self) -> list[np.ndarray]:
        """The current parameter values as numpy arrays, in `trainable_weights` order, Keras shapes."""
        return [p.detach().cpu().numpy().copy() for p in self.params]

    # The layers -----------------------------------------------------------------------------------

    def _weights(self, layer) -> dict:
        """The layer's variables by name ("kernel", "bias", "gamma", ...) as torch tensors."""
        return {v.name: self._values[id(v)] for v in layer.weights}

    def _compile_layer(self, layer):
        """A function of the layer's inputs giving (its outputs, the pre-softmax value or None)."""
        if isinstance(layer, keras.Model):
            sub = self._compile_graph(layer)

            def run_model(xs):
                outs, _ = self._run_graph(sub, xs)
                return outs, None

            return run_model
        if getattr(layer, "quantization_mode", None) or getattr(layer, "lora_enabled", False):
            raise NotImplementedError(
                f"layer {layer.name!r}: quantized or LoRA layers are not supported"
            )
        kind = type(layer).__name__
        build = getattr(self, f"_layer_{kind}", None)
        if build is None:
            raise NotImplementedError(f"TorchTwin does not implement {kind} (layer {layer.name!r})")
        config = layer.get_config()
        fn = build(layer, config)
        if kind in ("Dense", "Conv2D", "Activation", "Softmax"):
            return fn  # these return (output, pre-softmax) themselves
        return lambda xs: ([fn(xs)], None)

    @staticmethod
    def _activate(name, pre):
        """(activation(pre), pre where the activation is a softmax, else None)."""
        return [ACTIVATIONS[name](pre)], (pre if name == "softmax" else None)

    def _layer_InputLayer(self, layer, config):
        return lambda xs: xs[0]

    def _layer_Dense(self, layer, config):
        """`activation(x @ kernel + bias)` on the last axis."""
        w = self._weights(layer)
        act = _activation_name(config["activation"])
        use_bias = config["use_bias"]

        def dense(xs):
            y = xs[0] @ w["kernel"]
            return self._activate(act, y + w["bias"] if use_bias else y)

        return dense

    def _layer_Conv2D(self, layer, config):
        """Keras Conv2D: kernel (kh, kw, in/groups, out), strides, dilation, groups, TF padding."""
        _channels_last(layer, config)
        w = self._weights(layer)
        kernel, strides = _pair(config["kernel_size"]), _pair(config["strides"])
        dilation, groups = _pair(config["dilation_rate"]), config["groups"]
        padding, use_bias = config["padding"], config["use_bias"]
        if padding not in ("valid", "same"):
            raise NotImplementedError(f"layer {layer.name!r}: padding {padding!r}")
        act = _activation_name(config["activation"])

        def conv(xs):
            x = _nchw(xs[0])
            if padding == "same":
                x = F.pad(x, _spatial_pads(x, kernel, strides, dilation))
            y = F.conv2d(
                x,
                w["kernel"].permute(3, 2, 0, 1),
                w["bias"] if use_bias else None,
                stride=strides,
                dilation=dilation,
                groups=groups,
            )
            return self._activate(act, _nhwc(y))

        return conv

    def _layer_Activation(self, layer, config):
        act = _activation_name(config["activation"])
        return lambda xs: self._activate(act, xs[0])

    def _layer_Softmax(self, layer, config):
        axis = config["axis"]
        axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
        if axis != -1:
            raise NotImplementedError(f"layer {layer.name!r}: Softmax over axis {axis}")
        return lambda xs: self._activate("softmax", xs[0])

    def _layer_ReLU(self, layer, config):
        """`max_value` above it, `x` from `threshold` up, `negative_slope * (x - threshold)` below."""
        max_value, slope, threshold = config["max_value"], config["negative_slope"], config["threshold"]

        def relu(xs):
            x = xs[0]
            y = torch.where(x >= threshold, x, slope * (x - threshold))
            return y if max_value is None else torch.clamp(y, max=max_value)

        return relu

    def _layer_BatchNormalization(self, layer, config):
        """`(x - mean) / sqrt(var + eps) * gamma + beta` over the last axis; the batch's mean and biased
        variance when the layer is trainable, its moving statistics when frozen."""
        if config.get("renorm"):
            raise NotImplementedError(f"layer {layer.name!r}: batch renormalization")
        axis = config["axis"]
        axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
        w, eps, frozen = self._weights(layer), config["epsilon"], not layer.trainable

        def batch_norm(xs):
            x = xs[0]
            if not isinstance(axis, int) or axis % x.dim() != x.dim() - 1:
                raise NotImplementedError(f"layer {layer.name!r}: BatchNormalization over axis {axis}")
            if frozen:
                mean, var = w["moving_mean"], w["moving_variance"]
            else:
                dims = tuple(range(x.dim() - 1))
                mean = x.mean(dim=dims)
                var = ((x - mean) ** 2).mean(dim=dims)
            y = (x - mean) / torch.sqrt(var + eps)
            if config["scale"]:
                y = y * w["gamma"]
            return y + w["beta"] if config["center"] else y

        return batch_norm

    def _rate_zero(self, layer, config):
        if config["rate"] > 0:
            raise ValueError(
                f"TorchTwin: layer {layer.name!r} ({type(layer).__name__}) has rate "
                f"{config['rate']}; its random masks cannot be mirrored: build the model with rate 0"
            )
        return lambda xs: xs[0]

    _layer_Dropout = _rate_zero
    _layer_SpatialDropout2D = _rate_zero
    _layer_DropPath = _rate_zero

    def _layer_Identity(self, layer, config):
        return lambda xs: xs[0]

    def _layer_Add(self, layer, config):
        return lambda xs: sum(xs[1:], xs[0])

    def _layer_Subtract(self, layer, config):
        return lambda xs: xs[0] - xs[1]

    def _layer_Multiply(self, layer, config):
        def multiply(xs):
            y = xs[0]
            for x in xs[1:]:
                y = y * x
            return y

        return multiply

    def _layer_Average(self, layer, config):
        return lambda xs: sum(xs[1:], xs[0]) / len(xs)

    def _layer_Maximum(self, layer, config):
        return lambda xs: torch.stack(torch.broadcast_tensors(*xs)).amax(dim=0)

    def _layer_Minimum(self, layer, config):
        return lambda xs: torch.stack(torch.broadcast_tensors(*xs)).amin(dim=0)

    def _layer_Concatenate(self, layer, config):
        axis = config["axis"]
        return lambda xs: torch.cat(xs, dim=axis)

    def _layer_Flatten(self, layer, config):
        """Keras order: the NHWC tensor's elements row-major."""
        _channels_last(layer, config)
        return lambda xs: xs[0].reshape(xs[0].shape[0], -1)

    def _layer_Reshape(self, layer, config):
        target = tuple(config["target_shape"])
        return lambda xs: xs[0].reshape(xs[0].shape[0], *target)

    def _layer_ZeroPadding2D(self, layer, config):
        _channels_last(layer, config)
        (top, bottom), (left, right) = config["padding"]
        return lambda xs: F.pad(xs[0], (0, 0, left, right, top, bottom))

    def _pool_args(self, layer, config):
        _channels_last(layer, config)
        pool = _pair(config["pool_size"])
        strides = _pair(config["strides"] if config["strides"] is not None else config["pool_size"])
        padding = config["padding"]
        if padding not in ("valid", "same"):
            raise NotImplementedError(f"layer {layer.name!r}: padding {padding!r}")
        return pool, strides, padding

    def _layer_MaxPooling2D(self, layer, config):
        """The window's maximum; TF "same" pads with -inf."""
        pool, strides, padding = self._pool_args(layer, config)

        def max_pool(xs):
            x = _nchw(xs[0])
            if padding == "same":
                x = F.pad(x, _spatial_pads(x, pool, strides), value=-math.inf)
            return _nhwc(F.max_pool2d(x, pool, strides))

        return max_pool

    def _layer_AveragePooling2D(self, layer, config):
        """The window's mean; TF "same" divides by the number of real (unpadded) pixels."""
        pool, strides, padding = self._pool_args(layer, config)

        def avg_pool(xs):
            x = _nchw(xs[0])
            if padding == "valid":
                return _nhwc(F.avg_pool2d(x, pool, strides))
            pads = _spatial_pads(x, pool, strides)
            ones = torch.ones_like(x[:1, :1])
            total = F.avg_pool2d(F.pad(x, pads), pool, strides)
            count = F.avg_pool2d(F.pad(ones, pads), pool, strides)
            return _nhwc(total / count)

        return avg_pool

    def _layer_GlobalAveragePooling2D(self, layer, config):
        _channels_last(layer, config)
        keep = config.get("keepdims", False)
        return lambda xs: xs[0].mean(dim=(1, 2), keepdim=keep)

    def _layer_GlobalMaxPooling2D(self, layer, config):
        _channels_last(layer, config)
        keep = config.get("keepdims", False)
        return lambda xs: xs[0].amax(dim=(1, 2), keepdim=keep)

    # kerascnn's layers (kerascnn/layers.py) ---------------------------------------------------------

    def _layer_LocalResponseNormalization(self, layer, config):
        """`a / (k + alpha * sum of a^2 over the size channels centred on c) ** beta`, zero beyond the
        channel ends."""
        size, alpha, beta, k = config["size"], config["alpha"], config["beta"], config["k"]
        half = size // 2

        def lrn(xs):
            x = xs[0]
            channels = x.shape[-1]
            padded = F.pad(x * x, (half, half))
            window = sum(padded[..., i : i + channels] for i in range(size))
            return x / (k + alpha * window) ** beta

        return lrn

    def _layer_ChannelPadding(self, layer, config):
        """`padding` zero channels appended."""
        return lambda xs: F.pad(xs[0], (0, config["padding"]))

    def _layer_ScaledAdd(self, layer, config):
        """`shortcut + scale * residual` for inputs [shortcut, residual]."""
        scale = config["scale"]
        return lambda xs: xs[0] + scale * xs[1]

    def _layer_Subsampling2D(self, layer, config):
        """Per channel `coefficient * (sum of the pool x pool window) + bias`, non-overlapping, floor."""
        p, w = config["pool_size"], self._weights(layer)

        def subsample(xs):
            window_sum = F.avg_pool2d(_nchw(xs[0]), p, p) * (p * p)
            return _nhwc(window_sum) * w["coefficient"] + w["bias"]

        return subsample

    def _layer_ConnectionTableConv2D(self, layer, config):
        """Output map j: a valid, stride-1 convolution of the input maps `table[j]` with `kernel_j`."""
        table, w, use_bias = config["table"], self._weights(layer), config["use_bias"]

        def table_conv(xs):
            x = _nchw(xs[0])
            maps = [
                F.conv2d(x[:, row], w[f"kernel_{j}"].permute(3, 2, 0, 1)) for j, row in enumerate(table)
            ]
            y = _nhwc(torch.cat(maps, dim=1))
            return y + w["bias"] if use_bias else y

        return table_conv
