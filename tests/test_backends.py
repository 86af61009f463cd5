"""Every verb on JAX and PyTorch with TensorFlow absent (issue 33): processes in which TensorFlow
cannot be imported run the quickstart by name, a glyphs ResNet-20 with crops, flips, RandAugment
and MixUp killed in its second epoch and resumed, an image-folder recipe with a damaged file, a
two-phase fine-tuning, a two-trial search, evaluation with 5 crops, prediction and Grad-CAM (and
the other commands); and TensorFlow is never imported."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
# What a machine without TensorFlow lacks: the packages, and TensorBoard's that needs it.
ABSENT = ("tensorflow", "tensorboard", "tf_keras")

KILL_IN_EPOCH_2 = """
import os, signal, sys
from kerascnn.training import checkpoints

original = checkpoints.Checkpoints.on_train_batch_end

def on_batch(self, batch, logs=None):
    original(self, batch, logs)
    if self._epoch == 2 and batch + 1 == 3:
        print("killing", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

checkpoints.Checkpoints.on_train_batch_end = on_batch
from kerascnn.cli import main
sys.exit(main(["train", sys.argv[1], "--quiet"]))
"""

VERBS = """
import contextlib, io, json, sys
from pathlib import Path
import kerascnn
from kerascnn.cli import main
from kerascnn.recipe import load_recipe

root = Path(sys.argv[1])
quick = root / "quick"
assert main(["train", "lenet5_digits", "--output", str(quick), "--quiet"]) == 0
assert main(["train", str(root / "folder.yaml"), "--quiet"]) == 0
printed = io.StringIO()
with contextlib.redirect_stdout(printed):
    assert main(["evaluate", str(quick), "--crops", "5", "--scales", "36", "--json"]) == 0
evaluation = json.loads(printed.getvalue())
printed = io.StringIO()
with contextlib.redirect_stdout(printed):  # an ensemble: the run and its best model, averaged
    assert main(["evaluate", str(quick), str(quick / "best.keras"), "--json"]) == 0
ensemble = json.loads(printed.getvalue())
assert main(["predict", str(quick), str(root / "digits")]) == 0
assert main(["explain", str(quick), str(root / "digits"), "--method", "gradcam",
             "--out", str(root / "explained")]) == 0
assert main(["show", "filters", str(quick), "--out", str(root / "filters.png")]) == 0
assert main(["show", "features", str(quick), str(root / "digits" / "0-0.png"),
             "--out", str(root / "features.png")]) == 0
assert main(["summary", str(quick / "model.keras")]) == 0
assert main(["compare", "lenet5", "alexnet", "--markdown"]) == 0
assert main(["port", "resnet18", "--weights", str(root / "model.safetensors"),
             "-o", str(root / "r18.keras")]) == 0
assert main(["export", str(quick), "--format", "saved_model", "--out", str(root / "saved")]) == 2
docs = json.loads(sys.argv[2])
start = kerascnn.train(load_recipe(docs["start"], name="start"), verbose=0, log=print)
fine = kerascnn.train(load_recipe(docs["fine"], name="fine"), verbose=0, log=print)
tuned = kerascnn.tune(load_recipe(docs["search"], name="search"), verbose=0, log=print)
import keras_tuner, numpy as np
hyper = kerascnn.HyperCNN("lenet5", input_shape=(32, 32, 1), classes=3,
                          space={"optimizer": ["adam"], "learning_rate": [3e-3]})
tuner = keras_tuner.RandomSearch(hyper, objective="val_accuracy", max_trials=1, seed=0,
                                 directory=str(root / "hyper"), project_name="p")
rng = np.random.default_rng(0)
tuner.search(rng.normal(size=(64, 32, 32, 1)).astype("float32"), rng.integers(0, 3, 64),
             validation_split=0.25, epochs=1, batch_size=16, verbose=0)
print("RESULT", json.dumps({"phases": [p["phase"] for p in fine.metrics["phases"]],
                            "trials": [t.status for t in tuned.trials],
                            "hyper": [t.status for t in tuner.oracle.trials.values()],
                            "evaluation": [evaluation["protocol"], evaluation["examples"],
                                           evaluation["accuracy"]],
                            "ensemble": [len(ensemble["members"]), ensemble["examples"]],
                            "tensorflow": "tensorflow" in sys.modules,
                            "grain": "grain" in sys.modules}))
"""

SPEC = {
    "defaults": {"norm": "batch"},
    "stages": [
        {"blocks": ["conv3-8", "maxpool"]},
        {"blocks": ["conv3-16", "maxpool"]},
        {"blocks": ["conv3-16"]},
    ],
    "head": {"pool": "avg", "classes": 4},
}


def without_tensorflow(folder: Path) -> Path:
    """A site-packages in `folder` as this environment's without TensorFlow: a link to each of its
    packages but TensorFlow's and TensorBoard's. A Python started with `-S` and this folder (and
    the checkout) on its path finds no TensorFlow, as on a machine where it is not installed
    (`importlib.util.find_spec("tensorflow")` is None; an import fails)."""
    import sysconfig

    site = Path(sysconfig.get_paths()["purelib"])
    folder.mkdir(parents=True, exist_ok=True)
    for entry in site.iterdir():
        if entry.suffix == ".pth" or entry.name.split("-")[0].split(".")[0] in ABSENT:
            continue
        (folder / entry.name).symlink_to(entry)
    return folder


def _environment(tmp_path, backend="jax"):
    site = without_tensorflow(tmp_path / "site-packages")
    return {
        **os.environ,
        "KERAS_BACKEND": backend,
        "PYTHONPATH": f"{REPO}{os.pathsep}{site}",
        "PYTHONUNBUFFERED": "1",
        "KERASCNN_CACHE": str(tmp_path / "cache"),
    }


def python(*arguments):
    """`python -S`: no site-packages but the ones on PYTHONPATH."""
    return [sys.executable, "-S", *map(str, arguments)]


def _run(command, env, timeout=600):
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    return done, done.stdout + done.stderr


def _images(root):
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    (root / "digits").mkdir()
    for i in range(3):
        Image.fromarray((digits.images[i] * 255 / 16).astype("uint8")).save(
            root / "digits" / f"{digits.target[i]}-{i}.png"
        )
    rng = np.random.default_rng(0)
    for name in ("round", "square"):
        (root / "folder" / name).mkdir(parents=True)
        for i in range(10):
            Image.fromarray(rng.integers(0, 256, (24, 20, 3)).astype("uint8")).save(
                root / "folder" / name / f"{i}.png"
            )
    (root / "folder" / "square" / "damaged.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut short")


def _recipes(tmp_path) -> dict:
    """A small run, a two-phase fine-tuning from it, and a two-trial search."""
    start = {
        "model": {"spec": SPEC},
        "data": {
            "source": "synthetic",
            "classes": 3,
            "samples": 120,
            "image_size": [16, 16],
            "batch_size": 16,
        },
        "train": {"epochs": 1, "optimizer": "adam", "learning_rate": 0.01},
        "output": {"dir": str(tmp_path / "start"), "tensorboard": False},
    }
    fine = {
        "data": {
            "source": "synthetic",
            "classes": 4,
            "samples": 120,
            "image_size": [16, 16],
            "batch_size": 16,
        },
        "train": {"optimizer": "adam", "learning_rate": 0.01},
        "finetune": {
            "weights": str(tmp_path / "start"),
            "phases": [
                {"name": "head", "epochs": 1},
                {"name": "top", "epochs": 1, "unfreeze": 1, "learning_rate": 0.001},
            ],
        },
        "output": {"dir": str(tmp_path / "fine"), "tensorboard": False},
    }
    search = {
        **start,
        "tune": {
            "max_trials": 2,
            "space": {"train.learning_rate": {"type": "choice", "values": [0.01, 0.001]}},
        },
        "output": {"dir": str(tmp_path / "search"), "tensorboard": False},
    }
    return {"start": start, "fine": fine, "search": search}


def _assert_reports(tmp_path, runs) -> None:
    """Each run's and the search's report page, written without TensorFlow: the held-out results
    with their Grad-CAM gallery, the fine-tuning run's links to its phases, the search's trials."""
    for name in runs:
        text = (tmp_path / name / "report.html").read_text(encoding="utf-8")
        assert text.startswith("<!-- kerascnn report -->") and 'id="confusion"' in text, name
        assert 'class="cam"' in text or "No mistakes to show" in text, name
    fine = (tmp_path / "fine" / "report.html").read_text(encoding="utf-8")
    assert 'href="1-head/report.html"' in fine and 'href="2-top/report.html"' in fine
    search = (tmp_path / "search_tune" / "report.html").read_text(encoding="utf-8")
    assert search.count('<td class="name">COMPLETED</td>') == 2


@pytest.mark.slow
def test_every_verb_runs_on_jax_without_tensorflow(tmp_path):
    env = _environment(tmp_path)
    probe, out = _run(
        python(
            "-c",
            "import importlib.util as u, keras, grain; "
            "assert u.find_spec('tensorflow') is None; import tensorflow",
        ),
        env,
    )
    assert probe.returncode != 0 and "No module named 'tensorflow'" in out, out  # the premise

    # A glyphs ResNet-20 with crops, flips, RandAugment and MixUp, SIGKILLed in epoch 2, resumed.
    run = tmp_path / "resnet"
    recipe = tmp_path / "resnet.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "model": {"name": "resnet20"},
                "data": {
                    "source": "glyphs",
                    "classes": 4,
                    "samples": 160,
                    "batch_size": 16,
                    "test_fraction": 0.1,
                    "augment": {"crop_padding": 4, "flip": True, "randaugment": 2, "mixup": 0.2},
                },
                "train": {"epochs": 3, "optimizer": "sgd", "learning_rate": 0.05, "momentum": 0.9},
                "output": {"dir": str(run)},
            }
        )
    )
    driver = tmp_path / "kill.py"
    driver.write_text(KILL_IN_EPOCH_2)
    killed, out = _run(python(driver, recipe), env)
    assert killed.returncode == -signal.SIGKILL and "killing" in out, out[-3000:]
    resumed, out = _run(python("-m", "kerascnn.cli", "train", recipe), env)
    assert resumed.returncode == 0, out[-3000:]
    assert "resuming after epoch 1" in out
    assert "note   no TensorBoard logs: Keras writes them with TensorFlow" in out
    history = (run / "history.csv").read_text().splitlines()[1:]
    assert [row.split(",")[0] for row in history] == ["1", "2", "3"]  # each epoch once
    assert not (run / "logs").exists()

    # The quickstart by name, a folder with a damaged file, evaluate, predict, explain,
    # fine-tuning and search: one process.
    _images(tmp_path)
    sys.path.insert(0, str(REPO / "tests"))
    from test_timm_port import write_weights  # timm's key names, random values

    write_weights(tmp_path / "model.safetensors", "resnet18")
    (tmp_path / "folder.yaml").write_text(
        yaml.safe_dump(
            {
                "model": {"name": "lenet5"},
                "data": {
                    "source": "folder",
                    "path": str(tmp_path / "folder"),
                    "image_size": [32, 32],
                    "channels": 1,
                    "batch_size": 8,
                    "validation_split": 0.2,
                    "bad_images": "skip",
                },
                "train": {"epochs": 1, "mixed_precision": True},  # bfloat16 on JAX's CPU
                "output": {"dir": str(tmp_path / "folder-run")},
            }
        )
    )
    done, out = _run(python("-c", VERBS, tmp_path, json.dumps(_recipes(tmp_path))), env)
    assert done.returncode == 0, out[-4000:]
    result = json.loads(out.split("RESULT ", 1)[1].splitlines()[0])
    assert result.pop("ensemble") == [2, 360]
    protocol, examples, accuracy = result.pop("evaluation")
    assert protocol == {"crops": 5, "scales": [36]} and examples == 360 and accuracy > 0.8
    assert result == {
        "phases": ["1-head", "2-top"],
        "trials": ["COMPLETED", "COMPLETED"],
        "hyper": ["COMPLETED"],
        "tensorflow": False,
        "grain": True,
    }
    quick = json.loads((tmp_path / "quick" / "metrics.json").read_text())
    assert quick["epochs"] == 20 and quick["test"]["accuracy"] > 0.9  # the quickstart learns
    assert "precision mixed_bfloat16" in out
    skipped = json.loads((tmp_path / "folder-run" / "metrics.json").read_text())
    assert list(skipped["skipped_images"]["files"]) == [
        str((tmp_path / "folder" / "square" / "damaged.jpg").resolve())
    ]
    assert "damaged.jpg" in out
    for i in range(3):  # predict printed each file's class; explain drew each
        assert f"-{i}.png: " in out
    assert len(list((tmp_path / "explained").glob("*_gradcam.png"))) == 3
    assert "60,850" in out and "| alexnet |" in out  # summary's parameters, compare's table
    _assert_reports(tmp_path, ["quick", "folder-run", "fine", "fine/2-top", "resnet"])
    assert (tmp_path / "r18.keras").is_file()  # port
    assert (tmp_path / "filters.png").is_file() and (tmp_path / "features.png").is_file()
    assert (
        "error: exporting to saved_model on jax needs tensorflow, which is not installed." in out
    ) and not (tmp_path / "saved").exists()  # what needs TensorFlow: one line


TORCH_VERBS = """
import contextlib, io, json, sys
from pathlib import Path
from kerascnn.cli import main

root = Path(sys.argv[1])
run = root / "quick"
assert main(["train", "lenet5_digits", "--output", str(run), "--set", "train.epochs=3",
             "--quiet"]) == 0
printed = io.StringIO()
with contextlib.redirect_stdout(printed):
    assert main(["evaluate", str(run), "--crops", "5", "--scales", "36", "--json"]) == 0
evaluation = json.loads(printed.getvalue())
assert main(["predict", str(run), str(root / "digits")]) == 0
assert main(["explain", str(run), str(root / "digits"), "--method", "gradcam",
             "--out", str(root / "explained")]) == 0
import kerascnn
from kerascnn.recipe import load_recipe
docs = json.loads(sys.argv[2])
kerascnn.train(load_recipe(docs["start"], name="start"), verbose=0, log=print)
fine = kerascnn.train(load_recipe(docs["fine"], name="fine"), verbose=0, log=print)
tuned = kerascnn.tune(load_recipe(docs["search"], name="search"), verbose=0, log=print)
print("RESULT", json.dumps({"evaluation": [evaluation["protocol"], evaluation["examples"],
                                          evaluation["accuracy"]],
                            "phases": [p["phase"] for p in fine.metrics["phases"]],
                            "trials": [t.status for t in tuned.trials],
                            "tensorflow": "tensorflow" in sys.modules}))
"""


@pytest.mark.slow
def test_train_evaluate_predict_and_gradcam_run_on_pytorch_without_tensorflow(tmp_path):
    """The same on PyTorch (installed for the slow tier only: its wheel is large), and a two-phase
    fine-tuning and a two-trial search."""
    env = _environment(tmp_path, backend="torch")
    _images(tmp_path)
    done, out = _run(python("-c", TORCH_VERBS, tmp_path, json.dumps(_recipes(tmp_path))), env)
    assert done.returncode == 0, out[-4000:]
    result = json.loads(out.split("RESULT ", 1)[1].splitlines()[0])
    protocol, examples, accuracy = result["evaluation"]
    assert protocol == {"crops": 5, "scales": [36]} and examples == 360 and accuracy > 0.7
    assert result["tensorflow"] is False
    assert result["phases"] == ["1-head", "2-top"]
    assert result["trials"] == ["COMPLETED", "COMPLETED"]
    for i in range(3):
        assert f"-{i}.png: " in out
    assert len(list((tmp_path / "explained").glob("*_gradcam.png"))) == 3
    assert [
        row.split(",")[0] for row in (tmp_path / "quick" / "history.csv").read_text().splitlines()[1:]
    ] == ["1", "2", "3"]
    _assert_reports(tmp_path, ["quick", "fine", "fine/1-head"])
