"""What types cannot say about a recipe: exclusive keys, ranges, the keys a source needs, where
fine-tuning's weights come from and each phase's training, checked before anything runs."""

from __future__ import annotations

import os
import re

from kerascnn.config import ConfigError, Source, check_call
from kerascnn.config.limits import MAX_EPOCHS
from kerascnn.recipe.schema import PhaseSection
from kerascnn.zoo import get_model_info
from kerascnn.zoo.weights.starts import check_start

__all__ = ["check_semantics", "check_finetune", "parse_phase", "budget_seconds"]


def parse_phase(raw, index: int, source: Source) -> PhaseSection:
    path = ("finetune", "phases", index)
    if not isinstance(raw, dict):
        raise source.error(path, f"each phase is a table ([[finetune.phases]]). Received: {raw!r}.")
    return PhaseSection(
        **check_call(PhaseSection, raw, path=path, source=source, what="a phase", skip=())
    )


def check_finetune(r) -> None:
    """A fine-tuning recipe: where its weights come from, its phases, and each phase's training
    checked as a recipe of its own (an error names the phase's key when the phase set it)."""
    f = r.finetune
    if "model" in r.document:
        raise r.error(("model",), "a recipe with [finetune] starts from its `weights`; remove [model].")
    for key in ("epochs", "iterations"):
        if key in r.document.get("train", {}):
            raise r.error(
                ("train", key), f"each fine-tuning phase gives its own epochs; remove train.{key}."
            )
    if not r.phases:
        raise r.error(
            ("finetune",),
            "give at least one phase.",
            hint='[[finetune.phases]] with epochs = 5 (and unfreeze = "none": the new '
            "classifier alone).",
        )
    try:
        start = check_start(f.weights, model=f.model, application=f.application)
    except ConfigError as e:
        raise r.error(("finetune", *e.path), e.message, hint=e.hint) from None
    given = "normalize" in r.document.get("data", {})
    if start.kind == "application" and r.data.normalize != start.application.preprocessing:
        raise r.error(
            ("data", "normalize"),
            (
                f"{start.application.application}'s weights expect inputs normalized as "
                f"keras.applications prepares them: normalize = "
                f'"{start.application.preprocessing}". Received: {r.data.normalize!r}.'
            ),
        )
    if start.kind == "timm" and given:
        raise r.error(
            ("data", "normalize"),
            "timm's weights say how their images are normalized (their mean and std); remove "
            "data.normalize.",
        )
    if start.kind == "run" and given:
        raise r.error(
            ("data", "normalize"),
            "fine-tuning from a run directory normalizes the images as that run did (its "
            "data.json); remove data.normalize.",
        )
    if not f.new_head and (f.dropout or "keep_hidden" in r.document["finetune"]):
        raise r.error(
            ("finetune", "new_head"),
            "dropout and keep_hidden shape the new classifier; with new_head = false there is none.",
        )
    if not 0.0 <= f.dropout < 1.0:
        raise r.error(("finetune", "dropout"), f"must be between 0 and 1. Received: {f.dropout!r}.")
    if r.train.distribution == "multi_worker":
        raise r.error(
            ("train", "distribution"),
            "fine-tuning phases run on one process; 'multi_worker' is not supported with [finetune].",
        )
    names = set()
    for i, phase in enumerate(r.phases):
        where = ("finetune", "phases", i)
        if phase.name is not None and not re.fullmatch(r"[A-Za-z0-9_-]+", phase.name):
            raise r.error(
                where + ("name",),
                f"names a directory: letters, digits, _ and - only. Received: {phase.name!r}.",
            )
        if phase.name is not None and phase.name in names:
            raise r.error(where + ("name",), f"two phases are called {phase.name!r}.")
        names.add(phase.name)
        u = phase.unfreeze
        if isinstance(u, float) and not 0.0 <= u <= 1.0:
            raise r.error(where + ("unfreeze",), f"a fraction must be between 0 and 1. Received: {u!r}.")
        if isinstance(u, int) and not isinstance(u, bool) and u < 0:
            raise r.error(
                where + ("unfreeze",), f"the number of top stages must be 0 or more. Received: {u!r}."
            )
        if isinstance(u, tuple) and not u:
            raise r.error(where + ("unfreeze",), 'an empty list unfreezes nothing: write "none".')
        check_semantics(r.phase_recipe(i, r.run_dir()))


def check_semantics(r) -> None:
    """What types cannot say, table by table: exclusive keys, ranges, keys a source needs."""
    for check in (_check_model, _check_data, _check_augment, _check_train, _check_length):
        check(r)


