"""Reading a run's files back.

Every file of a run directory that kerascnn reads back, damaged in each way a disk, an editor or
another program damages a file (emptied, cut short, the wrong kind of value, bytes that are not
UTF-8), gives one line naming the file and what is wrong, or a page that says what it could not
show: never a traceback. Each command that reads a run is tried on each damaged file: `report`,
`evaluate`, `predict`, `train` on a finished run's directory, and a resume of an unfinished one;
the same for a search's files. And a table a run writes (a row an epoch) is read within what a run
can have written: rows as well as bytes, as a stream."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from kerascnn.cli import main
from kerascnn.recipe import dump, load_recipe
from kerascnn.training import checkpoints
from kerascnn.verbs import train

FILES = ["metrics.json", "run.json", "data.json", "recipe.yaml", "history.csv"]
DAMAGES = {
    "empty": lambda data: b"",
    "truncated": lambda data: data[: len(data) // 2],
    "wrong-type": lambda data: b"[1, 2, 3]\n",
    "not-utf8": lambda data: b"\xff\xfe\x00garbage \xc3\x28\n" + data[:10],
}


def recipe_doc(run: Path) -> dict:
    return {
        "model": {"spec": {"stages": [{"blocks": ["conv3-4", "maxpool"]}], "head": {"pool": "avg"}}},
        "data": {
            "source": "synthetic",
            "classes": 3,
            "samples": 90,
            "image_size": [8, 8],
            "batch_size": 32,
        },
        "train": {"epochs": 2, "steps_per_execution": 1},
        "output": {"dir": str(run), "tensorboard": False, "report": False},
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A finished run and one stopped in its second epoch, and a PNG to predict."""
    root = tmp_path_factory.mktemp("damaged")
    finished = root / "finished"
    train(load_recipe(recipe_doc(finished), name="t"), verbose=0, log=lambda line: None)
    stopped = root / "stopped"
    original = checkpoints.Checkpoints.on_train_batch_end

    def stop(self, index, logs=None):
        original(self, index, logs)
        if self._epoch == 2:
            raise KeyboardInterrupt

    checkpoints.Checkpoints.on_train_batch_end = stop
    try:
        with pytest.raises(KeyboardInterrupt):
            train(load_recipe(recipe_doc(stopped), name="t"), verbose=0, log=lambda line: None)
    finally:
        checkpoints.Checkpoints.on_train_batch_end = original
    from PIL import Image

    image = root / "image.png"
    Image.fromarray(np.full((8, 8, 3), 128, np.uint8)).save(image)
    return {"finished": finished, "stopped": stopped, "image": image}


def commands(run: Path, recipe: Path, image: Path) -> dict[str, list[str]]:
    return {
        "report": ["report", str(run)],
        "evaluate": ["evaluate", str(run)],
        "predict": ["predict", str(run), str(image)],
        "train": ["train", str(recipe), "--quiet"],
    }


def cases(files, slow):
    """Each file with each damage; those `slow` names (1.5-3 s each: a model evaluated, a trial
    trained) in the slow tier, the rest in the default one."""
    return [
        pytest.param(name, damage, marks=[pytest.mark.slow] if (name, damage) in slow else [])
        for name in files
        for damage in DAMAGES
    ]


@pytest.mark.parametrize(
    "name, damage",
    cases(FILES, {(f, d) for f in ("data.json", "recipe.yaml") for d in ("empty", "wrong-type")}),
)
def test_a_damaged_run_file_is_one_line_never_a_traceback(tmp_path, runs, name, damage, capsys):
    outcomes = {}
    for kind in ("finished", "stopped"):
        run = tmp_path / kind
        shutil.copytree(runs[kind], run)
        target = run / name
        if not target.is_file():  # a run stopped in its first epochs has no metrics.json yet
            continue
        target.write_bytes(DAMAGES[damage](target.read_bytes()))
        recipe = tmp_path / f"{kind}.yaml"
        recipe.write_text(dump(load_recipe(recipe_doc(run), name="t")), encoding="utf-8")
        todo = commands(run, recipe, runs["image"])
        if kind == "stopped":
            todo = {"resume": todo["train"]}
        for what, argv in todo.items():
            outcomes[what] = attempt(argv, capsys)
    assert_one_line(outcomes, name)


def attempt(argv, capsys):
    """`kerascnn ARGV`: its exit status and its "error:" lines, or the exception a user would have
    seen as a traceback."""
    capsys.readouterr()
    try:
        status = main(argv)
    except BaseException as e:  # noqa: BLE001  (what reached the user as a traceback)
        return f"traceback: {type(e).__name__}: {e}"
    return status, [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]


