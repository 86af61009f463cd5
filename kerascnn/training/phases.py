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

import json
import shutil
import time
from pathlib import Path

from kerascnn.config import ConfigError
from kerascnn.config.limits import read_json_object
from kerascnn.recipe import Recipe
from kerascnn.report import write_report
from kerascnn.runs import rundir
from kerascnn.runs.card import write_card
from kerascnn.runs.rundir import RunDir


def run_phases(recipe: Recipe, *, restart: bool = False, verbose="auto", log=print):
    """Run a recipe with `[finetune]`: every phase in turn (see the module docstring)."""
    from kerascnn.training.fit import RunResult

    start = Start(recipe)
    recipe = start.recipe  # with timm's weights: their size, crop and interpolation as defaults
    start.check_phases()  # every phase's `unfreeze` names layers that exist: before any data
    with rundir.claim(recipe, restart=restart) as (parent, resume):
        if not resume:
            rundir.begin(parent, recipe)
        log(
            f"kerascnn finetune: {recipe.name} -> {parent}"
            + (" (resuming)" if resume else "")
            + f"; start {start.describe()}, "
            + f"{len(recipe.phases)} phase{'s' if len(recipe.phases) != 1 else ''}"
        )
        results, previous = [], None
        for index, phase in enumerate(recipe.phases):
            sub = recipe.phase_recipe(index, parent)
            state = rundir.read_state(sub.run_dir()) or {}
            if (
                state.get("status") == "finished"
                and state.get("fingerprint") == sub.fingerprint
                and RunDir(sub.run_dir()).model.is_file()
            ):
                log(f"phase {index + 1} ({phase.directory(index)}): finished before; kept")
                metrics = read_json_object(RunDir(sub.run_dir()).metrics)
                result = RunResult(sub.run_dir(), metrics, RunDir(sub.run_dir()).model)
            else:
                result = _train_phase(sub, index, start, previous, verbose, log)
            results.append(result)
            previous = result.model_path
        try:
            return _combine(recipe, parent, results, log, start)
        except OSError as e:  # a full disk: every phase is kept
            raise rundir.unwritable(
                e, parent, resume=("every phase is kept; free some space and run the same command again")
            ) from None


def _train_phase(sub: Recipe, index: int, start: Start, previous: Path | None, verbose, log):
    from kerascnn.training.fit import fit_recipe

    phase = sub.phases[index]

    def build(input_shape, classes):  # a stable name: it enters the phase's fingerprint
        model = start.model(input_shape, classes) if previous is None else _load(previous)
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

    begins = (start.describe(), start.terms()) if previous is None else (f"{previous}", None)
    return fit_recipe(
        sub,
        model=build,
        verbose=verbose,
        log=log,
        normalization=start.normalization,
        start=begins,
    )


