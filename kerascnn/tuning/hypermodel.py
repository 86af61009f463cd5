"""`HyperCNN`: a keras-tuner HyperModel over the model zoo, for users who search in Python.

keras-tuner's own `HyperResNet` searches one hand-written ResNet (version, two depths, pooling) and is
hard-wired to softmax. `HyperCNN` searches over any registered models (`"resnet20"`, or a whole family
such as `"densenet"`) and, for the chosen one, over the options its family leaves free: a
`keras_tuner` hyperparameter `"model"`, and one hyperparameter per family option (`"resnet.attention"`,
`"vgg.dropout"`, ...) active only for the models that do not fix that option (`conditional_scope`:
`se_resnet50` fixes `attention`, so `"resnet.attention"` is inactive for it). The optimizer and its
learning rate are searched too, and the model is compiled for the task (softmax, one sigmoid unit,
or a sigmoid per label).

```python
import keras_tuner
from kerascnn.tuning.hypermodel import HyperCNN

hypermodel = HyperCNN(["resnet20", "resnet56", "preact_resnet164", "densenet_bc_100_12"],
                      input_shape=(32, 32, 3), classes=10,
                      space={"resnet.dropout": None,  # leave it at the family's default
                             "learning_rate": {"type": "float", "min": 1e-3, "max": 0.3,
                                               "sampling": "log"}})
tuner = keras_tuner.BayesianOptimization(hypermodel, objective="val_accuracy", max_trials=20)
tuner.search(x_train, y_onehot, validation_split=0.1, epochs=30)
```

The space entries are those of a recipe's `[tune.space]` (`kerascnn.recipe.SpaceEntry`: "choice",
"int", "float", "boolean", "fixed"; a list is a shorthand for a choice). Every end of every entry is
checked against every model it applies to when the HyperModel is made; a model that cannot be built
in a trial (an input too small for it, an impossible combination of options) fails that trial with
its reason (`keras_tuner.errors.FailedTrialError`) and the search goes on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras_tuner

from kerascnn.blocks import CONV_ARGS
from kerascnn.config import ConfigError, Source, check_call, first_line
from kerascnn.config.errors import did_you_mean
from kerascnn.config.validation import parameters
from kerascnn.losses import CrossEntropy, label_problem
from kerascnn.recipe import SpaceEntry, TrainSection, space_entry_problem, space_points
from kerascnn.spec import validate_spec
from kerascnn.training.compile import make_optimizer
from kerascnn.zoo import MODELS, get_model_info
from kerascnn.zoo.factory import build, check_task, make_spec

__all__ = ["HyperCNN", "DEFAULT_SPACE", "SearchFailed", "declare"]

# The search space every HyperCNN starts from: the training settings, and for each family the options
# a user would try first (regularisation and the block choices the papers compare). Family options
# take the family's own default as their default value (keras-tuner's tuners still draw the first
# trial like any other).
DROPOUT = {"type": "float", "min": 0.0, "max": 0.5, "step": 0.1}
DEFAULT_SPACE: dict[str, dict | None] = {
    "optimizer": {"type": "choice", "values": ["adam", "sgd"]},
    "learning_rate": {"type": "float", "min": 1e-4, "max": 0.1, "sampling": "log", "default": 1e-3},
    "lenet.modern": {"type": "boolean"},  # ReLU and max-pooling instead of tanh and subsampling
    "lenet.dropout": DROPOUT,
    "alexnet.lrn": {"type": "boolean"},
    "alexnet.dropout": DROPOUT,
    "vgg.dropout": DROPOUT,
    "nin.dropout": DROPOUT,
    "googlenet.lrn": {"type": "boolean"},
    "googlenet.dropout": DROPOUT,
    "inception.dropout": DROPOUT,
    "resnet.attention": {"type": "choice", "values": ["none", "se"]},  # SENet's squeeze-excite
    "resnet.stride_on": {"type": "choice", "values": ["1x1", "3x3"]},  # ResNet v1 / v1.5
    "resnet.dropout": DROPOUT,
    "densenet.compression": {"type": "choice", "values": [0.5, 1.0]},  # DenseNet-BC / -B
    "densenet.dropout": DROPOUT,
}
TRAINING_KEYS = ("optimizer", "learning_rate", "weight_decay", "momentum")
OPTIMIZERS = ("adam", "adamw", "sgd")


def declare(hp, name: str, entry):
    """Declare one `SpaceEntry` on keras-tuner's `hp` as the hyperparameter `name`; its value."""
    if entry.type == "choice":
        return hp.Choice(name, list(entry.values), default=entry.default)
    if entry.type == "int":
        return hp.Int(
            name,
            int(entry.min),
            int(entry.max),
            step=int(entry.step) if entry.step else None,
            sampling=entry.sampling,
            default=entry.default,
        )
    if entry.type == "float":
        return hp.Float(
            name,
            float(entry.min),
            float(entry.max),
            step=entry.step,
            sampling=entry.sampling,
            default=entry.default,
        )
    if entry.type == "boolean":
        return hp.Boolean(name, default=bool(entry.default))
    return hp.Fixed(name, entry.value)


