"""Each update rule a recipe can say, against the paper's formula written out in NumPy
(`tests/paper_updates.py`), in float64 over fixed gradients: weight decay coupled (the L2 penalty)
or decoupled, over every parameter or the kernels only; SGD's momentum with the rate inside the
velocity (Caffe, Keras) or outside the buffer (Torch7, PyTorch), Nesterov or not; Adam and RMSprop;
the schedules in epochs and in iterations with linear and constant warm-ups. The optimizer comes
from a recipe's `[train]` through `make_optimizer`, as every run makes it. (The same rules through
`model.fit`, against PyTorch: tests/test_paper_training.py, slow tier.)"""

from __future__ import annotations

import dataclasses
import itertools

import keras
import numpy as np
import pytest
from paper_updates import Rule, rate, run

from kerascnn.recipe import TrainSection, load_recipe
from kerascnn.training.compile import make_optimizer

SHAPES = [(3, 3, 2, 4), (4,), (4,), (5, 3)]  # a conv kernel, a bias, BN's scale, a dense kernel


@pytest.fixture
def float64():
    """Keras' floatx float64 while the test runs (the schedule and the variables in it)."""
    before = keras.config.floatx()
    keras.config.set_floatx("float64")
    try:
        yield
    finally:
        keras.config.set_floatx(before)


def keras_run(train: TrainSection, weights, gradients, *, steps_per_epoch=1, first_step=0):
    """The weights after `make_optimizer(train)` applies `gradients`, one step each, from optimizer
    step `first_step`."""
    variables = [keras.Variable(w, dtype="float64") for w in weights]
    optimizer = make_optimizer(train, steps_per_epoch=steps_per_epoch)
    optimizer.build(variables)
    optimizer.iterations.assign(first_step)
    for grads in gradients:
        optimizer.apply([keras.ops.convert_to_tensor(g, "float64") for g in grads], variables)
    return [keras.ops.convert_to_numpy(v) for v in variables]


def data(steps: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=s) for s in SHAPES]
    gradients = [[rng.normal(size=s) for s in SHAPES] for _ in range(steps)]
    return weights, gradients


def assert_close(got, expected, tol=1e-12):
    for i, (g, e) in enumerate(zip(got, expected)):
        error = np.max(np.abs(g - e) / np.maximum(np.abs(e), 1e-3))
        assert error < tol, f"weight {i} ({SHAPES[i]}): relative error {error:.2e}"


SGD_CASES = list(
    itertools.product(("caffe", "torch"), (False, True), ("l2", "decoupled"), ("all", "kernels"))
)


@pytest.mark.parametrize("momentum_form,nesterov,form,scope", SGD_CASES)
def test_sgd_with_each_decay_and_momentum_form_is_the_papers_update(
    float64, momentum_form, nesterov, form, scope
):
    """12 steps across a constant warm-up (0.01 for 3 iterations) and a milestone (iteration 7):
    the rate changes twice, where the two momentum forms part."""
    weights, gradients = data(12)
    train = TrainSection(
        optimizer="sgd",
        learning_rate=0.1,
        momentum=0.9,
        nesterov=nesterov,
        momentum_form=momentum_form,
        weight_decay=5e-3,
        weight_decay_form=form,
        weight_decay_scope=scope,
        schedule="step",
        schedule_unit="iterations",
        milestones=(7,),
        warmup=3,
        warmup_shape="constant",
        warmup_learning_rate=0.01,
        epochs=12,
    )
    rule = Rule(
        momentum=0.9,
        nesterov=nesterov,
        momentum_form=momentum_form,
        weight_decay=5e-3,
        decay_form=form,
        decay_scope=scope,
        milestones=(7,),
        warmup=3,
        warmup_shape="constant",
        warmup_learning_rate=0.01,
    )
    assert_close(keras_run(train, weights, gradients), run(rule, weights, gradients))


