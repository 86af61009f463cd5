"""A classification loss that follows the labels it is given.

Keras makes the user choose between `categorical_crossentropy` (one-hot labels) and
`sparse_categorical_crossentropy` (integer class ids) when compiling, before it has seen a label; the
wrong one fails at the first batch ("Arguments `target` and `output` must have the same rank"), and in
a keras-tuner search it fails every trial. `CrossEntropy` decides from the labels' shape when the
training step is traced: integer ids, `(n,)` or `(n, 1)`, take the sparse form; one-hot or soft labels,
`(n, classes)`, the dense form (label smoothing applies to both). Sigmoid outputs (binary and
multi-label tasks) take binary cross-entropy, with `(n,)` labels for one sigmoid unit.
"""

from __future__ import annotations

import keras

__all__ = ["CrossEntropy", "label_problem"]

TASKS = ("multiclass", "binary", "multilabel")


@keras.saving.register_keras_serializable(package="kerascnn")
class CrossEntropy(keras.losses.Loss):
    """Cross-entropy for a softmax or sigmoid classifier, whatever form its labels take.

    Args:
        task: "multiclass" (softmax over classes: integer ids or one-hot/soft labels), "binary"
            (one sigmoid unit: 0/1 labels, `(n,)` or `(n, 1)`) or "multilabel" (a sigmoid per class:
            multi-hot labels `(n, classes)`).
        label_smoothing: as Keras' cross-entropies (integer ids are smoothed as their one-hot form).
        from_logits: the model outputs logits rather than probabilities.
    """

    def __init__(
        self,
        task: str = "multiclass",
        *,
        label_smoothing: float = 0.0,
        from_logits: bool = False,
        name: str = "cross_entropy",
        reduction: str = "sum_over_batch_size",
        dtype=None,
    ):
        if task not in TASKS:
            raise ValueError(f"`task` must be one of {', '.join(TASKS)}. Received: task={task!r}.")
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.task = task
        self.label_smoothing = float(label_smoothing)
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        if self.task != "multiclass":
            return keras.losses.binary_crossentropy(
                _to_rank_of(y_true, y_pred, y_pred.dtype),
                y_pred,
                from_logits=self.from_logits,
                label_smoothing=self.label_smoothing,
            )
        classes = y_pred.shape[-1]
        sparse = len(y_true.shape) < len(y_pred.shape) or (y_true.shape[-1] == 1 and classes != 1)
        if not sparse:
            return keras.losses.categorical_crossentropy(
                keras.ops.cast(y_true, y_pred.dtype),
                y_pred,
                from_logits=self.from_logits,
                label_smoothing=self.label_smoothing,
            )
        ids = keras.ops.cast(y_true, "int32")
        if len(ids.shape) == len(y_pred.shape):
            ids = keras.ops.squeeze(ids, axis=-1)
        if self.label_smoothing:
            return keras.losses.categorical_crossentropy(
                keras.ops.one_hot(ids, classes, dtype=y_pred.dtype),
                y_pred,
                from_logits=self.from_logits,
                label_smoothing=self.label_smoothing,
            )
        return keras.losses.sparse_categorical_crossentropy(ids, y_pred, from_logits=self.from_logits)

    def get_config(self):
        return {
            **super().get_config(),
            "task": self.task,
            "label_smoothing": self.label_smoothing,
            "from_logits": self.from_logits,
        }


def _to_rank_of(y_true, y_pred, dtype):
    y_true = keras.ops.cast(y_true, dtype)
    if len(y_true.shape) == len(y_pred.shape) - 1:
        y_true = keras.ops.expand_dims(y_true, -1)
    return y_true


def label_problem(y, *, task: str, classes: int) -> str | None:
    """What is wrong with an array of labels for a classifier of `classes` outputs, in words; None
    when they are labels it can learn from (the forms `CrossEntropy` takes)."""
    import numpy as np

    y = np.asarray(y)
    shape = tuple(y.shape)
    if y.ndim == 0 or not shape[0]:
        return f"expected one label per image. Received labels of shape {shape}."
    if not (np.issubdtype(y.dtype, np.number) or y.dtype == bool):
        return f"labels must be numbers. Received dtype {y.dtype}."
    if not np.all(np.isfinite(y)):
        return "labels must be finite numbers; some are NaN or infinite."
    if task == "multiclass":
        if y.ndim == 1 or (y.ndim == 2 and shape[1] == 1 and classes != 1):
            ids = y.reshape(-1)
            if not np.all(ids == np.round(ids)) or ids.min() < 0 or ids.max() >= classes:
                return (
                    f"integer class ids must lie in 0..{classes - 1} ({classes} classes). "
                    f"Received ids from {ids.min():g} to {ids.max():g}."
                )
            return None
        if y.ndim == 2 and shape[1] == classes:
            if y.min() < 0 or not np.allclose(y.sum(1), 1.0, atol=1e-3):
                return "one-hot or soft labels must be non-negative and sum to 1 per image."
            return None
        return (
            f"expected integer class ids, shape (n,), or one-hot labels, shape (n, {classes}). "
            f"Received shape {shape}."
        )
    width = 1 if task == "binary" else classes
    if not ((y.ndim == 1 and width == 1) or (y.ndim == 2 and shape[1] == width)):
        form = "(n,) or (n, 1)" if task == "binary" else f"(n, {classes}) multi-hot"
        return f"{task} labels have shape {form}. Received shape {shape}."
    if y.min() < 0 or y.max() > 1:
        return f"{task} labels lie between 0 and 1. Received {y.min():g} to {y.max():g}."
    return None
