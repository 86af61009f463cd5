"""`HyperCNN`, the Python HyperModel over the zoo: the space is conditional on the model and starts at
the papers' choices, a real keras-tuner search over three families records a model that cannot take
the input as a failed trial and goes on, every bad argument is refused before anything is built."""

import keras
import keras_tuner
import numpy as np
import pytest
from conftest import params

from kerascnn.config import ConfigError
from kerascnn.tuning.hypermodel import HyperCNN
from kerascnn.zoo import get_model_info


def test_space_is_conditional_on_the_model_and_starts_at_the_papers_choices():
    hm = HyperCNN(
        ["resnet20", "resnet50", "se_resnet50", "lenet5", "densenet"],
        input_shape=(32, 32, 3),
        classes=10,
    )
    densenets = ["densenet121", "densenet169", "densenet201", "densenet264", "densenet_bc_100_12"]
    assert hm.models == ["resnet20", "resnet50", "se_resnet50", "lenet5", *densenets]
    # se_resnet50 fixes attention; stride_on changes only bottleneck networks, not resnet20.
    assert hm.applies["resnet.attention"] == ["resnet20", "resnet50"]
    assert hm.applies["resnet.stride_on"] == ["resnet50", "se_resnet50"]
    assert hm.applies["lenet.modern"] == ["lenet5"]
    assert hm.applies["densenet.compression"] == densenets
    assert not any(key.startswith(("vgg.", "alexnet.")) for key in hm.space)  # not chosen
    hp = keras_tuner.HyperParameters()
    hm.declare_hyperparameters(hp)
    conditions = {h.name: [list(c.values) for c in h.conditions] for h in hp.space}
    assert conditions["model"] == [] and conditions["learning_rate"] == []
    assert conditions["resnet.attention"] == [["resnet20", "resnet50"]]
    # The first values are the papers' (the family function's defaults).
    assert hp.values == {
        "model": "resnet20",
        "optimizer": "adam",
        "learning_rate": 1e-3,
        "resnet.attention": "none",
        "resnet.dropout": 0.0,
    }
    model = hm.build(keras_tuner.HyperParameters())  # a bare HyperParameters: defaults
    assert model.name == "resnet20" and params(model)[0] == get_model_info("resnet20").params
    assert isinstance(model.optimizer, keras.optimizers.Adam)

    hp.values.update(
        {"model": "resnet20", "resnet.attention": "se", "optimizer": "sgd", "learning_rate": 0.1}
    )
    model = hm.build(hp)
    assert model.get_layer("stage1_block1_se_squeeze") is not None
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.1)


def test_binary_task_has_one_sigmoid_unit():
    hm = HyperCNN(
        "lenet5",
        input_shape=(32, 32, 1),
        task="binary",
        space={"lenet.modern": {"type": "fixed", "value": True}},
    )
    model = hm.build(keras_tuner.HyperParameters())
    assert model.output_shape == (None, 1) and hm.loss.task == "binary"
    assert model.layers[-1].get_config()["activation"] == "sigmoid"


