"""`kerascnn export`: every format that runs here (SavedModel, ONNX, LiteRT) is written through Keras'
`model.export`, read back here with its own runtime, independently of kerascnn, and matches the Keras
model within 1e-4; bad requests are refused with one line before anything is written."""

import json
import shutil

import numpy as np
import pytest

from kerascnn.config import ConfigError
from kerascnn.inference.exporting import export
from kerascnn.recipe import load_recipe
from kerascnn.verbs import train

SPEC = {
    "defaults": {"norm": "batch"},
    "stages": [{"blocks": ["conv3-8", "maxpool"]}, {"blocks": ["conv3-16", "lrn", "maxpool"]}],
    "head": {"pool": "avg"},
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    recipe = load_recipe(
        {
            "model": {"spec": SPEC},
            "data": {
                "source": "synthetic",
                "classes": 3,
                "samples": 120,
                "image_size": [20, 20],
                "batch_size": 32,
            },
            "train": {"epochs": 1, "mixed_precision": False},
            "output": {"dir": str(root / "run"), "tensorboard": False},
        },
        name="export",
    )
    return train(recipe, verbose=0, log=lambda *a: None).run_dir


def read_back(fmt, path, x):
    """The artefact run by its own runtime, as a user serving it would."""
    if fmt == "saved_model":
        import tensorflow as tf

        serve = tf.saved_model.load(str(path)).signatures["serving_default"]
        (name,) = serve.structured_input_signature[1]
        return next(iter(serve(**{name: tf.constant(x)}).values())).numpy()
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {session.get_inputs()[0].name: x})[0]
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path)).get_signature_runner("serving_default")
    (name,) = runner.get_input_details()
    return np.concatenate([next(iter(runner(**{name: x[i : i + 1]}).values())) for i in range(len(x))])


@pytest.mark.parametrize(
    "fmt, name", [("saved_model", "model"), ("onnx", "model.onnx"), ("litert", "model.tflite")]
)
def test_each_format_reads_back_as_the_keras_model(run, tmp_path, fmt, name):
    import keras

    from kerascnn.runs.saving import load_model

    done = export(run, tmp_path / name, format=fmt)
    assert done.max_difference <= 1e-4 and done.checked == 8
    assert done.inputs.startswith("images of synthetic")
    model = load_model(run / "model.keras")
    x = np.random.default_rng(1).normal(size=(5, 20, 20, 3)).astype("float32")
    expected = model.predict(x, verbose=0)
    got = read_back(fmt, done.path, x)
    assert got.shape == (5, 3)
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    facts = json.loads((tmp_path / f"{name}.preprocessing.json").read_text())
    assert facts["input_shape"] == [20, 20, 3] and facts["class_names"] == ["0", "1", "2"]
    assert keras.backend.backend() == "tensorflow"


