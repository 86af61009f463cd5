"""The update step as the papers' frameworks made it: Keras' SGD, Adam, AdamW and RMSprop with the
form and the scope of weight decay said, and SGD's momentum in either framework's form.

Weight decay comes in two forms, which differ by a factor that can reach 10 under momentum 0.9:

- `"l2"`, coupled: `wd * w` is added to the gradient before the optimizer sees it, the gradient of
  the L2 penalty `wd / 2 * |w|^2`. This is what Caffe (`Regularize`), cuda-convnet (AlexNet's
  Eq. in Section 5), Torch7's `optim.sgd` and PyTorch's SGD, Adam and RMSprop `weight_decay` do:
  the decay passes through momentum (and through Adam's normalization).
- `"decoupled"`: `w -= lr * wd * w` beside the update (Loshchilov & Hutter 2019), as Keras'
  optimizers apply `weight_decay` and PyTorch's AdamW.

Its scope: `"all"` decays every trainable variable, as the classic papers' code did (Torch7's
flattened parameters, BN's scale and shift and the biases included); `"kernels"` decays only the
variables of two or more dimensions (convolution and dense kernels), timm's `filter_bias_and_bn`
rule, leaving BN's scale and shift and the biases alone.

SGD's momentum has two forms that agree while the rate is constant and differ when it changes (a
milestone, a warm-up): `"caffe"` keeps the rate inside the velocity (`v = m * v - lr * g; w += v`:
Caffe, cuda-convnet, Keras), `"torch"` outside the buffer (`b = m * b + g; w -= lr * b`: Torch7 with
dampening 0, PyTorch), so that a lower rate acts on the whole step at once. Nesterov's step is each
framework's own (`w += m * v - lr * g`; `w -= lr * (g + m * b)`).

Each class is the Keras optimizer of the same name with these arguments more, registered for
`.keras` files; the decay is applied in `update_step`, after gradients are summed across replicas
and unscaled from mixed precision's loss scale, so it is the same on TensorFlow, JAX and PyTorch,
with a distribution strategy, EMA and mixed precision. In float64 the update is the formula's to
the last bits: every constant is made in the variable's dtype (Keras' `ops.cast` of a Python float
goes through float32 on TensorFlow).
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["SGD", "Adam", "AdamW", "RMSprop", "FORMS", "SCOPES", "MOMENTUM_FORMS", "decays"]

FORMS = ("l2", "decoupled")
SCOPES = ("all", "kernels")
MOMENTUM_FORMS = ("caffe", "torch")


def decays(variable, scope: str) -> bool:
    """Whether weight decay of `scope` ("all" or "kernels") applies to `variable`: every variable,
    or those of two or more dimensions (kernels, not BN's scale and shift or biases)."""
    return scope == "all" or len(variable.shape) >= 2


def _constant(value: float, like):
    """`value` in `like`'s dtype, exactly: Keras' `ops.cast` of a Python float goes through float32
    on TensorFlow (0.9 becomes 0.8999999762 in a float64 run)."""
    return ops.convert_to_tensor(value, dtype=keras.backend.standardize_dtype(like.dtype))


def _choice(name: str, value, choices) -> str:
    if value not in choices:
        raise ValueError(
            f"`{name}` must be one of {', '.join(map(repr, choices))}. Received: {value!r}."
        )
    return value


class _Decay:
    """Weight decay of a stated form and scope on a Keras optimizer (the module docstring). Both
    forms are applied here, in each variable's `update_step`, Keras' own `weight_decay` left unset:
    its decoupled decay casts the coefficient through float32 (`_constant`).

    `rate_multipliers` (a variable's path -> a factor; the others 1): each variable's own learning
    rate, as PyTorch's parameter groups give it (discriminative rates, layer-wise decay: the rate
    is scaled, not the gradient, so Adam's steps shrink too, and decoupled decay with them)."""

    def __init__(
        self,
        *args,
        weight_decay=None,
        weight_decay_form="decoupled",
        weight_decay_scope="all",
        rate_multipliers=None,
        **kwargs,
    ):
        form = _choice("weight_decay_form", weight_decay_form, FORMS)
        scope = _choice("weight_decay_scope", weight_decay_scope, SCOPES)
        super().__init__(*args, weight_decay=None, **kwargs)
        self.weight_decay_form, self.weight_decay_scope = form, scope
        self.decay = None if weight_decay is None else float(weight_decay)
        self.rate_multipliers = {str(k): float(v) for k, v in (rate_multipliers or {}).items()}
        self._multipliers = []

    def build(self, variables):
        super().build(variables)
        self._multipliers = [self.rate_multipliers.get(v.path, 1.0) for v in variables]

    def update_step(self, gradient, variable, learning_rate):
        if self.rate_multipliers:
            factor = self._multipliers[self._get_variable_index(variable)]
            if factor != 1.0:
                learning_rate = ops.multiply(
                    ops.cast(learning_rate, variable.dtype), _constant(factor, variable)
                )
        if self.decay and decays(variable, self.weight_decay_scope):
            decay = _constant(self.decay, variable)
            if self.weight_decay_form == "l2":  # the penalty's gradient, before the optimizer
                gradient = ops.add(ops.cast(gradient, variable.dtype), ops.multiply(decay, variable))
            else:  # w -= lr * wd * w, from the weights the gradient was taken at (Keras' order)
                rate = ops.cast(learning_rate, variable.dtype)
                self.assign_sub(variable, ops.multiply(ops.multiply(variable, decay), rate))
        self._update(gradient, variable, learning_rate)

    def _update(self, gradient, variable, learning_rate):
        super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        config = super().get_config()
        config.update(
            weight_decay=self.decay,
            weight_decay_form=self.weight_decay_form,
            weight_decay_scope=self.weight_decay_scope,
        )
        if self.rate_multipliers:
            config["rate_multipliers"] = dict(self.rate_multipliers)
        return config


@keras.saving.register_keras_serializable(package="kerascnn")
class SGD(_Decay, keras.optimizers.SGD):
    """Keras' SGD with `weight_decay_form`, `weight_decay_scope` and `momentum_form` ("caffe":
    Keras' own; "torch": the rate outside the momentum buffer, as PyTorch). See the module
    docstring."""

    def __init__(self, *args, momentum_form="caffe", **kwargs):
        super().__init__(*args, **kwargs)
        self.momentum_form = _choice("momentum_form", momentum_form, MOMENTUM_FORMS)

    def _update(self, gradient, variable, learning_rate):
        # Both forms written here rather than Keras' own caffe form, whose momentum would be cast
        # through float32 (`_constant`).
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        if not self.momentum:
            self.assign_sub(variable, ops.multiply(gradient, lr))
            return
        momentum = _constant(self.momentum, variable)
        slot = self.momentums[self._get_variable_index(variable)]
        if self.momentum_form == "caffe":  # the velocity holds the rate: v = m v - lr g; w += v
            self.assign(slot, ops.subtract(ops.multiply(slot, momentum), ops.multiply(gradient, lr)))
            if self.nesterov:  # w += m v - lr g
                self.assign_add(
                    variable, ops.subtract(ops.multiply(slot, momentum), ops.multiply(gradient, lr))
                )
            else:
                self.assign_add(variable, slot)
            return
        # PyTorch's SGD with dampening 0 (Torch7's optim.sgd with dampening = 0): b = m b + g,
        # w -= lr b (Nesterov: w -= lr (g + m b)). The buffer starts at zero, so its first value
        # is the gradient itself, as PyTorch's first step copies it.
        self.assign(slot, ops.add(ops.multiply(slot, momentum), gradient))
        step = ops.add(gradient, ops.multiply(slot, momentum)) if self.nesterov else slot
        self.assign_sub(variable, ops.multiply(step, lr))

    def get_config(self):
        return {**super().get_config(), "momentum_form": self.momentum_form}


@keras.saving.register_keras_serializable(package="kerascnn")
class Adam(_Decay, keras.optimizers.Adam):
    """Keras' Adam with `weight_decay_form` ("l2": PyTorch's `Adam(weight_decay=...)`) and
    `weight_decay_scope`."""


@keras.saving.register_keras_serializable(package="kerascnn")
class AdamW(_Decay, keras.optimizers.Adam):
    """Adam with decoupled weight decay (`w -= lr * wd * w`, as Keras' and PyTorch's AdamW) and
    `weight_decay_scope`; no decay unless given (Keras' AdamW defaults to 0.004)."""

    def __init__(self, *args, weight_decay=0.0, weight_decay_form="decoupled", **kwargs):
        super().__init__(*args, weight_decay=weight_decay, weight_decay_form=weight_decay_form, **kwargs)


@keras.saving.register_keras_serializable(package="kerascnn")
class RMSprop(_Decay, keras.optimizers.RMSprop):
    """Keras' RMSprop with `weight_decay_form` and `weight_decay_scope`."""
