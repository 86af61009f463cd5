"""The document parsers under hypothesis: whatever a recipe or spec holds, loading it gives a recipe
or a model, or the toolkit's own `ConfigError`; never a traceback from inside Keras, TensorFlow,
tomllib or PyYAML. The strategies draw mostly real keys and plausible values (block names, notation,
small numbers), so the documents get past the first check and reach the deep ones."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import keras
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kerascnn.blocks import BLOCKS, CONV_ARGS
from kerascnn.config import ConfigError
from kerascnn.recipe import SECTIONS, load_recipe
from kerascnn.spec import build_from_spec
from kerascnn.spec.build import STAGE_KEYS, TOP_KEYS

WORDS = [
    "relu",
    "batch",
    "none",
    "avg",
    "max",
    "flatten",
    "same",
    "valid",
    "conv3-8",
    "conv1-4 s2",
    "maxpool",
    "maxpool3 s2",
    "avgpool2",
    "conv3x1-4",
    "fc-8",
    "dropout",
    "sgd",
    "adam",
    "step",
    "cosine",
    "constant",
    "digits",
    "synthetic",
    "folder",
    "tfds",
    "lenet5",
    "resnet20",
    "all",
    "stage1",
    "A",
    "B",
    "se",
    *BLOCKS,
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 70),
    st.floats(-2, 2),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(WORDS),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)


def table(keys):
    return st.dictionaries(
        st.one_of(st.sampled_from(sorted(keys)), st.text(max_size=6)), values, max_size=5
    )


recipes = st.fixed_dictionaries(
    {},
    optional={
        **{
            name: table(f.name for f in dataclasses.fields(section))
            for name, section in SECTIONS.items()
        },
        "name": values,
    },
)

BLOCK_ARGS = sorted(
    {
        *CONV_ARGS,
        "filters",
        "stride",
        "strides",
        "repeats",
        "groups",
        "bottleneck_ratio",
        "growth_rate",
        "layers",
        "cardinality",
        "se_ratio",
        "shortcut",
        "attention",
        "branches",
    }
)
block_items = st.one_of(
    st.sampled_from(WORDS),
    st.text(max_size=10),
    st.dictionaries(
        st.sampled_from(["type", "name", *BLOCK_ARGS]),
        st.one_of(st.sampled_from(sorted(BLOCKS)), st.integers(0, 20), scalars),
        max_size=4,
    ),
)
stages = st.one_of(
    st.fixed_dictionaries(
        {"blocks": st.lists(block_items, min_size=0, max_size=3)}, optional={"name": st.text(max_size=6)}
    ),
    st.fixed_dictionaries(
        {"block": st.sampled_from(sorted(BLOCKS))},
        optional={
            "repeats": st.integers(-1, 3),
            "filters": st.integers(0, 16),
            "stride": st.integers(0, 3),
            "unknown": values,
        },
    ),
    table(STAGE_KEYS),
)
specs = st.fixed_dictionaries(
    {"stages": st.lists(stages, max_size=3)},
    optional={
        "defaults": table(CONV_ARGS),
        "head": table(["pool", "dropout", "hidden", "activation"]),
        "stem": st.lists(block_items, max_size=2),
        "name": values,
        "input_shape": st.one_of(st.just([16, 16, 3]), values),
        "extra": table(TOP_KEYS),
    },
)

FUZZ = settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


@FUZZ
@given(recipes)
def test_random_recipe_documents_give_a_recipe_or_a_config_error(document):
    try:
        load_recipe(document, name="fuzz")
    except ConfigError:
        pass


@FUZZ
@given(st.text(max_size=300), st.sampled_from([".toml", ".yaml"]))
def test_random_recipe_text_gives_a_recipe_or_a_config_error(text, suffix):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"recipe{suffix}"
        path.write_text(text, encoding="utf-8")
        try:
            load_recipe(path)
        except ConfigError:
            pass


@pytest.mark.slow  # 19 s: 40 networks built; the recipe parser's fuzzing stays in the default tier
@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(specs)
def test_random_specs_give_a_model_or_a_config_error(spec):
    try:
        model = build_from_spec(spec, input_shape=(16, 16, 3), classes=3)
    except ConfigError:
        return
    finally:
        keras.backend.clear_session()
    assert all(output.shape[-1] == 3 for output in model.outputs)  # side outputs too


BASE = {
    "model": {"name": "lenet5"},
    "data": {"source": "synthetic", "classes": 3, "samples": 60, "image_size": [32, 32]},
    "train": {"epochs": 1},
    "output": {"dir": "runs/fuzz"},
}
mutations = st.lists(
    st.one_of(
        *[
            st.tuples(
                st.just(name),
                st.sampled_from(sorted(f.name for f in dataclasses.fields(section))),
                values,
            )
            for name, section in SECTIONS.items()
        ]
    ),
    min_size=1,
    max_size=3,
)


@FUZZ
@given(mutations)
def test_a_valid_recipe_with_random_values_gives_a_recipe_or_a_config_error(changes):
    """One to three keys of a valid recipe set to anything: the deep checks (schedules, phases,
    search spaces, augmentation) see values of every type."""
    document = {k: dict(v) for k, v in BASE.items()}
    for section, key, value in changes:
        document.setdefault(section, {})[key] = value
    try:
        load_recipe(document, name="fuzz")
    except ConfigError:
        pass
