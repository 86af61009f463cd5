"""A recipe's search space (`[tune]`, `[tune.space]`): its entries parsed and checked on their own,
and every end of every range tried as a value of the recipe (`check_tune`, given the function that
sets values on a recipe and validates it anew)."""

from __future__ import annotations

from kerascnn.config import ConfigError, Source, check_call
from kerascnn.config.errors import did_you_mean
from kerascnn.config.limits import MAX_EPOCHS
from kerascnn.recipe.schema import SpaceEntry, TuneSection

__all__ = ["parse_space", "space_points", "space_entry_problem", "check_tune"]


def parse_space(tune: TuneSection | None, source: Source) -> dict[str, SpaceEntry]:
    if tune is None:
        return {}
    out = {}
    for key, raw in tune.space.items():
        path = ("tune", "space", key)
        if not isinstance(raw, dict):
            raise source.error(
                path,
                f'each tuned key takes a table such as {{type = "choice", '
                f"values = [...]}}. Received: {raw!r}.",
            )
        out[key] = SpaceEntry(
            **check_call(SpaceEntry, raw, path=path, source=source, what="a tuned key", skip=())
        )
    return out


def space_points(space: dict[str, SpaceEntry]) -> list[tuple[str, object]]:
    """(key, value) pairs that together cover every end of a search space: each choice, each
    range's min and max, both booleans, the fixed values."""
    points = []
    for key, entry in space.items():
        if entry.type == "choice":
            points += [(key, v) for v in entry.values]
        elif entry.type in ("int", "float"):
            cast = int if entry.type == "int" else float
            points += [(key, cast(entry.min)), (key, cast(entry.max))]
        elif entry.type == "boolean":
            points += [(key, True), (key, False)]
        else:
            points.append((key, entry.value))
    return points


def space_entry_problem(entry: SpaceEntry) -> tuple[tuple, str] | None:
    """What is wrong with one search-space entry on its own, as (sub-path, message); None if
    nothing. Shared by `[tune.space]` and `kerascnn.tuning.hypermodel.HyperCNN(space=...)`."""
    needs = {
        "choice": ("values",),
        "int": ("min", "max"),
        "float": ("min", "max"),
        "fixed": ("value",),
        "boolean": (),
    }[entry.type]
    missing = [n for n in needs if getattr(entry, n) is None]
    if missing:
        return (), f"type {entry.type!r} needs {' and '.join(missing)}."
    if entry.type == "choice":
        kinds = {type(v) for v in entry.values}
        if not entry.values or len(kinds) > 1 or not kinds <= {int, float, str, bool}:
            return ("values",), (
                f"give one or more values of one kind (numbers, strings or "
                f"booleans). Received: {list(entry.values)}."
            )
    if entry.type in ("int", "float"):
        if entry.min > entry.max:
            return (), f"min must not exceed max. Received: min {entry.min}, max {entry.max}."
        if entry.sampling != "linear" and entry.min <= 0:
            return ("sampling",), (
                f"{entry.sampling} sampling needs min > 0. Received: min {entry.min}."
            )
        if entry.type == "int" and any(
            v is not None and v != int(v) for v in (entry.min, entry.max, entry.step)
        ):
            return (), "an int range needs whole min, max and step."
    return None


def check_tune(r, with_values) -> None:
    """The search space: every key a recipe key, every end of every range a valid value for it
    (checked one at a time on the recipe; combinations are the trials' business)."""
    t = r.tune
    for key, value in [
        ("max_trials", t.max_trials),
        ("executions_per_trial", t.executions_per_trial),
        ("max_consecutive_failed_trials", t.max_consecutive_failed_trials),
        ("hyperband_iterations", t.hyperband_iterations),
        ("max_epochs", t.max_epochs or 1),
    ]:
        if value < 1:
            raise r.error(("tune", key), f"must be a positive integer. Received: {value!r}.")
    if t.max_trials > MAX_EPOCHS:  # results.csv: a row a trial, its readers bounded by this
        raise r.error(
            ("tune", "max_trials"), f"must be at most {MAX_EPOCHS:,}. Received: {t.max_trials!r}."
        )
    if t.factor < 2:
        raise r.error(("tune", "factor"), f"must be 2 or more. Received: {t.factor!r}.")
    objectives = ["val_accuracy", "val_loss", "accuracy", "loss"]
    if t.objective not in objectives:
        raise r.error(
            ("tune", "objective"),
            f"must be a metric the training logs: {', '.join(objectives)}. Received: {t.objective!r}.",
            hint=did_you_mean(t.objective, objectives),
        )
    if t.objective.startswith("val_") and r.data.validation_split == 0 and r.data.source != "tfds":
        raise r.error(
            ("tune", "objective"), f"{t.objective!r} needs validation data; data.validation_split is 0."
        )
    if not r.space:
        raise r.error(
            ("tune", "space"),
            "nothing to tune: give [tune.space] at least one key.",
            hint='"train.learning_rate" = {type = "float", min = 1e-4, max = 0.1, sampling = "log"}.',
        )
    for key, entry in r.space.items():
        path = ("tune", "space", key)
        root = key.split(".")[0]
        if root not in ("model", "data", "train", "finetune") or "." not in key:
            raise r.error(
                path,
                f"a tuned key is a recipe key path such as "
                f'"train.learning_rate" in [model], [data], [train] or '
                f"[finetune]. Received: {key!r}.",
            )
        problem = space_entry_problem(entry)
        if problem:
            raise r.error(path + problem[0], problem[1])
    for key, value in space_points(r.space):
        try:
            with_values(r, {key: value})
        except ConfigError as e:
            raise r.error(
                ("tune", "space", key), f"the value {value!r} does not make a valid recipe: {e}"
            ) from None
