"""A trained model and how to feed it: a run directory's model with its `data.json`, a `.keras` file
with what `kerascnn port` recorded, or a bare model with a named normalization; the image files
named on a command line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kerascnn.config import ConfigError, option
from kerascnn.config.limits import check_pixels, read_json
from kerascnn.data import Preprocessing
from kerascnn.data.feeding import NORMALIZATIONS, Feeding
from kerascnn.data.folder import OTHER_IMAGE_FORMATS, describe_bad
from kerascnn.data.preprocessing import fixed_statistics
from kerascnn.runs.rundir import RunDir
from kerascnn.runs.saving import check_archive, load_model, read_feeding

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
# Image formats TensorFlow cannot decode are found in folders too, so that they are named, not ignored
# (OTHER_IMAGE_FORMATS).


@dataclass
class Trained:
    """A trained model with what it takes to feed it raw images.

    Attributes:
        model: the inference model (auxiliary heads removed).
        preprocessing: `kerascnn.data.Preprocessing` (size, crop, mean, std).
        class_names: one name per output.
        model_path: the file the model came from.
        run_dir: its run directory, when it came from one.
    """

    model: object
    preprocessing: object
    class_names: list[str]
    model_path: Path
    run_dir: Path | None = None


# What a model outside a run directory may be told about its input (keras.applications' modes:
# "imagenet" is "torch", "caffe" is VGG's and ResNet's BGR mean subtraction, "tf" is [-1, 1]).


def load_trained(target: str | Path, *, normalize: str | None = None) -> Trained:
    """A run directory's model (`model.keras`; an unfinished run's `best.keras`), or a `.keras` file.

    Args:
        normalize: for a model outside a run directory that does not record how it is fed (a
            model saved by `kerascnn port` from published weights does: their crop, interpolation,
            mean and std): "unit" (x / 255), "imagenet" (the ImageNet mean and std), "caffe" (BGR,
            ImageNet mean subtracted: ported VGG and ResNet weights), "tf" ([-1, 1]) or "none"
            (0-255 as they are).
    """
    from kerascnn.zoo import drop_side_outputs  # keeps kerascnn.inference free of Keras

    model_path, run_dir = _locate(target)
    model = drop_side_outputs(load_model(model_path))
    classes = int(model.output_shape[-1])
    if run_dir is not None and RunDir(run_dir).data.is_file():
        if normalize is not None:
            raise ConfigError(
                f"{run_dir} records how its images were normalized; drop {option('normalize')}."
            )
        feeding = Feeding.read(RunDir(run_dir).data)
        pre, names = feeding.preprocessing, feeding.names(classes)
    elif normalize is None and (feeding := Feeding.recorded(read_feeding(model_path))):  # ported
        pre, names = feeding.preprocessing, feeding.names(classes)
    else:
        pre, names = _bare(model, normalize, model_path)
    if len(names) != classes or tuple(model.input_shape[1:]) != pre.input_shape:
        raise ConfigError(
            f"{model_path} does not match its data.json: the model takes "
            f"{model.input_shape[1:]} and gives {classes} classes; data.json says "
            f"{pre.input_shape} and {len(names)} classes."
        )
    return Trained(
        model=model, preprocessing=pre, class_names=names, model_path=model_path, run_dir=run_dir
    )


def _locate(target) -> tuple[Path, Path | None]:
    """The model file a target names (a run directory's `model.keras`, or an unfinished run's
    `best.keras` or `last.keras`; a `.keras` file) and its run directory, if any."""
    path = Path(target)
    if path.is_dir():
        model_path = RunDir(path).trained_model()
        if model_path is None:
            raise ConfigError(
                f"{path} holds no trained model (model.keras, best.keras or "
                f"last.keras): is it a kerascnn run directory?"
            )
        return model_path, path
    if path.is_file():
        if path.suffix != ".keras":
            raise ConfigError(f"expected a run directory or a .keras model. Received: {str(target)!r}.")
        return path, path.parent if RunDir(path.parent).data.is_file() else None
    raise ConfigError(f"no run directory or model at {str(target)!r}.")


def check_target(target) -> None:
    """What `load_trained(target)` will read, checked against kerascnn's limits without the
    backend (`kerascnn.config.limits`): the model archive (its members, its config, what it
    names: `kerascnn.runs.saving.check_archive`) and the run's data.json. The command line calls it
    before Keras loads, so that a hostile file costs nothing."""
    model_path, run_dir = _locate(target)
    check_archive(model_path)
    if run_dir is not None and RunDir(run_dir).data.is_file():
        try:
            read_json(RunDir(run_dir).data)  # within the limits; what it says is read by load_trained
        except ConfigError:
            raise
        except (OSError, ValueError) as e:
            raise ConfigError(f"{RunDir(run_dir).data} is unreadable: {e}.") from None


def check_image_sizes(files) -> None:
    """No image file is too large to decode (`kerascnn.config.limits.MAX_PIXELS`, read from the
    headers without decoding); a `ConfigError` naming those that are."""
    large = {str(f): why for f in files if (why := check_pixels(f)) is not None}
    if large:
        raise ConfigError(
            f"{len(large)} of the {len(files)} image files cannot be read: {describe_bad(large)}."
        )


def trained_model(model, *, normalize: str) -> Trained:
    """A model in memory (a zoo or spec network, one built by hand) with how its images are
    normalized, as `load_trained` gives a saved one."""
    from kerascnn.zoo import drop_side_outputs

    model = drop_side_outputs(model)
    pre, names = _bare(model, normalize, repr(model.name))
    return Trained(
        model=model, preprocessing=pre, class_names=names, model_path=Path(f"{model.name}.keras")
    )


def _bare(model, normalize, what):
    """The preprocessing and class names of a model that records neither: its input size, the
    named normalization, classes 0..k-1."""
    if normalize not in NORMALIZATIONS:
        raise ConfigError(
            f"{what} is not in a run directory, so how its images were "
            f"normalized is unknown: give {option('normalize')}, one of "
            f"{', '.join(repr(n) for n in NORMALIZATIONS)}. Received: "
            f"{normalize!r}."
        )
    shape = tuple(int(d) if d is not None else None for d in model.input_shape[1:])
    if None in shape:
        raise ConfigError(f"{what} takes any image size; kerascnn needs a fixed input.")
    channels = shape[2]
    mean, std = fixed_statistics(normalize, channels)
    pre = Preprocessing(
        shape, shape[:2], "stretch", tuple(mean), tuple(std), bgr=normalize == "caffe" and channels == 3
    )
    return pre, [str(i) for i in range(int(model.output_shape[-1]))]


BAD_IMAGES = ("error", "skip")


def check_policy(bad_images: str) -> None:
    if bad_images not in BAD_IMAGES:
        raise ConfigError(f"bad_images must be 'error' or 'skip'. Received: {bad_images!r}.")


def image_files(items) -> list[Path]:
    """Image files named directly, or found (recursively, sorted) in the folders named."""
    if isinstance(items, (str, Path)):
        items = [items]
    files = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.suffix.lower() in IMAGE_SUFFIXES or p.suffix.lower() in OTHER_IMAGE_FORMATS
            )
            if not found:
                raise ConfigError(f"{path} holds no images ({', '.join(IMAGE_SUFFIXES)}).")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise ConfigError(f"no image or folder at {str(item)!r}.")
    if not files:
        raise ConfigError("no images given.")
    return files
