"""A validated recipe (`Recipe`): its sections, the document it came from, its fingerprint and
run directory, the recipe of each fine-tuning phase, and its resolved form (`dump`: what a run
directory's recipe.yaml holds)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kerascnn.config import ConfigError, Source
from kerascnn.recipe.schema import (
    PHASE_TRAIN_KEYS,
    AugmentSection,
    DataSection,
    FinetuneSection,
    ModelSection,
    OutputSection,
    PhaseSection,
    SpaceEntry,
    TrainSection,
    TuneSection,
)

__all__ = ["Recipe", "is_recipe", "dump"]

# Keys added after runs were made: left out of a recipe's fingerprint while they hold their default,
# so that an unfinished run started before they existed still resumes.
ADDED_LATER = {
    ("data", "seed"): None,
    ("train", "ema"): False,
    ("train", "ema_momentum"): 0.999,
    ("train", "iterations"): None,
    ("train", "momentum_form"): "caffe",
    ("train", "schedule_unit"): "epochs",
    ("train", "plateau_monitor"): "val_loss",
    ("train", "warmup_shape"): "linear",
    ("train", "warmup_learning_rate"): 0.0,
    ("train", "early_stopping"): 0,
    ("train", "early_stopping_min_delta"): 0.0,
    ("train", "early_stopping_monitor"): "auto",
    ("train", "gradient_accumulation_steps"): 1,
    ("train", "layer_decay"): None,
    ("augment", "mixup"): 0.0,
    ("augment", "cutmix"): 0.0,
    ("augment", "randaugment"): 0,
    ("augment", "randaugment_magnitude"): 0.5,
}


def _as_before(doc: dict) -> None:
    """The update step's keys as the fingerprint hashed them before they were renamed, so that a
    run begun then resumes: `weight_decay_scope` was `decay_all`, `warmup` was `warmup_epochs`, and
    `weight_decay_form = "auto"` was the only form (decoupled) wherever it still means that (no
    decay, or AdamW). Where "auto" now means the L2 penalty (SGD, Adam, RMSprop with a decay), the
    update differs from the run's and the fingerprint does too."""
    t = doc["train"]
    if "weight_decay_scope" in t:
        t["decay_all"] = t.pop("weight_decay_scope") == "all"
    for section in (t, *doc.get("finetune", {}).get("phases", [])):
        if "warmup" in section:
            section["warmup_epochs"] = section.pop("warmup")
        for key in ("weight_decay_form", "weight_decay_scope"):
            if key in section and section is not t and section[key] is None:
                section.pop(key)
    if t.get("weight_decay_form") == "auto" and (not t.get("weight_decay") or t["optimizer"] == "adamw"):
        t.pop("weight_decay_form")


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
        """A hash of everything that shapes the run but its length (the epochs and the time budget:
        so an unfinished run can be extended) and `[output]`: a resumed run must have the same one."""
        doc = self.resolved()  # defaults filled in: the same run however it is written
        doc["train"].pop("epochs", None)
        doc["train"].pop("time_budget", None)  # how long a command trains, as the epochs
        _as_before(doc)
        for (table, key), default in ADDED_LATER.items():  # runs that leave them out keep
            section = doc["data"].get("augment", {}) if table == "augment" else doc.get(table, {})
            if key in section and section[key] == default:  # the hash they had
                section.pop(key)
            for phase in doc.get("finetune", {}).get("phases", []) if table == "train" else ():
                if phase.get(key) is None:  # a phase that keeps [train]'s
                    phase.pop(key, None)
        for phase in doc.get("finetune", {}).get("phases", []):
            phase.pop("epochs", None)
        # How the images are fed, not what: a run begun on tf.data resumes on grain (another
        # backend), as a run's order after a resume differs on tf.data anyway.
        doc["data"].pop("pipeline", None)
        doc["data"].pop("on_device", None)
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

    def search_dir(self, directory: str | Path | None = None) -> Path:
        """Where `kerascnn tune` keeps this recipe's search: `directory`, or the run directory's
        name + "_tune" beside it."""
        if directory:
            return Path(directory)
        run = self.run_dir()
        return run.with_name(run.name + "_tune")

    def error(self, path: tuple, message: str, hint: str | None = None, value=None) -> ConfigError:
        path = tuple(path)
        if (
            self.phase is not None
            and path[:1] == ("train",)
            and len(path) > 1
            and path[1] in self.document["finetune"]["phases"][self.phase]
        ):
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
        return dataclasses.replace(
            self, train=train, output=output, phase=index, name=f"{self.name}/{phase.directory(index)}"
        )


def _plain(section) -> dict:
    """A section as plain data: tuples as lists, unset (None) keys left out."""
    return {
        k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(section).items() if v is not None
    }


def is_recipe(document: dict) -> bool:
    """A recipe has a `[model]` or `[data]` table; a spec has stages."""
    return "model" in document or "data" in document


def dump(recipe: Recipe) -> str:
    """The resolved recipe as YAML (safe, loadable by `load_recipe`)."""
    import yaml

    return yaml.safe_dump(recipe.resolved(), sort_keys=False)