def test_a_network_with_its_own_layers_exports_from_a_bare_file(tmp_path, capsys):
    """ResNet-20's option-A shortcut (kerascnn's ChannelPadding layer) through ONNX, from a .keras
    file outside a run directory (random inputs, said so), by the command line."""
    import kerascnn
    from kerascnn.cli import main

    model = kerascnn.build("resnet20")
    assert any(type(layer).__name__ == "ChannelPadding" for layer in model.layers)
    model.save(tmp_path / "resnet20.keras")
    out = tmp_path / "resnet20.onnx"
    assert (
        main(
            [
                "export",
                str(tmp_path / "resnet20.keras"),
                "--format",
                "onnx",
                "--out",
                str(out),
                "--normalize",
                "unit",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "random inputs" in printed and "largest difference" in printed
    x = np.random.default_rng(2).normal(size=(3, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(read_back("onnx", out, x), model.predict(x, verbose=0), atol=1e-4)


def test_bad_exports_are_refused_before_anything_is_written(run, tmp_path, capsys):
    from kerascnn.cli import main

    taken = tmp_path / "taken.onnx"
    taken.write_text("mine")
    with pytest.raises(ConfigError, match="does not overwrite"):
        export(run, taken, format="onnx")
    assert taken.read_text() == "mine"
    # The file written beside the artefact is never replaced either: refused before anything.
    beside = tmp_path / "m.tflite.preprocessing.json"
    beside.write_text('{"mine": 1}')
    out = str(tmp_path / "m.tflite")
    assert main(["export", str(run), "--format", "litert", "--out", out]) == 2
    err = capsys.readouterr().err
    assert f"{beside} exists; kerascnn export does not overwrite" in err and err.count("\n") == 1
    assert beside.read_text() == '{"mine": 1}' and not (tmp_path / "m.tflite").exists()
    with pytest.raises(ConfigError, match=r"a litert export is a \.tflite file"):
        export(run, tmp_path / "model.onnx", format="litert")
    with pytest.raises(ConfigError, match="unknown export format 'coreml'"):
        export(run, tmp_path / "m", format="coreml")
    empty = tmp_path / "empty_run"
    empty.mkdir()
    with pytest.raises(ConfigError, match="holds no trained model"):
        export(empty, tmp_path / "m", format="saved_model")
    assert not (tmp_path / "m").exists()
    assert main(["export", str(tmp_path / "missing"), "--out", str(tmp_path / "x")]) == 2
    assert "no run directory or model at" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["export", str(run), "--format", "tensorrt", "--out", "x"])
    assert "invalid choice: 'tensorrt'" in capsys.readouterr().err
    shutil.rmtree(empty)


def test_a_mixed_precision_model_is_exported_computing_in_float32(tmp_path):
    """Trained in mixed bfloat16 (float32 weights, bfloat16 compute): the ONNX and LiteRT files
    compute in float32 (onnxruntime has no bfloat16 convolution), equal to the same network built
    in float32 with those weights, and within bfloat16's rounding of the mixed model."""
    import keras

    from kerascnn.spec import build_from_spec

    spec = {**SPEC, "input_shape": [20, 20, 3], "head": {"pool": "avg", "classes": 3}}
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        mixed = build_from_spec(spec)
    finally:
        keras.config.set_dtype_policy("float32")
    assert mixed.layers[1].compute_dtype == "bfloat16"
    mixed.save(tmp_path / "mixed.keras")
    plain = build_from_spec(spec)
    plain.set_weights(mixed.get_weights())
    x = np.random.default_rng(3).normal(size=(4, 20, 20, 3)).astype("float32")
    for fmt, name in (("onnx", "mixed.onnx"), ("litert", "mixed.tflite")):
        done = export(tmp_path / "mixed.keras", tmp_path / name, format=fmt, normalize="unit")
        got = read_back(fmt, done.path, x)
        np.testing.assert_allclose(got, plain.predict(x, verbose=0), atol=1e-4, rtol=0)
        np.testing.assert_allclose(got, mixed.predict(x, verbose=0).astype("float32"), atol=0.05)


@pytest.mark.slow  # jax2tf's conversion: 35 s of the default tier's budget
def test_on_jax_a_saved_model_exports_and_what_keras_cannot_is_one_line(run, tmp_path):
    """In a JAX process: the run's SavedModel is exported (Keras through jax2tf) and matches the
    model, read back here with TensorFlow; LiteRT, which Keras exports only from TensorFlow or
    PyTorch, and ONNX without jax2onnx are refused in one line before anything is written."""
    import importlib.util
    import os
    import subprocess
    import sys

    env = {**os.environ, "KERAS_BACKEND": "jax"}

    def on_jax(fmt, out):
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "kerascnn.cli",
                "export",
                str(run),
                "--format",
                fmt,
                "--out",
                str(out),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    done = on_jax("saved_model", tmp_path / "sm")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "largest difference from the Keras model" in done.stdout
    import keras

    x = np.random.default_rng(5).normal(size=(2, 20, 20, 3)).astype("float32")
    model = keras.saving.load_model(run / "model.keras")
    np.testing.assert_allclose(
        read_back("saved_model", tmp_path / "sm", x), model.predict(x, verbose=0), atol=1e-4
    )
    refused = on_jax("litert", tmp_path / "m.tflite")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines()[-1] == (
        "error: Keras exports litert from the tensorflow or torch backend; this process runs "
        "'jax'. Hint: Run the same command with KERAS_BACKEND=tensorflow (the .keras model is the "
        "same on every backend)."
    )
    if importlib.util.find_spec("jax2onnx") is None:
        refused = on_jax("onnx", tmp_path / "m.onnx")
        assert refused.returncode == 2
        assert refused.stderr.strip().splitlines()[-1] == (
            "error: exporting to onnx on jax needs jax2onnx, which is not installed. Hint: "
            "Install it: pip install jax2onnx"
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sm", "sm.preprocessing.json"]
