"""Paths a command cannot write to: every `kerascnn` command that writes where the user said, given
the same set of unusable paths, ends with exit status 2 and one line naming the path and what is
wrong, before it has written anything (or loaded the backend), with no traceback and nothing left
behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

# Every command that writes to a path the user gave; {p} is that path (a folder, or a folder the
# file goes in). The run (a small real model), image and weights named exist; the path checks come
# before any of them is loaded.
WRITERS = {
    "train --output": ["train", "lenet5_digits", "--output", "{p}", "--quiet"],
    "tune --output": ["tune", "lenet5_digits_search", "--output", "{p}", "--quiet"],
    "recipes --copy --to": ["recipes", "--copy", "lenet5_digits", "--to", "{p}"],
    "export saved_model": ["export", "run", "--format", "saved_model", "--out", "{p}/exported"],
    "export onnx": ["export", "run", "--format", "onnx", "--out", "{p}/m.onnx"],
    "export litert": ["export", "run", "--format", "litert", "--out", "{p}/m.tflite"],
    "explain --out": ["explain", "run", "x.png", "--out", "{p}"],
    "show filters --out": ["show", "filters", "run", "--out", "{p}/filters.png"],
    "show features --out": ["show", "features", "run", "x.png", "--out", "{p}/maps.png"],
    "port -o": ["port", "resnet18", "--weights", "w.safetensors", "-o", "{p}/r18.keras"],
    "evaluate --confusion": ["evaluate", "run", "--confusion", "{p}/confusion.png"],
    "compare --plot": ["compare", "lenet5", "--plot", "{p}/plot.png"],
}

# Each kind of unusable path: the path given (relative to the working directory), and what the
# error must say about it.
BAD = {
    # ("it is a file" for the commands that write into the folder given; "'afile' is a file"
    # for those that write a file inside it)
    "a file where a folder is needed": ("afile", "is a file, where a folder is needed"),
    "a missing folder under a file": ("afile/missing", "'afile' is a file, where a folder is needed"),
    "a read-only folder": ("readonly/new", "no file can be created in 'readonly'"),
    "/proc": ("/proc/kerascnn-test", "no file can be created in '/proc'"),
}

# Runs each command line through `kerascnn.cli.main` in one process: its exit status, standard
# output and standard error, or the traceback of an exception that escaped it.
_RUN_ALL = """
import contextlib, io, json, sys, traceback
from kerascnn.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(argv)
        except BaseException:
            status, err = None, io.StringIO(traceback.format_exc())
    results.append({"argv": argv, "status": status, "out": out.getvalue(), "err": err.getvalue()})
print(json.dumps(results))
"""


def _small_model():
    import keras

    return keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(2, 3),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2, activation="softmax"),
        ],
        name="small",
    )


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _read_only_prefix(folder: Path) -> list[str]:
    """A command prefix under which `folder` is read-only: for anyone but root, its permissions;
    root ignores those, so a read-only bind mount in a mount namespace of the command's own (gone
    with it). Skips where neither can be had."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return []
    prefix = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        'mount --bind -o ro "$0" "$0" && exec "$@"',
        str(folder),
    ]
    # Succeeds only where the mount was made and then refused a new file.
    if (
        shutil.which("unshare") is None
        or subprocess.run(
            [*prefix, "sh", "-c", f"! touch {folder / 'probe'} 2>/dev/null"], capture_output=True
        ).returncode
        != 0
    ):
        pytest.skip("running as root without a way to mount a read-only folder (unshare, mount)")
    return prefix