def test_the_two_momentum_forms_agree_at_a_constant_rate_and_part_after_a_change(float64):
    """Why `momentum_form` is a key: the same 12 steps, at a constant rate the forms are one
    update; across a milestone Caffe's velocity still carries the old rate."""
    weights, gradients = data(12)
    common = dict(optimizer="sgd", learning_rate=0.1, weight_decay=1e-3, epochs=12)
    constant = [
        keras_run(TrainSection(momentum_form=f, **common), weights, gradients)
        for f in ("caffe", "torch")
    ]
    assert_close(constant[0], constant[1])
    stepped = dict(common, schedule="step", schedule_unit="iterations", milestones=(4,))
    parted = [
        keras_run(TrainSection(momentum_form=f, **stepped), weights, gradients)
        for f in ("caffe", "torch")
    ]
    assert max(np.max(np.abs(a - b)) for a, b in zip(*parted)) > 1e-3


@pytest.mark.parametrize("form", ["l2", "decoupled"])
@pytest.mark.parametrize("optimizer", ["adam", "rmsprop"])
def test_adam_and_rmsprop_with_each_decay_form(float64, optimizer, form):
    """The L2 penalty passes through Adam's and RMSprop's normalization (PyTorch's `weight_decay`
    on them); decoupled decay does not (AdamW)."""
    weights, gradients = data(6)
    train = TrainSection(
        optimizer=optimizer,
        learning_rate=0.01,
        momentum=0.5,
        weight_decay=0.05,
        weight_decay_form=form,
        weight_decay_scope="all",
        epochs=6,
    )
    rule = Rule(
        optimizer=optimizer,
        momentum=0.5,
        learning_rate=0.01,
        schedule="constant",
        weight_decay=0.05,
        decay_form=form,
    )
    got = keras_run(train, weights, gradients)
    # Keras' Adam and RMSprop cast some of their constants (Adam's betas in its bias correction,
    # RMSprop's rho) through float32 on TensorFlow: 1e-5 here, where the other decay form is 1e-2
    # away.
    assert_close(got, run(rule, weights, gradients), tol=2e-5)
    other = dataclasses.replace(rule, decay_form="decoupled" if form == "l2" else "l2")
    assert max(np.max(np.abs(a - b)) for a, b in zip(got, run(other, weights, gradients))) > 1e-3


def test_adamw_decays_decoupled_and_auto_is_each_optimizers_convention(float64):
    """ "auto": AdamW decoupled (its definition), SGD with the L2 penalty (PyTorch's, Caffe's)."""
    weights, gradients = data(5)
    adamw = TrainSection(optimizer="adamw", learning_rate=0.01, weight_decay=0.05, epochs=5)
    expected = run(
        Rule(optimizer="adam", learning_rate=0.01, schedule="constant", weight_decay=0.05,
             decay_form="decoupled", decay_scope="kernels"),
        weights,
        gradients,
    )  # fmt: skip
    assert_close(keras_run(adamw, weights, gradients), expected, tol=2e-5)
    sgd = TrainSection(optimizer="sgd", learning_rate=0.1, weight_decay=0.05, epochs=5)
    expected = run(
        Rule(weight_decay=0.05, decay_scope="kernels", schedule="constant"), weights, gradients
    )
    assert_close(keras_run(sgd, weights, gradients), expected)


def test_an_undriven_kernel_decays_ten_times_faster_under_the_l2_penalty(float64):
    """The issue's measurement, in small: a weight no gradient drives, 200 steps of SGD with
    momentum 0.9 at 0.1 and decay 1e-3: decoupled decay shrinks it by (1 - lr * wd) a step, the L2
    penalty through momentum by about (1 - lr * wd / (1 - m)): ten times the rate."""
    weights = [np.ones((2, 2))]
    gradients = [[np.zeros((2, 2))]] * 200
    shrunk = {}
    for form in ("l2", "decoupled"):
        train = TrainSection(
            optimizer="sgd",
            learning_rate=0.1,
            momentum=0.9,
            weight_decay=1e-3,
            weight_decay_form=form,
            epochs=200,
        )
        variables = [keras.Variable(w, dtype="float64") for w in weights]
        optimizer = make_optimizer(train)
        for grads in gradients:
            optimizer.apply([keras.ops.convert_to_tensor(g, "float64") for g in grads], variables)
        shrunk[form] = float(keras.ops.convert_to_numpy(variables[0])[0, 0])
    assert shrunk["decoupled"] == pytest.approx((1 - 1e-4) ** 200, rel=1e-12)
    log_ratio = np.log(shrunk["l2"]) / np.log(shrunk["decoupled"])
    assert 9.0 < log_ratio < 10.0, shrunk  # the transient of the first ~10 steps: just under 10