class HyperCNN(keras_tuner.HyperModel):
    """A keras-tuner HyperModel over registered models and their families' options.

    Args:
        models: registry names and/or family names (a family stands for all its models), e.g.
            `["resnet20", "resnet56"]` or `"densenet"`. The hyperparameter "model" chooses one.
        input_shape: (height, width, channels) of the images.
        classes: number of classes (not for `task="binary"`).
        task: "multiclass" (softmax, one-hot labels), "binary" (one sigmoid unit) or "multilabel"
            (a sigmoid per class), as in `kerascnn.build`.
        space: changes to `DEFAULT_SPACE`, by key: a `SpaceEntry` dict or a list of choices adds or
            replaces an entry, None removes one (the option then keeps the family's default).
            Keys: "optimizer" ("adam", "adamw", "sgd"), "learning_rate", "weight_decay",
            "momentum" (sgd), and "<family>.<option>" for any option of the family's spec
            function or any network-wide convolution setting ("resnet.activation").
        loss: default: `kerascnn.losses.CrossEntropy(task)`, which takes the labels in either
            form Keras users write them: integer class ids or one-hot labels (binary
            cross-entropy for the sigmoid tasks).
        metrics: compiled metrics.
        name, tunable: as `keras_tuner.HyperModel`.

    Raises:
        ConfigError (a ValueError): an unknown model, family, option or space key (with close
            matches), an entry that is not a valid range or choice, or a value that is not valid
            for one of the models it applies to.
    """

    def __init__(
        self,
        models: str | Sequence[str],
        *,
        input_shape: Sequence[int],
        classes: int | None = None,
        task: str = "multiclass",
        space: Mapping[str, object] | None = None,
        loss=None,
        metrics: Sequence = ("accuracy",),
        name: str = "hyper_cnn",
        tunable: bool = True,
    ):
        super().__init__(name=name, tunable=tunable)
        self.models = _expand(models, MODELS)
        shape = tuple(input_shape)
        if len(shape) != 3 or not all(isinstance(d, int) and d > 0 for d in shape):
            raise ConfigError(
                f"`input_shape` is (height, width, channels), positive integers. "
                f"Received: input_shape={input_shape!r}."
            )
        classes = check_task(task, classes)
        if not isinstance(classes, int) or isinstance(classes, bool) or classes < 1:
            raise ConfigError(
                f"`classes` must be a positive integer for task={task!r}. Received: classes={classes!r}."
            )
        self.input_shape, self.classes, self.task = shape, classes, task
        self.loss = loss or CrossEntropy(task)
        self.metrics = list(metrics)
        self.space, self.applies = _resolve_space(
            DEFAULT_SPACE, dict(space or {}), self.models, shape, classes
        )
        self._completed = 0  # trials whose fit returned, in this process
        self._failures: list[tuple[dict, str]] = []  # (values, reason) of the trials that failed

    def declare_hyperparameters(self, hp):
        """The whole space, each family option in a conditional scope on "model"."""
        hp.Choice("model", self.models)
        for key, entry in self.space.items():
            if key in self.applies:
                with hp.conditional_scope("model", self.applies[key]):
                    declare(hp, key, entry)
            else:
                declare(hp, key, entry)

    def build(self, hp):
        # A tuner declared the space already (declare_hyperparameters); a bare HyperParameters
        # gets it here. Values are read, not declared: keras-tuner builds once per conditional
        # scope it sees in build() while it collects the space, and each build is a real model.
        if "model" not in hp:
            self.declare_hyperparameters(hp)
        self._check_not_a_failed_search(hp)
        name = hp.get("model")
        options = {
            key.split(".", 1)[1]: hp.get(key) for key in self.applies if name in self.applies[key]
        }
        try:
            model = build(
                name, input_shape=self.input_shape, classes=self.classes, task=self.task, **options
            )
        except ValueError as e:  # ConfigError included: too small an input, an impossible mix
            shown = ", ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v!r}" for k, v in options.items()
            )
            reason = f"{name}" + (f" ({shown})" if shown else "") + " cannot be built: " + first_line(e)
            self._failed(hp, reason)
            raise keras_tuner.errors.FailedTrialError(reason) from None
        model.compile(optimizer=self.optimizer(hp), loss=self.loss, metrics=list(self.metrics))
        return model

    def fit(self, hp, model, *args, **kwargs):
        """`model.fit(*args, **kwargs)`, after the labels are checked: labels no trial could learn
        from (ids outside 0..classes-1, one-hot rows of another width) stop the search at once with
        `keras_tuner.errors.FatalValueError`, instead of failing every trial the same way."""
        y = kwargs.get("y", args[1] if len(args) > 1 else None)
        for what, labels in (("y", y), ("validation_data", _labels_of(kwargs.get("validation_data")))):
            if labels is not None and hasattr(labels, "shape"):
                problem = label_problem(labels, task=self.task, classes=self.classes)
                if problem:
                    raise keras_tuner.errors.FatalValueError(
                        f"HyperCNN(task={self.task!r}, classes={self.classes}): {what}: {problem}"
                    )
        try:
            history = model.fit(*args, **kwargs)
        except Exception as e:
            if not isinstance(e, keras_tuner.errors.FatalError):
                self._failed(hp, first_line(e))
            raise
        self._completed += 1
        return history

    def _failed(self, hp, reason: str) -> None:
        self._failures.append((dict(hp.values), reason))

    def _check_not_a_failed_search(self, hp) -> None:
        """keras-tuner's `get_best_models` builds the best trial's model and loads its
        checkpoint; when every trial failed, the "best" is a failed trial, which has none
        (FileNotFoundError). Building a failed trial's values when no trial has completed is
        that call: say why the trials failed instead."""
        if self._completed or dict(hp.values) not in [v for v, _ in self._failures]:
            return
        raise SearchFailed([_Failed(reason) for _, reason in self._failures])

    def optimizer(self, hp):
        """The trial's optimizer: "optimizer" at "learning_rate" (and "weight_decay", "momentum"),
        made as a recipe's `[train]` makes it (`kerascnn.training.compile.make_optimizer`: the same
        defaults, weight decay kept off BN and biases)."""
        values = {k: hp.get(k) for k in TRAINING_KEYS if k in hp}
        train = TrainSection(**{k: v for k, v in values.items() if v is not None})
        return make_optimizer(train)