def quadrants(n, seed):
    """Class k: a bright square in quadrant k of a noisy 32x32 image; one-hot labels."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.normal(0.0, 0.3, (n, 32, 32, 1)).astype("float32")
    for i, k in enumerate(y):
        r, c = divmod(int(k), 2)
        x[i, 16 * r : 16 * r + 16, 16 * c : 16 * c + 16] += 1.0
    return x, keras.utils.to_categorical(y, 3)


@pytest.mark.slow
def test_search_over_families_records_a_model_too_big_for_the_input(tmp_path):
    """Grid search (every point once): LeNet-5 classic and modern, and AlexNet, whose feature map
    vanishes at 32x32: a failed trial with that reason; the search goes on and its best model
    learned the task. (ResNet-20's options are built in the test above; training it here would
    double the time.)"""
    hm = HyperCNN(
        ["lenet5", "alexnet"],
        input_shape=(32, 32, 1),
        classes=3,
        space={
            "optimizer": ["adam"],
            "learning_rate": [3e-3],
            "lenet.dropout": None,
            "alexnet.dropout": None,
            "alexnet.lrn": None,
        },
    )
    tuner = keras_tuner.GridSearch(
        hm, objective="val_accuracy", directory=str(tmp_path), project_name="grid", seed=0
    )
    x, y = quadrants(192, seed=0)
    tuner.search(x, y, validation_split=0.25, epochs=3, batch_size=32, verbose=0)
    trials = list(tuner.oracle.trials.values())
    seen = sorted(
        (t.hyperparameters.values["model"], t.hyperparameters.values.get("lenet.modern")) for t in trials
    )
    assert seen == [("alexnet", None), ("lenet5", False), ("lenet5", True)]
    failed = [t for t in trials if t.status == "FAILED"]
    assert [t.hyperparameters.values["model"] for t in failed] == ["alexnet"]
    assert "the input 32x32 is too small for this network" in failed[0].message
    assert sum(t.status == "COMPLETED" for t in trials) == 2
    best = tuner.get_best_models(1)[0]
    assert best.name == "lenet5"
    x_test, y_test = quadrants(96, seed=1)
    accuracy = np.mean(np.argmax(best.predict(x_test, verbose=0), 1) == np.argmax(y_test, 1))
    assert accuracy > 0.8  # chance: 1/3


@pytest.mark.parametrize(
    "args,message",
    [
        (dict(models=["resnet21"]), r"no model or family named 'resnet21'.*Did you mean .*'resnet20'"),
        (dict(models=[]), "`models` is empty"),
        (
            dict(space={"resnet.atention": ["se"]}),
            r"the resnet family has no option 'atention'.*Did you mean 'attention'",
        ),
        (
            dict(space={"resnet.attention": ["none", "cbam"]}),
            r"space\['resnet.attention'\]: the value 'cbam' does not suit resnet20: .*Received: "
            r"attention='cbam'",
        ),
        (
            dict(models=["se_resnet50"], space={"resnet.attention": ["se"]}),
            r"every chosen resnet model fixes 'attention' \(se_resnet50\)",
        ),
        (dict(space={"vgg.dropout": [0.1]}), r"none of the models \(resnet20\) is of the vgg family"),
        (
            dict(space={"learning_rate": {"type": "float", "min": 1.0, "max": 0.1}}),
            "min must not exceed max",
        ),
        (
            dict(space={"learning_rate": {"type": "float", "min": 0.0, "max": 0.1, "sampling": "log"}}),
            r"space\['learning_rate'\]\['sampling'\]: log sampling needs min > 0",
        ),
        (dict(space={"optimizer": ["rmsprop"]}), "the optimizers are adam, adamw, sgd"),
        (dict(space={"model": ["resnet20"]}), "chosen by the `models` argument"),
        (dict(space={"resnet.dropout": {"type": "float", "low": 0}}), "unknown key 'low'"),
        (dict(space={"googlenet.aux": {"type": "boolean"}}), "has no option 'aux'"),
        (dict(task="binary", classes=3), "task='binary' has one sigmoid output"),
        (dict(task="ordinal"), "`task` must be one of 'multiclass', 'binary', 'multilabel'"),
        (dict(classes=None), "`classes` must be a positive integer"),
        (dict(input_shape=(32, 32)), "`input_shape` is"),
    ],
)
def test_bad_arguments_are_refused_with_what_was_received(args, message):
    kwargs = {"models": ["resnet20"], "input_shape": (32, 32, 3), "classes": 10, **args}
    with pytest.raises(ConfigError, match=message):
        HyperCNN(kwargs.pop("models"), **kwargs)


@pytest.mark.slow  # end to end; over 10 s on 2 cores (README's command stays under 10 min)
def test_integer_labels_as_keras_tuner_examples_write_them(tmp_path):
    """keras-tuner's own examples: `tuner.search(x, y, validation_split=..., epochs=1)` with y as
    integer class ids. Every trial used to fail ("`target` and `output` must have the same rank")
    and get_best_models() then raised FileNotFoundError; the loss now follows the labels given."""
    x, onehot = quadrants(128, seed=0)
    ids = np.argmax(onehot, 1)
    hm = HyperCNN(
        "lenet5",
        input_shape=(32, 32, 1),
        classes=3,
        space={"optimizer": ["adam"], "learning_rate": [3e-3]},
    )
    tuner = keras_tuner.RandomSearch(
        hm, objective="val_accuracy", max_trials=1, seed=0, directory=str(tmp_path), project_name="ids"
    )
    tuner.search(x, ids, validation_split=0.25, epochs=3, batch_size=32, verbose=0)
    statuses = [t.status for t in tuner.oracle.trials.values()]
    assert statuses and set(statuses) == {"COMPLETED"}, statuses
    best = tuner.get_best_models(1)[0]
    x_test, y_test = quadrants(96, seed=1)
    accuracy = np.mean(np.argmax(best.predict(x_test, verbose=0), 1) == np.argmax(y_test, 1))
    assert accuracy > 0.6  # chance: 1/3
    # Ids as a column, (n, 1), train the same way (one-hot rows: the search test above).
    for labels in (ids[:, None],):
        model = hm.build(keras_tuner.HyperParameters())
        history = hm.fit(
            keras_tuner.HyperParameters(), model, x, labels, epochs=2, batch_size=32, verbose=0
        )
        assert history.history["loss"][-1] < history.history["loss"][0], labels.shape
    # The sigmoid tasks: binary 0/1 labels as (n,), multi-label multi-hot rows.
    for task, classes, y in (
        ("binary", None, (ids == 0).astype("int64")),
        ("multilabel", 3, np.stack([ids == 0, ids == 1, ids != 2], 1)),
    ):
        hm = HyperCNN(
            "lenet5",
            input_shape=(32, 32, 1),
            classes=classes,
            task=task,
            space={"optimizer": ["adam"], "learning_rate": [3e-3]},
        )
        model = hm.build(keras_tuner.HyperParameters())
        history = hm.fit(
            keras_tuner.HyperParameters(),
            model,
            x,
            y.astype("float32"),
            epochs=2,
            batch_size=32,
            verbose=0,
        )
        assert history.history["loss"][-1] < history.history["loss"][0], task


def test_labels_no_trial_can_learn_stop_the_search_at_once(tmp_path):
    """Labels that do not fit the task (ids outside 0..classes-1, one-hot rows of another width)
    end the search with one FatalValueError that says so, instead of failing every trial."""
    x, onehot = quadrants(64, seed=0)
    hm = HyperCNN(
        "lenet5",
        input_shape=(32, 32, 1),
        classes=3,
        space={"optimizer": ["adam"], "learning_rate": [3e-3]},
    )
    for y, message in (
        (
            np.argmax(onehot, 1) + 1,
            r"y: integer class ids must lie in 0\.\.2 "
            r"\(3 classes\)\. Received ids from 1 to 3",
        ),
        (
            np.zeros((64, 5)),
            r"expected integer class ids, shape \(n,\), or one-hot "
            r"labels, shape \(n, 3\)\. Received shape \(64, 5\)",
        ),
    ):
        tuner = keras_tuner.RandomSearch(
            hm,
            objective="val_accuracy",
            max_trials=3,
            directory=str(tmp_path),
            project_name="fatal",
            overwrite=True,
        )
        with pytest.raises(keras_tuner.errors.FatalValueError, match=message):
            tuner.search(x, y, validation_split=0.25, epochs=1, verbose=0)
        assert len(tuner.oracle.trials) == 1  # the first trial stopped the search


def test_a_search_whose_every_trial_failed_says_why_instead_of_a_missing_checkpoint(tmp_path):
    """Every trial fails (28x28 images for a HyperCNN declared at 32x32): get_best_models() used
    to raise FileNotFoundError for trial_0/checkpoint.weights.h5; now one error lists the distinct
    reasons and how many trials each failed."""
    from kerascnn.tuning.hypermodel import SearchFailed

    hm = HyperCNN(
        "lenet5",
        input_shape=(32, 32, 1),
        classes=3,
        space={"optimizer": ["adam"], "learning_rate": [3e-3, 1e-3]},
    )
    tuner = keras_tuner.RandomSearch(
        hm,
        objective="val_accuracy",
        max_trials=2,
        seed=0,
        directory=str(tmp_path),
        project_name="failed",
    )
    x, y = quadrants(64, seed=0)
    tuner.search(x[:, 2:30, 2:30], y, validation_split=0.25, epochs=1, verbose=0)
    assert len(tuner.oracle.trials) == 2
    assert {t.status for t in tuner.oracle.trials.values()} <= {"FAILED", "INVALID"}
    with pytest.raises(
        SearchFailed,
        match=r"every trial of the search failed, so it has no best "
        r"model: .*expected shape=\(None, 32, 32, 1\), found "
        r"shape=\(None, 28, 28.*\(2 trials\)",
    ):
        tuner.get_best_models(1)