SCHEDULES = [
    # (the recipe's [train], steps per epoch, the paper's rule with positions in steps)
    (
        dict(schedule="step", milestones=(2, 3), epochs=4),
        5,
        Rule(milestones=(10, 15)),
    ),
    (
        dict(schedule="step", schedule_unit="iterations", milestones=(7, 11), epochs=4),
        5,
        Rule(milestones=(7, 11)),
    ),
    (
        dict(schedule="step", step_every=1, gamma=0.96, epochs=4),
        5,
        Rule(milestones=(5, 10, 15), gamma=0.96),
    ),
    (
        dict(schedule="step", milestones=(3,), warmup=1, epochs=4),
        5,
        Rule(milestones=(15,), warmup=5),
    ),
    (
        dict(
            schedule="step",
            schedule_unit="iterations",
            milestones=(12,),
            warmup=4,
            warmup_shape="constant",
            warmup_learning_rate=0.01,
            epochs=4,
        ),
        5,
        Rule(milestones=(12,), warmup=4, warmup_shape="constant", warmup_learning_rate=0.01),
    ),
    (
        dict(schedule="step", milestones=(3,), warmup=2, warmup_learning_rate=0.02, epochs=4),
        5,
        Rule(milestones=(15,), warmup=10, warmup_learning_rate=0.02),
    ),
    (
        dict(schedule="cosine", warmup=1, min_learning_rate=0.001, epochs=4),
        5,
        Rule(schedule="cosine", warmup=5, length=20, min_learning_rate=0.001),
    ),
    (
        dict(schedule="constant", epochs=4),
        5,
        Rule(schedule="constant"),
    ),
]


@pytest.mark.parametrize("train,steps_per_epoch,rule", SCHEDULES)
def test_every_steps_rate_is_the_schedules_formula(float64, train, steps_per_epoch, rule):
    """The rate of each of the run's updates (the first is step 0), in float64: the papers'
    numbers exactly (0.1, not float32's 0.10000000149)."""
    optimizer = make_optimizer(TrainSection(learning_rate=0.1, **train), steps_per_epoch=steps_per_epoch)
    for step in range(4 * steps_per_epoch):
        optimizer.iterations.assign(step)
        got = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        assert got == pytest.approx(rate(rule, step), rel=1e-15, abs=1e-18), step


def test_milestones_in_iterations_do_not_move_with_the_split():
    """He et al.'s 32k and 48k iterations are 32k and 48k whether 45k or 50k images train, where
    milestones in epochs move with the epoch's size."""
    section = TrainSection(
        optimizer="sgd", learning_rate=0.1, schedule="step", schedule_unit="iterations",
        milestones=(32000, 48000), epochs=164,
    )  # fmt: skip
    for steps in (352, 391):
        optimizer = make_optimizer(section, steps_per_epoch=steps)
        for step, expected in ((31999, 0.1), (32000, 0.01), (47999, 0.01), (48000, 0.001)):
            optimizer.iterations.assign(step)
            assert float(optimizer.learning_rate) == pytest.approx(expected), (steps, step)


def test_the_optimizer_round_trips_through_a_keras_file(tmp_path):
    """A checkpoint's optimizer (best.keras, last.keras) reloads through the safe loader with its
    form, scope and schedule."""
    import kerascnn

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="fc")(inputs))
    train = TrainSection(
        optimizer="sgd", learning_rate=0.1, nesterov=True, momentum_form="torch", weight_decay=5e-4,
        weight_decay_scope="all", schedule="step", schedule_unit="iterations", milestones=(100,),
        warmup=10, warmup_shape="constant", warmup_learning_rate=0.01,
    )  # fmt: skip
    model.compile(optimizer=make_optimizer(train, steps_per_epoch=7), loss="mse")
    model.fit(np.ones((8, 4)), np.ones((8, 2)), verbose=0, epochs=1)
    model.save(tmp_path / "m.keras")
    loaded = kerascnn.load_model(tmp_path / "m.keras")
    assert type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    config = loaded.optimizer.get_config()
    assert (config["weight_decay"], config["weight_decay_form"], config["weight_decay_scope"]) == (
        5e-4,
        "l2",
        "all",
    )
    assert config["momentum_form"] == "torch"
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


