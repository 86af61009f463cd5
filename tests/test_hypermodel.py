"""`HyperCNN`, the Python HyperModel over the zoo: the space is conditional on the model and starts at
the papers' choices, a real keras-tuner search over three families records a model that cannot take
the input as a failed trial and goes on, every bad argument is refused before anything is built."""

import keras
import keras_tuner
import numpy as np
import pytest
from conftest import params

from kerascnn.config import ConfigError
from kerascnn.hypermodel import HyperCNN
from kerascnn.zoo import get_model_info


def test_space_is_conditional_on_the_model_and_starts_at_the_papers_choices():
    hm = HyperCNN(["resnet20", "resnet50", "se_resnet50", "lenet5", "densenet"],
                  input_shape=(32, 32, 3), classes=10)
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
    assert hp.values == {"model": "resnet20", "optimizer": "adam", "learning_rate": 1e-3,
                         "resnet.attention": "none", "resnet.dropout": 0.0}
    model = hm.build(keras_tuner.HyperParameters())  # a bare HyperParameters: defaults
    assert model.name == "resnet20" and params(model)[0] == get_model_info("resnet20").params
    assert isinstance(model.optimizer, keras.optimizers.Adam)

    hp.values.update({"model": "resnet20", "resnet.attention": "se", "optimizer": "sgd",
                      "learning_rate": 0.1})
    model = hm.build(hp)
    assert model.get_layer("stage1_block1_se_squeeze") is not None
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.1)


def test_binary_task_has_one_sigmoid_unit():
    hm = HyperCNN("lenet5", input_shape=(32, 32, 1), task="binary",
                  space={"lenet.modern": {"type": "fixed", "value": True}})
    model = hm.build(keras_tuner.HyperParameters())
    assert model.output_shape == (None, 1) and hm.loss == "binary_crossentropy"
    assert model.layers[-1].get_config()["activation"] == "sigmoid"


def quadrants(n, seed):
    """Class k: a bright square in quadrant k of a noisy 32x32 image; one-hot labels."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.normal(0.0, 0.3, (n, 32, 32, 1)).astype("float32")
    for i, k in enumerate(y):
        r, c = divmod(int(k), 2)
        x[i, 16 * r:16 * r + 16, 16 * c:16 * c + 16] += 1.0
    return x, keras.utils.to_categorical(y, 3)


@pytest.mark.slow
def test_search_over_families_records_a_model_too_big_for_the_input(tmp_path):
    """Grid search (every point once): LeNet-5 classic and modern, and AlexNet, whose feature map
    vanishes at 32x32: a failed trial with that reason; the search goes on and its best model
    learned the task. (ResNet-20's options are built in the test above; training it here would
    double the time.)"""
    hm = HyperCNN(["lenet5", "alexnet"], input_shape=(32, 32, 1), classes=3,
                  space={"optimizer": ["adam"], "learning_rate": [3e-3], "lenet.dropout": None,
                         "alexnet.dropout": None, "alexnet.lrn": None})
    tuner = keras_tuner.GridSearch(hm, objective="val_accuracy", directory=str(tmp_path),
                                   project_name="grid", seed=0)
    x, y = quadrants(192, seed=0)
    tuner.search(x, y, validation_split=0.25, epochs=3, batch_size=32, verbose=0)
    trials = list(tuner.oracle.trials.values())
    seen = sorted((t.hyperparameters.values["model"], t.hyperparameters.values.get("lenet.modern"))
                  for t in trials)
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


@pytest.mark.parametrize("args,message", [
    (dict(models=["resnet21"]), r"no model or family named 'resnet21'.*Did you mean .*'resnet20'"),
    (dict(models=[]), "`models` is empty"),
    (dict(space={"resnet.atention": ["se"]}),
     r"the resnet family has no option 'atention'.*Did you mean 'attention'"),
    (dict(space={"resnet.attention": ["none", "cbam"]}),
     r"space\['resnet.attention'\]: the value 'cbam' does not suit resnet20: .*Received: "
     r"attention='cbam'"),
    (dict(models=["se_resnet50"], space={"resnet.attention": ["se"]}),
     r"every chosen resnet model fixes 'attention' \(se_resnet50\)"),
    (dict(space={"vgg.dropout": [0.1]}), r"none of the models \(resnet20\) is of the vgg family"),
    (dict(space={"learning_rate": {"type": "float", "min": 1.0, "max": 0.1}}),
     "min must not exceed max"),
    (dict(space={"learning_rate": {"type": "float", "min": 0.0, "max": 0.1,
                                   "sampling": "log"}}),
     r"space\['learning_rate'\]\['sampling'\]: log sampling needs min > 0"),
    (dict(space={"optimizer": ["rmsprop"]}), "the optimizers are adam, adamw, sgd"),
    (dict(space={"model": ["resnet20"]}), "chosen by the `models` argument"),
    (dict(space={"resnet.dropout": {"type": "float", "low": 0}}), "unknown key 'low'"),
    (dict(space={"googlenet.aux": {"type": "boolean"}}), "has no option 'aux'"),
    (dict(task="binary", classes=3), "task='binary' has one sigmoid output"),
    (dict(task="ordinal"), "`task` must be one of 'multiclass', 'binary', 'multilabel'"),
    (dict(classes=None), "`classes` must be a positive integer"),
    (dict(input_shape=(32, 32)), "`input_shape` is"),
])
def test_bad_arguments_are_refused_with_what_was_received(args, message):
    kwargs = {"models": ["resnet20"], "input_shape": (32, 32, 3), "classes": 10, **args}
    with pytest.raises(ConfigError, match=message):
        HyperCNN(kwargs.pop("models"), **kwargs)
