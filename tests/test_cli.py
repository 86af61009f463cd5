"""The command line: fast help, summary of a spec file, errors in plain words."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kerascnn.cli import main


def run_without_backend(call: str):
    """Run `call` (code using `main`) in a fresh interpreter; fail if it imported a backend."""
    code = (
        "import sys; from kerascnn.cli import main\n"
        + call
        + "loaded = sorted(m for m in ('keras', 'tensorflow', 'jax') if m in sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result


def test_help_does_not_load_keras():
    result = run_without_backend(
        "try:\n    main(['--help'])\nexcept SystemExit as e:\n    assert e.code == 0\n"
    )
    assert "summary" in result.stdout


def test_report_refuses_a_folder_that_is_no_run_before_loading_keras(tmp_path):
    """`kerascnn report DIR` on a folder that holds no run.json nor tune.json: one line, and no
    backend loaded (nor TensorFlow's start-up noise on stderr) to say it."""
    result = run_without_backend(f"assert main(['report', {str(tmp_path)!r}]) == 2\n")
    assert result.stderr.strip().splitlines() == [
        f"error: {tmp_path} holds no run.json (a run) nor tune.json (a search): not a directory "
        "kerascnn train or kerascnn tune wrote."
    ]


def test_console_script_installed():
    script = Path(sys.executable).with_name("kerascnn")
    script = str(script) if script.exists() else shutil.which("kerascnn")
    assert script, "the kerascnn console script is not installed"
    result = subprocess.run([script, "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("kerascnn ")


def test_summary_of_a_spec_file(capsys, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)  # restored after the test
    assert (
        main(["summary", "recipes/specs/vgg16.toml", "--input-shape", "32,32,3", "--classes", "10"]) == 0
    )
    out = capsys.readouterr().out
    assert "stage1_conv1" in out and "head_pred" in out
    assert "1,792" in out and "196x196" in out  # whole rows survive piping: 3*3*3*64 + 64
    assert (
        "33,638,218 parameters" in out
    )  # 14,714,688 conv + 512*4096+4096 + 4096*4096+4096 + 4096*10+10


def test_list_shows_every_model_with_paper_and_input_without_keras():
    result = run_without_backend("assert main(['list']) == 0\n")
    from kerascnn.zoo import list_models

    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert list(rows) == list_models()
    assert "224x224x3" in rows["resnet50"] and "25,557,032" in rows["resnet50"]
    assert "Deep Residual Learning for Image Recognition" in rows["resnet50"]
    assert "32x32x3" in rows["densenet_bc_100_12"] and "CIFAR-10 (10)" in rows["densenet_bc_100_12"]


def test_list_one_family_and_unknown_family(capsys):
    assert main(["list", "--family", "densenet"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]]
    assert names == ["densenet121", "densenet169", "densenet201", "densenet264", "densenet_bc_100_12"]
    assert main(["list", "--family", "resnt"]) == 2
    assert "unknown family 'resnt'" in capsys.readouterr().err


def test_summary_of_a_registered_model(capsys, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    assert main(["summary", "resnet20"]) == 0
    out = capsys.readouterr().out
    assert "stage3_block3_out" in out and "(269,722 trainable)" in out


def test_summary_error_is_one_plain_line(tmp_path, capsys):
    spec = tmp_path / "bad.toml"
    spec.write_text('input_shape = [32, 32, 3]\n[[stages]]\nblock = "basic"\nfilterz = 8\n')
    assert main(["summary", str(spec)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {spec}:4: stages[0].filterz: unknown key")
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv,message",
    [
        (["summary", "x.toml", "--input-shape", "32,32"], "expected height,width,channels"),
        (["summary", "x.toml", "--classes", "0"], "expected a positive integer"),
        (["nonsense"], "invalid choice"),
    ],
)
def test_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as excinfo:
        main(argv)
    assert excinfo.value.code == 2
    assert message in capsys.readouterr().err


def test_a_file_path_wins_over_a_shipped_recipe_of_that_name(tmp_path, monkeypatch):
    """`kerascnn train NAME`: a file of that name (a copy being edited) wins over the shipped recipe;
    a name runs the shipped one from any directory; a path that does not exist is not taken for a
    name, and a misspelt name gets the close ones."""
    from kerascnn.config import ConfigError
    from kerascnn.recipe.shipped import copy_recipe, find_recipe, shipped_recipes

    monkeypatch.chdir(tmp_path)
    shipped = shipped_recipes()["lenet5_digits"].path
    assert find_recipe("lenet5_digits") == shipped == find_recipe("lenet5_digits.toml")
    assert copy_recipe("lenet5_digits") == [Path("lenet5_digits.toml")]
    assert find_recipe("lenet5_digits.toml") == Path("lenet5_digits.toml")  # the local copy
    with pytest.raises(
        ConfigError,
        match=r"no recipe file at 'elsewhere/lenet5_digits.toml'.*"
        r"`kerascnn train lenet5_digits`",
    ):
        find_recipe("elsewhere/lenet5_digits.toml")
    with pytest.raises(
        ConfigError,
        match=r"no shipped recipe named 'lenet5_digit'.*Did you mean "
        r"'lenet5_digits'",
    ):
        find_recipe("lenet5_digit")
    with pytest.raises(ConfigError, match="is a recipe script"):
        find_recipe("resnet_depths_cifar10")
