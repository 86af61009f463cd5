"""The installed package: what a wheel holds and what it does from a directory outside the checkout
(the shipped recipes found by name, listed, copied out)."""

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_every_subpackage_and_the_recipes_are_in_the_wheel_list():
    """pyproject.toml lists the packages by hand (the recipes install from recipes/ as
    kerascnn/recipes): a new subpackage must be added there too."""
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = sorted(
        ".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "kerascnn").rglob("__init__.py")
    )
    assert sorted(p for p in config["packages"] if not p.startswith("kerascnn.recipes")) == found
    assert config["package-dir"] == {"kerascnn.recipes": "recipes"}
    for package, folder in (
        ("kerascnn.recipes", "recipes"),
        ("kerascnn.recipes.specs", "recipes/specs"),
    ):
        assert package in config["packages"]
        shipped = {p.name for p in (REPO / folder).iterdir() if p.is_file()}
        patterns = config["package-data"][package]
        assert shipped and all(
            any(Path(name).match(pattern) for pattern in patterns) for name in shipped
        ), shipped


@pytest.mark.slow
def test_a_wheel_in_a_fresh_environment_runs_a_shipped_recipe_by_name_from_anywhere(tmp_path):
    """`pip install kerascnn` from a wheel into a new environment, used from a directory outside
    the checkout: `kerascnn train lenet5_digits` used to say "no recipe file". The dependencies
    come from this environment (a .pth after the new one's own site-packages), so only kerascnn
    itself is the wheel's."""
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next(wheels.glob("kerascnn-*.whl"))
    env = tmp_path / "env"
    venv.create(env, with_pip=False)  # this environment's pip installs into it (--python)
    python = env / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            "-q",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    # After the install: pip would take this environment's own kerascnn for the wheel's.
    (Path(site) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    work = tmp_path / "elsewhere"
    work.mkdir()
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    environment["TF_CPP_MIN_LOG_LEVEL"] = "2"

    def run(*argv):
        done = subprocess.run(
            [str(env / "bin" / "kerascnn"), *argv],
            cwd=work,
            env=environment,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, f"kerascnn {' '.join(argv)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    where = subprocess.run(
        [str(python), "-c", "import kerascnn; print(kerascnn.__file__)"],
        cwd=work,
        env=environment,
        capture_output=True,
        text=True,
    ).stdout
    assert where.startswith(site), where  # the wheel's kerascnn, not the checkout's
    listing = run("recipes")
    assert "lenet5_digits " in listing and "resnet20_cifar10 " in listing
    assert "He et al. 2016, Table 6: 8.75% CIFAR-10 test error" in listing
    run("train", "lenet5_digits", "--quiet", "--set", "train.epochs=1")
    assert (work / "runs" / "lenet5_digits" / "model.keras").is_file()
    # Copied out to edit: the recipe and the spec it names (a file path then wins over the name:
    # tests/test_cli.py::test_a_file_path_wins_over_a_shipped_recipe_of_that_name).
    copied = run("recipes", "--copy", "glyphs_scratch")
    assert (work / "glyphs_scratch.toml").is_file() and (work / "specs" / "glyph_cnn.toml").is_file()
    assert copied.splitlines() == ["copied glyphs_scratch.toml", "copied specs/glyph_cnn.toml"]
    done = subprocess.run(
        [str(env / "bin" / "kerascnn"), "recipes", "--copy", "glyphs_scratch"],
        cwd=work,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "kerascnn does not overwrite a file" in done.stderr


TENSORFLOW = {"tensorflow", "tensorboard"}


def _name(requirement: str) -> str:
    import re

    return re.split(r"[<>=!~;\[ ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_the_install_without_tensorflow_lists_every_other_dependency():
    """requirements/no-tensorflow.txt (docs/devices.md, "Installing without TensorFlow") is
    pyproject.toml's dependencies, the same versions, but TensorFlow and TensorBoard, and with JAX."""
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    lines = [
        line.split("#")[0].strip()
        for line in (REPO / "requirements" / "no-tensorflow.txt").read_text().splitlines()
    ]
    listed = {_name(line): line for line in lines if line}
    wanted = {_name(d): d for d in project["dependencies"] if _name(d) not in TENSORFLOW}
    jax = next(d for d in project["optional-dependencies"]["test"] if _name(d) == "jax")
    assert listed == {**wanted, "jax": jax}


@pytest.mark.slow
def test_the_install_without_tensorflow_trains_the_quickstart_on_jax(tmp_path):
    """docs/devices.md's command for a machine without TensorFlow, in a new environment: the
    dependencies from requirements/no-tensorflow.txt (nothing among them pulls TensorFlow or
    TensorBoard in), kerascnn without its own, then `kerascnn train lenet5_digits` from another
    directory with no backend chosen: kerascnn asks Keras for JAX, and the quickstart trains."""
    env = tmp_path / "env"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    clean = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "KERAS_BACKEND")
    }
    documented = (REPO / "docs" / "devices.md").read_text(encoding="utf-8")
    assert (
        "pip install -q uv && uv pip install -q -r requirements/no-tensorflow.txt && "
        "uv pip install -q --no-deps ." in documented
    )  # what this test runs
    uv = [str(env / "bin" / "uv"), "pip", "install", "-q"]
    installs = (
        [str(python), "-m", "pip", "install", "-q", "uv"],
        [*uv, "-r", str(REPO / "requirements" / "no-tensorflow.txt")],
        [*uv, "--no-deps", str(REPO)],
    )
    for command in installs:  # as the activated environment runs them (uv installs into it)
        subprocess.run(
            command,
            env={**clean, "VIRTUAL_ENV": str(env)},
            check=True,
            capture_output=True,
            timeout=900,
        )
    found = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.util as u; print([m for m in "
            "('tensorflow', 'tensorboard') if u.find_spec(m)])",
        ],
        env=clean,
        capture_output=True,
        text=True,
        check=True,
    )
    assert found.stdout.strip() == "[]"
    work = tmp_path / "elsewhere"
    work.mkdir()
    done = subprocess.run(
        [
            str(env / "bin" / "kerascnn"),
            "train",
            "lenet5_digits",
            "--output",
            str(work / "run"),
            "--set",
            "train.epochs=2",
            "--quiet",
        ],
        cwd=work,
        env=clean,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert "device CPU" in out and "jax); precision" in out and "; grain" in out
    assert (work / "run" / "model.keras").is_file()