@pytest.mark.parametrize(
    "train,key,message",
    [
        (dict(optimizer="adamw", weight_decay_form="l2"), "weight_decay_form", "decoupled"),
        (dict(optimizer="adam", momentum_form="torch"), "momentum_form", "SGD"),
        (dict(warmup=2, warmup_shape="constant"), "warmup_learning_rate", "positive"),
        (dict(weight_decay=-1e-4), "weight_decay", "0 or more"),
        (dict(warmup=20, epochs=10), "warmup", "between 0 and epochs - 1"),
        (dict(decay_all=True), "decay_all", "decay_all"),
    ],
)
def test_update_settings_that_do_not_go_together_are_refused_by_key(train, key, message):
    from kerascnn.config import ConfigError

    doc = {"model": {"name": "lenet5"}, "data": {"source": "digits"}, "train": train}
    with pytest.raises(ConfigError) as e:
        load_recipe(doc, name="r")
    assert f"train.{key}" in str(e.value) and message in str(e.value), str(e.value)


# The papers' update steps, as docs/paper-recipes.md audits them (its sources: the authors' code and
# text), written here independently of the recipes: optimizer settings, and the schedule with every
# position in optimizer steps for the recipe's epoch length (CIFAR-10: 50,000 images, or 45,000
# with the 5k validation split; ImageNet: 100 steps an epoch stand for its ~5,000).
CIFAR_128, CIFAR_45K_128, CIFAR_64 = 391, 352, 782
IMAGENET = 100
# Torch7's optim.sgd with Nesterov and dampening 0 (the rate outside the buffer); He et al.'s
# constant warm-up at 0.01 for 400 iterations, then 32k/48k.
TORCH_NESTEROV = dict(momentum_form="torch", nesterov=True)
HE_CIFAR = dict(weight_decay=1e-4, milestones=(32000, 48000))
HE_WARMUP = dict(warmup=400, warmup_shape="constant", warmup_learning_rate=0.01)


def epochs(*milestones, steps):
    """Milestones in epochs (counted from 0, the rate changing at the epoch's start), in steps."""
    return tuple(m * steps for m in milestones)