def _check_length(r) -> None:
    """At most `MAX_EPOCHS` epochs, a fine-tuning run's phases together: history.csv holds a row
    an epoch, and what reads it back is bounded by this."""
    if r.train.epochs > MAX_EPOCHS:
        raise r.error(
            ("train", "epochs"), f"must be at most {MAX_EPOCHS:,}. Received: {r.train.epochs!r}."
        )
    total = sum(p.epochs for p in r.phases)
    if total > MAX_EPOCHS:
        raise r.error(
            ("finetune", "phases"),
            f"the phases' epochs must add up to at most {MAX_EPOCHS:,}. Received: {total:,}.",
        )


def _check_model(r) -> None:
    m = r.model
    if (
        m.name is not None
        and m.spec is not None
        or ("model" in r.document and m.name is None and m.spec is None)
    ):
        raise r.error(
            ("model",),
            "give exactly one of `name` (a registered model) and `spec` (a spec file or table).",
        )
    if m.name is not None:
        try:
            get_model_info(m.name)
        except ConfigError as e:
            raise r.error(("model", "name"), e.message, hint=e.hint) from None
    if m.spec is not None and m.options:
        raise r.error(
            ("model", "options"),
            "`options` apply to a registered model; put the settings in the spec itself.",
        )
    for key, where in (
        ("classes", "the data's classes"),
        ("input_shape", "data.image_size and data.channels"),
    ):
        if key in m.options:
            raise r.error(
                ("model", "options", key),
                f"the model's {key} come from {where}; it "
                f"cannot be set here. Received: "
                f"{m.options[key]!r}.",
                hint="for a subset of a dataset's classes, set data.class_subset."
                if key == "classes"
                else "set data.image_size = [height, width].",
            )


def _check_data(r) -> None:
    d = r.data
    needs = {"tfds": "name", "folder": "path"}
    if d.source in needs and getattr(d, needs[d.source]) is None:
        raise r.error(("data",), f"source {d.source!r} needs `{needs[d.source]}`.")
    for key, value in [("validation_split", d.validation_split), ("test_fraction", d.test_fraction)]:
        if not 0.0 <= value <= 0.9:
            raise r.error(("data", key), f"must be between 0.0 and 0.9. Received: {value!r}.")
    positive = [
        (("data", "batch_size"), d.batch_size),
        (("data", "samples"), d.samples),
        (("data", "classes"), d.classes),
    ]
    if d.image_size is not None:
        positive += [(("data", "image_size"), min(d.image_size))]
    if d.load_size is not None:
        positive += [(("data", "load_size"), min(d.load_size))]
        if d.image_size is None or any(load < size for load, size in zip(d.load_size, d.image_size)):
            raise r.error(
                ("data", "load_size"),
                f"crops of image_size are taken from load_size, so "
                f"it needs image_size and must be at least as "
                f"large. Received: load_size "
                f"{list(d.load_size)}, image_size "
                f"{list(d.image_size) if d.image_size else None}.",
            )
    for key_path, value in positive:
        if value < 1:
            raise r.error(key_path, f"must be a positive integer. Received: {value!r}.")
    if d.channels not in (None, 1, 3):
        raise r.error(("data", "channels"), f"must be 1 or 3. Received: {d.channels!r}.")
    if d.source in ("synthetic", "glyphs") and d.classes < 2 and not d.class_subset:
        raise r.error(("data", "classes"), "a classification task needs at least 2 classes.")
    if d.class_subset and (
        len(set(d.class_subset)) != len(d.class_subset)
        or len(d.class_subset) < 2
        or min(d.class_subset) < 0
    ):
        raise r.error(
            ("data", "class_subset"),
            f"must list at least 2 different class indices (from 0). Received: {list(d.class_subset)}.",
        )
    if d.train_per_class is not None:
        if d.source in ("folder", "tfds"):
            raise r.error(
                ("data", "train_per_class"),
                f"applies to the sources read into memory "
                f"(digits, synthetic, glyphs), not "
                f"{d.source!r}.",
                hint="copy the images you want into a folder of their own.",
            )
        if d.train_per_class < 1:
            raise r.error(
                ("data", "train_per_class"),
                f"must be a positive integer. Received: {d.train_per_class!r}.",
            )


