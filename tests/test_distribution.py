"""Training on several devices and machines through the engines that exist for it:
tf.distribute.MirroredStrategy over two logical CPUs, and keras.distribution across two processes on
127.0.0.1 (JAX backend, `kerascnn train` started once per worker) whose workers end identical."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

RECIPE = """
[model]
spec = {{stages = [{{blocks = ["conv3-8", "maxpool"]}}], head = {{pool = "avg"}}}}
[data]
source = "synthetic"
classes = 3
samples = 300
image_size = [16, 16]
batch_size = 16
[train]
epochs = 2
optimizer = "sgd"
learning_rate = 0.05
{train}
[output]
dir = {dir}
tensorboard = false
"""
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def write_recipe(tmp_path, train=""):
    path = tmp_path / "recipe.toml"
    path.write_text(RECIPE.format(train=train, dir=json.dumps(str(tmp_path / "run"))))
    return path


@pytest.mark.slow  # end to end; over 10 s on 2 cores (README's command stays under 10 min)
def test_mirrored_strategy_over_two_logical_cpus(tmp_path):
    recipe = write_recipe(tmp_path, 'distribution = "mirrored"')
    code = (
        "import sys, tensorflow as tf\n"
        "cpu = tf.config.list_physical_devices('CPU')[0]\n"
        "tf.config.set_logical_device_configuration(\n"
        "    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)\n"
        "from kerascnn.cli import main\n"
        f"sys.exit(main(['train', {str(recipe)!r}, '--quiet']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**ENV, "KERAS_BACKEND": "tensorflow"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "distribution MirroredStrategy (2 replicas); 1 batch a call; " in done.stdout
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "finished"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_workers_on_localhost_end_with_identical_weights(tmp_path):
    pytest.importorskip("jax")
    workers = json.dumps([f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"])
    recipe = write_recipe(tmp_path, f'distribution = "multi_worker"\nworkers = {workers}')
    command = [sys.executable, "-m", "kerascnn.cli", "train", str(recipe), "--quiet"]
    env = {**ENV, "KERAS_BACKEND": "jax"}
    processes = [
        subprocess.Popen(
            [*command, "--set", f"train.worker={k}"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for k in (0, 1)
    ]
    outputs = []
    try:
        for p in processes:
            outputs.append(p.communicate(timeout=300)[0])
    finally:
        for p in processes:
            p.kill()
    for p, out in zip(processes, outputs):
        assert p.returncode == 0, out
    assert "DataParallel (2 devices, 2 processes)" in outputs[0]
    import kerascnn

    chief, other = (
        kerascnn.load_model(Path(tmp_path) / d / "model.keras") for d in ("run", "run.worker1")
    )
    for a, b in zip(chief.weights, other.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    rows = [
        json.loads((tmp_path / d / "metrics.json").read_text())["epochs"] for d in ("run", "run.worker1")
    ]
    assert rows == [2, 2]
