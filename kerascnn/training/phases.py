"""Fine-tuning recipes: `[finetune]` phases, each a run of its own inside the recipe's run directory.

The lecture's transfer-learning recipe, as data: take a network trained on a big task, put a new
classifier on it, train the classifier alone on the new data (phase 1, the rest frozen), then unfreeze
the top stages and go on with a smaller learning rate (phase 2).

```
runs/glyphs_finetune/
  recipe.yaml, run.json   the whole recipe; "finished" once every phase is
  1-head/                 phase 1: a run directory like any (resumable, never clobbered)
  2-top/                  phase 2: starts from 1-head/model.keras (its model: `[output] model`)
  model.keras, data.json  the last phase's model, and how its images are fed (evaluate, predict)
  history.csv, curves.png every phase's epochs in one table and one plot, phases marked
  metrics.json            each phase's metrics, and the last phase's test metrics
```

Running the recipe again resumes: finished phases are kept as they are (never trained again), an
interrupted phase resumes from its last finished epoch, the phases after it follow.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from kerascnn.config import ConfigError
from kerascnn.config.limits import read_json_object
from kerascnn.data import Preprocessing
from kerascnn.data.feeding import Feeding
from kerascnn.recipe import Recipe
from kerascnn.runs import rundir
from kerascnn.runs.metrics import RunResult
from kerascnn.runs.rundir import RunDir
from kerascnn.runs.saving import load_model
from kerascnn.training.freezing import replace_head, set_trainable, trainable_stages
from kerascnn.zoo.weights.starts import find_start


def kept(sub: Recipe):
    """A phase finished before with this very recipe (its fingerprint), kept as it is: its
    `RunResult`; None for a phase to run."""
    state = rundir.read_state(sub.run_dir()) or {}
    files = RunDir(sub.run_dir())
    if state.get("status") != "finished" or state.get("fingerprint") != sub.fingerprint:
        return None
    if not files.model.is_file():
        return None
    return RunResult(sub.run_dir(), read_json_object(files.metrics), files.model)


def phase_model(sub: Recipe, index: int, start: Start, previous: Path | None):
    """The function that builds phase `index`'s model: the starting weights (the first phase) or
    the previous phase's model, with the phase's layers trainable. Its qualified name is stable: it
    enters the phase's fingerprint."""
    phase = sub.phases[index]

    def build(input_shape, classes):
        model = start.model(input_shape, classes) if previous is None else load_model(previous)
        if tuple(model.input_shape[1:]) != tuple(input_shape):
            raise sub.error(
                ("data", "image_size"),
                (
                    f"the data gives {tuple(input_shape)} images; the starting model takes "
                    f"{tuple(model.input_shape[1:])}."
                ),
                hint="set data.image_size and data.channels to the model's input.",
            )
        return start.set_trainable(model, phase, index)

    return build