class SearchFailed(ConfigError):
    """No trial of a search completed: one error listing each distinct reason the trials failed
    (with how many trials failed for it), instead of keras-tuner's last traceback or a missing
    checkpoint file later."""

    def __init__(
        self,
        rows,
        *,
        where: str | None = None,
        again: str = "search again (a new directory, or the tuner's overwrite=True)",
    ):
        reasons: dict[str, int] = {}
        for row in rows:
            if row.status != "COMPLETED":
                reasons[row.reason or "failed"] = reasons.get(row.reason or "failed", 0) + 1
        self.reasons = reasons
        listed = "; ".join(f"{reason} ({_count(n)})" for reason, n in reasons.items())
        super().__init__(
            f"every trial of the search failed, so it has no best model: {listed}"
            + (f". Each trial's reason is in {where}" if where else "")
            + ".",
            hint=f"fix the cause they share (a problem with the data or its labels "
            f"fails every trial), then {again}.",
        )


def _count(n: int) -> str:
    return "1 trial" if n == 1 else f"{n} trials"


class _Failed:
    """A failed trial as `SearchFailed` lists it."""

    status = "FAILED"

    def __init__(self, reason: str):
        self.reason = reason


def _labels_of(validation_data):
    if isinstance(validation_data, (tuple, list)) and len(validation_data) >= 2:
        return validation_data[1]
    return None


def _expand(models, registry) -> list[str]:
    """Registry names from names and family names, in the order given, without repeats."""
    families: dict[str, list[str]] = {}
    for n, info in registry.items():
        families.setdefault(info.family, []).append(n)
    items = [models] if isinstance(models, str) else list(models)
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ConfigError(f"`models` lists registry names or family names. Received: {item!r}.")
        if item in registry:
            found = [item]
        elif item in families:
            found = families[item]
        else:
            hint = did_you_mean(item, [*registry, *families]) or "`kerascnn list` shows them."
            raise ConfigError(f"`models`: no model or family named {item!r}.", hint=hint)
        out += [n for n in found if n not in out]
    if not out:
        raise ConfigError("`models` is empty: name at least one model or family.")
    return out


