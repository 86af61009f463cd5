"""`predict`: the most probable classes of image files, fed as the run's validation fed its images."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kerascnn.config import ConfigError
from kerascnn.data.folder import check_images, describe_bad, readable_formats, unreadable_format
from kerascnn.data.images import load_image
from kerascnn.inference.trained import Trained, check_policy, image_files, load_trained


@dataclass
class Prediction:
    """One image's most probable classes, best first; `error` says why an unreadable image (left
    out with `bad_images="skip"`) has none."""

    path: str
    classes: list[str]  # best first
    probabilities: list[float]
    error: str | None = None

    def to_dict(self) -> dict:
        if self.error is not None:
            return {"path": self.path, "error": self.error}
        return {
            "path": self.path,
            "top": [{"class": c, "probability": p} for c, p in zip(self.classes, self.probabilities)],
        }


def predict(
    target: str | Path | Trained,
    images,
    *,
    top: int = 5,
    batch_size: int = 64,
    normalize: str | None = None,
    bad_images: str = "error",
) -> list[Prediction]:
    """The `top` most probable classes of each image file (files, or folders searched for images).

    Images are read as the backend's input path reads them (`tf.io.decode_image` on TensorFlow,
    Pillow elsewhere: `kerascnn.data.images.load_image`; PNG, JPEG, BMP, GIF, WebP) and fed as in
    validation.
    Every file is checked before any is classified (`kerascnn.data.folder.check_images`): with
    `bad_images="error"` an unreadable one is a `ConfigError` naming each; with "skip" it gets a
    `Prediction` whose `error` says why, in its place.

    Returns:
        One `Prediction` per image file, in order: its path, the `top` classes best first with
        their probabilities (or, skipped, the reason it could not be read).
    """
    check_policy(bad_images)
    trained = target if isinstance(target, Trained) else load_trained(target, normalize=normalize)
    files = image_files(images)
    if top < 1:
        raise ConfigError(f"top must be 1 or more. Received: {top!r}.")
    top = min(top, len(trained.class_names))
    pre = trained.preprocessing
    channels = pre.input_shape[2]
    bad = check_images([str(f) for f in files], channels=channels)
    bad.update(
        {
            str(f): unreadable_format(f.suffix)
            for f in files
            if f.suffix.lower() not in readable_formats()
        }
    )
    if bad and bad_images == "error":
        raise ConfigError(
            f"{len(bad)} of the {len(files)} image files cannot be read: {describe_bad(bad)}.",
            hint='remove them, or pass --bad-images skip (bad_images="skip") to classify the others.',
        )
    readable = [f for f in files if str(f) not in bad]
    found = {}
    for start in range(0, len(readable), batch_size):
        chunk = readable[start : start + batch_size]
        # NumPy: the model may run on JAX or PyTorch.
        x = np.stack([pre(load_image(f, channels)) for f in chunk]).astype("float32")
        probabilities = np.asarray(trained.model.predict_on_batch(x), "float64")
        for f, p in zip(chunk, probabilities):
            order = np.argsort(-p)[:top]
            found[str(f)] = Prediction(
                path=str(f),
                classes=[trained.class_names[i] for i in order],
                probabilities=[float(p[i]) for i in order],
            )
    return [
        found.get(str(f)) or Prediction(path=str(f), classes=[], probabilities=[], error=bad[str(f)])
        for f in files
    ]
