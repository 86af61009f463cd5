"""The guarantees of RELIABILITY.md, each proven here: runs survive real kills, damaged backups never
restart a run silently, the best model only improves, a diverging run stops cleanly, and model files
cannot run code."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from augmentations import CROPS_AND_FLIPS, EVERY_DRAW
from conftest import held_by_another_process

import kerascnn
from kerascnn.config import ConfigError
from kerascnn.recipe import load_recipe
from kerascnn.training import checkpoints
from kerascnn.verbs import train

REPO = Path(__file__).resolve().parents[1]
quiet = dict(verbose=0, log=lambda *a: None)


def small_recipe(run: Path, **train_table) -> dict:
    return {
        "model": {"spec": {"stages": [{"blocks": ["conv3-8", "maxpool"]}], "head": {"pool": "avg"}}},
        "data": {
            "source": "synthetic",
            "classes": 3,
            "samples": 300,
            "image_size": [12, 12],
            "batch_size": 32,
        },
        # One batch a compiled call: these tests stop runs at chosen batches.
        "train": {
            "epochs": 3,
            "optimizer": "adam",
            "learning_rate": 0.01,
            "steps_per_execution": 1,
            **train_table,
        },
        # No report page: cheaper runs (test_report.py tests the page).
        "output": {"dir": str(run), "tensorboard": False, "report": False},
    }


def history_epochs(run: Path) -> list[int]:
    return [int(r["epoch"]) for r in checkpoints.read_history(run / "history.csv")]


def committed(run: Path) -> int:
    """The newest epoch the backup has a record of (0: none)."""
    records = sorted((run / "backup").glob("epoch-*.json"))
    return int(records[-1].stem.split("-")[1]) if records else 0


def stopped_before_its_files(run) -> None:
    """`run()` interrupted (Ctrl-C) after its last epoch's backup, before the run's own files
    (last.keras, metrics.json, ...) are written."""
    original = checkpoints.Checkpoints.on_train_end

    def stop(self, logs=None):
        raise KeyboardInterrupt

    checkpoints.Checkpoints.on_train_end = stop
    try:
        with pytest.raises(KeyboardInterrupt):
            run()
    finally:
        checkpoints.Checkpoints.on_train_end = original


def interrupted_run(tmp_path, epochs=3) -> Path:
    """A run stopped after its last epoch's backup, before it finished: a backup of each of the
    last two epochs, history.csv and best.keras, status "interrupted"."""
    run = tmp_path / "run"
    stopped_before_its_files(
        lambda: train(load_recipe(small_recipe(run, epochs=epochs), name="t"), **quiet)
    )
    assert json.loads((run / "run.json").read_text())["status"] == "interrupted"
    assert committed(run) == epochs and history_epochs(run) == list(range(1, epochs + 1))
    return run


# --- kills -----------------------------------------------------------------------------------------

DRIVER = """
import os, signal, sys
from pathlib import Path
from kerascnn.training import checkpoints

kind, where, nth, name = sys.argv[1].split(":")
sig = getattr(signal, "SIG" + name)
if kind == "batch":  # during epoch `where`, after batch `nth`
    original = checkpoints.Checkpoints.on_train_batch_end

    def on_batch(self, batch, logs=None):
        original(self, batch, logs)
        if self._epoch == int(where) and batch + 1 == int(nth):
            os.kill(os.getpid(), sig)

    checkpoints.Checkpoints.on_train_batch_end = on_batch
