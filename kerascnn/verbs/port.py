"""`kerascnn port`: published weights (resolved by `kerascnn.zoo.weights`) saved as a kerascnn model,
a `.keras` file that records how the weights expect their images (timm's: a `Feeding`), so that
evaluate and predict feed it as the weights were trained. Never over an existing file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kerascnn.config import ConfigError
from kerascnn.data import Preprocessing
from kerascnn.data.feeding import Feeding
from kerascnn.runs.saving import check_port_output, write_feeding
from kerascnn.zoo import build
from kerascnn.zoo.weights.applications import imagenet_source, port_weights
from kerascnn.zoo.weights.cards import PRETRAINED, card_for_file, hub_id_of
from kerascnn.zoo.weights.starts import StartingWeights, find_start

__all__ = ["port", "Ported"]


@dataclass
class Ported:
    """What `port` saved: the file, the model, how many weights, and where they came from."""

    path: Path
    model: object
    weights: int
    source: str
    note: str | None = None  # how the feeding was decided, when kerascnn had to assume it


def port(
    source: str,
    output,
    *,
    weights=None,
    input_shape=None,
    classes: int | None = None,
    include_top: bool = True,
) -> Ported:
    """Save published weights as a kerascnn model: timm's (a Hub id, or a model name with a
    `model.safetensors`; the archive then records how to feed the model) or keras.applications'
    (its name, with a weights file or downloaded). Never overwrites `output`."""
    check_port_output(output, weights)
    start = _start(source, weights)
    if start.kind == "timm":
        model, feeding, note = _port_timm(start, input_shape, classes, include_top)
    else:
        model, feeding, note = _port_application(start, input_shape, classes, include_top), None, None
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    model.save(output)
    if feeding is not None:
        write_feeding(output, feeding)
    count = sum(int(w.numpy().size) for w in model.weights)
    described = start.source.described if start.kind == "timm" else start.application.application
    return Ported(path=output, model=model, weights=count, source=described, note=note)


def _start(source: str, weights) -> StartingWeights:
    """The weights `source` names (`kerascnn.zoo.weights.starts`): a Hub id (timm's), a zoo
    network with timm's `model.safetensors` as `weights`, or a keras.applications network (its
    weights file, or "imagenet": downloaded when ported)."""
    hub_id = hub_id_of(source)
    if hub_id is not None and weights is not None:
        raise ConfigError("give a Hub id or --weights, not both.")
    try:
        if hub_id is not None:
            return find_start(hub_id)
        if weights is not None and Path(weights).suffix == ".safetensors":
            return find_start(str(weights), model=source)
        return find_start(str(weights) if weights is not None else "imagenet", application=source)
    except ConfigError as e:
        raise ConfigError(e.message, hint=e.hint) from None


def _port_timm(start: StartingWeights, input_shape, classes, include_top):
    """timm's weights in the zoo's network, with how they are fed (their card; kerascnn's own
    card for the network, said so, when the file has no timm config.json beside it)."""
    pretrained, note = start.source.pretrained, None
    if pretrained is None:  # a local file without timm's config.json beside it
        pretrained = card_for_file(start.network, start.path)  # before the build: a refusal is at once
        card = PRETRAINED[start.network]
        note = (
            f"no timm config.json beside {start.path}: fed as kerascnn's card for {start.network} "
            f"says ({card.hub_id}: {pretrained.input_size}x{pretrained.input_size}, crop "
            f"{pretrained.crop_pct:g}, {pretrained.interpolation}, mean "
            f"{'/'.join(f'{m:g}' for m in pretrained.mean)}, std "
            f"{'/'.join(f'{v:g}' for v in pretrained.std)}); if the file holds another tag, "
            f"put its config.json beside it and port again"
        )
    options = {"include_top": include_top}
    if classes is not None:
        options["classes"] = classes
    shape = input_shape or (pretrained.input_size,) * 2 + (3,)
    model = build(start.network, weights=str(start.path), input_shape=shape, **options)
    details = {"source": pretrained.to_dict()}
    if note is not None:
        details["assumed"] = note
    shown = pretrained.preprocessing(model.input_shape[1], model.input_shape[3])
    return model, Feeding(Preprocessing.from_dict(shown), None, details), note


def _port_application(start: StartingWeights, input_shape, classes, include_top):
    """keras.applications' weights: its network's, from the weights file or downloaded."""
    application = start.application.application
    source = start.path
    if source is None:
        try:
            source = imagenet_source(application, include_top=include_top)
        except ConfigError as e:
            raise ConfigError(
                e.message,
                hint="without internet, download the .h5 elsewhere and pass --weights FILE.",
            ) from None
    return port_weights(
        source,
        architecture=application,
        input_shape=input_shape,
        include_top=None if include_top else False,
        classes=classes,
    )
