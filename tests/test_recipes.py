"""The shipped recipes: every paper recipe is valid, builds its paper's network at its input and says
what the paper reports; paper recipes run end to end through the real `tfds.load` path on mock data;
the Python recipe scripts train with the same trainer."""

import json
import runpy
from pathlib import Path

import numpy as np
import pytest
import tomllib

from kerascnn.recipe import load_recipe
from kerascnn.spec import validate_spec
from kerascnn.zoo import get_model_info
from kerascnn.zoo.factory import make_spec

REPO = Path(__file__).resolve().parents[1]
RECIPES = sorted((REPO / "recipes").glob("*.toml"))
# The recipes that reproduce a paper's network on its data (the rest: fine-tuning, glyphs, searches).
LOADED = {p: load_recipe(p) for p in RECIPES}
PAPER_RECIPES = [p for p, r in LOADED.items() if r.model.name is not None and r.tune is None]
SEARCH_RECIPES = [p for p, r in LOADED.items() if r.tune is not None]
# (image size, channels, classes) of each dataset the recipes name (None: the sizes vary)
DATASETS = {
    "digits": ((8, 8), 1, 10),
    "mnist": ((28, 28), 1, 10),
    "cifar10": ((32, 32), 3, 10),
    "imagenet2012": (None, 3, 1000),
    "imagenette/full-size-v2": (None, 3, 10),
}
# A tiny synthetic task for the scripts: they must train, not reproduce the paper, in CI.
TINY = [
    "data.source=synthetic",
    "data.samples=96",
    "data.classes=3",
    "data.batch_size=16",
    "train.epochs=1",
    "--quiet",
]


def test_a_recipe_for_every_seed_architecture():
    names = {load_recipe(p).model.name for p in PAPER_RECIPES}
    assert {
        "lenet5",
        "alexnet",
        "vgg16",
        "googlenet",
        "resnet20",
        "resnet110",
        "preact_resnet164",
        "wide_resnet28_10",
        "resnext50_32x4d",
        "densenet_bc_100_12",
        "se_resnet50",
    } <= names


@pytest.mark.parametrize("path", PAPER_RECIPES, ids=lambda p: p.stem)
def test_recipe_is_valid_and_its_network_fits_its_data(path):
    recipe = load_recipe(path)
    assert recipe.name == path.stem and recipe.run_dir() == Path("runs") / path.stem
    header = path.read_text().split("\nname =")[0]
    assert "reports" in header, "each recipe states what its paper reports"
    d = recipe.data
    native, channels, classes = DATASETS[d.name if d.source == "tfds" else d.source]
    info = get_model_info(recipe.model.name)
    size = tuple(d.image_size or native)
    assert (*size, channels) == tuple(info.input_shape), "the paper's input size"
    validate_spec(
        make_spec(recipe.model.name, dict(recipe.model.options)),
        input_shape=(*size, channels),
        classes=classes,
    )
    side = 2 if recipe.model.options.get("aux") else 0
    assert len(recipe.train.aux_loss_weights) == side
    # Valid TOML with nothing but the documented tables.
    assert set(tomllib.loads(path.read_text())) <= {
        "name",
        "description",
        "model",
        "data",
        "train",
        "output",
    }


@pytest.mark.parametrize(
    "name,examples", [pytest.param("resnet20_cifar10", 64, marks=pytest.mark.slow), ("lenet5_mnist", 48)]
)
def test_paper_recipe_runs_on_tfds_mock_data(tmp_path, name, examples, capsys):
    """The shipped file itself, shortened by --set, through tfds.load on tensorflow-datasets' mock
    data (LeNet-5's 28x28 digits padded into its 32x32 field)."""
    import tensorflow_datasets as tfds

    from kerascnn.cli import main

    with tfds.testing.mock_data(num_examples=examples):
        assert (
            main(
                [
                    "train",
                    str(REPO / "recipes" / f"{name}.toml"),
                    "--quiet",
                    "--set",
                    "train.epochs=1",
                    "--set",
                    "data.batch_size=16",
                    "--output",
                    str(tmp_path / name),
                ]
            )
            == 0
        )
    metrics = json.loads((tmp_path / name / "metrics.json").read_text())
    assert metrics["epochs"] == 1 and 0 <= metrics["test"]["accuracy"] <= 1
    data = json.loads((tmp_path / name / "data.json").read_text())
    assert data["input_shape"] == list(get_model_info(name.split("_")[0]).input_shape)