else:  # while writing the file `where` for the `nth` time: half of it written, never renamed
    real, seen = os.replace, [0]

    def replace(src, dst):
        if Path(dst).name == where:
            seen[0] += 1
            if seen[0] == int(nth):
                data = Path(src).read_bytes()
                Path(src).write_bytes(data[: len(data) // 2])
                os.kill(os.getpid(), sig)
        real(src, dst)

    os.replace = replace
from kerascnn.cli import main
sys.exit(main(["train", sys.argv[2], "--quiet"]))
"""

# (kill point, signal) in the order one run meets them, and the epochs its backup holds after;
# the batches are drawn at random each time (the test's message gives them).
KILLS = [
    ("batch:1:{}", "KILL", 0),  # mid-epoch, nothing finished yet
    ("write:epoch-0001.weights.h5:1", "KILL", 0),  # writing the first backup
    ("write:best.keras:1", "KILL", 1),  # writing the best model
    ("write:history.csv:2", "KILL", 2),  # after epoch 2's backup, before its row
    ("write:epoch-0003.json:1", "TERM", 2),  # committing a backup record, SIGTERM
    ("batch:4:{}", "TERM", 3),  # mid-epoch, SIGTERM
    ("write:model.keras:1", "KILL", 4),  # after the last epoch, writing the result
]


@pytest.mark.slow
def test_killed_at_every_kind_of_point_the_run_resumes_and_loses_no_epoch(tmp_path):
    """One run killed seven times in real processes, by SIGKILL and SIGTERM, mid-epoch and in the
    middle of writing each file it writes; every rerun resumes after the last backed-up epoch, and
    the last one finishes with every epoch listed once."""
    import yaml

    run = tmp_path / "run"
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(small_recipe(run, epochs=4)))
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    expected_start = 0
    for point, name, holds in [*KILLS, (None, None, 4)]:
        point = point and point.format(random.randint(1, 6))  # 7 batches an epoch
        command = (
            [sys.executable, str(driver), f"{point}:{name}", str(recipe)]
            if point
            else [sys.executable, "-m", "kerascnn.cli", "train", str(recipe), "--quiet"]
        )
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        out = done.stdout + done.stderr
        where = f"kill point {point} {name}:\n{out}"
        if expected_start or (run / "run.json").exists() and not point.startswith("batch:1:"):
            assert f"resuming after epoch {expected_start}" in out, where
        assert done.returncode == {"KILL": -9, "TERM": 143, None: 0}[name], where
        if name == "TERM":
            assert "interrupted (SIGTERM); run the same command again to resume" in out, where
        assert committed(run) == holds or (point is None and not (run / "backup").exists()), where
        assert history_epochs(run) == list(range(1, holds + 1)) or point == "write:history.csv:2"
        expected_start = holds
    assert history_epochs(run) == [1, 2, 3, 4]
    state = json.loads((run / "run.json").read_text())
    assert state["status"] == "finished" and state["epochs"] == 4
    assert not list(run.rglob(".*.tmp*")), "a temporary file was left behind"
    for name in ("best.keras", "last.keras", "model.keras"):
        kerascnn.load_model(run / name)


# --- damaged backups, the best model, divergence -----------------------------------------------------


def test_a_damaged_backup_falls_back_to_the_previous_one_and_none_never_restarts(tmp_path):
    run = interrupted_run(tmp_path)
    weights = run / "backup" / "epoch-0003.weights.h5"
    weights.write_bytes(weights.read_bytes()[:1000])  # truncated
    messages = []
    result = train(load_recipe(small_recipe(run), name="t"), verbose=0, log=messages.append)
    assert "epoch-0003.json: epoch-0003.weights.h5 does not match its record" in messages[0]
    assert "resuming from epoch 2's" in messages[0]
    assert "resuming after epoch 2" in messages[1]
    assert history_epochs(run) == [1, 2, 3] and result.metrics["epochs"] == 3

    run = interrupted_run(tmp_path / "again")
    for weights in (run / "backup").glob("*.weights.h5"):
        weights.write_bytes(b"\0" * 100)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    with pytest.raises(
        ConfigError,
        match=r"cannot resume the run in .*: every backup is "
        r"unreadable .*will not start it again from scratch",
    ):
        train(load_recipe(small_recipe(run), name="t"), **quiet)
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before  # untouched
    for path in (run / "backup").iterdir():
        path.unlink()
    with pytest.raises(ConfigError, match=r"history.csv records 3 finished epoch\(s\) but "):
        train(load_recipe(small_recipe(run), name="t"), **quiet)


def test_the_best_model_is_replaced_only_by_a_better_one_after_a_resume(tmp_path):
    """The threshold after a resume is the lowest loss history.csv ever recorded, also of epochs
    after the backup a rerun falls back to (their best.keras may be on disk)."""
    model = kerascnn.build("lenet5", input_shape=(32, 32, 1), classes=3)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.optimizer.build(model.trainable_variables)
    callback = checkpoints.Checkpoints(tmp_path, "val_loss", [], None)
    callback.set_model(model)
    callback.on_train_begin()
    for epoch, loss in enumerate([0.5, 0.3, 0.4]):
        callback.on_epoch_begin(epoch)
        callback.on_epoch_end(epoch, {"loss": 1.0, "val_loss": loss})
    (tmp_path / "backup" / "epoch-0003.json").unlink()  # the rerun falls back to epoch 2

    def written():  # os.replace gives best.keras a new inode each time it is saved
        return (tmp_path / "best.keras").stat().st_ino

    best = written()
    start, rows, threshold, _ = checkpoints.restore(model, tmp_path, "val_loss", log=lambda *a: None)
    assert (start, [int(r["epoch"]) for r in rows], threshold) == (2, [1, 2], 0.3)
    again = checkpoints.Checkpoints(tmp_path, "val_loss", rows, threshold)
    again.set_model(model)
    again.on_epoch_begin(2)
    again.on_epoch_end(2, {"loss": 1.0, "val_loss": 0.35})  # worse than epoch 2's 0.3: kept
    assert written() == best
    again.on_epoch_begin(3)
    again.on_epoch_end(3, {"loss": 1.0, "val_loss": 0.25})
    assert written() != best


def test_a_diverging_run_stops_with_a_clear_error_and_keeps_its_good_files(tmp_path):
    # Eight batches a call ("auto"), seven an epoch: the error still names a batch of the epoch.
    r = load_recipe(
        small_recipe(tmp_path / "run", optimizer="sgd", learning_rate=1e6, steps_per_execution="auto"),
        name="t",
    )
    with pytest.raises(
        checkpoints.TrainingDiverged,
        match=r"the training loss became (nan|inf) "
        r"at epoch 1, batch [1-7] \(learning rate "
        r"1e\+06\); the run stopped",
    ):
        train(r, **quiet)
    run = tmp_path / "run"
    assert json.loads((run / "run.json").read_text())["status"] == "diverged"
    assert not (run / "best.keras").exists() and committed(run) == 0

    # Diverging after two good epochs: their backup and best.keras are kept as they were.
    run = interrupted_run(tmp_path / "later", epochs=2)
    kept = {p: p.read_bytes() for p in [run / "best.keras", *(run / "backup").iterdir()]}
    original = checkpoints.Checkpoints.on_train_batch_end

    def nan_in_epoch_3(self, batch, logs=None):
        original(self, batch, {"loss": float("nan")} if self._epoch == 3 and batch == 1 else logs)

    checkpoints.Checkpoints.on_train_batch_end = nan_in_epoch_3
    try:
        with pytest.raises(checkpoints.TrainingDiverged, match="at epoch 3, batch 2"):
            train(load_recipe(small_recipe(run), name="t"), **quiet)
    finally:
        checkpoints.Checkpoints.on_train_batch_end = original
    assert {p: p.read_bytes() for p in kept} == kept and committed(run) == 2
    assert history_epochs(run) == [1, 2]


# --- one writer per directory, a full disk --------------------------------------------------------


def _wait_for(condition, seconds=120):
    import time

    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_a_second_process_on_a_running_run_is_refused_and_a_killed_run_still_resumes(tmp_path, capsys):
    """The same `kerascnn train RECIPE` started twice: the second is refused at once, naming the
    directory and the process that holds it, and the first run's files are untouched; once the
    holder is killed (SIGKILL: no clean-up of its own), the operating system has released the lock
    and the same command resumes. (Before: both trained, and the run was left with run.json of one
    process and history.csv of the other.)"""
    import yaml

    from kerascnn.cli import main

    run = tmp_path / "run"
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(small_recipe(run, epochs=200)))
    command = [sys.executable, "-m", "kerascnn.cli", "train", str(recipe), "--quiet"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert _wait_for(lambda: committed(run) >= 1 or first.poll() is not None)
        assert first.poll() is None, first.stderr.read()
        before = {p.name: p.read_bytes() for p in (run / "run.json", run / "recipe.yaml")}
        capsys.readouterr()
        assert main(["train", str(recipe), "--quiet"]) == 2  # this test's process: the second
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert error.startswith(f"error: {run} is in use: process {first.pid} (`"), error
        assert "is writing this run, and a run directory has one writer at a time" in error
        assert {p.name: p.read_bytes() for p in (run / "run.json", run / "recipe.yaml")} == before
    finally:
        first.kill()
        first.wait()
    held = committed(run)
    assert main(["train", str(recipe), "--quiet", "--set", f"train.epochs={held + 1}"]) == 0
    assert f"resuming after epoch {held}" in capsys.readouterr().out
    assert history_epochs(run) == list(range(1, held + 2))
    assert json.loads((run / "run.json").read_text())["status"] == "finished"


def test_fine_tuning_runs_hold_their_directory_too(tmp_path):
    """A fine-tuning run's directory (its phases inside) has one writer like any run."""
    start = tmp_path / "start"
    train(load_recipe(small_recipe(start, epochs=1), name="t"), **quiet)
    doc = {
        "data": small_recipe(start)["data"],
        "finetune": {"weights": str(start), "phases": [{"name": "head", "epochs": 1}]},
        "output": {"dir": str(tmp_path / "fine"), "tensorboard": False, "report": False},
    }
    with held_by_another_process(tmp_path / "fine") as holder:
        with pytest.raises(
            ConfigError,
            match=rf"{tmp_path / 'fine'} is in use: process "
            rf"{holder.pid} ",
        ):
            train(load_recipe(doc, name="fine"), **quiet)
        assert sorted(p.name for p in (tmp_path / "fine").iterdir()) == [".lock"]
    assert train(load_recipe(doc, name="fine"), **quiet).metrics["epochs"] == 1


def test_a_full_disk_names_the_file_loses_nothing_and_the_same_command_resumes(
    tmp_path, capsys, monkeypatch
):
    """No space left while an epoch's files are written (best.keras at epoch 2, a zip from Keras;
    then, resumed, the backup's .h5 at epoch 3, from h5py): each time one line names the file that
    could not be written, says nothing written before was lost and that the same command resumes;
    exit status 74, no traceback, no temporary file left. Then the same command resumes after the
    last epoch whose files are whole and finishes. The error is the kernel's own ENOSPC: the file's
    temporary name is made a link to /dev/full just before it is written."""
    import yaml

    from kerascnn.cli import main

    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    run = tmp_path / "run"
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(small_recipe(run, epochs=3)))
    original = checkpoints.Checkpoints.on_epoch_end

    def full_disk_for(target, epoch):
        def on_epoch_end(self, index, logs=None):
            if index + 1 == epoch:  # the temporary file the next write of `target` goes to
                name = Path(target).name
                suffix = ".weights.h5" if name.endswith(".weights.h5") else Path(name).suffix
                tmp = self.run_dir / Path(target).parent / f".{name}.{os.getpid()}.tmp{suffix}"
                os.symlink("/dev/full", tmp)
            original(self, index, logs)

        return on_epoch_end

    # best.keras is written after epoch 2's backup and history row: the run holds 2 epochs; the
    # backup of epoch 3 fails before anything of epoch 3 is committed: still 2.
    for target, epoch, resumed in (("best.keras", 2, None), ("backup/epoch-0003.weights.h5", 3, 2)):
        monkeypatch.setattr(checkpoints.Checkpoints, "on_epoch_end", full_disk_for(target, epoch))
        assert main(["train", str(recipe), "--quiet"]) == 74
        out, err = capsys.readouterr()
        assert "Traceback" not in err, err
        assert resumed is None or f"resuming after epoch {resumed}" in out, out
        error = err.strip().splitlines()[-1]
        assert error == (
            f"error: could not write {run / target}: No space left on device. "
            f"Nothing written before was lost; it holds 2 finished epochs; free some "
            f"space and run the same command again to resume."
        ), error
        assert committed(run) == 2 and history_epochs(run) == [1, 2]
        assert not list(run.rglob(".*.tmp*")), "a temporary file was left behind"
        assert json.loads((run / "run.json").read_text())["status"] == "interrupted"
    monkeypatch.setattr(checkpoints.Checkpoints, "on_epoch_end", original)
    assert main(["train", str(recipe), "--quiet"]) == 0
    assert "resuming after epoch 2" in capsys.readouterr().out
    assert history_epochs(run) == [1, 2, 3]
    kerascnn.load_model(run / "best.keras")


# --- loading models ----------------------------------------------------------------------------------


def _rewrite_config(source: Path, target: Path, change) -> Path:
    with zipfile.ZipFile(source) as archive:
        files = {n: archive.read(n) for n in archive.namelist()}
    config = json.loads(files["config.json"])
    change(config)
    files["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return target


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "lenet5.keras"
    kerascnn.build("lenet5").save(path)
    return path


def _set_first_layer(config, **keys):
    config["config"]["layers"][1].update(keys)


@pytest.mark.parametrize(
    "change,message",
    [
        (
            lambda c: _set_first_layer(c, module="os", class_name="system"),
            "layer 'stage1_conv1' names os.system, outside Keras and kerascnn; refused",
        ),
        (
            lambda c: _set_first_layer(c, module="subprocess", class_name="Popen"),
            "names subprocess.Popen, outside Keras and kerascnn",
        ),
        (
            lambda c: c["config"]["layers"][1]["config"].update(
                activation={
                    "module": "builtins",
                    "class_name": "function",
                    "config": "os.system",
                    "registered_name": "function",
                }
            ),
            "layer 'stage1_conv1' names the function 'os.system', which is neither Keras' nor",
        ),
        (
            lambda c: _set_first_layer(c, class_name="Lambda"),
            "layer 'stage1_conv1' is a Lambda layer: Python code inside a model file",
        ),
    ],
)
def test_hostile_model_files_are_refused_before_keras_reads_them(saved, tmp_path, change, message):
    hostile = _rewrite_config(saved, tmp_path / "hostile.keras", change)
    with pytest.raises(ConfigError, match=message):
        kerascnn.load_model(hostile)


def test_a_lambda_layer_a_legacy_h5_and_damaged_files_are_plain_errors(saved, tmp_path):
    inputs = keras.Input((4,))
    keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2, name="double")(inputs)).save(
        tmp_path / "lambda.keras"
    )
    with pytest.raises(ConfigError, match="layer 'double' is a Lambda layer"):
        kerascnn.load_model(tmp_path / "lambda.keras")
    model = kerascnn.load_model(saved)
    model.save(tmp_path / "legacy.h5")
    with pytest.raises(ConfigError, match=r"legacy HDF5 model; kerascnn loads \.keras files"):
        kerascnn.load_model(tmp_path / "legacy.h5")
    assert (
        kerascnn.load_model(tmp_path / "legacy.h5", allow_h5=True).count_params() == model.count_params()
    )
    (tmp_path / "truncated.keras").write_bytes(saved.read_bytes()[:3000])
    with pytest.raises(ConfigError, match=r"is not a \.keras archive \(truncated"):
        kerascnn.load_model(tmp_path / "truncated.keras")
    with pytest.raises(ConfigError, match="no model file at"):
        kerascnn.load_model(tmp_path / "missing.keras")
    with pytest.raises(TypeError):
        kerascnn.load_model(saved, safe_mode=False)  # no switch turns safe mode off