def _resolve_space(defaults: dict, changes: dict, models: list[str], input_shape, classes):
    """The checked space {key: SpaceEntry} and, per family key, the chosen models it applies to."""
    infos = {n: get_model_info(n) for n in models}
    families = {info.family: info.builder for info in MODELS.values()}
    chosen_families = {info.family for info in infos.values()}
    space, applies = {}, {}
    for key, raw in {**defaults, **changes}.items():
        given = key in changes
        family, option = _family_option(key, families)
        if raw is None:  # removed: the family's default stays
            continue
        if family is not None and family not in chosen_families:
            if given:
                raise ConfigError(
                    f"space[{key!r}]: none of the models ({', '.join(models)}) "
                    f"is of the {family} family."
                )
            continue
        entry = _space_entry(key, raw)
        if family is not None:
            of_family = [n for n in models if infos[n].family == family]
            free = [n for n in of_family if option not in infos[n].variant]
            if not free:
                if given:
                    raise ConfigError(
                        f"space[{key!r}]: every chosen {family} model fixes "
                        f"{option!r} ({', '.join(of_family)})."
                    )
                continue
            if entry.default is None and entry.type != "fixed":
                entry = _family_default(entry, parameters(families[family]).get(option))
            matters = _models_it_changes(key, entry, option, free, input_shape, classes)
            if not matters:
                continue
            applies[key] = matters
        space[key] = entry
    return space, applies


def _family_option(key: str, families: dict) -> tuple[str | None, str | None]:
    """A space key's family and option ("resnet.attention": ("resnet", "attention")), (None, None)
    for a training key; an unknown key, family or option is refused with the ones there are."""
    if key == "model":
        raise ConfigError("space['model']: the models are chosen by the `models` argument.")
    if key in TRAINING_KEYS:
        return None, None
    family, _, option = key.partition(".")
    if family not in families or not option:
        allowed = [*TRAINING_KEYS, *(f"{f}.<option>" for f in families)]
        raise ConfigError(
            f"space: unknown key {key!r}; keys are {', '.join(allowed)}.",
            hint=did_you_mean(key, [*TRAINING_KEYS, *DEFAULT_SPACE]),
        )
    # GoogLeNet's `aux` adds outputs, which one compiled loss cannot train.
    known = [p for p in parameters(families[family]) if p != "aux"] + list(CONV_ARGS)
    if option not in known:
        raise ConfigError(
            f"space[{key!r}]: the {family} family has no option {option!r}; it has {', '.join(known)}.",
            hint=did_you_mean(option, known),
        )
    return family, option


def _space_entry(key: str, raw):
    """The checked `SpaceEntry` of `space[key]`: a dict of its fields or a list of choices."""
    if isinstance(raw, (list, tuple)):
        raw = {"type": "choice", "values": list(raw)}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"space[{key!r}] takes a dict such as {{'type': 'choice', "
            f"'values': [...]}}, a list of choices or None. Received: {raw!r}."
        )
    entry = SpaceEntry(
        **check_call(SpaceEntry, raw, path=(), source=Source(), what=f"space[{key!r}]", skip=())
    )
    problem = space_entry_problem(entry)
    if problem:
        where = "".join(f"[{p!r}]" for p in problem[0])
        raise ConfigError(f"space[{key!r}]{where}: {problem[1]}")
    if key == "optimizer":
        wrong = [v for v in (entry.values or [entry.value]) if v not in OPTIMIZERS]
        if entry.type not in ("choice", "fixed") or wrong:
            raise ConfigError(
                f"space['optimizer']: the optimizers are {', '.join(OPTIMIZERS)}. Received: {raw!r}."
            )
    return entry


def _models_it_changes(key: str, entry, option: str, models: list[str], input_shape, classes):
    """Of `models` (those that leave `option` free), the ones whose spec a value of `entry` changes
    (a fixed entry: all of them); every value is checked against every one of them."""
    matters = []
    for n in models:
        specs = []
        for _, value in space_points({key: entry}):
            try:
                spec = make_spec(n, {option: value})
                validate_spec(spec, input_shape=input_shape, classes=classes)
            except ConfigError as e:
                raise ConfigError(
                    f"space[{key!r}]: the value {value!r} does not suit {n}: {e}"
                ) from None
            specs.append(spec)
        # An option the model ignores (stride_on in basic blocks) is not searched for it.
        if any(spec != specs[0] for spec in specs[1:]) or entry.type == "fixed":
            matters.append(n)
    return matters


def _family_default(entry, parameter):
    """The entry with the family function's default value as its first value, when it is one."""
    import dataclasses
    import inspect

    if parameter is None or parameter.default is inspect.Parameter.empty:
        return entry
    value = "none" if parameter.default is None else parameter.default
    if entry.type == "choice" and value in entry.values:
        return dataclasses.replace(entry, default=value)
    if (
        entry.type in ("int", "float")
        and isinstance(value, (int, float))
        and not isinstance(value, bool)
        and entry.min <= value <= entry.max
    ):
        return dataclasses.replace(entry, default=value)
    if entry.type == "boolean" and isinstance(value, bool):
        return dataclasses.replace(entry, default=value)
    return entry
