"""`export`: a trained model as a TensorFlow SavedModel, an ONNX file or a LiteRT (TFLite) file, through
Keras' own `model.export`, then read back with the runtime that will serve it (TensorFlow,
onnxruntime, LiteRT's interpreter) and checked against the Keras model on a few of the run's images.

A model trained in mixed precision is exported computing in float32 (its weights are float32
already). The exported artefact takes the network's input: images already sized, cropped and
normalized. How
to get there (size, crop, mean, std, class names) is written beside it as `<name>.preprocessing.json`.

ONNX and the LiteRT interpreter are optional dependencies: `pip install "kerascnn[export]"` (tf2onnx
and onnx to write ONNX, onnxruntime and ai-edge-litert to read the files back). SavedModel and LiteRT
files are written by TensorFlow itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kerascnn.config import ConfigError, check_new_file, option
from kerascnn.config.installed import installed
from kerascnn.data.feeding import Feeding
from kerascnn.inference.datasets import labelled_images
from kerascnn.inference.trained import Trained, load_trained
from kerascnn.inference.views import views
from kerascnn.runs.rundir import RunDir

# kerascnn's names -> Keras' `model.export(format=...)`, and what each format needs installed.
FORMATS = {"saved_model": "tf_saved_model", "onnx": "onnx", "litert": "litert"}
NEEDS = {"saved_model": ("tensorflow",), "onnx": ("onnx", "onnxruntime"), "litert": ("ai_edge_litert",)}
SUFFIX = {"saved_model": "", "onnx": ".onnx", "litert": ".tflite"}
# The backends Keras exports each format from (LiteRT: TensorFlow or PyTorch; 3.15), and what a
# format needs besides on a backend (ONNX goes through tf2onnx from TensorFlow, jax2onnx from JAX).
# A SavedModel is TensorFlow's format on every backend: without TensorFlow it is one line.
BACKENDS = {
    "saved_model": ("tensorflow", "jax", "torch"),
    "onnx": ("tensorflow", "jax", "torch"),
    "litert": ("tensorflow", "torch"),
}
BACKEND_NEEDS = {("onnx", "tensorflow"): ("tf2onnx",), ("onnx", "jax"): ("jax2onnx",)}
TOLERANCE = 1e-4  # float32: the artefact computes in float32 (see `in_float32`)

__all__ = ["export", "check_destination", "Exported", "ExportMismatch", "FORMATS"]


class ExportMismatch(RuntimeError):
    """The exported artefact does not compute what the Keras model computes (beyond the tolerance)."""


@dataclass
class Exported:
    """`export`'s result.

    Attributes:
        path: the SavedModel directory or the .onnx / .tflite file.
        format: "saved_model", "onnx" or "litert".
        max_difference: the largest absolute difference between the artefact's outputs and the
            Keras model's on `checked` images.
        tolerance: what was allowed (1e-4 for a float32 model).
        checked: how many images were compared, and `inputs` what they were.
        preprocessing: how images must be fed (also in `<path>.preprocessing.json`).
    """

    path: Path
    format: str
    max_difference: float
    tolerance: float
    checked: int
    inputs: str
    preprocessing: dict = field(default_factory=dict)


def export(
    target,
    out: str | Path,
    *,
    format: str = "saved_model",
    images: int = 8,
    normalize: str | None = None,
) -> Exported:
    """Export a trained model and check the artefact against it.

    Args:
        target: a run directory, a `.keras` file, or a `kerascnn.inference.Trained`.
        out: where to write: a directory for "saved_model", a `.onnx` or `.tflite` file. Never
            overwritten.
        format: "saved_model", "onnx" or "litert".
        images: how many of the run's test images to compare on (random inputs for a model
            without a run recipe).
        normalize: for a `.keras` file outside a run directory (see `load_trained`).

    Returns:
        An `Exported` with the largest difference found.

    Raises:
        ConfigError: an unknown format, a path that exists or has the wrong suffix, a missing
            optional dependency, a target that is not a trained model (all before anything is
            written).
        ExportMismatch: the artefact's outputs differ from the model's by more than the tolerance
            (the artefact is kept, and named, for inspection).
    """
    import keras

    out, sidecar = check_destination(out, format)
    backend = keras.backend.backend()
    if backend not in BACKENDS[format]:
        raise ConfigError(
            f"Keras exports {format} from the {' or '.join(BACKENDS[format])} "
            f"backend; this process runs {backend!r}.",
            hint=f"run the same command with KERAS_BACKEND={BACKENDS[format][0]} "
            f"(the .keras model is the same on every backend).",
        )
    needs = NEEDS[format] + BACKEND_NEEDS.get((format, backend), ())
    missing = [m for m in needs if not installed(m)]
    if missing:
        raise ConfigError(
            f"exporting to {format} on {backend} needs {', '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed.",
            hint=f"install {'it' if len(missing) == 1 else 'them'}: pip install "
            + (" ".join(missing) if backend != "tensorflow" else '"kerascnn[export]"'),
        )
    if not isinstance(images, int) or isinstance(images, bool) or images < 1:
        raise ConfigError(f"images must be a positive integer. Received: {images!r}.")
    trained = target if isinstance(target, Trained) else load_trained(target, normalize=normalize)
    model = in_float32(trained.model)
    x, inputs = _sample(trained, images)
    expected = np.asarray(model.predict_on_batch(x), "float64")
    model(x[:1], training=False)  # ONNX's exporter wants a called model; JAX's predict is no call
    check_destination(out, format)  # again: the model took a while to load
    out.parent.mkdir(parents=True, exist_ok=True)
    model.export(str(out), format=FORMATS[format], verbose=False)
    got = _RUNNERS[format](out, x)
    difference = float(np.max(np.abs(np.asarray(got, "float64") - expected)))
    feeding = Feeding(
        trained.preprocessing,
        tuple(trained.class_names),
        {"input": "network input: sized, cropped and normalized as these values say"},
    )
    facts = feeding.to_dict()
    with open(sidecar, "x", encoding="utf-8") as f:  # "x": never over a file made meanwhile
        f.write(feeding.to_json() + "\n")
    if not difference <= TOLERANCE:
        raise ExportMismatch(
            f"{out} ({format}) differs from the Keras model by {difference:.3g} on "
            f"{len(x)} {inputs} (allowed {TOLERANCE:g} in float32); it is kept "
            f"for inspection: do not serve it."
        )
    return Exported(
        path=out,
        format=format,
        max_difference=difference,
        tolerance=TOLERANCE,
        checked=len(x),
        inputs=inputs,
        preprocessing=facts,
    )


def check_destination(out: str | Path, format: str) -> tuple[Path, Path]:
    """Where an export goes, checked before anything is read or written: the artefact (a new
    folder for "saved_model", a new .onnx or .tflite file) and the file that says how to feed it
    beside it (`<out>.preprocessing.json`): neither exists (nothing is overwritten) and the folder
    they go in takes files. Returns both paths."""
    if format not in FORMATS:
        raise ConfigError(
            f"unknown export format {format!r}: choose "
            f"{', '.join(FORMATS)}. Received: format={format!r}."
        )
    out = Path(out)
    sidecar = out.parent / f"{out.name}.preprocessing.json"
    taken = [str(p) for p in (out, sidecar) if os.path.lexists(p)]
    if taken:
        raise ConfigError(
            f"{' and '.join(taken)} exist{'s' if len(taken) == 1 else ''}; kerascnn "
            f"export does not overwrite (it writes {out.name} and "
            f"{sidecar.name}). Choose another path."
        )
    if SUFFIX[format] and out.suffix != SUFFIX[format]:
        raise ConfigError(f"a {format} export is a {SUFFIX[format]} file. Received: {str(out)!r}.")
    check_new_file(out, what=option("out"))
    return out, sidecar


def in_float32(model):
    """The model computing in float32 with the same weights: a model trained in mixed precision
    (bfloat16 or float16 compute, float32 weights) is exported in float32, which every runtime
    runs (onnxruntime has no bfloat16 convolution; LiteRT's would need TensorFlow's Flex ops)."""
    import keras

    if all(layer.compute_dtype == "float32" for layer in model.layers):
        return model

    def clone(layer):
        return layer.__class__.from_config({**layer.get_config(), "dtype": "float32"})

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def _sample(trained, count: int) -> tuple[np.ndarray, str]:
    """Up to `count` of the run's test images as the network takes them, or random inputs."""
    recipe = RunDir(trained.run_dir).recipe if trained.run_dir is not None else None
    if recipe is not None and recipe.is_file():
        pre = trained.preprocessing
        dataset, what, _ = labelled_images(trained, None, "test", count, "skip", pre.load_size)
        for raw, _ in dataset.take(1).as_numpy_iterator():
            (centre,) = views(raw, pre.input_shape[:2], 1)  # the centre crop, as evaluation
            x = np.asarray(pre.normalize(centre), "float32")
            return x, f"images of {what}"
    shape = tuple(int(d) for d in trained.model.input_shape[1:])
    x = np.random.default_rng(0).standard_normal((min(count, 4), *shape)).astype("float32")
    return x, "random inputs (no run recipe to take images from)"


def _run_saved_model(path: Path, x: np.ndarray) -> np.ndarray:
    import tensorflow as tf

    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    (name,) = serve.structured_input_signature[1]
    (output,) = serve(**{name: tf.constant(x)}).values()
    return output.numpy()


def _run_onnx(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def _run_litert(path: Path, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    given, output = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    interpreter.resize_tensor_input(given["index"], x.shape)  # the file's batch is 1
    interpreter.allocate_tensors()
    interpreter.set_tensor(given["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(output["index"])


_RUNNERS = {"saved_model": _run_saved_model, "onnx": _run_onnx, "litert": _run_litert}
