"""How a trained model is fed, in one form wherever kerascnn writes it down: the network's input
(`Preprocessing`: size, resize, crop, interpolation, mean, std, BGR), the class names,
and what else the writer knows, as one flat JSON object:

- a run directory's `data.json` (with the data's `description`, split `sizes` and `classes`),
- the `kerascnn.json` member of a `.keras` file that `kerascnn port` writes (with the weights' card
  as `source`, and `assumed` when kerascnn had to assume how they are fed),
- the `<artefact>.preprocessing.json` beside an export (with what its `input` is).

`Feeding.from_dict` also reads the form `kerascnn port` wrote before this record (the preprocessing
nested under "preprocessing", the card's fields beside it), so those files load as they did.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path

from kerascnn.config import ConfigError
from kerascnn.config.limits import read_json_object
from kerascnn.data.preprocessing import Preprocessing

__all__ = ["Feeding", "NORMALIZATIONS"]

# How a bare model's images are normalized when no record says: x / 255, the ImageNet mean and std,
# Caffe's BGR minus the mean (ported VGG and ResNet weights), [-1, 1], or as they are.
NORMALIZATIONS = ("unit", "imagenet", "caffe", "tf", "none")


@dataclass(frozen=True)
class Feeding:
    """How to feed a trained model raw images.

    Attributes:
        preprocessing: `kerascnn.data.Preprocessing`.
        class_names: one name per output, or None (then the classes are numbered).
        details: the rest of the record, kept as written (`description`, `sizes`, `classes` of a
            run's data; `source` and `assumed` of ported weights; `input` of an export).
    """

    preprocessing: object
    class_names: tuple[str, ...] | None = None
    details: dict = field(default_factory=dict)

    @classmethod
    def read(cls, path: str | Path) -> Feeding:
        """A run's data.json (`RunDir(run).data`): one clear error when it does not say how the
        run's model is fed."""
        record = read_json_object(path)
        try:
            return cls.from_dict(record)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            what = f"no {e.args[0]!r}" if isinstance(e, KeyError) else str(e)
            raise ConfigError(
                f"{path} does not say how the run's model is fed ({what}): not a data.json "
                f"kerascnn wrote."
            ) from None

    @classmethod
    def recorded(cls, record: dict | None) -> Feeding | None:
        """The record a `.keras` archive holds (`kerascnn.runs.saving.read_feeding`), or None when
        there is none or it is not one kerascnn wrote."""
        if record is None:
            return None
        try:
            return cls.from_dict(record)
        except (KeyError, TypeError, ValueError, AttributeError):
            return None

    @classmethod
    def from_dict(cls, record: dict) -> Feeding:
        record = dict(record)
        nested = record.pop("preprocessing", None)
        if isinstance(nested, dict):  # kerascnn.json as `kerascnn port` wrote it before this record
            kept = {k: record.pop(k) for k in ("class_names", "assumed") if k in record}
            record = {**nested, **kept, "source": record}
        names = record.get("class_names")
        own = {f.name for f in fields(Preprocessing)} | {"class_names"}
        return cls(
            preprocessing=Preprocessing.from_dict(record),
            class_names=tuple(str(n) for n in names) if names else None,
            details={k: v for k, v in record.items() if k not in own},
        )

    def to_dict(self) -> dict:
        record = dict(self.details)
        if self.class_names is not None:
            record["class_names"] = list(self.class_names)
        record.update(self.preprocessing.to_dict())
        return record

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def names(self, classes: int) -> list[str]:
        """The class names, or "0" ... "classes - 1" where the record has none."""
        return list(self.class_names) if self.class_names else [str(i) for i in range(classes)]