def test_every_command_reads_models_through_the_one_loader_and_recipes_cannot_unsafe_it(tmp_path):
    import ast

    readers = []
    for path in (REPO / "kerascnn").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            keras_loader = (
                isinstance(func, ast.Attribute)
                and func.attr == "load_model"
                and isinstance(func.value, ast.Attribute)
                and func.value.attr in ("saving", "models")
            )
            unsafe = any(
                k.arg == "safe_mode"
                and not (isinstance(k.value, ast.Constant) and k.value.value is True)
                for k in node.keywords
            )
            if (keras_loader and path.name != "saving.py") or unsafe:
                readers.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not readers, readers
    for table in ("train", "data", "model", "output", "finetune"):
        doc = small_recipe(tmp_path)
        doc.setdefault(table, {})["safe_mode"] = False
        with pytest.raises(ConfigError, match="unknown key 'safe_mode'"):
            load_recipe(doc, name="t")


def test_the_cli_refuses_a_hostile_model_plainly(saved, tmp_path, capsys):
    from PIL import Image

    from kerascnn.cli import main

    hostile = _rewrite_config(
        saved, tmp_path / "hostile.keras", lambda c: _set_first_layer(c, class_name="Lambda")
    )
    Image.new("L", (32, 32)).save(tmp_path / "digit.png")
    for command in (
        ["summary", str(hostile)],
        ["predict", str(hostile), str(tmp_path)],
        ["evaluate", str(hostile)],
    ):
        assert main(command) == 2
        assert "is a Lambda layer" in capsys.readouterr().err