PAPERS = {
    # He et al. 2016: Caffe's SGD, 32k/48k iterations; ResNet-110 and the pre-activation ResNets
    # warm up.
    "resnet20_cifar10": (None, Rule(**HE_CIFAR)),
    "resnet110_cifar10": (None, Rule(**HE_CIFAR, **HE_WARMUP)),
    "preact_resnet164_cifar10": (None, Rule(**HE_CIFAR, **HE_WARMUP)),
    # The Torch codes, every parameter decayed; their 1-based epochs: the rate drops at the start
    # of epoch 250 -> step 249 * n.
    "resnet110_stochastic_depth_cifar10": (
        CIFAR_45K_128,
        Rule(**TORCH_NESTEROV, weight_decay=1e-4, milestones=epochs(249, 374, steps=CIFAR_45K_128)),
    ),
    "wide_resnet28_10_cifar10": (
        CIFAR_128,
        Rule(
            **TORCH_NESTEROV,
            weight_decay=5e-4,
            gamma=0.2,
            milestones=epochs(59, 119, 159, steps=CIFAR_128),
        ),
    ),
    "densenet_bc_100_12_cifar10": (
        CIFAR_64,
        Rule(**TORCH_NESTEROV, weight_decay=1e-4, milestones=epochs(149, 224, steps=CIFAR_64)),
    ),
    "resnext50_32x4d_imagenet": (
        IMAGENET,
        Rule(**TORCH_NESTEROV, weight_decay=1e-4, milestones=epochs(30, 60, 90, steps=IMAGENET)),
    ),
    # Caffe (the rate inside the velocity), the ResNet recipe's decay on every parameter.
    "se_resnet50_imagenet": (
        IMAGENET,
        Rule(learning_rate=0.15, weight_decay=1e-4, milestones=epochs(30, 60, 90, steps=IMAGENET)),
    ),
    # cuda-convnet's and Caffe's: the decay inside the velocity, on the weights only (no bias decay);
    # the rate divided on a plateau, constant in between.
    "alexnet_imagenet": (
        IMAGENET,
        Rule(learning_rate=0.01, weight_decay=5e-4, decay_scope="kernels", schedule="constant"),
    ),
    "vgg16_imagenet": (IMAGENET, Rule(learning_rate=0.01, weight_decay=5e-4, schedule="constant")),
    # BVLC's Caffe GoogLeNet: 2e-4 on the weights, x0.96 every 8 epochs.
    "googlenet_imagenette": (
        IMAGENET,
        Rule(
            learning_rate=0.01,
            weight_decay=2e-4,
            decay_scope="kernels",
            gamma=0.96,
            milestones=epochs(*range(8, 120, 8), steps=IMAGENET),
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(PAPERS))
def test_each_paper_recipe_makes_its_papers_update_across_every_change_of_rate(float64, name):
    """The shipped recipe, as shipped, through `make_optimizer`: 6 updates around each place the
    rate changes (the end of the warm-up, every milestone), from empty optimizer state there,
    against the paper's update written out (`PAPERS`): the decay's form and scope, the momentum's
    form, Nesterov, and the schedule in the paper's unit."""
    from pathlib import Path

    recipe = load_recipe(Path(__file__).resolve().parents[1] / "recipes" / f"{name}.toml")
    steps_per_epoch, rule = PAPERS[name]
    boundaries = sorted({3, *([rule.warmup] if rule.warmup else []), *rule.milestones[:3]})
    weights, gradients = data(6, seed=len(name))
    for boundary in boundaries:
        first = boundary - 3
        got = keras_run(
            recipe.train, weights, gradients, steps_per_epoch=steps_per_epoch or 391, first_step=first
        )
        assert_close(got, run(rule, weights, gradients, first_step=first))


def test_the_paper_recipes_are_audited_here():
    """Every shipped recipe that trains a paper's network from scratch with SGD has its paper's
    update in `PAPERS` (LeNet-5's stochastic diagonal Levenberg-Marquardt is not SGD: its recipe
    says so)."""
    from pathlib import Path

    recipes = Path(__file__).resolve().parents[1] / "recipes"
    paper = {
        p.stem
        for p in recipes.glob("*.toml")
        if (r := load_recipe(p)).model.name and r.tune is None and r.train.optimizer == "sgd"
    }
    assert paper - {"lenet5_mnist"} == set(PAPERS)


def test_the_l2_penalty_is_applied_to_unscaled_gradients_under_mixed_precision(float64):
    """With float16's loss scaling (Keras' LossScaleOptimizer around the recipe's optimizer) the
    gradients arrive scaled and are unscaled before the decay is added: the paper's update."""
    if keras.backend.backend() == "jax":
        pytest.skip("Keras' LossScaleOptimizer applies statelessly on JAX (its trainer does)")
    weights, gradients = data(4)
    train = TrainSection(
        optimizer="sgd", learning_rate=0.1, momentum_form="torch", nesterov=True, weight_decay=5e-3,
        weight_decay_scope="all", epochs=4,
    )  # fmt: skip
    variables = [keras.Variable(w, dtype="float64") for w in weights]
    optimizer = keras.optimizers.LossScaleOptimizer(make_optimizer(train), initial_scale=1024.0)
    optimizer.build(variables)
    for grads in gradients:
        scaled = [keras.ops.convert_to_tensor(g * 1024.0, "float64") for g in grads]
        optimizer.apply(scaled, variables)
    rule = Rule(momentum_form="torch", nesterov=True, weight_decay=5e-3, schedule="constant")
    assert_close([keras.ops.convert_to_numpy(v) for v in variables], run(rule, weights, gradients))


def test_a_search_recipe_is_refused_a_length_in_iterations():
    """A search's trials are compared in whole epochs (Hyperband counts them): `iterations` in a
    recipe with [tune] is named before anything runs."""
    from kerascnn.config import ConfigError

    doc = {
        "model": {"name": "lenet5"},
        "data": {"source": "digits"},
        "train": {"iterations": 100},
        "tune": {"space": {"train.learning_rate": {"type": "choice", "values": [0.1, 0.01]}}},
    }
    with pytest.raises(ConfigError, match=r"train\.iterations: a search's trials train .* whole epochs"):
        load_recipe(doc, name="r")
