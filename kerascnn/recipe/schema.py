"""The recipe's schema: one frozen dataclass per table, its fields the keys, their annotations the
types `kerascnn.config.check_call` validates against, their docstrings the meanings that
docs/recipes.md is generated from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from kerascnn.zoo.weights.starts import kind_of

__all__ = [
    "ModelSection",
    "DataSection",
    "AugmentSection",
    "TrainSection",
    "FinetuneSection",
    "PhaseSection",
    "TuneSection",
    "SpaceEntry",
    "OutputSection",
    "SECTIONS",
    "OPTIONAL",
    "TOP_LEVEL",
    "PHASE_TRAIN_KEYS",
]


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
    """`[data.augment]`: training-time augmentation, the same on either input path (tf.data, or
    grain's NumPy: `data.pipeline`; crops and flips also on the device, `data.on_device`). Each
    image draws its own crop and flip; crops and flips are computed a batch at a time (one gather,
    1.7x the images/s of one image at a time), the random-resized crop (`scale`) an image at a
    time.

    Attributes:
        crop_padding: pad by this many pixels, then crop back at a random place (the CIFAR
            augmentation of the ResNet paper: 4).
        flip: random horizontal flips.
        scale: random-resized crop (AlexNet/GoogLeNet style): the crop covers this range of the
            image's area, e.g. [0.08, 1.0], and is resized to `image_size`.
        ratio: the crop's aspect-ratio range with `scale`.
        randaugment: RandAugment's N (Cubuk et al. 2020; `keras.layers.RandAugment`): operations
            per image after the crops and flips (0: off).
        randaugment_magnitude: their strength, in (0, 1].
        mixup: MixUp's alpha (Zhang et al. 2018; `keras.layers.MixUp`; 0: off): images and one-hot
            labels mixed with the same lam ~ Beta(alpha, alpha).
        cutmix: CutMix's alpha in (0, 1] (Yun et al. 2019; `keras.layers.CutMix`; 0: off): a box of
            another image pasted in, the labels mixed by its share of the pixels. With `mixup`, one
            of the two per batch (timm's switch). The loss follows the soft labels.
    """

    crop_padding: int = 0
    flip: bool = False
    scale: tuple[float, float] | None = None
    ratio: tuple[float, float] = (0.75, 4.0 / 3.0)
    randaugment: int = 0
    randaugment_magnitude: float = 0.5
    mixup: float = 0.0
    cutmix: float = 0.0


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
        train_split: the tfds split trained on (its last `validation_split` held out, e.g.
            "train[:90%]" and "train[90%:]").
        test_split: the tfds split tested on (`test_split = ""`: none).
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
        classes: the generated tasks' (synthetic, glyphs) number of classes.
        samples: the generated tasks' number of images, over every split.
        class_subset: keep only these classes of the source (by label index), renumbered 0, 1, ...
            in this order: a split of one dataset into two tasks (CIFAR-10's animals and vehicles).
        train_per_class: keep this many training images of each class (digits, synthetic,
            glyphs; drawn with the seed): learning from few labelled examples.
        seed: the seed of the data itself: generated images (synthetic, glyphs), the test and
            validation splits and `train_per_class`'s draw (default: `train.seed`). Runs that
            differ only in `train.seed` with the same `data.seed` see the same images and splits
            and differ in initialization, order and augmentation (the members of an ensemble).
        shuffle_buffer: tf.data shuffle buffer.
        cache: keep decoded images in memory after the first epoch.
        bad_images: what to do with image files that cannot be read (source "folder"; every
            image is decoded once before training and the result remembered): "error" (stop
            before the first epoch, naming them) or "skip" (train without them; the run's log and
            metrics.json name them). Files in formats TensorFlow cannot decode (TIFF, HEIC, ...)
            count as unreadable; WebP is read.
        pipeline: the input path: "tf.data", "grain" (`kerascnn.data.feed`: NumPy and Pillow in
            grain's threads, no TensorFlow; a run killed mid-epoch resumes with the very batches
            it would have seen) or "auto" (tf.data on the TensorFlow backend, grain on JAX and
            PyTorch: each backend's faster path, BENCHMARKS.md). Both give the same images,
            classes and splits; each key below means the same augmentation on both.
        on_device: hold the training images on the accelerator and crop, flip and normalize
            them there (`kerascnn.data.device`, JAX): "auto" where there is an accelerator, the
            source holds its images in memory (digits, synthetic, glyphs) and the augmentation is
            crops and flips only; true asks for it (also on a CPU); false never.
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
    seed: int | None = None
    shuffle_buffer: int = 10_000
    cache: bool = True
    bad_images: Literal["error", "skip"] = "error"
    pipeline: Literal["auto", "tf.data", "grain"] = "auto"
    on_device: Literal["auto"] | bool = "auto"
    autotune: bool = False
    augment: dict = field(default_factory=dict)


Optimizer = Literal["sgd", "adam", "adamw", "rmsprop"]
Schedule = Literal["constant", "step", "cosine", "plateau", "onecycle"]


@dataclass(frozen=True)
class TrainSection:
    """`[train]`: the optimization.

    Attributes:
        epochs: epochs to train (a resumed run finishes this many in all).
        iterations: the run's length in optimizer steps instead of `epochs` (He et al.'s 64k
            iterations on CIFAR-10): as many epochs as it takes, the last one cut where the
            iterations end, whatever the training split's size. Not with [tune] (its trials are
            compared in whole epochs).
        optimizer: "sgd", "adam", "adamw" or "rmsprop". The default, Adam at 0.001 with a
            constant rate (Keras' own default), trains every small zoo network on the offline data
            from the first epoch; the papers' settings (SGD with momentum 0.9 at 0.1 and a step
            schedule, for the ResNets) are written out in their recipes.
        learning_rate: the base learning rate.
        momentum: SGD and RMSprop momentum.
        nesterov: Nesterov momentum (SGD).
        momentum_form: where SGD's learning rate sits: "caffe" (inside the velocity, `v = m * v -
            lr * g; w += v`: Caffe, cuda-convnet, Keras) or "torch" (outside the buffer, `b = m * b
            + g; w -= lr * b`: Torch7 with dampening 0, PyTorch). The two agree while the rate is
            constant; after a milestone the "caffe" velocity still carries the old rate for some
            steps, where "torch" lowers the whole step at once.
        weight_decay: the weight decay coefficient (`weight_decay_form` says how it applies).
        weight_decay_form: "l2": the L2 penalty, coupled: `wd * w` added to the gradient before
            momentum and Nesterov (and before Adam's normalization), as Caffe, cuda-convnet, Torch7
            and PyTorch's SGD apply `weight_decay`; "decoupled": `w -= lr * wd * w` beside the
            update (Loshchilov & Hutter 2019), as Keras' optimizers and AdamW apply it. Under
            momentum 0.9 the L2 penalty acts about ten times as strongly as the same coefficient
            decoupled. "auto": decoupled for AdamW, "l2" for the others.
        weight_decay_scope: "all" (every trainable variable, BN's scale and shift and the biases
            included: the classic papers' code) or "kernels" (variables of two or more dimensions
            only: timm's rule, leaving BN and biases undecayed).
        schedule: "constant", "step" (x `gamma` at each of `milestones`, or every `step_every`),
            "cosine", "plateau" (x `gamma` when `plateau_monitor` stalls `patience` epochs:
            AlexNet's "divide by 10"), or "onecycle".
        schedule_unit: the unit of `milestones`, `step_every` and `warmup`: "epochs" or
            "iterations" (optimizer steps: He et al.'s 32k and 48k on CIFAR-10, the same whatever
            the training split's size).
        milestones: "step": where the rate is multiplied by `gamma`, in `schedule_unit` (e.g.
            [32000, 48000] iterations: He et al.'s CIFAR schedule).
        step_every: "step" without `milestones`: multiply the rate by `gamma` every this many
            `schedule_unit`s (AlexNet-style drops at a fixed interval).
        gamma: the factor of each drop: "step"'s at each milestone, "plateau"'s at each stall
            (0.1: divide by 10).
        patience: "plateau": the epochs `plateau_monitor` may go without improving before the
            rate is multiplied by `gamma`.
        min_learning_rate: the floor: where "cosine" ends, and below which "plateau" does not go.
        plateau_monitor: what "plateau" watches: "val_loss", "val_accuracy" (the validation error
            of AlexNet and VGG), "loss" or "accuracy" (the training split's, used also when the
            data has no validation split).
        warmup: the warm-up's length in `schedule_unit` (step, cosine, constant; 0: none).
        warmup_shape: "linear" (from `warmup_learning_rate` up to `learning_rate`) or "constant"
            (`warmup_learning_rate` throughout the warm-up: ResNet-110's 0.01 for 400 iterations).
        warmup_learning_rate: the rate a linear warm-up starts from, or a constant warm-up's rate.
        early_stopping: stop when `early_stopping_monitor` has not improved by more than
            `early_stopping_min_delta` for this many epochs (0: never). The run is a finished run
            whose model is the one `[output] model` names; its counters survive a kill.
        early_stopping_min_delta: the smallest change that counts as an improvement.
        early_stopping_monitor: what early stopping watches: "auto" (`[output] best_by`, what
            chooses the best epoch), "val_loss", "val_accuracy", "loss" or "accuracy" (the training
            split's, used also when the data has no validation split).
        time_budget: the training time each command may take, e.g. "45s", "90m", "2h": an epoch
            starts only when it fits, judged by the longest epoch so far; the run is then a
            finished run, and running it again with more epochs than it trained
            (`--set train.epochs=...`, or the same command when it stopped short of its epochs)
            continues it with the whole budget again. Not with [finetune] or [tune].
        layer_decay: discriminative learning rates (fastai; BEiT's and timm's layer-wise rate
            decay): each stage that holds weights trains at the rate of the stage above it times
            this factor (0 < factor <= 1), the classifier at `learning_rate`, the stem at
            `learning_rate` x factor^(stages - 1) (`kerascnn.training.rates`). Unset: one rate.
        gradient_accumulation_steps: batches an optimizer step takes (Keras' own
            `gradient_accumulation_steps`): the mean gradient of N batches of `batch_size` is one
            update, as one batch of N x `batch_size` would give (without batch normalization,
            whose statistics stay each batch's). The schedule and `iterations` count updates.
            Not with `ema` (Keras would average at every batch).
        label_smoothing: e.g. 0.1 (Inception-v3).
        ema: a moving average of the weights (Keras' `use_ema`) is what validation, best.keras
            and the run's model use; every backup holds it, so a resumed run keeps it.
        ema_momentum: `average = m * average + (1 - m) * weights` after each step (the first
            step copies the weights).
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
    iterations: int | None = None
    optimizer: Optimizer = "adam"
    learning_rate: float = 0.001
    momentum: float = 0.9
    nesterov: bool = False
    momentum_form: Literal["caffe", "torch"] = "caffe"
    weight_decay: float = 0.0
    weight_decay_form: Literal["auto", "l2", "decoupled"] = "auto"
    weight_decay_scope: Literal["all", "kernels"] = "kernels"
    schedule: Schedule = "constant"
    schedule_unit: Literal["epochs", "iterations"] = "epochs"
    milestones: tuple[int, ...] = ()
    step_every: int = 0
    gamma: float = 0.1
    patience: int = 5
    plateau_monitor: Literal["val_loss", "val_accuracy", "loss", "accuracy"] = "val_loss"
    min_learning_rate: float = 0.0
    warmup: int = 0
    warmup_shape: Literal["linear", "constant"] = "linear"
    warmup_learning_rate: float = 0.0
    early_stopping: int = 0
    early_stopping_min_delta: float = 0.0
    early_stopping_monitor: Literal["auto", "val_loss", "val_accuracy", "loss", "accuracy"] = "auto"
    time_budget: str | None = None
    gradient_accumulation_steps: int = 1
    layer_decay: float | None = None
    label_smoothing: float = 0.0
    ema: bool = False
    ema_momentum: float = 0.999
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
        return kind_of(self.weights, model=self.model, application=self.application) == "timm"

    @property
    def normalized_by_start(self) -> bool:
        """The start says how to normalize: a run directory (its data.json), or timm's weights
        (their mean and std: kerascnn's table, or timm's config.json beside the file)."""
        kind = kind_of(self.weights, model=self.model, application=self.application)
        return kind in ("run", "timm")


# The [train] keys a phase may set for itself; the others (seed, precision, distribution, ...)
# hold for the whole recipe.
PHASE_TRAIN_KEYS = (
    "optimizer",
    "learning_rate",
    "momentum",
    "nesterov",
    "momentum_form",
    "weight_decay",
    "weight_decay_form",
    "weight_decay_scope",
    "schedule",
    "schedule_unit",
    "milestones",
    "step_every",
    "gamma",
    "patience",
    "plateau_monitor",
    "min_learning_rate",
    "warmup",
    "warmup_shape",
    "warmup_learning_rate",
    "layer_decay",
    "early_stopping",
    "early_stopping_min_delta",
    "early_stopping_monitor",
    "label_smoothing",
    "ema",
    "ema_momentum",
)


@dataclass(frozen=True)
class _PhaseKeys:
    """`[[finetune.phases]]`: one phase of fine-tuning. It starts from the previous phase's model
    (its best weights, or its final ones with `[output] model = "final"`; the first from
    `weights`), trains what `unfreeze` names and the new classifier, and is a run directory of its
    own inside the recipe's (`<dir>/<n>-<name>/`), resumed like any run; a finished phase is kept,
    never trained again.

    Attributes:
        epochs: this phase's epochs.
        name: names the phase's directory (default "phase<n>").
        unfreeze: what trains besides the classifier: "none" (the classifier alone: the start is
            a fixed feature extractor), "all", a stage or layer-name prefix ("stage4": that stage
            and everything after it), a list of prefixes (just those layers), an integer K (the
            top K stages that have weights) or a fraction (the top fraction of the layers).
        batchnorm: let the unfrozen BatchNormalization layers train and update their statistics
            (off: they stay in inference mode; see `kerascnn.training.freezing`).

    A phase may also set any of `[train]`'s `PHASE_TRAIN_KEYS` for itself (a smaller learning rate
    for deeper unfreezing, its own schedule and warm-up): each means what it means in `[train]`,
    for this phase alone; unset, `[train]`'s value holds (docs/recipes.md lists them, each in
    `[train]`'s words).
    """

    epochs: int
    name: str | None = None
    unfreeze: str | tuple[str, ...] | int | float = "none"
    batchnorm: bool = False

    def directory(self, index: int) -> str:
        return f"{index + 1}-{self.name or f'phase{index + 1}'}"


def _phase_section():
    """`PhaseSection`: the phase's own keys, then each of `PHASE_TRAIN_KEYS` with `[train]`'s type
    (or unset: the recipe's `[train]` value holds), derived from `TrainSection` so that the two
    cannot drift apart."""
    import dataclasses
    import typing

    hints = typing.get_type_hints(TrainSection)
    cls = dataclasses.make_dataclass(
        "PhaseSection",
        [(k, hints[k] | None, field(default=None)) for k in PHASE_TRAIN_KEYS],
        bases=(_PhaseKeys,),
        frozen=True,
    )
    cls.__doc__, cls.__module__ = _PhaseKeys.__doc__, __name__
    return cls


PhaseSection = _phase_section()


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
        factor: hyperband's reduction factor: each round keeps about 1/factor of the models and
            trains them factor times as many epochs (keras-tuner's `factor`, 3 in Li et al.).
        hyperband_iterations: how many times hyperband's whole set of brackets is run (more:
            more models tried, for the same `max_epochs`).
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
        min: the range's lowest value ("int", "float"), included.
        max: the range's highest value, included.
        step: the distance between the values tried ("int": default 1; "float": none, any value;
            with "log" sampling, a factor).
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
        report: write `<dir>/report.html` when the run ends (`kerascnn.report`: it evaluates
            the model on the test split once more, with Grad-CAM on its worst mistakes);
            `kerascnn report DIR` writes it any time.
        model: the run's model (`model.keras`, and the test result reported first): "best" (the
            best epoch by `best_by`) or "final" (the weights training ended with: what most papers
            report). The other model's test result is reported beside it, labelled.
        best_by: what chooses the best epoch (best.keras): "val_loss" (the lowest) or
            "val_accuracy" (the highest: the lowest validation error, as Huang et al.'s stochastic
            depth reports); the training split's loss or accuracy when there is no validation
            split.
        keep_best: keep the weights of the k best epochs by `best_by` in `<dir>/best_epochs/`
            (timm's `--checkpoint-hist`; 0: none), for `kerascnn average` (or `average`).
        average: when the run ends, average the kept epochs' weights into `averaged.keras`, their
            BN statistics recomputed on the training batches (SWA's and timm's practice), tested
            and reported beside the run's model (`kerascnn.training.averaging`); needs
            `keep_best` of 2 or more.
        mlflow: track the run in MLflow (`pip install "kerascnn[mlflow]"`): a tracking URI (a
            server's "http://host:5000", "sqlite:///mlflow.db", ...) or true (MLflow's own:
            MLFLOW_TRACKING_URI, else "sqlite:///mlflow.db" where the command runs). The resolved
            recipe becomes the MLflow run's parameters, each epoch's history row its metrics, the
            test results and the run's files (model, card, page) its artifacts; a search's trials
            are runs nested in the search's (`kerascnn.runs.tracking`).
    """

    dir: str | None = None
    tensorboard: bool = True
    report: bool = True
    model: Literal["best", "final"] = "best"
    best_by: Literal["val_loss", "val_accuracy"] = "val_loss"
    keep_best: int = 0
    average: bool = False
    mlflow: bool | str = False


SECTIONS = {
    "model": ModelSection,
    "data": DataSection,
    "train": TrainSection,
    "finetune": FinetuneSection,
    "tune": TuneSection,
    "output": OutputSection,
}
OPTIONAL = ("finetune", "tune")  # tables a recipe may leave out entirely
TOP_LEVEL = [*SECTIONS, "name", "description"]