# --- data errors before training ---------------------------------------------------------------------


def test_an_unprepared_tfds_dataset_offline_is_a_clear_error_at_once(tmp_path, monkeypatch):
    import time

    from kerascnn.data import load_data, sources

    monkeypatch.setattr(sources, "DOWNLOAD_HOST", ("offline.invalid", 443))  # no such host
    doc = small_recipe(tmp_path / "run")
    doc["data"] = {"source": "tfds", "name": "mnist", "data_dir": str(tmp_path / "tfds")}
    started = time.perf_counter()
    with pytest.raises(
        ConfigError,
        match=r"data.name: tensorflow-datasets has not prepared "
        r"'mnist' in .*tfds, and this machine cannot reach "
        r"offline.invalid to download it",
    ):
        load_data(load_recipe(doc, name="t"))
    assert time.perf_counter() - started < 30  # tfds alone retries for minutes
    doc["data"]["name"] = "mnistt"
    with pytest.raises(ConfigError, match="tensorflow-datasets has no dataset 'mnistt'"):
        load_data(load_recipe(doc, name="t"))


def test_reliability_md_names_only_tests_that_exist():
    """Every `tests/x.py::test_name` RELIABILITY.md cites is a test function in that file."""
    import re

    text = (REPO / "RELIABILITY.md").read_text(encoding="utf-8")
    cited = set(re.findall(r"`(tests/\w+\.py)::(\w+)`", text))
    assert len(cited) >= 15
    missing = [
        f"{f}::{name}"
        for f, name in sorted(cited)
        if f"def {name}(" not in (REPO / f).read_text(encoding="utf-8")
    ]
    assert not missing, missing


