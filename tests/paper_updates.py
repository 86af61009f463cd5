"""The papers' update step written out in NumPy, independently of kerascnn: the learning rate at a
step, and SGD (either framework's momentum), Adam and RMSprop with weight decay coupled (the L2
penalty's gradient added before momentum) or decoupled, over a chosen set of parameters.

The formulas are the frameworks' own:
- Caffe `SGDSolver::ComputeUpdateValue` after `Regularize` (and cuda-convnet, AlexNet's Section 5):
  `g += wd * w; v = m * v - lr * g; w += v` (Nesterov: `w += m * v - lr * g`, Keras' form of it).
- Torch7 `optim.sgd` with dampening 0, PyTorch `torch.optim.SGD`:
  `g += wd * w; b = m * b + g; w -= lr * b` (Nesterov: `w -= lr * (g + m * b)`), the buffer starting
  at the first gradient.
- decoupled (Loshchilov & Hutter; Keras' `weight_decay`): `w -= lr * wd * w`, then the update with
  the gradient taken before it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Rule:
    """One paper's update: the optimizer and its settings, the decay and its scope, the schedule
    with every position in optimizer steps."""

    optimizer: str = "sgd"  # sgd, adam, rmsprop
    momentum: float = 0.9
    nesterov: bool = False
    momentum_form: str = "caffe"  # caffe: the rate inside the velocity; torch: outside the buffer
    weight_decay: float = 0.0
    decay_form: str = "l2"  # l2 (coupled) or decoupled
    decay_scope: str = "all"  # all, or kernels (two or more dimensions)
    learning_rate: float = 0.1
    schedule: str = "step"  # constant, step, cosine
    milestones: tuple[int, ...] = ()  # in steps
    gamma: float = 0.1
    warmup: int = 0  # in steps
    warmup_shape: str = "linear"
    warmup_learning_rate: float = 0.0
    length: int = 0  # cosine: the run's steps
    min_learning_rate: float = 0.0
    adam: dict = field(default_factory=lambda: {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7})
    rho: float = 0.9  # RMSprop
    epsilon: float = 1e-7  # RMSprop


def rate(rule: Rule, step: int) -> float:
    """The learning rate of the update at `step` (the first update is step 0)."""
    if step < rule.warmup:
        if rule.warmup_shape == "constant":
            return rule.warmup_learning_rate
        start = rule.warmup_learning_rate
        return start + (rule.learning_rate - start) * step / rule.warmup
    if rule.schedule == "constant":
        return rule.learning_rate
    if rule.schedule == "step":
        return rule.learning_rate * rule.gamma ** sum(step >= m for m in rule.milestones)
    progress = min(max((step - rule.warmup) / (rule.length - rule.warmup), 0.0), 1.0)
    low = rule.min_learning_rate
    return low + 0.5 * (rule.learning_rate - low) * (1 + math.cos(math.pi * progress))


def decayed(rule: Rule, shape) -> bool:
    return rule.decay_scope == "all" or len(shape) >= 2


def run(rule: Rule, weights, gradients, first_step: int = 0):
    """`weights` after one update per entry of `gradients` (each a list, one array per weight),
    starting at optimizer step `first_step` with empty optimizer state."""
    w = [np.array(x, dtype=np.float64) for x in weights]
    state = [np.zeros_like(x) for x in w]
    second = [np.zeros_like(x) for x in w]
    m, wd = rule.momentum, rule.weight_decay
    for k, grads in enumerate(gradients):
        step = first_step + k
        lr = rate(rule, step)
        for i, g in enumerate(grads):
            g = np.array(g, dtype=np.float64)
            decay = wd and decayed(rule, w[i].shape)
            if decay and rule.decay_form == "decoupled":
                w[i] = w[i] - lr * wd * w[i]
            elif decay:
                g = g + wd * w[i]
            if rule.optimizer == "sgd" and rule.momentum_form == "caffe":
                state[i] = m * state[i] - lr * g
                w[i] = w[i] + (m * state[i] - lr * g if rule.nesterov else state[i])
            elif rule.optimizer == "sgd":
                state[i] = m * state[i] + g
                w[i] = w[i] - lr * (g + m * state[i] if rule.nesterov else state[i])
            elif rule.optimizer == "adam":  # Kingma & Ba's Algorithm 1, the efficient form
                b1, b2, eps = rule.adam["beta_1"], rule.adam["beta_2"], rule.adam["epsilon"]
                state[i] = b1 * state[i] + (1 - b1) * g
                second[i] = b2 * second[i] + (1 - b2) * g * g
                t = step + 1  # the step count of the bias correction
                alpha = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
                w[i] = w[i] - alpha * state[i] / (np.sqrt(second[i]) + eps)
            else:  # RMSprop (Hinton's lecture 6e), with momentum on the scaled step
                second[i] = rule.rho * second[i] + (1 - rule.rho) * g * g
                step_ = lr * g / np.sqrt(second[i] + rule.epsilon)
                state[i] = m * state[i] + step_ if m else step_
                w[i] = w[i] - state[i]
    return w