@pytest.mark.parametrize("kind", BAD)
def test_every_writing_command_refuses_a_path_it_cannot_use_in_one_line(tmp_path, kind):
    given, problem = BAD[kind]
    (tmp_path / "afile").write_text("a file, not a folder")
    (tmp_path / "readonly").mkdir()
    (tmp_path / "run").mkdir()
    _small_model().save(tmp_path / "run" / "model.keras")
    (tmp_path / "x.png").write_bytes(b"not read either")
    from safetensors.numpy import save_file

    save_file({"w": np.zeros(2, "float32")}, str(tmp_path / "w.safetensors"))
    prefix = _read_only_prefix(tmp_path / "readonly") if kind == "a read-only folder" else []
    before = _tree(tmp_path)
    argvs = [[arg.replace("{p}", given) for arg in argv] for argv in WRITERS.values()]
    try:
        done = subprocess.run(
            [*prefix, sys.executable, "-c", _RUN_ALL, json.dumps(argvs)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        (tmp_path / "readonly").chmod(0o755)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.splitlines()[-1])
    for name, result in zip(WRITERS, results):
        err = result["err"]
        assert "Traceback" not in err, f"{name}: {err}"
        assert result["status"] == 2, f"{name}: exit {result['status']}: {err}"
        assert err.count("\n") == 1 and err.startswith("error: "), f"{name}: {err!r}"
        assert "cannot be written" in err and problem in err, f"{name}: {err}"
        written = next(arg for arg in result["argv"] if given in arg)
        assert repr(written) in err, f"{name}: the message does not name {written!r}: {err}"
        assert result["out"] == "", f"{name}: {result['out']}"
    assert _tree(tmp_path) == before  # nothing written, nothing left behind


def test_the_checks_say_what_is_wrong_and_leave_nothing(tmp_path, monkeypatch):
    from kerascnn.config import ConfigError, check_folder, check_new_file

    monkeypatch.chdir(tmp_path)
    Path("afile").write_text("x")
    Path("folder").mkdir()
    Path("dangling").symlink_to(tmp_path / "nowhere")
    assert check_folder("new/deeper", what="--out") == Path("new/deeper")
    assert check_folder("folder", what="--out") == Path("folder")
    assert check_new_file("folder/sub/m.onnx", what="--out") == Path("folder/sub/m.onnx")
    assert not Path("new").exists() and list(Path("folder").iterdir()) == []  # nothing made
    cases = [
        (
            check_folder,
            "afile",
            "--out 'afile' cannot be written: it is a file, where a folder is needed.",
        ),
        (
            check_new_file,
            "afile/m.onnx",
            "--out 'afile/m.onnx' cannot be written: 'afile' is a file, where a folder is needed.",
        ),
        (check_new_file, "folder", "--out 'folder' exists (a folder); kerascnn never overwrites."),
        (check_new_file, "afile", "--out 'afile' exists (a file); kerascnn never overwrites."),
        (
            check_new_file,
            "dangling/m.onnx",
            "--out 'dangling/m.onnx' cannot be written: 'dangling' is a link to nothing.",
        ),
        (
            check_folder,
            "/proc/x/y",
            "--out '/proc/x/y' cannot be written: no file can be created "
            "in '/proc' (No such file or directory).",
        ),
    ]
    for check, path, message in cases:
        with pytest.raises(ConfigError) as refused:
            check(path, what="--out")
        assert str(refused.value).startswith(message), str(refused.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "dangling", "folder"]


def test_an_os_error_the_checks_could_not_foresee_is_one_line(monkeypatch, capsys):
    """A path that changed between the check and the write (or a writer's own OSError about a
    path): the command line still ends with one line naming the path, not a traceback."""
    from kerascnn import cli
    from kerascnn.cli import models

    def vanished(args):
        raise FileNotFoundError(2, "No such file or directory", "/data/runs/x/model.keras")

    monkeypatch.setattr(models, "run_list", vanished)
    assert cli.main(["list"]) == 2
    assert capsys.readouterr().err == ("error: /data/runs/x/model.keras: No such file or directory\n")

    def full(args):
        raise OSError(28, "No space left on device", "/data/out.png")

    monkeypatch.setattr(models, "run_list", full)
    assert cli.main(["list"]) == 74
    assert capsys.readouterr().err == "error: /data/out.png: No space left on device\n"


def test_the_python_verbs_check_the_same_paths_in_python_words(tmp_path, monkeypatch):
    """`kerascnn.train`, `tune`, `export`, `explain` and `copy_recipe` refuse the same paths before
    any data or model is read, naming the argument as Python spells it (`out`, not `--out`)."""
    import kerascnn
    from kerascnn.config import ConfigError
    from kerascnn.recipe.shipped import copy_recipe

    monkeypatch.chdir(tmp_path)
    Path("afile").write_text("x")
    Path("x.png").write_bytes(b"not read")
    calls = [
        (
            lambda: kerascnn.train("lenet5_digits", overrides=['output.dir="afile/run"']),
            "the run directory 'afile/run' cannot be written: 'afile' is a file",
        ),
        (
            lambda: kerascnn.tune("lenet5_digits_search", directory="afile"),
            "the search directory 'afile' cannot be written: it is a file",
        ),
        (
            lambda: kerascnn.export("nowhere", "afile/m.onnx", format="onnx"),
            "out 'afile/m.onnx' cannot be written: 'afile' is a file",
        ),
        (
            lambda: kerascnn.explain("nowhere", ["x.png"], out="afile"),
            "out 'afile' cannot be written: it is a file",
        ),
        (
            lambda: copy_recipe("lenet5_digits", "afile/sub"),
            "to 'afile/sub' cannot be written: 'afile' is a file",
        ),
    ]
    for call, message in calls:
        with pytest.raises(ConfigError) as refused:
            call()
        assert str(refused.value).startswith(message), str(refused.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "x.png"]
