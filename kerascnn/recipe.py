"""Recipes: one file that says model + data + training, validated before anything runs.

A recipe is TOML (or YAML) with four tables, each checked against the dataclass below that defines it
(unknown keys, wrong types and values outside the allowed ones are `ConfigError`s naming the file, line
and key, with a "did you mean" hint), so this module is also the reference of every recipe key:

```toml
[model]                      # ModelSection: a registry name with options, or a spec
name = "lenet5"

[data]                       # DataSection: digits | synthetic | glyphs | folder | tfds
source = "digits"
image_size = [32, 32]

[train]                      # TrainSection: optimizer, schedule, epochs, precision, distribution
epochs = 30
optimizer = "adam"
learning_rate = 0.001

[output]                     # OutputSection: where the run directory goes
dir = "runs/lenet5_digits"
```

A fine-tuning recipe has `[finetune]` (FinetuneSection: the starting weights, the new classifier) and
`[[finetune.phases]]` (PhaseSection: epochs, what to unfreeze, the phase's own learning rate) instead of
`[model]`; `kerascnn.train.phases` runs it.

Command-line overrides (`--set train.epochs=3`) are applied to the parsed document before validation,
their values read as TOML values (`3`, `0.1`, `true`, `"text"`, `[32, 32]`; bare words are strings).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from kerascnn.config import ConfigError, Source, check_call, check_keys, load_document

__all__ = ["load_recipe", "Recipe", "ModelSection", "DataSection", "AugmentSection",
           "TrainSection", "FinetuneSection", "PhaseSection", "TuneSection", "SpaceEntry",
           "OutputSection", "apply_override", "validate_recipe", "is_recipe", "with_values",
           "space_points", "space_entry_problem", "dump"]

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
    """`[data.augment]`: training-time augmentation, in tf.data. Each image draws its own crop and
    flip; crops and flips are computed a batch at a time (one gather, 1.7x the images/s of one
    image at a time), the random-resized crop (`scale`) an image at a time.

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
            generated pattern task), "glyphs" (generated handwriting, an Omniglot in miniature:
            as many classes as asked, 32x32 by default), "folder" (one sub-folder per class) or
            "tfds" (a tensorflow-datasets name: mnist, cifar10, cifar100, imagenette, ...).
        name: the tfds dataset name.
        data_dir: tfds' data directory.
        path: the image folder (source "folder").
        test_path: a folder of test images, same classes (source "folder").
        train_split, test_split: tfds split names (`test_split = ""` for none).
        validation_split: the fraction of the training images held out for validation.
        test_fraction: digits, synthetic and glyphs: the fraction held out as the test set.
        image_size: [height, width] the network sees (default: the source's size).
        load_size: [height, width] the images are first brought to; training then crops
            `image_size` at a random place and evaluation the centre (AlexNet and VGG: 256 -> 224).
        resize: how images reach `load_size` or `image_size`: "stretch" (resized to it), "pad"
            (centred on a black canvas, or centre-cropped: LeNet-5's 28x28 digits in a 32x32
            field) or "shorter" (the shorter side resized to it, the aspect kept, the centre
            cropped: timm's and torchvision's evaluation resize).
        interpolation: "bilinear" or "bicubic" (timm's weights mostly say bicubic).
        channels: 1 or 3 (default: the source's).
        batch_size: images per step.
        normalize: "standardize" (per-channel mean and std of the training images), "unit"
            (divide by 255), "imagenet" (the ImageNet mean and std: keras.applications' "torch"
            mode), "caffe" (RGB to BGR, the ImageNet mean subtracted, no scaling: what
            keras.applications' VGG and ResNet weights expect), "tf" (to [-1, 1]: ResNetV2,
            InceptionResNetV2) or "none".
        classes, samples: the generated tasks' (synthetic, glyphs) classes and number of images.
        class_subset: keep only these classes of the source (by label index), renumbered 0, 1, ...
            in this order: a split of one dataset into two tasks (CIFAR-10's animals and vehicles).
        train_per_class: keep this many training images of each class (digits, synthetic,
            glyphs; drawn with the seed): learning from few labelled examples.
        shuffle_buffer: tf.data shuffle buffer.
        cache: keep decoded images in memory after the first epoch.
        bad_images: what to do with image files that cannot be read (source "folder"; every
            image is decoded once before training and the result remembered): "error" (stop
            before the first epoch, naming them) or "skip" (train without them; the run's log and
            metrics.json name them). Files in formats TensorFlow cannot decode (TIFF, HEIC, ...)
            count as unreadable; WebP is read.
        autotune: let tf.data's autotuner choose parallelism and buffer sizes while training
            (off: every parallel map uses one thread per core, prefetching still adapts). Off by
            default: on a 2-core machine the autotuner left one core idle in about a third of
            the epochs, halving their speed (BENCHMARKS.md).
        augment: see `AugmentSection`.
    """

    source: Literal["digits", "synthetic", "glyphs", "folder", "tfds"]
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
    resize: Literal["stretch", "pad", "shorter"] = "stretch"
    interpolation: Literal["bilinear", "bicubic"] = "bilinear"
    channels: int | None = None
    batch_size: int = 128
    normalize: Literal["standardize", "unit", "imagenet", "caffe", "tf", "none"] = "standardize"
    classes: int = 10
    samples: int = 2000
    class_subset: tuple[int, ...] = ()
    train_per_class: int | None = None
    shuffle_buffer: int = 10_000
    cache: bool = True
    bad_images: Literal["error", "skip"] = "error"
    autotune: bool = False
    augment: dict = field(default_factory=dict)


Optimizer = Literal["sgd", "adam", "adamw", "rmsprop"]
Schedule = Literal["constant", "step", "cosine", "plateau", "onecycle"]


@dataclass(frozen=True)
class TrainSection:
    """`[train]`: the optimization.

    Attributes:
        epochs: epochs to train (a resumed run finishes this many in all).
        optimizer: "sgd", "adam", "adamw" or "rmsprop". The default, Adam at 0.001 with a
            constant rate (Keras' own default), trains every small zoo network on the offline data
            from the first epoch; the papers' settings (SGD with momentum 0.9 at 0.1 and a step
            schedule, for the ResNets) are written out in their recipes.
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
        mixed_precision: true, false or "auto": mixed bfloat16 where the device computes in it
            natively (GPUs of compute capability 8.0 and later; CPUs with AMX or AVX-512 BF16 under
            TensorFlow), float16 on older GPUs, float32 elsewhere.
        jit_compile: XLA: true, false or "auto" (Keras' choice: on with a GPU; off on a CPU,
            where it made training 22-33% slower, BENCHMARKS.md).
        distribution: "auto" (all GPUs of this machine when there are several), "none",
            "mirrored" (tf.distribute.MirroredStrategy over this machine's devices: its GPUs, else
            its logical CPUs), or "multi_worker" (keras.distribution.DataParallel across
            processes and hosts, JAX backend: start `kerascnn train` once per worker).
        workers: "multi_worker": every worker's "host:port", the first one the coordinator.
        worker: "multi_worker": this process's index in `workers` (usually given per process:
            `--set train.worker=1`; default: the environment's KERAS_DISTRIBUTION_PROCESS_ID).
            Worker 0 writes the run directory; worker k writes `<dir>.worker<k>`.
        steps_per_execution: batches per compiled call, or "auto": 8 on TensorFlow, 1 under
            MirroredStrategy (Keras cannot run several there), on JAX (which unrolls them into
            one program) and on PyTorch. Batch-level callbacks then run once per call.
    """

    epochs: int = 10
    optimizer: Optimizer = "adam"
    learning_rate: float = 0.001
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    decay_all: bool = False
    schedule: Schedule = "constant"
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
    steps_per_execution: Literal["auto"] | int = "auto"


@dataclass(frozen=True)
class FinetuneSection:
    """`[finetune]`: start from trained weights instead of `[model]`, put a new classifier on, and
    train in phases (`[[finetune.phases]]`), each a resumable run of its own.

    Attributes:
        weights: where the starting weights come from: a run directory (its `model.keras`; its
            `data.json` also gives the normalization, as the pretrained layers expect it) or a
            `.keras` file; timm's weights: a Hub id ("timm/seresnext50_32x4d.racm_in1k"), a timm
            `model.safetensors` file with timm's `config.json` beside it (as `huggingface-cli
            download` leaves them), or "imagenet" with `model`: the images are then normalized as
            the weights expect (their mean and std); with `application`, "imagenet" (downloaded by
            keras.applications) or the path of that application's weights file.
        model: with timm's weights, the zoo network to build ("resnet50"; default: the one the Hub
            id names). See `kerascnn list --pretrained`.
        application: a keras.applications network ("ResNet50", "VGG16", "DenseNet121", ...) whose
            weights are ported into the zoo's equivalent (`kerascnn port`), with kerascnn's layer
            names; `[data] normalize` must then be the network's own ("caffe", "tf", "imagenet").
        new_head: replace the classifier by a new one for the data's classes (off: train the
            start's own classifier on, for data with the same classes).
        dropout: dropout before the new classifier.
        keep_hidden: keep the start's hidden fully connected layers (VGG's FC-4096s) under the new
            classifier; off: the new classifier sits right on the pooled features (with
            `application`, off gives the network without its top, at any input size).
        phases: the phases, in order (see `PhaseSection`).
    """

    weights: str
    model: str | None = None
    application: str | None = None
    new_head: bool = True
    dropout: float = 0.0
    keep_hidden: bool = True
    phases: tuple[dict, ...] = ()

    @property
    def timm(self) -> bool:
        """Starting from timm's weights (a Hub id, a model.safetensors, or "imagenet" with
        `model`)."""
        from kerascnn.zoo.pretrained import hub_id_of

        return self.application is None and (self.model is not None
                                             or hub_id_of(self.weights) is not None
                                             or self.weights.endswith(".safetensors"))

    @property
    def normalized_by_start(self) -> bool:
        """The start says how to normalize: a run directory (its data.json), or timm's weights
        (their mean and std: kerascnn's table, or timm's config.json beside the file)."""
        return self.timm or (self.application is None and not self.weights.endswith(".keras"))


# The [train] keys a phase may set for itself; the others (seed, precision, distribution, ...)
# hold for the whole recipe.
PHASE_TRAIN_KEYS = ("optimizer", "learning_rate", "momentum", "nesterov", "weight_decay",
                    "schedule", "milestones", "step_every", "gamma", "patience",
                    "min_learning_rate", "warmup_epochs", "label_smoothing")


@dataclass(frozen=True)
class PhaseSection:
    """`[[finetune.phases]]`: one phase of fine-tuning. It starts from the previous phase's best
    weights (the first from `weights`), trains what `unfreeze` names and the new classifier, and
    is a run directory of its own inside the recipe's (`<dir>/<n>-<name>/`), resumed like any run;
    a finished phase is kept, never trained again.

    Attributes:
        epochs: this phase's epochs.
        name: names the phase's directory (default "phase<n>").
        unfreeze: what trains besides the classifier: "none" (the classifier alone: the start is
            a fixed feature extractor), "all", a stage or layer-name prefix ("stage4": that stage
            and everything after it), a list of prefixes (just those layers), an integer K (the
            top K stages that have weights) or a fraction (the top fraction of the layers).
        batchnorm: let the unfrozen BatchNormalization layers train and update their statistics
            (off: they stay in inference mode; see `kerascnn.finetune`).
        optimizer, learning_rate, momentum, nesterov, weight_decay, schedule, milestones,
            step_every, gamma, patience, min_learning_rate, warmup_epochs, label_smoothing: this
            phase's own, instead of `[train]`'s (a smaller learning rate for deeper unfreezing).
    """

    epochs: int
    name: str | None = None
    unfreeze: str | tuple[str, ...] | int | float = "none"
    batchnorm: bool = False
    optimizer: Optimizer | None = None
    learning_rate: float | None = None
    momentum: float | None = None
    nesterov: bool | None = None
    weight_decay: float | None = None
    schedule: Schedule | None = None
    milestones: tuple[int, ...] | None = None
    step_every: int | None = None
    gamma: float | None = None
    patience: int | None = None
    min_learning_rate: float | None = None
    warmup_epochs: int | None = None
    label_smoothing: float | None = None

    def directory(self, index: int) -> str:
        return f"{index + 1}-{self.name or f'phase{index + 1}'}"


@dataclass(frozen=True)
class TuneSection:
    """`[tune]`: a hyperparameter search over the recipe's own keys with keras-tuner
    (`kerascnn tune RECIPE`; `kerascnn train` ignores this table).

    Attributes:
        tuner: "random" (RandomSearch), "hyperband" (Hyperband) or "bayesian"
            (BayesianOptimization).
        objective: the metric to optimize, as Keras logs it: "val_accuracy", "val_loss", ...
        direction: "max" or "min" (default: max for accuracies, min otherwise).
        max_trials: trials to run (random, bayesian).
        executions_per_trial: models trained per trial, their objective averaged.
        max_epochs: hyperband's most epochs for one model (default train.epochs).
        factor, hyperband_iterations: hyperband's reduction factor and brackets' repeats.
        max_consecutive_failed_trials: stop the search after this many failed trials in a row.
        space: `"key.path" = {type = ...}` per tuned recipe key (see `SpaceEntry`), e.g.
            `"train.learning_rate" = {type = "float", min = 1e-4, max = 1e-1, sampling = "log"}`.
    """

    tuner: Literal["random", "hyperband", "bayesian"] = "random"
    objective: str = "val_accuracy"
    direction: Literal["min", "max"] | None = None
    max_trials: int = 10
    executions_per_trial: int = 1
    max_epochs: int | None = None
    factor: int = 3
    hyperband_iterations: int = 1
    max_consecutive_failed_trials: int = 3
    space: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SpaceEntry:
    """One tuned key of `[tune.space]`: a keras-tuner hyperparameter.

    Attributes:
        type: "choice" (`values`), "int" or "float" (`min`, `max`, `step`, `sampling`),
            "boolean", or "fixed" (`value`).
        values: the choices (numbers, strings or booleans, all of one kind).
        min, max, step: the range (inclusive) and its step.
        sampling: "linear", "log" or "reverse_log".
        value: a fixed value.
        default: the value tried first (default: keras-tuner's, the first choice or `min`).
    """

    type: Literal["choice", "int", "float", "boolean", "fixed"]
    values: tuple[Any, ...] | None = None
    min: float | None = None
    max: float | None = None
    step: float | None = None
    sampling: Literal["linear", "log", "reverse_log"] = "linear"
    value: Any = None
    default: Any = None


@dataclass(frozen=True)
class OutputSection:
    """`[output]`: where the run goes.

    Attributes:
        dir: the run directory (default `runs/<recipe name>`, relative to where the command runs;
            `--output` on the command line).
        tensorboard: write TensorBoard logs to `<dir>/logs`.
    """

    dir: str | None = None
    tensorboard: bool = True


SECTIONS = {"model": ModelSection, "data": DataSection, "train": TrainSection,
            "finetune": FinetuneSection, "tune": TuneSection, "output": OutputSection}
OPTIONAL = ("finetune", "tune")  # tables a recipe may leave out entirely
TOP_LEVEL = [*SECTIONS, "name", "description"]


@dataclass(frozen=True)
class Recipe:
    """A validated recipe. `document` is the resolved dict (overrides applied); `source` locates
    its keys in the file for later errors. A fine-tuning recipe has `finetune` and its `phases`;
    `phase_recipe(i, ...)` is the recipe of its phase i (`phase` set, `[train]` as that phase
    trains)."""

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
    finetune: FinetuneSection | None = None
    phases: tuple[PhaseSection, ...] = ()
    phase: int | None = None  # set in the recipe of one fine-tuning phase
    tune: TuneSection | None = None
    space: dict[str, SpaceEntry] = field(default_factory=dict)  # [tune.space], validated

    @property
    def fingerprint(self) -> str:
        """A hash of everything that shapes the run but the epochs (so an unfinished run can be
        extended) and `[output]`: a resumed run must have the same one."""
        doc = self.resolved()  # defaults filled in: the same run however it is written
        doc["train"].pop("epochs", None)
        for phase in doc.get("finetune", {}).get("phases", []):
            phase.pop("epochs", None)
        for key in ("output", "description", "name", "tune"):  # training ignores [tune]
            doc.pop(key, None)
        if self.builder and self.phase is None:  # a phase's model is its [finetune]'s
            doc["model"] = {"builder": self.builder}
        if self.phase is not None:
            doc["phase"] = self.phase
        text = json.dumps(doc, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def run_dir(self) -> Path:
        if self.output.dir:
            return Path(self.output.dir)
        return Path("runs") / self.name

    def error(self, path: tuple, message: str, hint: str | None = None,
              value=None) -> ConfigError:
        path = tuple(path)
        if (self.phase is not None and path[:1] == ("train",) and len(path) > 1
                and path[1] in self.document["finetune"]["phases"][self.phase]):
            path = ("finetune", "phases", self.phase, *path[1:])  # the phase set it
        return self.source.error(path, message, hint=hint, value=value)

    def resolved(self) -> dict:
        """The document with every default filled in (what `recipe.yaml` in a run directory holds)."""
        out = {"name": self.name}
        if self.description:
            out["description"] = self.description
        sections = [("model", self.model), ("data", self.data), ("train", self.train)]
        if self.finetune is not None:
            sections.append(("finetune", self.finetune))
        if self.tune is not None:
            sections.append(("tune", self.tune))
        for key, section in [*sections, ("output", self.output)]:
            out[key] = _plain(section)
        out["data"]["augment"] = _plain(self.augment)
        if self.tune is not None:
            out["tune"]["space"] = {k: _plain(v) for k, v in self.space.items()}
        if self.finetune is not None:  # leave out what does not apply, so that it loads again
            out["finetune"]["phases"] = [_plain(p) for p in self.phases]
            out["train"].pop("epochs")  # each phase's own
            if self.finetune.normalized_by_start:
                out["data"].pop("normalize")
        if self.model.name is None and self.model.spec is None:
            del out["model"]  # built in Python (`builder`), or started from weights (`finetune`)
        return out

    def phase_recipe(self, index: int, parent: Path) -> Recipe:
        """The recipe of phase `index`: `[train]` with the phase's own keys, its run directory
        inside `parent` (the fine-tuning run's directory)."""
        phase = self.phases[index]
        own = {k: v for k, v in asdict(phase).items() if k in PHASE_TRAIN_KEYS and v is not None}
        train = dataclasses.replace(self.train, epochs=phase.epochs, **own)
        output = dataclasses.replace(self.output, dir=str(Path(parent) / phase.directory(index)))
        return dataclasses.replace(self, train=train, output=output, phase=index,
                                   name=f"{self.name}/{phase.directory(index)}")


def _plain(section) -> dict:
    """A section as plain data: tuples as lists, unset (None) keys left out."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(section).items()
            if v is not None}


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
    path: tuple = ()
    for i, part in enumerate(parts):
        if isinstance(node, list):  # finetune.phases.1.epochs: an index into an array of tables
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"--set {key}: {'.'.join(parts[:i])} has {len(node)} entries, "
                                  f"numbered from 0. Received: {part!r}.")
            part = int(part)
        elif not isinstance(node, dict):
            raise ConfigError(f"--set {key}: {'.'.join(parts[:i])} is not a table.")
        path += (part,)
        if i == len(parts) - 1:
            node[part] = value
        elif isinstance(node, dict):
            node = node.setdefault(part, {})
        else:
            node = node[part]
    return path


def validate_recipe(document: dict, source: Source | None = None, *, path: Path | None = None,
                    name: str | None = None) -> Recipe:
    """Validate a recipe document (already read and overridden) into a `Recipe`.

    Raises:
        ConfigError: the first problem, located by key path (and file and line from `source`).
    """
    source = source or Source()
    check_keys(document, TOP_LEVEL, path=(), source=source, owner="a recipe")
    sections = {key: None for key in OPTIONAL}
    for key, cls in SECTIONS.items():
        if key in OPTIONAL and key not in document:
            continue
        raw = document.get(key, {})
        if not isinstance(raw, dict):
            raise source.error((key,), f"[{key}] must be a table. Received: {raw!r}.")
        if key == "data" and "source" not in raw:
            raise source.error((key,), "the recipe needs [data] with a `source`.",
                               hint="source = \"digits\", \"synthetic\", \"folder\" or \"tfds\".")
        sections[key] = cls(**check_call(cls, raw, path=(key,), source=source,
                                         what=f"[{key}]", skip=()))
    phases = ()
    if sections["finetune"] is not None:
        phases = tuple(_phase(raw, i, source)
                       for i, raw in enumerate(sections["finetune"].phases))
    augment_raw = sections["data"].augment
    augment = AugmentSection(**check_call(AugmentSection, augment_raw, path=("data", "augment"),
                                          source=source, what="[data.augment]", skip=()))
    recipe_name = name or document.get("name") or (path.stem if path else "recipe")
    if not isinstance(recipe_name, str):
        raise source.error(("name",), f"expected a string. Received: {recipe_name!r}.")
    recipe = Recipe(name=recipe_name, model=sections["model"], data=sections["data"],
                    augment=augment, train=sections["train"], output=sections["output"],
                    document=document, source=source, path=path,
                    description=str(document.get("description", "")),
                    finetune=sections["finetune"], phases=phases, tune=sections["tune"],
                    space=_space(sections["tune"], source))
    _check_semantics(recipe)
    if recipe.finetune is not None:
        _check_finetune(recipe)
    if recipe.tune is not None:
        _check_tune(recipe)
    return recipe


def _space(tune: TuneSection | None, source: Source) -> dict[str, SpaceEntry]:
    if tune is None:
        return {}
    out = {}
    for key, raw in tune.space.items():
        path = ("tune", "space", key)
        if not isinstance(raw, dict):
            raise source.error(path, f"each tuned key takes a table such as {{type = \"choice\", "
                                     f"values = [...]}}. Received: {raw!r}.")
        out[key] = SpaceEntry(**check_call(SpaceEntry, raw, path=path, source=source,
                                           what="a tuned key", skip=()))
    return out


def space_points(space: dict[str, SpaceEntry]) -> list[tuple[str, object]]:
    """(key, value) pairs that together cover every end of a search space: each choice, each
    range's min and max, both booleans, the fixed values."""
    points = []
    for key, entry in space.items():
        if entry.type == "choice":
            points += [(key, v) for v in entry.values]
        elif entry.type in ("int", "float"):
            cast = int if entry.type == "int" else float
            points += [(key, cast(entry.min)), (key, cast(entry.max))]
        elif entry.type == "boolean":
            points += [(key, True), (key, False)]
        else:
            points.append((key, entry.value))
    return points


def with_values(recipe: Recipe, values: dict) -> Recipe:
    """The recipe with `values` ({"train.learning_rate": 0.01, ...}) set, validated anew, without
    its [tune] (a trial's recipe, or the best one)."""
    document = copy.deepcopy(recipe.document)
    document.pop("tune", None)
    for key, value in values.items():
        node = document
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = list(value) if isinstance(value, tuple) else value
    return validate_recipe(document, recipe.source, path=recipe.path, name=recipe.name)


def space_entry_problem(entry: SpaceEntry) -> tuple[tuple, str] | None:
    """What is wrong with one search-space entry on its own, as (sub-path, message); None if
    nothing. Shared by `[tune.space]` and `kerascnn.hypermodel.HyperCNN(space=...)`."""
    needs = {"choice": ("values",), "int": ("min", "max"), "float": ("min", "max"),
             "fixed": ("value",), "boolean": ()}[entry.type]
    missing = [n for n in needs if getattr(entry, n) is None]
    if missing:
        return (), f"type {entry.type!r} needs {' and '.join(missing)}."
    if entry.type == "choice":
        kinds = {type(v) for v in entry.values}
        if not entry.values or len(kinds) > 1 or not kinds <= {int, float, str, bool}:
            return ("values",), (f"give one or more values of one kind (numbers, strings or "
                                 f"booleans). Received: {list(entry.values)}.")
    if entry.type in ("int", "float"):
        if entry.min > entry.max:
            return (), f"min must not exceed max. Received: min {entry.min}, max {entry.max}."
        if entry.sampling != "linear" and entry.min <= 0:
            return ("sampling",), (f"{entry.sampling} sampling needs min > 0. Received: min "
                                   f"{entry.min}.")
        if entry.type == "int" and any(v is not None and v != int(v)
                                       for v in (entry.min, entry.max, entry.step)):
            return (), "an int range needs whole min, max and step."
    return None


def _check_tune(r: Recipe) -> None:
    """The search space: every key a recipe key, every end of every range a valid value for it
    (checked one at a time on the recipe; combinations are the trials' business)."""
    t = r.tune
    for key, value in [("max_trials", t.max_trials), ("executions_per_trial",
                                                       t.executions_per_trial),
                       ("max_consecutive_failed_trials", t.max_consecutive_failed_trials),
                       ("hyperband_iterations", t.hyperband_iterations),
                       ("max_epochs", t.max_epochs or 1)]:
        if value < 1:
            raise r.error(("tune", key), f"must be a positive integer. Received: {value!r}.")
    if t.factor < 2:
        raise r.error(("tune", "factor"), f"must be 2 or more. Received: {t.factor!r}.")
    objectives = ["val_accuracy", "val_loss", "accuracy", "loss"]
    if t.objective not in objectives:
        from kerascnn.config.errors import did_you_mean

        raise r.error(("tune", "objective"), f"must be a metric the training logs: "
                                             f"{', '.join(objectives)}. Received: "
                                             f"{t.objective!r}.",
                      hint=did_you_mean(t.objective, objectives))
    if t.objective.startswith("val_") and r.data.validation_split == 0 and r.data.source != "tfds":
        raise r.error(("tune", "objective"), f"{t.objective!r} needs validation data; "
                                             f"data.validation_split is 0.")
    if not r.space:
        raise r.error(("tune", "space"), "nothing to tune: give [tune.space] at least one key.",
                      hint='"train.learning_rate" = {type = "float", min = 1e-4, max = 0.1, '
                           'sampling = "log"}.')
    for key, entry in r.space.items():
        path = ("tune", "space", key)
        root = key.split(".")[0]
        if root not in ("model", "data", "train", "finetune") or "." not in key:
            raise r.error(path, f"a tuned key is a recipe key path such as "
                                f"\"train.learning_rate\" in [model], [data], [train] or "
                                f"[finetune]. Received: {key!r}.")
        problem = space_entry_problem(entry)
        if problem:
            raise r.error(path + problem[0], problem[1])
    for key, value in space_points(r.space):
        try:
            with_values(r, {key: value})
        except ConfigError as e:
            raise r.error(("tune", "space", key), f"the value {value!r} does not make a valid "
                                                  f"recipe: {e}") from None


def _phase(raw, index: int, source: Source) -> PhaseSection:
    path = ("finetune", "phases", index)
    if not isinstance(raw, dict):
        raise source.error(path, f"each phase is a table ([[finetune.phases]]). Received: "
                                 f"{raw!r}.")
    return PhaseSection(**check_call(PhaseSection, raw, path=path, source=source,
                                     what="a phase", skip=()))


def _check_finetune(r: Recipe) -> None:
    """A fine-tuning recipe: where its weights come from, its phases, and each phase's training
    checked as a recipe of its own (an error names the phase's key when the phase set it)."""
    f = r.finetune
    if "model" in r.document:
        raise r.error(("model",), "a recipe with [finetune] starts from its `weights`; remove "
                                  "[model].")
    if "epochs" in r.document.get("train", {}):
        raise r.error(("train", "epochs"), "each fine-tuning phase gives its own epochs; remove "
                                           "train.epochs.")
    if not r.phases:
        raise r.error(("finetune",), "give at least one phase.",
                      hint='[[finetune.phases]] with epochs = 5 (and unfreeze = "none": the new '
                           'classifier alone).')
    if not f.weights:
        raise r.error(("finetune", "weights"), "must name a run directory, a .keras file or, "
                                               "with application, \"imagenet\".")
    if f.model is not None and f.application is not None:
        raise r.error(("finetune", "model"), "give `model` (timm's weights) or `application` "
                                             "(keras.applications'), not both.")
    if f.application is not None:
        from kerascnn.zoo.port import find_source

        try:
            source = find_source(f.application)
        except ConfigError as e:
            raise r.error(("finetune", "application"), e.message, hint=e.hint) from None
        expected = source.preprocessing
        if r.data.normalize != expected:
            raise r.error(("data", "normalize"), (
                f"{source.application}'s weights expect inputs normalized as "
                f"keras.applications prepares them: normalize = \"{expected}\". Received: "
                f"{r.data.normalize!r}."))
    elif f.timm:
        from kerascnn.zoo.pretrained import hub_id_of

        if f.model is not None:
            from kerascnn.zoo import get_model_info

            try:
                get_model_info(f.model)
            except ConfigError as e:
                raise r.error(("finetune", "model"), e.message, hint=e.hint) from None
        elif f.weights == "imagenet" or hub_id_of(f.weights) is None:
            raise r.error(("finetune", "model"), "timm's weights in a file, or \"imagenet\", need "
                                                 "the network: give `model`.",
                          hint='model = "resnet50".')
        if "normalize" in r.document.get("data", {}):
            raise r.error(("data", "normalize"), "timm's weights say how their images are "
                                                 "normalized (their mean and std); remove "
                                                 "data.normalize.")
    elif f.weights == "imagenet":
        raise r.error(("finetune", "weights"), "\"imagenet\" needs the network: `model` (timm's "
                                               "weights, kerascnn list --pretrained) or "
                                               "`application` (keras.applications').",
                      hint='model = "resnet50".')
    elif f.normalized_by_start and "normalize" in r.document.get("data", {}):
        raise r.error(("data", "normalize"), "fine-tuning from a run directory normalizes the "
                                             "images as that run did (its data.json); remove "
                                             "data.normalize.")
    if not f.new_head and (f.dropout or "keep_hidden" in r.document["finetune"]):
        raise r.error(("finetune", "new_head"), "dropout and keep_hidden shape the new "
                                                "classifier; with new_head = false there is none.")
    if not 0.0 <= f.dropout < 1.0:
        raise r.error(("finetune", "dropout"), f"must be between 0 and 1. Received: "
                                               f"{f.dropout!r}.")
    if r.train.distribution == "multi_worker":
        raise r.error(("train", "distribution"), "fine-tuning phases run on one process; "
                                                 "'multi_worker' is not supported with "
                                                 "[finetune].")
    names = set()
    for i, phase in enumerate(r.phases):
        where = ("finetune", "phases", i)
        if phase.name is not None and not re.fullmatch(r"[A-Za-z0-9_-]+", phase.name):
            raise r.error(where + ("name",), f"names a directory: letters, digits, _ and - "
                                             f"only. Received: {phase.name!r}.")
        if phase.name is not None and phase.name in names:
            raise r.error(where + ("name",), f"two phases are called {phase.name!r}.")
        names.add(phase.name)
        u = phase.unfreeze
        if isinstance(u, float) and not 0.0 <= u <= 1.0:
            raise r.error(where + ("unfreeze",), f"a fraction must be between 0 and 1. "
                                                 f"Received: {u!r}.")
        if isinstance(u, int) and not isinstance(u, bool) and u < 0:
            raise r.error(where + ("unfreeze",), f"the number of top stages must be 0 or more. "
                                                 f"Received: {u!r}.")
        if isinstance(u, tuple) and not u:
            raise r.error(where + ("unfreeze",), "an empty list unfreezes nothing: write "
                                                 "\"none\".")
        _check_semantics(r.phase_recipe(i, r.run_dir()))


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
    for key, where in (("classes", "the data's classes"),
                       ("input_shape", "data.image_size and data.channels")):
        if key in m.options:
            raise r.error(("model", "options", key), f"the model's {key} come from {where}; it "
                                                     f"cannot be set here. Received: "
                                                     f"{m.options[key]!r}.",
                          hint="for a subset of a dataset's classes, set data.class_subset."
                          if key == "classes" else "set data.image_size = [height, width].")
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
                (("train", "steps_per_execution"),
                 1 if t.steps_per_execution == "auto" else t.steps_per_execution)]
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
    if d.source in ("synthetic", "glyphs") and d.classes < 2 and not d.class_subset:
        raise r.error(("data", "classes"), "a classification task needs at least 2 classes.")
    if d.class_subset and (len(set(d.class_subset)) != len(d.class_subset)
                           or len(d.class_subset) < 2 or min(d.class_subset) < 0):
        raise r.error(("data", "class_subset"), f"must list at least 2 different class indices "
                                                f"(from 0). Received: {list(d.class_subset)}.")
    if d.train_per_class is not None:
        if d.source in ("folder", "tfds"):
            raise r.error(("data", "train_per_class"), f"applies to the sources read into memory "
                                                       f"(digits, synthetic, glyphs), not "
                                                       f"{d.source!r}.",
                          hint="copy the images you want into a folder of their own.")
        if d.train_per_class < 1:
            raise r.error(("data", "train_per_class"), f"must be a positive integer. Received: "
                                                       f"{d.train_per_class!r}.")
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