@pytest.mark.parametrize("path", SEARCH_RECIPES, ids=lambda p: p.stem)
def test_search_recipe_trials_build_and_train_on_tfds_mock_data(path):
    """A shipped search: valid (every end of its space checked as a recipe when it loads); its
    first trial (each key at its default) and a trial at the other end of every choice build the
    model they name, and the first trains an epoch through tfds.load on mock data."""
    import keras_tuner
    import tensorflow_datasets as tfds

    from kerascnn.tuning.search import RecipeHyperModel

    recipe = load_recipe(path, ["data.batch_size=16"])
    assert recipe.name == path.stem and recipe.space
    hypermodel = RecipeHyperModel(recipe, verbose=0)
    first, last = keras_tuner.HyperParameters(), keras_tuner.HyperParameters()
    hypermodel.declare_hyperparameters(first)
    hypermodel.declare_hyperparameters(last)
    for key, entry in recipe.space.items():
        if entry.type == "choice":
            last.values[key] = entry.values[-1]
    with tfds.testing.mock_data(num_examples=48):
        other = hypermodel.build(last)
        assert other.name == last.values.get("model.name", other.name)
        model = hypermodel.build(first)
        assert model.name == first.values.get("model.name", model.name)
        history = hypermodel.fit(first, model, epochs=1)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.slow  # end to end, a recipe script's runs: over 10 s on 2 cores
def test_inception_small_script(tmp_path, capsys):
    """A network composed from the blocks in Python, trained by the TOML recipes' trainer; its
    parameters match Zhang et al. (2017), Table 1."""
    import keras

    script = runpy.run_path(str(REPO / "recipes" / "inception_small_cifar10.py"))
    model = script["inception_small"]((28, 28, 3), 10)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == 1_651_114
    # The paper counts each convolution with a bias per filter and no BN parameters.
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    paper = sum(int(np.prod(c.kernel.shape)) + c.filters for c in convs) + 336 * 10 + 10
    assert paper == 1_649_402

    run = tmp_path / "inception"
    argv = [f"--set={o}" if "=" in o else o for o in TINY] + [
        "--set=data.image_size=[28, 28]",
        "--set=data.load_size=[32, 32]",
        "--output",
        str(run),
    ]
    assert script["main"](argv) == 0
    state = json.loads((run / "run.json").read_text())
    assert state["status"] == "finished" and len(state["architecture"]) == 16
    saved = load_recipe(run / "recipe.yaml")  # no [model]: the network came from Python
    assert saved.model.name is None and saved.model.spec is None
    assert script["main"](argv) == 2  # finished: never overwritten
    err = capsys.readouterr().err
    assert "finished; kerascnn never overwrites a run" in err
    assert "Hint: Pass --restart to start a new run" in err  # a command line's words


@pytest.mark.slow  # end to end, a recipe script's runs: over 10 s on 2 cores
def test_resnet_depths_script(tmp_path):
    script = runpy.run_path(str(REPO / "recipes" / "resnet_depths_cifar10.py"))
    argv = [
        "--depths",
        "20",
        "--output",
        str(tmp_path),
        *[f"--set={o}" if "=" in o else o for o in TINY],
        "--set=data.image_size=[32, 32]",
    ]
    assert script["main"](argv) == 0
    assert (tmp_path / "resnet20_cifar10" / "model.keras").exists()
    assert (tmp_path / "resnet_depths_cifar10.png").stat().st_size > 10_000
    assert script["main"](argv) == 0  # finished depths are read back, not retrained


def test_data_seed_keeps_the_images_and_splits_and_old_fingerprints_stay():
    """`data.seed`: runs differing only in `train.seed` see the same generated images and splits
    (an ensemble's members); without it the data follows `train.seed` as before, and recipes that
    leave out the keys added since (data.seed, train.ema, the batch augmentations) keep the
    fingerprint they had (pinned: an unfinished run still resumes)."""
    from kerascnn.data import load_data

    def test_images(train_seed, **data):
        recipe = load_recipe(
            {
                "model": {"name": "lenet5"},
                "data": {
                    "source": "glyphs",
                    "samples": 200,
                    "batch_size": 50,
                    "image_size": [32, 32],
                    **data,
                },
                "train": {"seed": train_seed},
            }
        )
        return np.concatenate([x for x, _ in load_data(recipe).test.as_numpy_iterator()])

    same = [test_images(seed=7, train_seed=s) for s in (0, 1)]
    assert np.array_equal(*same)
    assert not np.array_equal(test_images(train_seed=0), test_images(train_seed=1))
    assert np.array_equal(test_images(train_seed=7), same[0])  # data.seed 7 = train.seed 7's data
    pinned = {
        "lenet5_digits": "a4cb8d08247b1104",
        "glyphs_scratch": "5e2c2456d0977857",
        # changed with issue 42: the paper's data protocol and update step (runs begun before
        # trained another update, and are refused rather than resumed with this one)
        "resnet20_cifar10": "fa413761fe054b3f",
        "glyphs_finetune": "336c6cb85586be5e",
        # changed with issue 42: SGD's weight_decay is now the L2 penalty ("auto")
        "vgg16_finetune_flowers": "1d560c4309d532a8",
    }
    for name, fingerprint in pinned.items():
        assert load_recipe(REPO / "recipes" / f"{name}.toml").fingerprint == fingerprint, name