class Start:
    """Where a fine-tuning recipe's weights come from, resolved and checked before any data is
    read: a run directory, a `.keras` file, or a keras.applications network ported to the zoo."""

    def __init__(self, recipe: Recipe):
        self.recipe = recipe
        f = recipe.finetune
        self.normalization = None
        self._loaded = None
        self.path = None
        self.timm = None  # (kerascnn model, WeightsSource) for timm's weights
        if f.timm:
            self._timm()
            return
        if f.application is not None:
            from kerascnn.zoo.weights.applications import find_source

            self.source = find_source(f.application)
            if f.weights != "imagenet":
                self.path = self._resolve(f.weights, expect="file")
            return
        self.path = self._resolve(f.weights, expect="any")
        if self.path.is_dir():
            model_path = RunDir(self.path).model
            if not model_path.is_file() or not RunDir(self.path).data.is_file():
                raise recipe.error(
                    ("finetune", "weights"),
                    (f"{self.path} holds no finished kerascnn run (model.keras and data.json)."),
                    hint="finish the run first (kerascnn train its recipe), or name a .keras file.",
                )
            self.normalization = RunDir(self.path).feeding().preprocessing
            self.path = model_path
        elif self.path.suffix != ".keras":
            raise recipe.error(
                ("finetune", "weights"),
                f"expected a run directory or a .keras file. Received: {f.weights!r}.",
            )

    def _timm(self) -> None:
        """timm's weights, resolved (and fetched) before any data: the network, the file, and
        how the weights expect their images, which the phases normalize with."""
        from kerascnn.data import Preprocessing
        from kerascnn.zoo.weights import hub_id_of, network_of, resolve_weights

        f = self.recipe.finetune
        name = f.model
        hub_id = hub_id_of(f.weights)
        if name is None:
            try:
                name = network_of(hub_id)
            except ConfigError as e:
                raise self.recipe.error(("finetune", "weights"), e.message) from None
        weights = f.weights
        if hub_id is None and weights != "imagenet":
            weights = str(self._resolve(weights, expect="file"))
        try:
            source = resolve_weights(name, weights)
        except ConfigError as e:
            raise self.recipe.error(("finetune", "weights"), e.message, hint=e.hint) from None
        if source.pretrained is None:
            raise self.recipe.error(
                ("finetune", "weights"),
                (
                    f"{source.described} does not say how its images are normalized: timm's "
                    f"config.json is not beside it."
                ),
                hint="download it too (huggingface-cli download timm/<arch>.<tag> config.json "
                "--local-dir DIR), or give the Hub id.",
            )
        channels = self.recipe.data.channels or 3
        self.normalization = Preprocessing.from_dict(source.pretrained.preprocessing(channels=channels))
        self.timm = (name, source)
        self.recipe = self._fed_as_the_weights_expect(source.pretrained)

    def _fed_as_the_weights_expect(self, pretrained) -> Recipe:
        """The recipe with the weights' way of feeding images where `[data]` does not say
        otherwise: their input size, the shorter side resized to size / crop_pct (random crops of
        the size in training, the centre one in evaluation), their interpolation."""
        import dataclasses
        import math

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
        from kerascnn.runs.card import TERMS

        if self.timm is not None:
            hub_id = self.timm[1].pretrained.hub_id if self.timm[1].pretrained else None
            if hub_id and hub_id.startswith("timm/"):
                return TERMS["hub"].format(id=hub_id)
            return "those of the weights file's publisher (see where it was downloaded)"
        if self.recipe.finetune.application is not None:
            return TERMS["application"]
        return None

    def describe(self) -> str:
        f = self.recipe.finetune
        if self.timm is not None:
            return f"timm's {self.timm[1].described} in kerascnn's {self.timm[0]}"
        if f.application is not None:
            return f"keras.applications {self.source.application} ({f.weights})"
        return str(self.path)

    def _resolve(self, text: str, *, expect: str) -> Path:
        path = Path(text).expanduser()
        if not path.is_absolute() and not path.exists() and self.recipe.path is not None:
            path = self.recipe.path.parent / path
        if not path.exists() or (expect == "file" and not path.is_file()):
            raise self.recipe.error(
                ("finetune", "weights"),
                f"nothing at {text!r}.",
                hint="a run directory, a .keras file, or with application "
                '"imagenet" or the path of its weights file.',
            )
        return path

    @property
    def head(self) -> str | None:
        return "head_new" if self.recipe.finetune.new_head else None

    def model(self, input_shape, classes: int):
        """The starting network for this data, with its new classifier when asked."""
        from kerascnn.training.freezing import replace_head

        f = self.recipe.finetune
        if self.timm is not None:
            model = self._timm_model(input_shape)
        elif f.application is not None:
            model = self._port(input_shape)
        else:
            if self._loaded is None:
                self._loaded = _load(self.path)
            model = self._loaded
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
        from kerascnn.training.freezing import set_trainable, trainable_stages

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
        if self.timm is not None:
            model = self._timm_model(None, weighted=False)
        elif f.application is not None:
            from kerascnn.zoo import build, get_model_info

            d = self.recipe.data
            shape = get_model_info(self.source.model).input_shape
            if d.image_size is not None:
                shape = (*d.image_size, shape[2])
            top = self._include_top()
            model = build(
                self.source.model,
                input_shape=shape,
                include_top=top,
                pooling=None if top else "avg",
                **self.source.options,
            )
        else:
            if self._loaded is None:
                self._loaded = _load(self.path)
            model = self._loaded
        if f.new_head:
            from kerascnn.training.freezing import replace_head

            model = replace_head(model, 2, dropout=f.dropout, keep_hidden=f.keep_hidden)
        for index, phase in enumerate(self.recipe.phases):
            self.set_trainable(model, phase, index)

    def _timm_model(self, input_shape, *, weighted: bool = True):
        """The timm network at the data's input: with its classifier for VGG's hidden layers
        (`keep_hidden`, at 224) or to keep it (`new_head = false`), else the pooled backbone."""
        import kerascnn

        name, source = self.timm
        f = self.recipe.finetune
        top = not f.new_head or (f.keep_hidden and name.startswith("vgg"))
        if input_shape is None:  # checking the phases: the network's names, no weights
            from kerascnn.zoo.weights.timm import architecture_for, detect_layout, read_state_dict

            d = self.recipe.data
            size = d.image_size or (source.pretrained.input_size,) * 2
            input_shape = (*size, d.channels or 3)
            if not weighted:
                layout = detect_layout(read_state_dict(source.path))
                options = architecture_for(name, layout, source=source.described).options
                return kerascnn.build(
                    name,
                    input_shape=input_shape,
                    include_top=top,
                    pooling=None if top else "avg",
                    **options,
                )
        try:
            return kerascnn.build(
                name,
                weights=str(source.path),
                input_shape=tuple(input_shape),
                include_top=top,
                pooling=None if top else "avg",
            )
        except ConfigError as e:
            hint = (
                "keep_hidden = false (VGG's hidden layers need 224x224 images)"
                if top and name.startswith("vgg")
                else e.hint
            )
            raise self.recipe.error(("finetune", "weights"), e.message, hint=hint) from None

    def _include_top(self) -> bool:
        # Only VGG has hidden layers above its features worth keeping (FC-4096 twice); they need
        # the 224x224 input they were trained at.
        return self.recipe.finetune.keep_hidden and self.source.model.startswith("vgg")

    def _port(self, input_shape):
        from kerascnn.zoo.weights.applications import imagenet_source, port_weights

        top = self._include_top()
        options = dict(input_shape=tuple(input_shape), include_top=top, pooling=None if top else "avg")
        try:
            if self.path is not None:
                return port_weights(self.path, architecture=self.source.application, **options)
            source = imagenet_source(self.source.application, include_top=top, input_shape=input_shape)
            return port_weights(source, **options)
        except ConfigError as e:
            hint = (
                "keep_hidden = false (VGG's hidden layers need 224x224 images)"
                if top
                else "without internet, download the weights file elsewhere and give its path as "
                "finetune.weights"
            )
            raise self.recipe.error(("finetune", "weights"), e.message, hint=e.hint or hint) from None