def _check_augment(r) -> None:
    a = r.augment
    if a.mixup < 0:
        raise r.error(
            ("data", "augment", "mixup"),
            f"is the Beta distribution's alpha: 0 (off) or positive. Received: {a.mixup!r}.",
        )
    if not 0 <= a.cutmix <= 1:
        raise r.error(
            ("data", "augment", "cutmix"),
            f"is the Beta distribution's alpha: 0 (off) or up to 1. Received: {a.cutmix!r}.",
        )
    if a.randaugment < 0:
        raise r.error(
            ("data", "augment", "randaugment"),
            f"is the number of operations per image: 0 (off) or more. Received: {a.randaugment!r}.",
        )
    if not 0 < a.randaugment_magnitude <= 1:
        raise r.error(
            ("data", "augment", "randaugment_magnitude"),
            f"must be in (0, 1]. Received: {a.randaugment_magnitude!r}.",
        )
    if a.crop_padding < 0:
        raise r.error(
            ("data", "augment", "crop_padding"), f"must be 0 or more. Received: {a.crop_padding!r}."
        )
    if a.scale is not None and not 0 < a.scale[0] <= a.scale[1] <= 1:
        raise r.error(
            ("data", "augment", "scale"),
            f"must be [low, high] with 0 < low <= high <= 1. Received: {list(a.scale)}.",
        )


def _check_train(r) -> None:
    t = r.train
    if not 0.0 <= t.label_smoothing <= 0.99:
        raise r.error(
            ("train", "label_smoothing"),
            f"must be between 0.0 and 0.99. Received: {t.label_smoothing!r}.",
        )
    if not 0.0 < t.ema_momentum < 1.0:
        raise r.error(
            ("train", "ema_momentum"),
            f"must be between 0 and 1 (0.999 is common). Received: {t.ema_momentum!r}.",
        )
    for key, value in [
        ("epochs", t.epochs),
        ("steps_per_execution", 1 if t.steps_per_execution == "auto" else t.steps_per_execution),
    ]:
        if value < 1:
            raise r.error(("train", key), f"must be a positive integer. Received: {value!r}.")
    if t.learning_rate <= 0:
        raise r.error(("train", "learning_rate"), f"must be positive. Received: {t.learning_rate!r}.")
    _check_stopping(r)
    _check_output(r)
    _check_schedule(r)
    _check_update(r)
    _check_workers(r)


_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600}


def budget_seconds(text: str) -> float:
    """`train.time_budget` ("45s", "90m", "2h", "1.5h") in seconds; ValueError for anything else."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|m|min|h)\s*", str(text))
    if found is None or float(found[1]) <= 0:
        raise ValueError(
            f'must be a positive duration such as "45s", "90m" or "2h". Received: {text!r}.'
        )
    return float(found[1]) * _UNITS[found[2]]


def _check_output(r) -> None:
    """The kept epochs and their average."""
    o = r.output
    if o.keep_best < 0:
        raise r.error(("output", "keep_best"), f"must be 0 or more epochs. Received: {o.keep_best!r}.")
    if o.average and o.keep_best < 2:
        raise r.error(
            ("output", "average"),
            f"averages the kept epochs: set keep_best to 2 or more. "
            f"Received: keep_best = {o.keep_best}.",
        )


def _check_stopping(r) -> None:
    """Early stopping's patience and delta, and the time budget (one run's: not with [finetune]'s
    phases nor [tune]'s trials)."""
    t = r.train
    if t.early_stopping < 0:
        raise r.error(
            ("train", "early_stopping"),
            f"must be 0 (off) or a number of epochs. Received: {t.early_stopping!r}.",
        )
    if t.early_stopping_min_delta < 0:
        raise r.error(
            ("train", "early_stopping_min_delta"),
            f"must be 0 or more. Received: {t.early_stopping_min_delta!r}.",
        )
    if t.time_budget is None:
        return
    try:
        budget_seconds(t.time_budget)
    except ValueError as e:
        raise r.error(("train", "time_budget"), str(e)) from None
    for table, what in (("finetune", "its phases"), ("tune", "a search's trials")):
        if getattr(r, table) is not None:
            raise r.error(
                ("train", "time_budget"),
                f"a time budget ends one run; a recipe with [{table}] runs {what}.",
                hint="give the epochs instead.",
            )


def _check_schedule(r) -> None:
    """The run's length, the milestones and the warm-up."""
    t = r.train
    if t.iterations is not None:
        if "epochs" in r.document.get("train", {}):
            raise r.error(("train", "iterations"), "give epochs or iterations, not both.")
        if t.iterations < 1:
            raise r.error(
                ("train", "iterations"), f"must be a positive integer. Received: {t.iterations!r}."
            )
        if r.tune is not None:
            raise r.error(
                ("train", "iterations"),
                "a search's trials train and are compared in whole epochs (Hyperband counts them).",
                hint="give train.epochs in a recipe with [tune].",
            )
    if t.schedule == "step" and not t.milestones and not t.step_every:
        raise r.error(
            ("train", "milestones"),
            "schedule 'step' needs milestones (the epochs at "
            "which the learning rate is multiplied by gamma) "
            "or step_every (every so many epochs).",
            hint="milestones = [30, 60, 90] (the ResNet paper's ImageNet schedule).",
        )
    if t.milestones and t.step_every:
        raise r.error(("train", "step_every"), "give milestones or step_every, not both.")
    if t.step_every < 0:
        raise r.error(("train", "step_every"), f"must be 0 or more. Received: {t.step_every!r}.")
    if sorted(set(t.milestones)) != list(t.milestones) or any(e < 1 for e in t.milestones):
        raise r.error(
            ("train", "milestones"),
            f"must be increasing positive {t.schedule_unit}. Received: {list(t.milestones)}.",
        )
    if t.schedule in ("plateau", "onecycle") and t.warmup:
        raise r.error(
            ("train", "warmup"),
            f"schedule {t.schedule!r} sets the learning rate itself; remove warmup.",
        )
    if t.warmup < 0 or (t.schedule_unit == "epochs" and t.warmup >= t.epochs and not t.iterations):
        raise r.error(
            ("train", "warmup"),
            (
                f"must be between 0 and epochs - 1. Received: {t.warmup!r}."
                if t.schedule_unit == "epochs"
                else f"must be 0 or more iterations. Received: {t.warmup!r}."
            ),
        )