# --- determinism -----------------------------------------------------------------------------------


def test_the_same_recipe_and_seed_give_bit_identical_weights_another_seed_differs(tmp_path):
    def weights(seed):
        run = tmp_path / f"seed{seed}-{len(list(tmp_path.iterdir()))}"
        result = train(load_recipe(small_recipe(run, epochs=2, seed=seed), name="t"), **quiet)
        return [w.numpy() for w in kerascnn.load_model(result.model_path).weights]

    first, again, other = weights(0), weights(0), weights(1)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


@pytest.mark.parametrize(
    "pipeline, augment",
    [
        ("grain", CROPS_AND_FLIPS),
        ("tf.data", CROPS_AND_FLIPS),
        # RandAugment's graph takes most of these runs' 16-20 s.
        pytest.param("grain", EVERY_DRAW, marks=pytest.mark.slow),
        pytest.param("tf.data", EVERY_DRAW, marks=pytest.mark.slow),
    ],
    ids=["grain", "tf.data", "grain-every-draw", "tf.data-every-draw"],
)
def test_a_resumed_run_ends_bit_identical_to_one_never_stopped_on_either_input_path(
    tmp_path, pipeline, augment
):
    """Epoch e's batches are a function of the seed and e on both input paths: its order, each
    image's random-resized crop, each batch's padded crops, flips, RandAugment, and MixUp or CutMix
    drawn from (seed, e, place), with no state carried from epoch to epoch (tf.data: the k-th pass
    of `Data.train_from(first)` is epoch first + k; Keras' random layers given each batch's seeds,
    `kerascnn.data.mixing`). So a run interrupted in the middle of epoch 2 and resumed replays
    epoch 2 with the batches the first run saw: its history, final weights and optimizer state
    equal, bit for bit, those of a run never stopped. (Before, the tf.data path's shuffle and
    augmentation started over at a resume, and RandAugment drew from a state shared by the
    batches made at once.) Checked on JAX too by hand (the same equality)."""

    def recipe(run):
        doc = small_recipe(run)
        doc["data"].update(pipeline=pipeline, augment=augment)
        return load_recipe(doc, name="t")

    whole = train(recipe(tmp_path / "whole"), **quiet)
    stopped_when(
        "on_train_batch_end",
        lambda self, index: self._epoch == 2 and index + 1 == 3,
        lambda: train(recipe(tmp_path / "stopped"), **quiet),
    )
    assert history_epochs(tmp_path / "stopped") == [1]
    resumed = train(recipe(tmp_path / "stopped"), **quiet)
    assert_same_end(whole.run_dir, resumed.run_dir, 3 * 7)  # 3 epochs of 7 batches


PAPER_UPDATE = {  # the papers' update step: Torch's Nesterov SGD, the L2 penalty on everything
    "optimizer": "sgd",
    "learning_rate": 0.1,
    "nesterov": True,
    "momentum_form": "torch",
    "weight_decay": 5e-3,
    "weight_decay_form": "l2",
    "weight_decay_scope": "all",
}


# Iterations: a constant warm-up and a milestone in iterations; 24 iterations of 9-batch epochs (the
# last cut to 6); 8 batches a call asked, 3 taken (a call ends at an epoch's end on the grain path).
ITERATIONS_RUN = dict(
    PAPER_UPDATE,
    iterations=24,
    schedule="step",
    schedule_unit="iterations",
    milestones=[14],
    warmup=4,
    warmup_shape="constant",
    warmup_learning_rate=0.01,
    steps_per_execution=8,
)


def iterations_recipe(run, pipeline="grain"):
    doc = small_recipe(run, **ITERATIONS_RUN)
    doc["data"].update(
        pipeline=pipeline,
        samples=360,  # 288 training images: 9 batches of 32
        validation_split=0.0,
        augment={"crop_padding": 2, "flip": True},
    )
    del doc["train"]["epochs"]  # iterations instead
    return load_recipe(doc, name="t")


