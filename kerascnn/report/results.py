"""The held-out results of a run's model, for its page: the evaluation `kerascnn evaluate` makes
(the same function, so the page's confusion matrix is the command's), per-class precision, recall
and F1, the most-confused pairs, and the most confident mistakes with their Grad-CAM (Selvaraju et
al., ICCV 2017) for the class the network wrongly chose; and the network's profile."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kerascnn.analysis import profile
from kerascnn.config import ConfigError
from kerascnn.inference import evaluate, load_trained
from kerascnn.report.figures import heat_overlay, png_uri, upscaled
from kerascnn.visualize import feature_stages, gradcam, target_layer
from kerascnn.visualize.figures import confusion_picture

__all__ = ["HeldOut", "held_out", "class_table", "confused_pairs", "GALLERY"]

GALLERY = 12  # mistakes shown
PAIRS = 10  # most-confused pairs listed
TABLE_CLASSES = 60  # up to this many classes the confusion matrix is a table, beyond a picture


@dataclass
class Shown:
    """One mistake on the page: its place in the split, the classes, the confidence, and the
    pictures (data URIs) of the image as the network saw it and of its Grad-CAM."""

    index: int
    true: str
    predicted: str
    confidence: float
    image: str
    cam: str | None


@dataclass
class HeldOut:
    split: str
    evaluation: object  # kerascnn.inference.Evaluation
    classes: list[dict]
    pairs: list[dict]
    gallery: list[Shown]
    cam_note: str | None = None
    profile: dict = field(default_factory=dict)

    @property
    def as_table(self) -> bool:
        return len(self.evaluation.class_names) <= TABLE_CLASSES

    def picture(self) -> str:
        """The matrix as a picture (a data URI), for more classes than a table holds."""
        return png_uri(confusion_picture(self.rates))

    @property
    def rates(self) -> list[list[float]]:
        """The confusion matrix normalized by row: the share of each true class predicted as each."""
        matrix = np.asarray(self.evaluation.confusion, float)
        return (matrix / np.maximum(matrix.sum(1, keepdims=True), 1)).tolist()


def class_table(confusion, names) -> list[dict]:
    """Per class: support (true images), precision, recall and F1 (None where undefined: no image
    predicted as the class, or none of it)."""
    m = np.asarray(confusion, float)
    hits, true, predicted = np.diag(m), m.sum(1), m.sum(0)
    rows = []
    for i, name in enumerate(names):
        p = hits[i] / predicted[i] if predicted[i] else None
        r = hits[i] / true[i] if true[i] else None
        f1 = 2 * p * r / (p + r) if p is not None and r is not None and p + r > 0 else None
        if p is not None and r is not None and p + r == 0:
            f1 = 0.0
        rows.append({"name": name, "support": int(true[i]), "precision": p, "recall": r, "f1": f1})
    return rows


def confused_pairs(confusion, names, limit: int = PAIRS) -> list[dict]:
    """The largest off-diagonal counts: (true class, predicted class, images, share of the true
    class), the most first; ties in the matrix's order."""
    m = np.asarray(confusion, int)
    cells = [(int(m[i, j]), i, j) for i in range(len(m)) for j in range(len(m)) if i != j and m[i, j]]
    cells.sort(key=lambda c: (-c[0], c[1], c[2]))
    totals = m.sum(1)
    return [
        {"true": names[i], "predicted": names[j], "count": n, "share": n / totals[i]}
        for n, i, j in cells[:limit]
    ]


def split_of(feeding) -> str | None:
    """The split a run's page evaluates on: its data's test split, else its validation split."""
    sizes = (feeding.details.get("sizes") or {}) if feeding is not None else {}
    return next((s for s in ("test", "val") if sizes.get(s)), None)


def held_out(run_dir, feeding, *, gallery: int = GALLERY) -> HeldOut | None:
    """Evaluate the run's model on its test split (else validation) as `kerascnn evaluate` does,
    keeping the `gallery` most confident mistakes; None when the data has neither split."""
    split = split_of(feeding)
    if split is None:
        return None
    trained = load_trained(run_dir)
    # Image files unreadable now (the run's "skip", or damaged since) are left out and listed.
    evaluation = evaluate(trained, split=split, mistakes=gallery, bad_images="skip")
    names = evaluation.class_names
    shown, note = _gallery(trained, evaluation.mistakes, names)
    return HeldOut(
        split=split,
        evaluation=evaluation,
        classes=class_table(evaluation.confusion, names),
        pairs=confused_pairs(evaluation.confusion, names),
        gallery=shown,
        cam_note=note,
        profile=_profile(trained.model),
    )


def _gallery(trained, mistakes, names) -> tuple[list[Shown], str | None]:
    if not mistakes:
        return [], None
    images = np.stack([m.image for m in mistakes])
    x = np.asarray(trained.preprocessing.normalize(images.astype("float32")), "float32")
    try:
        layer = cam_layer(trained.model)
        cams = gradcam(
            trained.model, x, classes=np.asarray([m.predicted for m in mistakes]), layer=layer
        )
        note = f"Grad-CAM at {layer}"
    except (ConfigError, ValueError) as e:  # a network Grad-CAM finds no layer in: said, not fatal
        cams, note = None, f"No Grad-CAM: {getattr(e, 'message', None) or e}"
    shown = []
    for k, m in enumerate(mistakes):
        shown.append(
            Shown(
                index=m.index,
                true=names[m.true],
                predicted=names[m.predicted],
                confidence=m.confidence,
                image=png_uri(upscaled(m.image)),
                cam=None if cams is None else png_uri(upscaled(heat_overlay(m.image, cams[k]))),
            )
        )
    return shown, note


def cam_layer(model) -> str:
    """Grad-CAM's layer for the gallery: the last stage whose output is a map larger than 1x1 (the
    default, the last stage, is 1x1 in LeNet-5 and NiN-style heads: a map that cannot point at a
    part of the image)."""
    spatial = [
        name
        for name in feature_stages(model).values()
        if np.prod([d or 1 for d in model.get_layer(name).output.shape[1:3]]) > 1
    ]
    return spatial[-1] if spatial else target_layer(model, None)


def _profile(model) -> dict:
    """Parameters and multiply-adds of one image (`kerascnn.analysis.profile`)."""
    try:
        found = profile(model)
    except ValueError as e:  # not a graph kerascnn can read
        return {"note": str(e)}
    return {
        "params": found.params,
        "trainable": found.trainable_params,
        "macs": found.macs,
        "param_bytes": found.param_bytes,
        "layers": len(found.rows),
    }