def _check_workers(r) -> None:
    """distribution = "multi_worker": the workers' addresses and this process's index."""
    t = r.train
    if t.distribution != "multi_worker":
        if t.workers or t.worker is not None:
            raise r.error(
                ("train", "workers" if t.workers else "worker"),
                'workers and worker apply to distribution = "multi_worker" only.',
            )
        return
    if not t.workers:
        raise r.error(
            ("train", "workers"),
            "distribution 'multi_worker' needs the workers' addresses, the coordinator first.",
            hint='workers = ["10.0.0.1:1234", "10.0.0.2:1234"].',
        )
    for address in t.workers:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise r.error(
                ("train", "workers"),
                f'each worker is "host:port". Received: {address!r}.',
                value=address,
            )
    worker = t.worker
    if worker is None:
        text = os.environ.get("KERAS_DISTRIBUTION_PROCESS_ID", "")
        if not text.isdigit():
            raise r.error(
                ("train", "worker"),
                "which worker is this process? Give "
                "--set train.worker=N (N from 0) or set "
                "KERAS_DISTRIBUTION_PROCESS_ID.",
            )
        worker = int(text)
    if not 0 <= worker < len(t.workers):
        raise r.error(
            ("train", "worker"),
            f"must be between 0 and {len(t.workers) - 1} (the "
            f"number of workers - 1). Received: {worker!r}.",
        )


def _check_update(r) -> None:
    """The update step's settings that only make sense together: the decay's form with the
    optimizer, SGD's momentum form, the warm-up's rate, the batches an update takes."""
    t = r.train
    if t.layer_decay is not None and not 0.0 < t.layer_decay <= 1.0:
        raise r.error(
            ("train", "layer_decay"),
            f"must be above 0 and at most 1 (each stage's rate that factor of the next one's). "
            f"Received: {t.layer_decay!r}.",
            hint="0.7 to 0.9 are common (timm's --layer-decay 0.65 for ViTs; fastai's slice).",
        )
    if t.gradient_accumulation_steps < 1:
        raise r.error(
            ("train", "gradient_accumulation_steps"),
            f"must be a positive integer (1: an update every batch). "
            f"Received: {t.gradient_accumulation_steps!r}.",
        )
    if t.gradient_accumulation_steps > 1 and t.ema:
        raise r.error(
            ("train", "gradient_accumulation_steps"),
            "not with train.ema: Keras' optimizers move the average at every batch, not at "
            "every update.",
        )
    if t.weight_decay < 0:
        raise r.error(("train", "weight_decay"), f"must be 0 or more. Received: {t.weight_decay!r}.")
    if t.optimizer == "adamw" and t.weight_decay_form == "l2":
        raise r.error(
            ("train", "weight_decay_form"),
            "AdamW is Adam with decoupled weight decay; Adam with the L2 penalty is "
            'optimizer = "adam" with weight_decay_form = "l2".',
        )
    if t.momentum_form == "torch" and t.optimizer != "sgd":
        raise r.error(
            ("train", "momentum_form"),
            f"is SGD's (where its learning rate sits); optimizer {t.optimizer!r} has its own. "
            f"Received: {t.momentum_form!r}.",
        )
    if t.warmup_shape == "constant" and t.warmup and not t.warmup_learning_rate > 0:
        raise r.error(
            ("train", "warmup_learning_rate"),
            "a constant warm-up holds this rate: it must be positive.",
            hint="warmup_learning_rate = 0.01 (ResNet-110's, for 400 iterations).",
        )
    if t.warmup_learning_rate < 0:
        raise r.error(
            ("train", "warmup_learning_rate"),
            f"must be 0 or more. Received: {t.warmup_learning_rate!r}.",
        )