@pytest.fixture(scope="module")
def never_stopped(tmp_path_factory):
    """The iterations run on an input path, never stopped (once a path for the module)."""
    runs = {}

    def run(pipeline):
        if pipeline not in runs:
            whole = tmp_path_factory.mktemp("whole") / "run"
            runs[pipeline] = train(iterations_recipe(whole, pipeline), **quiet).run_dir
        return runs[pipeline]

    return run


@pytest.mark.parametrize(
    "pipeline, stop_at",
    # Keras calls on_train_batch_end once a call, with the call's last index as if it ran 8: on
    # tf.data the cut last epoch's 6 batches are one call, "index 7".
    [("grain", (2, 3)), ("grain", (3, 3)), ("tf.data", (3, 8))],
    ids=["in-epoch-2", "in-the-cut-last-epoch", "tf.data-in-the-cut-last-epoch"],
)
def test_a_resumed_run_ends_with_the_weights_and_optimizer_state_of_one_never_stopped(
    tmp_path, pipeline, stop_at, never_stopped
):
    """The paper recipes' update (the L2 penalty through Nesterov momentum in Torch's form), their
    schedules (a warm-up and a milestone in iterations, a run cut at an iteration) and several
    batches a call, on the grain path and on tf.data: stopped inside an epoch and resumed, a run
    ends with the history, weights and optimizer state (momentum buffers, step count), bit for bit,
    of a run never stopped. (Before, 8 batches a call ran a 41-batch epoch to iteration 48 on the
    grain path and a resumed run trained 178 steps instead of 164; Keras ends a call at a tf.data
    epoch's end itself, and takes the 8.)"""

    epoch, batch = stop_at
    stopped_when(
        "on_train_batch_end",
        lambda self, index: self._epoch == epoch and index + 1 == batch,
        lambda: train(iterations_recipe(tmp_path / "stopped", pipeline), **quiet),
    )
    assert history_epochs(tmp_path / "stopped") == list(range(1, epoch))
    resumed = train(iterations_recipe(tmp_path / "stopped", pipeline), **quiet)
    assert_same_end(never_stopped(pipeline), resumed.run_dir, 24)
    calls = 3 if pipeline == "grain" else 8
    assert kerascnn.load_model(resumed.run_dir / "last.keras").steps_per_execution == calls


def stopped_when(method: str, when, run) -> None:
    """`run()` interrupted (Ctrl-C) in `Checkpoints.<method>` as soon as `when(self, index)`."""
    original = getattr(checkpoints.Checkpoints, method)

    def stop(self, index, logs=None):
        original(self, index, logs)
        if when(self, index):
            raise KeyboardInterrupt

    setattr(checkpoints.Checkpoints, method, stop)
    try:
        with pytest.raises(KeyboardInterrupt):
            run()
    finally:
        setattr(checkpoints.Checkpoints, method, original)


def whole_and_resumed(recipe, tmp_path, epoch: int = 2):
    """The results of `recipe(path)` trained to its end, and of the same run stopped (Ctrl-C) at
    the start of epoch `epoch + 1` and resumed."""
    whole = train(recipe(tmp_path / "whole"), **quiet)
    stopped_when(
        "on_epoch_begin",
        lambda self, index: index == epoch,
        lambda: train(recipe(tmp_path / "stopped"), **quiet),
    )
    assert history_epochs(tmp_path / "stopped") == list(range(1, epoch + 1))
    return whole, train(recipe(tmp_path / "stopped"), **quiet)


def assert_same_end(whole: Path, resumed: Path, iterations: int) -> None:
    """The two runs' histories (but what is measured), weights and optimizer state are equal."""
    timings = ("seconds", "images_per_second", "data_wait")  # measured, not computed

    def rows(run):
        return [
            {k: v for k, v in r.items() if k not in timings}
            for r in checkpoints.read_history(run / "history.csv")
        ]

    assert rows(resumed) == rows(whole)
    a, b = (kerascnn.load_model(run / "last.keras") for run in (whole, resumed))
    assert int(keras.ops.convert_to_numpy(b.optimizer.iterations)) == iterations
    for x, y in zip(a.weights + a.optimizer.variables, b.weights + b.optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(x.numpy()), np.asarray(y.numpy()), err_msg=x.path)


def test_a_plateau_schedule_stopped_and_resumed_lowers_the_rate_when_one_never_stopped_does(tmp_path):
    """ "Divide by 10 when the validation error stops improving" (AlexNet, VGG): the plateau's
    counters (the best value so far, the epochs waited) are part of each epoch's backup, and the
    lowered rate is in the backup of the epoch that lowered it. A run stopped one epoch before the
    rate drops, its counter at 1 of its patience of 2, lowers the rate at the same epoch after the
    resume (Keras' own callback starts its counters over: the drop came late or never)."""

    def recipe(run):
        doc = small_recipe(
            run,
            **dict(PAPER_UPDATE, epochs=8, learning_rate=1.0),
            schedule="plateau",
            plateau_monitor="loss",
            patience=2,
            gamma=0.5,
        )
        doc["data"].update(
            pipeline="grain",
            samples=120,
            classes=12,
            validation_split=0.0,
            augment={"crop_padding": 2, "flip": True},
        )
        return load_recipe(doc, name="t")

    whole = train(recipe(tmp_path / "whole"), **quiet)
    rates = [float(r["learning_rate"]) for r in checkpoints.read_history(whole.run_dir / "history.csv")]
    lowered = next(i for i, rate in enumerate(rates) if rate < rates[0])  # lowered at the end of it
    assert lowered >= 3, rates  # the stop comes after the counters started
    stopped_when(  # one epoch before the rate drops
        "on_epoch_begin",
        lambda self, epoch: epoch + 1 == lowered,
        lambda: train(recipe(tmp_path / "stopped"), **quiet),
    )
    assert history_epochs(tmp_path / "stopped") == list(range(1, lowered))
    resumed = train(recipe(tmp_path / "stopped"), **quiet)
    assert_same_end(whole.run_dir, resumed.run_dir, 8 * 3)


