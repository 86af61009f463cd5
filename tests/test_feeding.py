"""How a trained model is fed is one record (`kerascnn.data.feeding.Feeding`) in one form: a run's
data.json, the kerascnn.json member of a ported `.keras` file and an export's preprocessing.json are
the same flat object, and the nested form `kerascnn port` wrote before still reads."""

from __future__ import annotations

import json

from kerascnn.data import Preprocessing
from kerascnn.data.feeding import Feeding
from kerascnn.zoo.weights import PRETRAINED

PRE = Preprocessing((224, 224, 3), (256, 256), "shorter", (123.7, 116.3, 103.5), (58.4, 57.1, 57.4))


def test_a_run_s_data_json_reads_back_whole():
    written = {
        "description": "glyphs",
        "sizes": {"train": 90, "val": 30, "test": 30},
        "classes": 3,
        "class_names": ["a", "b", "c"],
        **PRE.to_dict(),
    }
    feeding = Feeding.from_dict(json.loads(json.dumps(written)))
    assert feeding.preprocessing == PRE
    assert feeding.class_names == ("a", "b", "c") and feeding.names(3) == ["a", "b", "c"]
    assert feeding.details == {"description": "glyphs", "sizes": written["sizes"], "classes": 3}
    assert feeding.to_dict() == written  # the same keys and values: data.json keeps its form


def test_the_nested_form_port_wrote_before_reads_as_the_one_record():
    card = PRETRAINED["resnet18"]
    legacy = {"preprocessing": card.preprocessing(224, 3), **card.to_dict(), "assumed": "a note"}
    feeding = Feeding.from_dict(legacy)
    assert feeding.preprocessing == Preprocessing.from_dict(card.preprocessing(224, 3))
    assert feeding.class_names is None and feeding.names(2) == ["0", "1"]
    assert feeding.details == {"source": card.to_dict(), "assumed": "a note"}
    flat = feeding.to_dict()  # what port writes now: the preprocessing flat, the card as `source`
    assert "preprocessing" not in flat and flat["mean"] == card.preprocessing(224, 3)["mean"]
    assert Feeding.from_dict(flat) == feeding


def test_an_export_s_record_is_the_same_object_with_its_input():
    feeding = Feeding(PRE, ("cat", "dog"), {"input": "network input"})
    record = json.loads(feeding.to_json())
    assert record == {"input": "network input", "class_names": ["cat", "dog"], **PRE.to_dict()}
    assert Feeding.from_dict(record) == feeding


def test_a_data_json_that_does_not_say_how_to_feed_is_one_clear_error(tmp_path):
    import pytest

    from kerascnn.config import ConfigError
    from kerascnn.runs.rundir import RunDir

    (tmp_path / "data.json").write_text('{"class_names": ["a", "b"]}')
    with pytest.raises(
        ConfigError, match=r"data.json does not say how the run's model is fed \(no 'input_shape'\)"
    ):
        Feeding.read(RunDir(tmp_path).data)