def assert_one_line(outcomes: dict, name: str) -> None:
    bad = {k: v for k, v in outcomes.items() if isinstance(v, str)}
    assert not bad, bad
    for what, (status, lines) in outcomes.items():
        if status != 0:  # one line, naming the file (or, for train, the run it will not overwrite)
            assert len(lines) == 1, (what, status, lines)
            assert name in lines[0] or (what == "train" and "finished" in lines[0]), (what, lines)


SEARCH_FILES = ["tune.json", "results.csv", "tuner/kerascnn/trial_0/trial.json"]


@pytest.fixture(scope="module")
def search(tmp_path_factory):
    """A finished two-trial search (one epoch a trial) and its recipe document."""
    from kerascnn.verbs import tune

    root = tmp_path_factory.mktemp("search")
    doc = recipe_doc(root / "search")
    doc["train"]["epochs"] = 1
    doc["tune"] = {
        "tuner": "random",
        "max_trials": 2,
        "space": {"train.learning_rate": {"type": "float", "min": 1e-3, "max": 0.1}},
    }
    result = tune(load_recipe(doc, name="t"), verbose=0, log=lambda line: None)
    return Path(result.directory), doc


@pytest.mark.parametrize(
    "name, damage", cases(SEARCH_FILES, {("results.csv", d) for d in DAMAGES if d != "truncated"})
)
def test_a_damaged_search_file_is_one_line_never_a_traceback(tmp_path, search, name, damage, capsys):
    """The same for a search's files: its record, its table of trials, and a trial keras-tuner
    wrote, for `report` and `tune` (which resumes, or extends, the search)."""
    directory, doc = search
    copy = tmp_path / "search"
    shutil.copytree(directory, copy)
    target = next(copy.rglob(name.split("/")[-1])) if "/" in name else copy / name
    assert target.is_file(), sorted(p.name for p in copy.rglob("*"))
    target.write_bytes(DAMAGES[damage](target.read_bytes()))
    recipe = tmp_path / "recipe.yaml"
    doc = {**doc, "tune": {**doc["tune"], "max_trials": 3}}  # one more trial: the search goes on
    recipe.write_text(dump(load_recipe(doc, name="t")), encoding="utf-8")
    outcomes = {
        "report": attempt(["report", str(copy)], capsys),
        "tune": attempt(["tune", str(recipe), "--quiet", "--output", str(copy)], capsys),
    }
    assert_one_line(outcomes, target.name)


def test_a_history_is_read_within_what_a_run_can_write(tmp_path, runs):
    """history.csv holds a row an epoch and a recipe asks for at most `MAX_EPOCHS`: a file with
    one row more is refused at that row, read as a stream (the issue's 63 MB of 3 million rows took
    `kerascnn report` past 120 s and 3.8 GB); one past the byte limit is refused unread; the page
    of a run with the most epochs allowed lists at most 50 of them (history.csv holds each)."""
    import time

    from kerascnn.config import ConfigError
    from kerascnn.config.limits import MAX_EPOCHS
    from kerascnn.runs.rundir import MAX_TABLE_BYTES, read_history

    history = tmp_path / "history.csv"
    lines = ["epoch,loss,images_per_second,data_wait"]
    lines += [f"{e},0.5,1000,0.01" for e in range(1, MAX_EPOCHS + 2)]
    history.write_text("\n".join(lines) + "\n")
    started = time.perf_counter()
    with pytest.raises(ConfigError, match=f"more than {MAX_EPOCHS:,} rows"):
        read_history(history)
    assert time.perf_counter() - started < 5
    with history.open("r+b") as f:  # sparse: 65 MiB claimed, nothing written
        f.truncate(MAX_TABLE_BYTES + 1)
    with pytest.raises(ConfigError, match="refused unread"):
        read_history(history)
    with pytest.raises(ConfigError, match="train.epochs: must be at most 100,000"):
        load_recipe({**recipe_doc(tmp_path), "train": {"epochs": MAX_EPOCHS + 1}}, name="t")
    phases = [{"epochs": 60_000}, {"epochs": 40_001}]  # a fine-tuning run's history holds both
    with pytest.raises(ConfigError, match="phases' epochs must add up to at most 100,000"):
        load_recipe({"finetune": {"weights": "x.keras", "phases": phases}, "data": {"source": "digits"}})

    run = tmp_path / "run"
    shutil.copytree(runs["finished"], run)
    (run / "history.csv").write_text("\n".join(lines[:-1]) + "\n")  # the most allowed
    assert main(["report", str(run)]) == 0
    page = (run / "report.html").read_text(encoding="utf-8")
    assert "one epoch in 2000 of 100000, and the last (history.csv holds each)" in page
    throughput = page[page.index('id="throughput"') :].split("</section>")[0]
    assert throughput.count("<tr>") == 1 + 50 + 1  # the header, epochs 1, 2001, ..., the last