def _image_folder(root: Path, classes="ab", per_class=4, suffix=".png") -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            image = rng.integers(0, 60, (20, 20, 3), dtype=np.uint8)
            image[..., "abc".index(name) % 3] += 180  # a colour per class: learnable
            Image.fromarray(image).save(root / name / f"{i}{suffix}")
    return root


def _truncate(path: Path) -> Path:
    """Cut a file to a third of its bytes: its header intact, so only decoding finds it."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return path


def test_a_damaged_jpeg_among_good_ones_is_named_before_training_or_skipped(tmp_path, monkeypatch):
    """36 JPEGs, one cut to a third (the header intact): training used to die inside the first
    epoch with `jpeg::Uncompress failed` from IteratorGetNext and no file name. Now, with
    data.bad_images = "error" (the default), the run stops before anything is written, naming the
    file; with "skip" it trains on the 35 others and its log and metrics.json name the one left
    out. A WebP image is read (Keras' loader skipped it without a word), a TIFF is named. The decode
    pass is remembered: a second run decodes nothing again."""
    from kerascnn.data import folder

    monkeypatch.setenv("KERASCNN_CACHE", str(tmp_path / "cache"))
    root = _image_folder(tmp_path / "images", per_class=18, suffix=".jpg")
    damaged = _truncate(root / "a" / "7.jpg")
    doc = small_recipe(tmp_path / "run", epochs=2)
    doc["data"] = {
        "source": "folder",
        "path": str(root),
        "image_size": [16, 16],
        "batch_size": 8,
        "validation_split": 0.2,
    }
    with pytest.raises(
        ConfigError,
        match=rf"data.path: 1 of the 36 image files in '{root}' is "
        r"unreadable: a/7.jpg \(damaged: jpeg::Uncompress "
        r"failed.*Hint: Remove or replace them, or set "
        r"data.bad_images = \"skip\"",
    ):
        train(load_recipe(doc, name="t"), **quiet)
    assert [p.name for p in (tmp_path / "run").iterdir()] == [".lock"]  # nothing written

    from PIL import Image

    Image.open(root / "b" / "0.jpg").save(root / "b" / "extra.webp")
    Image.open(root / "b" / "1.jpg").save(root / "b" / "scan.tiff")
    decoded = []
    real = folder._decode_failures
    monkeypatch.setattr(
        folder,
        "_decode_failures",
        lambda paths, channels: decoded.extend(paths) or real(paths, channels),
    )
    doc["data"]["bad_images"] = "skip"
    lines = []
    result = train(load_recipe(doc, name="t"), verbose=0, log=lines.append)
    assert str(root / "b" / "extra.webp") in decoded and len(decoded) == 1  # the rest: remembered
    skipped = {
        str(damaged): result.metrics["skipped_images"]["files"][str(damaged)],
        str(root / "b" / "scan.tiff"): "a TIFF image, a format TensorFlow cannot read here",
    }
    assert result.metrics["skipped_images"] == {"count": 2, "files": skipped}
    assert skipped[str(damaged)].startswith("damaged: jpeg::Uncompress failed")
    data = json.loads((tmp_path / "run" / "data.json").read_text())
    assert data["sizes"]["train"] + data["sizes"]["val"] == 36  # 35 JPEGs and the WebP
    assert any(
        line.startswith('  data   skipped 2 unreadable image files (data.bad_images = "skip"): ')
        and str(damaged) in line
        for line in lines
    ), lines
    # evaluate and predict: the same choice, the same names.
    from kerascnn.inference import evaluate, predict

    with pytest.raises(
        ConfigError,
        match=r"2 of the 38 image files in .* cannot be read: "
        r"a/7.jpg \(damaged: .*b/scan.tiff",
    ):
        evaluate(tmp_path / "run", root)
    result = evaluate(tmp_path / "run", root, bad_images="skip")
    assert result.examples == 36 and set(result.skipped) == set(skipped)
    with pytest.raises(
        ConfigError,
        match=r"1 of the 2 image files cannot be read: .*7.jpg "
        r"\(damaged",
    ):
        predict(tmp_path / "run", [damaged, root / "b" / "2.jpg"])
    found = predict(tmp_path / "run", [damaged, root / "b" / "2.jpg"], bad_images="skip")
    assert found[0].error.startswith("damaged: ") and not found[0].classes
    assert found[1].error is None and len(found[1].classes) == 2


def test_the_folder_source_splits_as_keras_does(tmp_path):
    """kerascnn reads folders itself (to name the files it cannot read), in the order and with the
    validation split of keras.utils.image_dataset_from_directory for the same seed: a folder gives
    the runs it gave before."""
    import keras

    from kerascnn.data.folder import index_folder

    root = _image_folder(tmp_path / "images", classes="abc", per_class=7)
    (root / "b" / "nested").mkdir()
    _image_folder(root / "b" / "nested", classes="c", per_class=2)
    for seed in (0, 3):
        train_ds, val_ds = keras.utils.image_dataset_from_directory(
            root,
            validation_split=0.25,
            subset="both",
            seed=seed,
            batch_size=None,
            image_size=(8, 8),
            verbose=False,
        )
        index = index_folder(root, seed=seed, check=False)
        (train_paths, train_labels), (val_paths, val_labels) = index.split(0.25)
        assert train_paths == [str(Path(p).resolve()) for p in train_ds.file_paths]
        assert val_paths == [str(Path(p).resolve()) for p in val_ds.file_paths]
        assert index.class_names == train_ds.class_names == ["a", "b", "c"]
        assert list(train_labels) == [
            "abc".index(Path(p).relative_to(root).parts[0]) for p in train_paths
        ]


@pytest.mark.parametrize(
    "damage,message",
    [
        (
            lambda root: [p.unlink() for p in (root / "b").iterdir()],
            r"data.path: the class folder 'b' of '.*' holds no images \(.bmp, .gif, .jpeg, .jpg, .png, "
            r".webp\)",
        ),
        (
            lambda root: (root / "a" / "3.png").write_bytes(b""),
            r"data.path: 1 of the 8 image files in '.*' is unreadable: a/3.png \(an empty file\)",
        ),
        (
            lambda root: (root / "b" / "page.jpg").write_text("<html>a saved web page</html>"),
            r"1 of the 9 image files .* b/page.jpg \(not an image \(another kind of file under an "
            r"image's name\)\)",
        ),
    ],
)
def test_bad_image_folders_are_named_before_training(tmp_path, damage, message):
    from kerascnn.data import load_data

    root = _image_folder(tmp_path / "images")
    damage(root)
    doc = small_recipe(tmp_path / "run")
    doc["data"] = {"source": "folder", "path": str(root), "image_size": [16, 16]}
    with pytest.raises(ConfigError, match=message):
        load_data(load_recipe(doc, name="t"))


def test_the_data_decides_classes_and_input_shape_and_grayscale_needs_an_explicit_conversion(tmp_path):
    for key, value in (("classes", 5), ("input_shape", [32, 32, 3])):
        doc = small_recipe(tmp_path / "run")
        doc["model"] = {"name": "resnet20", "options": {key: value}}
        with pytest.raises(ConfigError, match=f"model.options.{key}: the model's {key} come from"):
            load_recipe(doc, name="t")
    # An RGB network fine-tuned on grayscale digits: an error naming data.channels, before any
    # epoch; with data.channels = 3 the digits are converted and the run trains.
    rgb = tmp_path / "rgb.keras"
    kerascnn.build("lenet5", input_shape=(32, 32, 3), classes=10).save(rgb)
    doc = {
        "data": {"source": "digits", "image_size": [32, 32], "batch_size": 64},
        "finetune": {"weights": str(rgb), "phases": [{"name": "head", "epochs": 1}]},
        "output": {"dir": str(tmp_path / "fine"), "tensorboard": False, "report": False},
    }
    with pytest.raises(
        ConfigError,
        match=r"data.image_size: the data gives \(32, 32, 1\) images; "
        r"the starting model takes \(32, 32, 3\).*data.channels",
    ):
        train(load_recipe(doc, name="t"), **quiet)
    assert not (tmp_path / "fine" / "1-head" / "history.csv").exists()
    doc["data"]["channels"] = 3
    doc["output"]["dir"] = str(tmp_path / "converted")
    result = train(load_recipe(doc, name="t"), **quiet)
    assert result.metrics["epochs"] == 1 and len(result.metrics["phases"]) == 1
    assert json.loads((tmp_path / "converted" / "data.json").read_text())["input_shape"][-1] == 3


def test_the_final_model_is_reported_as_the_papers_do_and_the_best_beside_it(tmp_path):
    """`[output] model = "final"` (the paper recipes): model.keras holds the weights training ended
    with, metrics.json's `test` is theirs, and `test_final` and `test_best` are what `kerascnn
    evaluate` computes on last.keras and best.keras; the log and the model card label each."""
    from kerascnn.inference import evaluate
    from kerascnn.runs.metrics import tested

    doc = small_recipe(tmp_path / "run", epochs=4, seed=6, learning_rate=0.3)
    doc["output"]["model"] = "final"
    lines = []
    result = train(load_recipe(doc, name="t"), verbose=0, log=lines.append)
    m = result.metrics
    assert m["model"] == "final" and m["best_epoch"] == 3 != m["epochs"]  # two models to tell apart
    run = result.run_dir
    assert m["test"] == m["test_final"] != m["test_best"]
    for which, name in (("final", "last.keras"), ("best", "best.keras")):
        assert evaluate(run / name).accuracy == pytest.approx(m[f"test_{which}"]["accuracy"], abs=1e-6)
    final, chosen = kerascnn.load_model(run / "last.keras"), kerascnn.load_model(run / "model.keras")
    for a, b in zip(chosen.weights, final.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    labels = [label for label, _ in tested(m)]
    assert labels == [
        "test, final weights (epoch 4): the run's model",
        "test, best weights (epoch 3), lowest val_loss",
    ]
    card = (run / "README.md").read_text()
    for label in labels:
        assert any(line.startswith(f"  {label}: accuracy ") for line in lines), lines
        assert f"| {label} |" in card