def _load(path: Path):
    from kerascnn.runs.saving import load_model

    return load_model(path)


def _combine(recipe: Recipe, parent: Path, results, log, start: Start):
    """The fine-tuning run's own files from its phases'."""
    from kerascnn.training.fit import RunResult, plot_curves

    rows, boundaries, phases = [], [], []
    for index, result in enumerate(results):
        name = recipe.phases[index].directory(index)
        phase_rows = rundir.read_history(RunDir(result.run_dir).history)
        offset = len(rows)
        for row in phase_rows:
            rows.append({"phase": name, **row, "epoch": offset + int(row["epoch"])})
        boundaries.append((offset, name))
        phases.append({"phase": name, **result.metrics})
    rundir.write_rows(RunDir(parent).history, rows)
    plot_curves(rows, RunDir(parent).curves, title=recipe.name, phases=boundaries)
    last = results[-1]
    for name in (RunDir.MODEL, RunDir.DATA):
        rundir.written(parent / name, lambda name=name: shutil.copy2(last.run_dir / name, parent / name))
    metrics = {
        "phases": phases,
        "epochs": len(rows),
        "seconds": round(sum(p.get("seconds", 0.0) for p in phases), 2),
    }
    for key in ("model", "test", "test_final", "test_best"):
        if key in last.metrics:  # the last phase's model is the run's
            metrics[key] = last.metrics[key]
    rundir.write_atomic(RunDir(parent).metrics, json.dumps(metrics, indent=2))
    rundir.update_state(
        parent,
        status="finished",
        finished=time.strftime("%Y-%m-%d %H:%M:%S"),
        epochs=len(rows),
        environment=(rundir.read_state(last.run_dir) or {}).get("environment", {}),
    )
    write_card(parent, start=start.describe(), start_terms=start.terms())
    log(f"finetune done: {len(rows)} epochs in {len(phases)} phases; {_accuracies(phases)}")
    log(f"  saved {RunDir(parent).model}, metrics.json, history.csv, curves.png")
    if recipe.output.report:
        log(f"  report {write_report(parent)}")
    return RunResult(run_dir=parent, metrics=metrics, model_path=RunDir(parent).model)


def _accuracies(phases: list[dict]) -> str:
    """Each phase's accuracy for the last line of a fine-tuning run: on the test split, or, when
    the data has none, on the validation split at the phase's best epoch (or the training split at
    its end), said as such."""

    def each(section: str, key: str) -> str:
        return "; ".join(f"{p['phase']} {p.get(section, {}).get(key, float('nan')):.4f}" for p in phases)

    if all("accuracy" in p.get("test", {}) for p in phases):
        return f"test accuracy after each: {each('test', 'accuracy')}"
    if all("val_accuracy" in p.get("best", {}) for p in phases):
        return (
            f"the data has no test split; validation accuracy at each phase's best epoch: "
            f"{each('best', 'val_accuracy')} (every epoch in history.csv)"
        )
    return (
        f"the data has no test or validation split; training accuracy at the end of each "
        f"phase: {each('final', 'accuracy')} (every epoch in history.csv)"
    )