class Start:
    """A fine-tuning recipe's start: its weights found (`kerascnn.zoo.weights.starts`) before any
    data is read, the images fed as those weights expect (a run's data.json, timm's card), the
    starting network with its new classifier, and what each phase trains. A problem is an error
    naming the recipe's key."""

    def __init__(self, recipe: Recipe):
        f = recipe.finetune
        base = recipe.path.parent if recipe.path is not None else None
        try:
            self.weights = find_start(f.weights, model=f.model, application=f.application, base=base)
        except ConfigError as e:
            raise recipe.error(("finetune", *e.path), e.message, hint=e.hint) from None
        self.recipe = recipe
        self.normalization = None
        self._loaded = None
        self.path = self.weights.path  # the .keras file to start from (a run's: its model.keras)
        if self.weights.kind == "run":
            run = RunDir(self.weights.run)
            try:
                self.path = run.finished_model()
            except ConfigError as e:
                raise recipe.error(("finetune", "weights"), e.message, hint=e.hint) from None
            self.normalization = Feeding.read(run.data).preprocessing
        if self.weights.kind == "timm":
            pretrained = self.weights.source.pretrained
            if pretrained is None:
                raise recipe.error(
                    ("finetune", "weights"),
                    (
                        f"{self.weights.source.described} does not say how its images are "
                        f"normalized: timm's config.json is not beside it."
                    ),
                    hint="download it too (huggingface-cli download timm/<arch>.<tag> config.json "
                    "--local-dir DIR), or give the Hub id.",
                )
            channels = recipe.data.channels or 3
            self.normalization = Preprocessing.from_dict(pretrained.preprocessing(channels=channels))
            self.recipe = self._fed_as_the_weights_expect(pretrained)

    def _fed_as_the_weights_expect(self, pretrained) -> Recipe:
        """The recipe with the weights' way of feeding images where `[data]` does not say
        otherwise: their input size, the shorter side resized to size / crop_pct (random crops of
        the size in training, the centre one in evaluation), their interpolation."""
        d, given = self.recipe.data, self.recipe.document.get("data", {})
        changes = {}
        if "image_size" not in given:
            changes["image_size"] = (pretrained.input_size,) * 2
        size = changes.get("image_size", d.image_size)
        if "load_size" not in given and size is not None:
            changes["load_size"] = tuple(int(math.floor(v / pretrained.crop_pct)) for v in size)
        if "resize" not in given:
            changes["resize"] = "shorter"
        if "interpolation" not in given:
            changes["interpolation"] = pretrained.interpolation
        return dataclasses.replace(self.recipe, data=dataclasses.replace(d, **changes))

    def terms(self) -> str | None:
        """The terms of published starting weights, in words (None for the user's own)."""
        return self.weights.terms()

    def describe(self) -> str:
        return str(self.path) if self.weights.network is None else self.weights.describe()

    @property
    def head(self) -> str | None:
        return "head_new" if self.recipe.finetune.new_head else None

    def model(self, input_shape, classes: int):
        """The starting network for this data, with its new classifier when asked."""
        f = self.recipe.finetune
        model = self._network(input_shape)
        if f.new_head:
            return replace_head(model, classes, dropout=f.dropout, keep_hidden=f.keep_hidden)
        given = int(model.output_shape[-1])
        if given != classes:
            raise self.recipe.error(
                ("finetune", "new_head"),
                (
                    f"the starting model has {given} classes and the data {classes}; keeping its "
                    f"classifier needs the same classes."
                ),
                hint="new_head = true.",
            )
        return model

    def set_trainable(self, model, phase, index: int):
        head = self.head or trainable_stages(model)[-1]
        try:
            return set_trainable(model, phase.unfreeze, head=head, batchnorm=phase.batchnorm)
        except ValueError as e:
            raise self.recipe.error(("finetune", "phases", index, "unfreeze"), str(e)) from None

    def check_phases(self) -> None:
        """Every phase's `unfreeze` against the network phase 1 starts from (the same layers in
        every phase), before any data is read. A ported network is checked on the zoo's
        architecture, unweighted."""
        f = self.recipe.finetune
        model = self._network(None, weighted=False)
        if f.new_head:
            model = replace_head(model, 2, dropout=f.dropout, keep_hidden=f.keep_hidden)
        for index, phase in enumerate(self.recipe.phases):
            self.set_trainable(model, phase, index)

    def _network(self, input_shape, *, weighted: bool = True):
        """The network the weights are in: a run's or a file's model (loaded once), or the zoo
        network with published weights at the data's input (`input_shape` None: checking the
        phases, the recipe's image size)."""
        if self.weights.network is None:
            if self._loaded is None:
                self._loaded = load_model(self.path)
            return self._loaded
        f, d = self.recipe.finetune, self.recipe.data
        top = self.weights.include_top(new_head=f.new_head, keep_hidden=f.keep_hidden)
        if input_shape is None and d.image_size is not None:
            input_shape = (*d.image_size, d.channels or 3)
        try:
            return self.weights.network_model(input_shape, include_top=top, weighted=weighted)
        except ConfigError as e:
            vgg = "keep_hidden = false (VGG's hidden layers need 224x224 images)"
            if self.weights.kind == "application":
                hint = e.hint or (
                    vgg
                    if top
                    else "without internet, download the weights file elsewhere and give its "
                    "path as finetune.weights"
                )
            else:
                hint = vgg if top and self.weights.network.startswith("vgg") else e.hint
            raise self.recipe.error(("finetune", "weights"), e.message, hint=hint) from None
