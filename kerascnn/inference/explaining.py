"""Pictures from image files: each image read and fed as the run's validation fed its images, its
heatmap computed (`gradcam`, `occlusion`, `saliency`, `guided`) and drawn over it; a run's filters and
an image's feature maps, stage by stage."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kerascnn.config import ConfigError, check_folder, option
from kerascnn.data.folder import check_images, describe_bad
from kerascnn.data.images import load_image
from kerascnn.inference.trained import Trained, image_files, load_trained, trained_model
from kerascnn.runs.rundir import RunDir
from kerascnn.visualize.attribution import gradcam, saliency
from kerascnn.visualize.figures import new_picture
from kerascnn.visualize.occlusion import occlusion
from kerascnn.visualize.pictures import overlay, plot_features, plot_filters
from kerascnn.visualize.targets import target_layer

METHODS = ("gradcam", "occlusion", "saliency", "guided")


@dataclass
class Explained:
    """One image's explanation: the class explained, its probability, the heatmap `(H, W)` in
    network-input pixels (for occlusion: the class probability with that part covered, low where it
    matters) and the picture written."""

    path: str
    label: str
    probability: float
    method: str
    heatmap: np.ndarray
    picture: Path | None = None


def as_trained(target, normalize: str | None = None):
    """A run directory, a `.keras` file, a `Trained` or a model in memory (with `normalize`)."""
    import keras

    if isinstance(target, Trained):
        return target
    if isinstance(target, keras.Model):
        return trained_model(target, normalize=normalize)
    return load_trained(target, normalize=normalize)


def read_images(trained, files) -> tuple[np.ndarray, np.ndarray, list[Path]]:
    """(network inputs, the same images 0-255 as the network sees them, the files): every file
    checked first; one that cannot be read is an error naming it."""
    files = image_files(files)
    pre = trained.preprocessing
    channels = pre.input_shape[2]
    bad = check_images([str(f) for f in files], channels=channels)
    if bad:
        raise ConfigError(
            f"{len(bad)} of the {len(files)} files cannot be read as images: {describe_bad(bad)}."
        )
    shown = np.stack([pre.centre(pre.shape(load_image(f, channels))) for f in files])
    return np.asarray(pre.normalize(shown), "float32"), shown, files


def explain(
    target,
    images,
    *,
    method: str = "gradcam",
    out: str | Path | None = None,
    layer: str | None = None,
    classes=None,
    window: int | None = None,
    stride: int | None = None,
    normalize: str | None = None,
) -> list[Explained]:
    """Explain each image file's class with `method`, and draw it into `out` (a folder; pictures
    are never overwritten) when given.

    Args:
        target: a run directory, a `.keras` file, a `Trained`, or a model in memory (with
            `normalize`: a zoo or spec network).
        images: image files or folders.
        method: "gradcam", "occlusion", "saliency" or "guided" (guided backpropagation).
        layer: Grad-CAM's layer or stage (default: the last stage's output).
        classes: None (each image's top class), a class index or name, or one per image.
        window, stride: the occluding square (occlusion).
    """
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}: choose {', '.join(METHODS)}.")
    if method != "gradcam" and layer is not None:
        raise ConfigError(f"layer applies to gradcam, not {method}.")
    pictures = picture_paths(images, out, method) if out is not None else []
    trained = as_trained(target, normalize)
    model = trained.model
    if method == "gradcam":
        target_layer(model, layer)  # an unknown layer is named before any image is read
    x, shown, files = read_images(trained, images)
    picked = _classes(trained, classes, len(files))
    probabilities = np.asarray(model.predict_on_batch(x), "float32")
    picked = probabilities.argmax(-1) if picked is None else picked
    if method == "gradcam":
        maps = gradcam(model, x, classes=picked, layer=layer)
    elif method == "occlusion":
        maps = occlusion(model, x, classes=picked, window=window, stride=stride)
    else:
        maps = saliency(model, x, classes=picked, guided=method == "guided")
    results = []
    for i, f in enumerate(files):
        label = trained.class_names[int(picked[i])]
        p = float(probabilities[i, picked[i]])
        result = Explained(path=str(f), label=label, probability=p, method=method, heatmap=maps[i])
        if out is not None:
            heat = maps[i] if method != "occlusion" else 1 - maps[i]  # hot where it matters
            result.picture = overlay(
                shown[i], heat, pictures[i], title=f"{f.name}: {method} for {label} (p = {p:.2f})"
            )
        results.append(result)
    return results


def picture_paths(images, out, method: str) -> list[Path]:
    """The picture `explain` draws for each image file (`<out>/<image name>_<method>.png`),
    checked before any model loads: `out` is a folder that takes files, no picture is there yet
    (never overwritten) and no two images would be drawn as the same picture."""
    out = check_folder(out, what=option("out"))
    files = image_files(images)
    pictures = [out / f"{f.stem}_{method}.png" for f in files]
    taken = [str(p) for p in pictures if p.exists()]
    if taken:
        raise ConfigError(
            f"kerascnn does not overwrite pictures: {', '.join(taken)}.",
            hint=f"choose another folder ({option('out')}), or remove them first.",
        )
    drawn: dict[Path, list[str]] = {}
    for f, picture in zip(files, pictures):
        drawn.setdefault(picture, []).append(str(f))
    clashes = [(picture, named) for picture, named in drawn.items() if len(named) > 1]
    if clashes:
        listed = "; ".join(
            f"{' and '.join(named)} would both be {picture}" for picture, named in clashes[:5]
        )
        more = f" (and {len(clashes) - 5} more)" if len(clashes) > 5 else ""
        raise ConfigError(
            f"images with the same file name: {listed}{more}.",
            hint="explain them into different folders (one command each).",
        )
    return pictures


def _classes(trained, classes, count: int):
    if classes is None:
        return None
    names = trained.class_names
    single = isinstance(classes, (str, int, np.integer))
    given = [classes] if single else list(classes)
    picked = []
    for c in given:
        if isinstance(c, str) and c in names:
            picked.append(names.index(c))
        elif isinstance(c, str) and c.isdigit() and int(c) < len(names):
            picked.append(int(c))
        elif isinstance(c, (int, np.integer)) and not isinstance(c, bool) and 0 <= c < len(names):
            picked.append(int(c))
        else:
            raise ConfigError(
                f"unknown class {c!r}: give a class name ({', '.join(names[:10])}"
                f"{', ...' if len(names) > 10 else ''}) or an index below "
                f"{len(names)}."
            )
    if single:
        return np.full(count, picked[0])
    if len(picked) != count:
        raise ConfigError(
            f"give one class for all images or one per image ({count}). Received: {len(picked)}."
        )
    return np.asarray(picked)


def show_filters(
    target, path: str | Path, *, layer: str | None = None, normalize: str | None = None
) -> Path:
    """A convolution's filters as a picture (default: the first convolution)."""
    path = new_picture(path)
    return plot_filters(
        as_trained(target, normalize or _normalization_for_filters(target)).model, path, layer=layer
    )


def show_features(
    target, image, path: str | Path, *, top: int = 8, normalize: str | None = None
) -> Path:
    """One image's strongest feature maps, stage by stage."""
    path = new_picture(path)
    trained = as_trained(target, normalize)
    x, shown, files = read_images(trained, [image])
    if len(files) != 1:
        raise ConfigError(f"show features takes one image. Received: {len(files)} files.")
    return plot_features(trained.model, x[0], shown[0], path, top=top)


def _normalization_for_filters(target):
    """Filters need no preprocessing: a bare model gets a normalization only to be loaded."""
    path = Path(str(target)) if isinstance(target, (str, Path)) else None
    if path is not None and path.is_file() and not RunDir(path.parent).data.is_file():
        return "none"
    import keras

    return "none" if isinstance(target, keras.Model) else None
