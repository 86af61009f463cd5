"""Where a network's starting weights come from, in one place: what a fine-tuning recipe's
`[finetune] weights` (with `model` or `application`) and `kerascnn port`'s source name, checked
without touching a file (`check_start`: the recipe's check) and then found (`find_start`: files
resolved, timm's weights fetched), and the zoo network built with them (`StartingWeights.network`).

Four kinds: a kerascnn run directory (its `model.keras`, fed as its data.json says), a `.keras`
file, keras.applications' weights ported into the zoo's equivalent network (`application`), and
timm's weights (a Hub id, a `model.safetensors`, or "imagenet" with `model`). What loads a `.keras`
file, normalizes images or freezes layers belongs to the packages above (`kerascnn.runs.saving`,
`kerascnn.data`, `kerascnn.training`): this module only says what the start is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kerascnn.config import ConfigError
from kerascnn.zoo.registry import get_model_info
from kerascnn.zoo.weights.applications import PortSource, find_source, imagenet_source, port_weights
from kerascnn.zoo.weights.cards import WeightsSource, hub_id_of, network_of, resolve_weights
from kerascnn.zoo.weights.timm import architecture_for, detect_layout, read_state_dict

__all__ = ["StartingWeights", "TERMS", "kind_of", "check_start", "find_start"]

# Where published weights' terms are stated, for a model card (kerascnn does not restate a
# licence it cannot check).
TERMS = {
    "hub": "the model card of https://huggingface.co/{id} states the weights' licence",
    "application": (
        "keras.applications' ImageNet weights: their terms are those of the Keras applications "
        "documentation (https://keras.io/api/applications/) and of the original papers' releases"
    ),
}


def kind_of(weights: str, *, model: str | None = None, application: str | None = None) -> str:
    """ "application" (keras.applications' weights), "timm" (a Hub id, a `model.safetensors`, or
    "imagenet" with `model`), "keras" (a `.keras` file) or "run" (a run directory)."""
    if application is not None:
        return "application"
    if model is not None or hub_id_of(weights) is not None or weights.endswith(".safetensors"):
        return "timm"
    return "keras" if weights.endswith(".keras") else "run"


@dataclass(frozen=True)
class StartingWeights:
    """A start, named and (after `find_start`) found.

    Attributes:
        kind: "run", "keras", "application" or "timm" (`kind_of`).
        weights: the weights as the user named them.
        network: the zoo network the weights go into (timm's, or keras.applications' equivalent);
            None for a run directory or a `.keras` file, which are networks already.
        application: keras.applications' source (kind "application").
        path: the `.keras` file, keras.applications' weights file (None: downloaded), or timm's
            `model.safetensors`; None before `find_start`, and for a run directory.
        run: the run directory (kind "run"): `kerascnn.runs.rundir.finished_model` finds its
            model, and its data.json says how its images were fed.
        source: timm's weights resolved: the file and how they expect their images.
    """

    kind: str
    weights: str
    network: str | None = None
    application: PortSource | None = None
    path: Path | None = None
    run: Path | None = None
    source: WeightsSource | None = None

    def describe(self) -> str:
        if self.kind == "timm":
            return f"timm's {self.source.described} in kerascnn's {self.network}"
        if self.kind == "application":
            return f"keras.applications {self.application.application} ({self.weights})"
        return str(self.run or self.path)

    def terms(self) -> str | None:
        """The terms of published weights, in words (None for the user's own)."""
        if self.kind == "timm":
            hub_id = self.source.pretrained.hub_id if self.source.pretrained else None
            if hub_id and hub_id.startswith("timm/"):
                return TERMS["hub"].format(id=hub_id)
            return "those of the weights file's publisher (see where it was downloaded)"
        return TERMS["application"] if self.kind == "application" else None

    def include_top(self, *, new_head: bool = True, keep_hidden: bool = False) -> bool:
        """Whether the network keeps its classifier: to keep it (`new_head = false`, timm), or for
        VGG's hidden layers above its features (FC-4096 twice, at the 224x224 they were trained at)."""
        vgg = (self.network or "").startswith("vgg")
        if self.kind == "timm":
            return not new_head or (keep_hidden and vgg)
        return keep_hidden and vgg

    def network_model(self, input_shape=None, *, include_top: bool, weighted: bool = True):
        """The zoo network with these weights (kinds "timm" and "application") at `input_shape`
        (timm: default their card's size); `weighted=False`: the same architecture, no weights
        read (its layer names, to check what a phase unfreezes). Without its top, pooled."""
        from kerascnn.zoo.factory import build  # keeps kerascnn.zoo.weights free of Keras

        options = dict(include_top=include_top, pooling=None if include_top else "avg")
        if self.kind == "application":
            if not weighted:
                shape = get_model_info(self.network).input_shape
                if input_shape is not None:
                    shape = (*tuple(input_shape)[:2], shape[2])
                return build(self.network, input_shape=shape, **options, **self.application.options)
            return self._ported(tuple(input_shape), options)
        if input_shape is None:
            input_shape = (self.source.pretrained.input_size,) * 2 + (3,)
        if not weighted:
            layout = detect_layout(read_state_dict(self.source.path))
            found = architecture_for(self.network, layout, source=self.source.described).options
            return build(self.network, input_shape=tuple(input_shape), **options, **found)
        return build(
            self.network, weights=str(self.source.path), input_shape=tuple(input_shape), **options
        )

    def _ported(self, input_shape, options):
        application = self.application.application
        if self.path is not None:
            return port_weights(self.path, architecture=application, input_shape=input_shape, **options)
        top = options["include_top"]
        source = imagenet_source(application, include_top=top, input_shape=input_shape)
        return port_weights(source, input_shape=input_shape, **options)


def check_start(
    weights: str, *, model: str | None = None, application: str | None = None
) -> StartingWeights:
    """The start as named, checked without touching a file: the keys that go together, the
    keras.applications network and the zoo network known. A `ConfigError`'s `path` names the key
    at fault (`weights`, `model` or `application`)."""
    if not weights:
        raise ConfigError(
            'must name a run directory, a .keras file or, with application, "imagenet".',
            path=("weights",),
        )
    if model is not None and application is not None:
        raise ConfigError(
            "give `model` (timm's weights) or `application` (keras.applications'), not both.",
            path=("model",),
        )
    kind = kind_of(weights, model=model, application=application)
    if kind == "application":
        try:
            source = find_source(application)
        except ConfigError as e:
            raise ConfigError(e.message, path=("application",), hint=e.hint) from None
        return StartingWeights(kind, weights, network=source.model, application=source)
    if kind == "timm":
        if model is not None:
            try:
                model = get_model_info(model).name
            except ConfigError as e:
                raise ConfigError(e.message, path=("model",), hint=e.hint) from None
        elif weights == "imagenet" or hub_id_of(weights) is None:
            raise ConfigError(
                'timm\'s weights in a file, or "imagenet", need the network: give `model`.',
                path=("model",),
                hint='model = "resnet50".',
            )
        return StartingWeights(kind, weights, network=model)
    if weights == "imagenet":
        raise ConfigError(
            '"imagenet" needs the network: `model` (timm\'s weights, kerascnn list --pretrained) '
            "or `application` (keras.applications').",
            path=("weights",),
            hint='model = "resnet50".',
        )
    return StartingWeights(kind, weights)


def find_start(
    weights: str,
    *,
    model: str | None = None,
    application: str | None = None,
    base: Path | None = None,
) -> StartingWeights:
    """The start found: `check_start`, then the files (a relative path from the working directory,
    else from `base`, the recipe's folder), a run directory's model, timm's weights fetched from
    the Hub and their card (how they expect their images)."""
    start = check_start(weights, model=model, application=application)
    if start.kind == "application":
        if weights == "imagenet":
            return start
        return StartingWeights(**{**vars(start), "path": _resolve(weights, base, expect="file")})
    if start.kind == "timm":
        return _timm(start, base)
    path = _resolve(weights, base, expect="any")
    if path.is_dir():  # its files are `kerascnn.runs.rundir`'s to check
        return StartingWeights("run", weights, run=path)
    if path.suffix != ".keras":
        raise ConfigError(
            f"expected a run directory or a .keras file. Received: {weights!r}.", path=("weights",)
        )
    return StartingWeights("keras", weights, path=path)


def _timm(start: StartingWeights, base: Path | None) -> StartingWeights:
    """timm's weights fetched (once: building reads the same file) with how they are fed."""
    weights, hub_id = start.weights, hub_id_of(start.weights)
    network = start.network
    if network is None:
        try:
            network = network_of(hub_id)
        except ConfigError as e:
            raise ConfigError(e.message, path=("weights",), hint=e.hint) from None
    if hub_id is None and weights != "imagenet":
        weights = str(_resolve(weights, base, expect="file"))
    try:
        source = resolve_weights(network, weights)
    except ConfigError as e:
        raise ConfigError(e.message, path=("weights",), hint=e.hint) from None
    return StartingWeights("timm", start.weights, network=network, path=source.path, source=source)


def _resolve(text: str, base: Path | None, *, expect: str) -> Path:
    path = Path(text).expanduser()
    if not path.is_absolute() and not path.exists() and base is not None:
        path = base / path
    if not path.exists() or (expect == "file" and not path.is_file()):
        raise ConfigError(
            f"nothing at {text!r}.",
            path=("weights",),
            hint="a run directory, a .keras file, or with application "
            '"imagenet" or the path of its weights file.',
        )
    return path
