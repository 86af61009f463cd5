"""Recipes: one file that says model + data + training, validated before anything runs.

A recipe is TOML (or YAML) with four tables, each checked against the dataclass below that defines it
(unknown keys, wrong types and values outside the allowed ones are `ConfigError`s naming the file, line
and key, with a "did you mean" hint), so this module is also the reference of every recipe key:

```toml
[model]                      # ModelSection: a registry name with options, or a spec
name = "lenet5"

[data]                       # DataSection: digits | synthetic | folder | tfds
source = "digits"
image_size = [32, 32]

[train]                      # TrainSection: optimizer, schedule, epochs, precision, distribution
epochs = 30
optimizer = "adam"
learning_rate = 0.001

[output]                     # OutputSection: where the run directory goes
dir = "runs/lenet5_digits"
```

Command-line overrides (`--set train.epochs=3`) are applied to the parsed document before validation,
their values read as TOML values (`3`, `0.1`, `true`, `"text"`, `[32, 32]`; bare words are strings).
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from kerascnn.config import ConfigError, Source, check_call, check_keys, load_document

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class ModelSection:
    """`[model]`: what to build. Exactly one of `name` and `spec` (no `[model]` at all when a Python
    script passes its own model to `train(recipe, model=...)`).

    Attributes:
        name: a registered model (`kerascnn list`), e.g. "resnet20".
        spec: a spec file (relative to the recipe) or an inline spec table.
        options: the family's options for a registered model (`dropout`, `aux`, `width_factor`, ...).
    """

    name: str | None = None
    spec: str | dict | None = None
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class AugmentSection:
    """`[data.augment]`: training-time augmentation, per image, in tf.data.

    Attributes:
        crop_padding: pad by this many pixels, then crop back at a random place (the CIFAR
            augmentation of the ResNet paper: 4).
        flip: random horizontal flips.
        scale: random-resized crop (AlexNet/GoogLeNet style): the crop covers this range of the
            image's area, e.g. [0.08, 1.0], and is resized to `image_size`.
        ratio: the crop's aspect-ratio range with `scale`.
    """

    crop_padding: int = 0
    flip: bool = False
    scale: tuple[float, float] | None = None
    ratio: tuple[float, float] = (0.75, 4.0 / 3.0)


@dataclass(frozen=True)
class DataSection:
    """`[data]`: where the images come from and how they are fed.

    Attributes:
        source: "digits" (scikit-learn's 8x8 handwritten digits, real and offline), "synthetic" (a
            generated pattern task), "folder" (one sub-folder per class) or "tfds" (a
            tensorflow-datasets name: mnist, cifar10, cifar100, imagenette, imagenet2012, ...).
        name: the tfds dataset name.
        data_dir: tfds' data directory.
        path: the image folder (source "folder").
        test_path: a folder of test images, same classes (source "folder").
        train_split, test_split: tfds split names (`test_split = ""` for none).
        validation_split: the fraction of the training images held out for validation.
        test_fraction: digits and synthetic: the fraction held out as the test set.
        image_size: [height, width] the network sees (default: the source's size).
        load_size: [height, width] the images are first brought to; training then crops
            `image_size` at a random place and evaluation the centre (AlexNet and VGG: 256 -> 224).
        resize: how images reach `load_size` or `image_size`: "stretch" (bilinear resize) or
            "pad" (centred on a black canvas, or centre-cropped: LeNet-5's 28x28 digits in a 32x32
            field).
        channels: 1 or 3 (default: the source's).
        batch_size: images per step.
        normalize: "standardize" (per-channel mean and std of the training images), "unit"
            (divide by 255), "imagenet" (the ImageNet mean and std) or "none".
        classes, samples: the synthetic task's classes and number of images.
        shuffle_buffer: tf.data shuffle buffer.
        cache: keep decoded images in memory after the first epoch.
        augment: see `AugmentSection`.
    """

    source: Literal["digits", "synthetic", "folder", "tfds"]
    name: str | None = None
    data_dir: str | None = None
    path: str | None = None
    test_path: str | None = None
    train_split: str = "train"
    test_split: str = "test"
    validation_split: float = 0.1
    test_fraction: float = 0.2
    image_size: tuple[int, int] | None = None
    load_size: tuple[int, int] | None = None
    resize: Literal["stretch", "pad"] = "stretch"
    channels: int | None = None
    batch_size: int = 128
    normalize: Literal["standardize", "unit", "imagenet", "none"] = "standardize"
    classes: int = 10
    samples: int = 2000
    shuffle_buffer: int = 10_000
    cache: bool = True
    augment: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TrainSection:
    """`[train]`: the optimization.

    Attributes:
        epochs: epochs to train (a resumed run finishes this many in all).
        optimizer: "sgd", "adam", "adamw" or "rmsprop".
        learning_rate: the base learning rate.
        momentum: SGD and RMSprop momentum.
        nesterov: Nesterov momentum (SGD).
        weight_decay: decoupled weight decay, as Keras optimizers apply it (`w -= lr * wd * w`; for
            SGD this is the papers' L2 penalty up to the momentum term).
        decay_all: also decay BN's scale and shift and the biases (off: the common practice).
        schedule: "constant", "step" (x `gamma` at each of `milestones`, in epochs, or every
            `step_every` epochs), "cosine",
            "plateau" (x `gamma` when the validation loss stalls `patience` epochs: AlexNet's
            "divide by 10"), or "onecycle".
        milestones, step_every, gamma, patience, min_learning_rate: schedule settings.
        warmup_epochs: linear warm-up from 0 (step, cosine, constant).
        label_smoothing: e.g. 0.1 (Inception-v3).
        aux_loss_weights: one weight per auxiliary output (GoogLeNet: [0.3, 0.3]).
        seed: seeds Python, NumPy and the backend.
        mixed_precision: true, false or "auto" (on with a GPU).
        jit_compile: XLA: true, false or "auto" (Keras' choice).
        distribution: "auto" (all GPUs of this machine when there are several), "none",
            "mirrored" (tf.distribute.MirroredStrategy over this machine's devices: its GPUs, else
            its logical CPUs), or "multi_worker" (keras.distribution.DataParallel across
            processes and hosts, JAX backend: start `kerascnn train` once per worker).
        workers: "multi_worker": every worker's "host:port", the first one the coordinator.
        worker: "multi_worker": this process's index in `workers` (usually given per process:
            `--set train.worker=1`; default: the environment's KERAS_DISTRIBUTION_PROCESS_ID).
            Worker 0 writes the run directory; worker k writes `<dir>.worker<k>`.
        steps_per_execution: batches per compiled call.
    """

    epochs: int = 10
    optimizer: Literal["sgd", "adam", "adamw", "rmsprop"] = "sgd"
    learning_rate: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    decay_all: bool = False
    schedule: Literal["constant", "step", "cosine", "plateau", "onecycle"] = "constant"
    milestones: tuple[int, ...] = ()
    step_every: int = 0
    gamma: float = 0.1
    patience: int = 5
    min_learning_rate: float = 0.0
    warmup_epochs: int = 0
    label_smoothing: float = 0.0
    aux_loss_weights: tuple[float, ...] = ()
    seed: int = 0
    mixed_precision: Literal["auto"] | bool = "auto"
    jit_compile: Literal["auto"] | bool = "auto"
    distribution: Literal["auto", "none", "mirrored", "multi_worker"] = "auto"
    workers: tuple[str, ...] = ()
    worker: int | None = None
    steps_per_execution: int = 1


@dataclass(frozen=True)
class OutputSection:
    """`[output]`: the run directory (default `runs/<recipe file name>`) and TensorBoard logs."""

    dir: str | None = None
    tensorboard: bool = True


SECTIONS = {"model": ModelSection, "data": DataSection, "train": TrainSection,
            "output": OutputSection}
TOP_LEVEL = [*SECTIONS, "name", "description"]


@dataclass(frozen=True)
class Recipe:
    """A validated recipe. `document` is the resolved dict (overrides applied); `source` locates
    its keys in the file for later errors."""

    name: str
    model: ModelSection
    data: DataSection
    augment: AugmentSection
    train: TrainSection
    output: OutputSection
    document: dict
    source: Source = field(repr=False, compare=False)
    path: Path | None = None
    description: str = ""
    builder: str | None = None  # the Python function that builds the model, when not [model]

    @property
    def fingerprint(self) -> str:
        """A hash of everything that shapes the run but `train.epochs` (so a finished run can be
        extended) and `[output]`: a resumed run must have the same one."""
        doc = self.resolved()  # defaults filled in: the same run however it is written
        doc["train"].pop("epochs", None)
        for key in ("output", "description", "name"):
            doc.pop(key, None)
        if self.builder:
            doc["model"] = {"builder": self.builder}
        text = json.dumps(doc, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def run_dir(self) -> Path:
        if self.output.dir:
            return Path(self.output.dir)
        return Path("runs") / self.name

    def error(self, path: tuple, message: str, hint: str | None = None,
              value=None) -> ConfigError:
        return self.source.error(path, message, hint=hint, value=value)

    def resolved(self) -> dict:
        """The document with every default filled in (what `recipe.yaml` in a run directory holds)."""
        out = {"name": self.name}
        if self.description:
            out["description"] = self.description
        for key, section in (("model", self.model), ("data", self.data), ("train", self.train),
                             ("output", self.output)):
            values = {k: (list(v) if isinstance(v, tuple) else v)
                      for k, v in asdict(section).items()}
            out[key] = {k: v for k, v in values.items() if v is not None}
        out["data"]["augment"] = {k: (list(v) if isinstance(v, tuple) else v)
                                  for k, v in asdict(self.augment).items() if v is not None}
        if self.model.name is None and self.model.spec is None:
            del out["model"]  # built in Python (`builder`)
        return out


def is_recipe(document: dict) -> bool:
    """A recipe has a `[model]` or `[data]` table; a spec has stages."""
    return "model" in document or "data" in document


def load_recipe(source: str | Path | dict, overrides: list[str] | tuple[str, ...] = (),
                *, name: str | None = None) -> Recipe:
    """Read, override and validate a recipe (a file path or a dict).

    Raises:
        ConfigError: with file, line and key for anything wrong, before anything is built or read.
    """
    if isinstance(source, dict):
        document, src, path = copy.deepcopy(source), Source(), None
    else:
        path = Path(source)
        document, src = load_document(path)
    for text in overrides:
        key = apply_override(document, text)
        src.overrides[key] = text.strip()
    return validate_recipe(document, src, path=path, name=name)


def apply_override(document: dict, text: str) -> tuple[str, ...]:
    """`train.epochs=3` -> document["train"]["epochs"] = 3 (the value read as TOML); returns the
    key path."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    parts = key.split(".")
    if not sep or not key or not all(parts):
        raise ConfigError(f"--set expects KEY=VALUE such as train.epochs=3. Received: {text!r}.")
    if parts[0] not in TOP_LEVEL:
        from kerascnn.config.errors import did_you_mean

        raise ConfigError(f"--set {key}: unknown table {parts[0]!r}.",
                          hint=did_you_mean(parts[0], TOP_LEVEL)
                          or f"the tables are {', '.join(SECTIONS)}.")
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare word: a string
    node = document
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {key}: {'.'.join(parts[:i + 1])} is not a table.")
        node = child
    node[parts[-1]] = value
    return tuple(parts)


def validate_recipe(document: dict, source: Source | None = None, *, path: Path | None = None,
                    name: str | None = None) -> Recipe:
    source = source or Source()
    check_keys(document, TOP_LEVEL, path=(), source=source, owner="a recipe")
    sections = {}
    for key, cls in SECTIONS.items():
        raw = document.get(key, {})
        if not isinstance(raw, dict):
            raise source.error((key,), f"[{key}] must be a table. Received: {raw!r}.")
        if key == "data" and "source" not in raw:
            raise source.error((key,), "the recipe needs [data] with a `source`.",
                               hint="source = \"digits\", \"synthetic\", \"folder\" or \"tfds\".")
        sections[key] = cls(**check_call(cls, raw, path=(key,), source=source,
                                         what=f"[{key}]", skip=()))
    augment_raw = sections["data"].augment
    augment = AugmentSection(**check_call(AugmentSection, augment_raw, path=("data", "augment"),
                                          source=source, what="[data.augment]", skip=()))
    recipe_name = name or document.get("name") or (path.stem if path else "recipe")
    if not isinstance(recipe_name, str):
        raise source.error(("name",), f"expected a string. Received: {recipe_name!r}.")
    recipe = Recipe(name=recipe_name, model=sections["model"], data=sections["data"],
                    augment=augment, train=sections["train"], output=sections["output"],
                    document=document, source=source, path=path,
                    description=str(document.get("description", "")))
    _check_semantics(recipe)
    return recipe


def _check_semantics(r: Recipe) -> None:
    """What types cannot say: exclusive keys, ranges, keys a source needs."""
    m, d, a, t = r.model, r.data, r.augment, r.train
    if m.name is not None and m.spec is not None or ("model" in r.document and m.name is None
                                                      and m.spec is None):
        raise r.error(("model",), "give exactly one of `name` (a registered model) and `spec` "
                                  "(a spec file or table).")
    if m.name is not None:
        from kerascnn.zoo import get_model_info

        try:
            get_model_info(m.name)
        except ConfigError as e:
            raise r.error(("model", "name"), e.message, hint=e.hint) from None
    if m.spec is not None and m.options:
        raise r.error(("model", "options"), "`options` apply to a registered model; put the "
                                            "settings in the spec itself.")
    needs = {"tfds": "name", "folder": "path"}
    if d.source in needs and getattr(d, needs[d.source]) is None:
        raise r.error(("data",), f"source {d.source!r} needs `{needs[d.source]}`.")
    for key, value, low, high in [("validation_split", d.validation_split, 0.0, 0.9),
                                  ("test_fraction", d.test_fraction, 0.0, 0.9),
                                  ("label_smoothing", t.label_smoothing, 0.0, 0.99)]:
        if not low <= value <= high:
            section = "train" if key == "label_smoothing" else "data"
            raise r.error((section, key), f"must be between {low} and {high}. Received: {value!r}.")
    positive = [(("data", "batch_size"), d.batch_size), (("train", "epochs"), t.epochs),
                (("data", "samples"), d.samples), (("data", "classes"), d.classes),
                (("train", "steps_per_execution"), t.steps_per_execution)]
    if d.image_size is not None:
        positive += [(("data", "image_size"), min(d.image_size))]
    if d.load_size is not None:
        positive += [(("data", "load_size"), min(d.load_size))]
        if d.image_size is None or any(l < i for l, i in zip(d.load_size, d.image_size)):
            raise r.error(("data", "load_size"), f"crops of image_size are taken from load_size, so "
                                                 f"it needs image_size and must be at least as "
                                                 f"large. Received: load_size "
                                                 f"{list(d.load_size)}, image_size "
                                                 f"{list(d.image_size) if d.image_size else None}.")
    for key_path, value in positive:
        if value < 1:
            raise r.error(key_path, f"must be a positive integer. Received: {value!r}.")
    if d.channels not in (None, 1, 3):
        raise r.error(("data", "channels"), f"must be 1 or 3. Received: {d.channels!r}.")
    if d.source == "synthetic" and d.classes < 2:
        raise r.error(("data", "classes"), "a classification task needs at least 2 classes.")
    if a.crop_padding < 0:
        raise r.error(("data", "augment", "crop_padding"),
                      f"must be 0 or more. Received: {a.crop_padding!r}.")
    if a.scale is not None and not 0 < a.scale[0] <= a.scale[1] <= 1:
        raise r.error(("data", "augment", "scale"), f"must be [low, high] with 0 < low <= high "
                                                    f"<= 1. Received: {list(a.scale)}.")
    if t.learning_rate <= 0:
        raise r.error(("train", "learning_rate"), f"must be positive. Received: "
                                                  f"{t.learning_rate!r}.")
    if t.schedule == "step" and not t.milestones and not t.step_every:
        raise r.error(("train", "milestones"), "schedule 'step' needs milestones (the epochs at "
                                               "which the learning rate is multiplied by gamma) "
                                               "or step_every (every so many epochs).",
                      hint="milestones = [30, 60, 90] (the ResNet paper's ImageNet schedule).")
    if t.milestones and t.step_every:
        raise r.error(("train", "step_every"), "give milestones or step_every, not both.")
    if t.step_every < 0:
        raise r.error(("train", "step_every"), f"must be 0 or more. Received: {t.step_every!r}.")
    if sorted(set(t.milestones)) != list(t.milestones) or any(e < 1 for e in t.milestones):
        raise r.error(("train", "milestones"), f"must be increasing positive epochs. Received: "
                                               f"{list(t.milestones)}.")
    if t.schedule in ("plateau", "onecycle") and t.warmup_epochs:
        raise r.error(("train", "warmup_epochs"), f"schedule {t.schedule!r} sets the learning "
                                                  f"rate itself; remove warmup_epochs.")
    if t.distribution == "multi_worker":
        if not t.workers:
            raise r.error(("train", "workers"), "distribution 'multi_worker' needs the workers' "
                                                "addresses, the coordinator first.",
                          hint='workers = ["10.0.0.1:1234", "10.0.0.2:1234"].')
        for address in t.workers:
            host, _, port = address.rpartition(":")
            if not host or not port.isdigit():
                raise r.error(("train", "workers"), f"each worker is \"host:port\". Received: "
                                                    f"{address!r}.", value=address)
        worker = t.worker
        if worker is None:
            import os

            text = os.environ.get("KERAS_DISTRIBUTION_PROCESS_ID", "")
            if not text.isdigit():
                raise r.error(("train", "worker"), "which worker is this process? Give "
                                                   "--set train.worker=N (N from 0) or set "
                                                   "KERAS_DISTRIBUTION_PROCESS_ID.")
            worker = int(text)
        if not 0 <= worker < len(t.workers):
            raise r.error(("train", "worker"), f"must be between 0 and {len(t.workers) - 1} (the "
                                               f"number of workers - 1). Received: {worker!r}.")
    elif t.workers or t.worker is not None:
        raise r.error(("train", "workers" if t.workers else "worker"),
                      "workers and worker apply to distribution = \"multi_worker\" only.")
    if not 0 <= t.warmup_epochs < t.epochs:  # epochs >= 1 was checked above
        raise r.error(("train", "warmup_epochs"), f"must be between 0 and epochs - 1. Received: "
                                                  f"{t.warmup_epochs!r}.")


def dump(recipe: Recipe) -> str:
    """The resolved recipe as YAML (safe, loadable by `load_recipe`)."""
    import yaml

    return yaml.safe_dump(recipe.resolved(), sort_keys=False)


def describe_keys() -> str:
    """Every recipe key with its type and default, generated from the dataclasses (for the docs)."""
    import dataclasses

    from kerascnn.config.schema import describe, parameters

    lines = []
    for key, cls in [*SECTIONS.items(), ("data.augment", AugmentSection)]:
        lines.append(f"[{key}]")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for pname, p in parameters(cls, ()).items():
            f = fields[pname]
            if f.default is not dataclasses.MISSING:
                default = repr(f.default)
            elif f.default_factory is not dataclasses.MISSING:
                default = repr(f.default_factory())
            else:
                default = "required"
            lines.append(f"  {pname}: {describe(p.annotation)} (default {default})")
    return "\n".join(lines)

