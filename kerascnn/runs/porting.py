"""`kerascnn port`: published weights (resolved by `kerascnn.zoo.weights`) saved as a kerascnn model,
a `.keras` file that records how the weights expect their images (timm's: a `Feeding`), so that
evaluate and predict feed it as the weights were trained. Never over an existing file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kerascnn.config import ConfigError
from kerascnn.runs.feeding import Feeding
from kerascnn.runs.saving import write_feeding

__all__ = ["port", "Ported", "check_port_output"]


@dataclass
class Ported:
    """What `port` saved: the file, the model, how many weights, and where they came from."""

    path: Path
    model: object
    weights: int
    source: str
    note: str | None = None  # how the feeding was decided, when kerascnn had to assume it


def check_port_output(output, weights=None) -> None:
    """The output of `kerascnn port` is a new .keras file and the weights file exists: checked
    before anything loads."""
    from kerascnn.config import check_new_file, option

    output = Path(output)
    if output.suffix != ".keras":
        raise ConfigError(f"{option('output')} must end in .keras. Received: {str(output)!r}.")
    if output.exists():
        raise ConfigError(
            f"{str(output)!r} exists; kerascnn never overwrites a saved model. "
            f"Choose another name or remove it first."
        )
    check_new_file(output, what=option("output"))
    if weights is not None and not Path(weights).is_file():
        raise ConfigError(f"no weights file at {weights!r}.")
    if weights is not None and Path(weights).suffix == ".safetensors":
        from kerascnn.zoo.weights.cards import check_weights_file

        check_weights_file(weights)


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
    from kerascnn.zoo.weights.cards import hub_id_of

    check_port_output(output, weights)
    timm = hub_id_of(source) is not None or (
        weights is not None and Path(weights).suffix == ".safetensors"
    )
    make = _port_timm if timm else _port_application
    model, feeding, described, note = make(source, weights, input_shape, classes, include_top)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    model.save(output)
    if feeding is not None:
        write_feeding(output, feeding)
    count = sum(int(w.numpy().size) for w in model.weights)
    return Ported(path=output, model=model, weights=count, source=described, note=note)


def _port_timm(source, weights, input_shape, classes, include_top):
    """timm's weights: a Hub id, or a kerascnn model name and a local model.safetensors."""
    from kerascnn.zoo.weights.cards import hub_id_of, network_of, resolve_weights

    hub_id = hub_id_of(source)
    if hub_id is not None:
        if weights is not None:
            raise ConfigError("give a Hub id or --weights, not both.")
        name, weights = network_of(hub_id), hub_id
    else:
        from kerascnn.zoo import get_model_info

        name, weights = get_model_info(source).name, weights
    source = resolve_weights(name, weights)  # fetched once; build reads the same file
    pretrained, note = source.pretrained, None
    if pretrained is None:  # a local file without timm's config.json beside it
        from kerascnn.zoo.weights.cards import PRETRAINED, card_for_file

        pretrained = card_for_file(name, source.path)  # before the build: a refusal is at once
        card = PRETRAINED[name]
        note = (
            f"no timm config.json beside {source.path}: fed as kerascnn's card for {name} "
            f"says ({card.hub_id}: {pretrained.input_size}x{pretrained.input_size}, crop "
            f"{pretrained.crop_pct:g}, {pretrained.interpolation}, mean "
            f"{'/'.join(f'{m:g}' for m in pretrained.mean)}, std "
            f"{'/'.join(f'{v:g}' for v in pretrained.std)}); if the file holds another tag, "
            f"put its config.json beside it and port again"
        )
    import kerascnn

    options = {"include_top": include_top}
    if classes is not None:
        options["classes"] = classes
    shape = input_shape or (pretrained.input_size,) * 2 + (3,)
    model = kerascnn.build(name, weights=str(source.path), input_shape=shape, **options)
    from kerascnn.data import Preprocessing

    details = {"source": pretrained.to_dict()}
    if note is not None:
        details["assumed"] = note
    feeding = Feeding(
        Preprocessing.from_dict(pretrained.preprocessing(model.input_shape[1], model.input_shape[3])),
        None,
        details,
    )
    return model, feeding, source.described, note


def _port_application(source, weights, input_shape, classes, include_top):
    """keras.applications' weights: its network's name, with a weights file or downloaded."""
    from kerascnn.zoo.weights.applications import find_source, imagenet_source, port_weights

    spec = find_source(source)  # a typo fails before anything loads
    if weights is not None:
        source = weights
    else:
        try:
            source = imagenet_source(spec.application, include_top=include_top)
        except ConfigError as e:
            raise ConfigError(
                e.message,
                hint="without internet, download the .h5 elsewhere and pass --weights FILE.",
            ) from None
    model = port_weights(
        source,
        architecture=spec.application,
        input_shape=input_shape,
        include_top=None if include_top else False,
        classes=classes,
    )
    return model, None, spec.application, None
