"""Reading a recipe: the document parsed safely (TOML or YAML), `--set` overrides applied, every
table validated against the schema, then the checks types cannot make; `with_values` is the same
with values set (a search trial's recipe, the best one)."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

from kerascnn.config import ConfigError, Source, check_call, check_keys, load_document
from kerascnn.config.errors import did_you_mean
from kerascnn.config.limits import MAX_DEPTH, MAX_VALUES, check_nesting
from kerascnn.recipe.checks import check_finetune, check_semantics, parse_phase
from kerascnn.recipe.document import Recipe
from kerascnn.recipe.schema import OPTIONAL, SECTIONS, TOP_LEVEL, AugmentSection
from kerascnn.recipe.shipped import find_recipe
from kerascnn.recipe.space import check_tune, parse_space

__all__ = ["load_recipe", "apply_override", "validate_recipe", "with_values"]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def load_recipe(
    source: str | Path | dict, overrides: list[str] | tuple[str, ...] = (), *, name: str | None = None
) -> Recipe:
    """Read, override and validate a recipe (a file path or a dict).

    Raises:
        ConfigError: with file, line and key for anything wrong, before anything is built or read.
    """
    if isinstance(source, dict):
        document, src, path = copy.deepcopy(source), Source(), None
    else:
        path = Path(source)
        document, src = load_document(path)
    for text in overrides:
        key = apply_override(document, text)
        src.overrides[key] = text.strip()
    return validate_recipe(document, src, path=path, name=name)


# A run's length is train.epochs or train.iterations: an override of either replaces the other.
LENGTHS = {("train", "epochs"): "iterations", ("train", "iterations"): "epochs"}


def as_recipe(recipe: Recipe | str | Path | dict, overrides=()) -> Recipe:
    """A `Recipe` from what the verbs accept: a loaded one, a file, the name of a shipped recipe
    ("lenet5_digits") or a dict; `overrides` as `--set` takes them ("train.epochs=3")."""
    if isinstance(recipe, Recipe):
        if overrides:
            raise ValueError(
                "overrides apply to a recipe file or dict; this Recipe is loaded "
                "already: load_recipe(path, overrides)."
            )
        return recipe
    if isinstance(recipe, dict):
        return load_recipe(recipe, list(overrides))
    if isinstance(recipe, (str, Path)):
        return load_recipe(find_recipe(recipe), list(overrides))
    raise TypeError(
        f"`recipe` is a Recipe, a file, a shipped recipe's name or a dict. Received: "
        f"{type(recipe).__name__}."
    )


def apply_override(document: dict, text: str) -> tuple[str, ...]:
    """`train.epochs=3` -> document["train"]["epochs"] = 3 (the value read as TOML); returns the
    key path. `train.epochs` replaces a recipe's `train.iterations`, and the other way round."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    parts = key.split(".")
    if not sep or not key or not all(parts):
        raise ConfigError(f"--set expects KEY=VALUE such as train.epochs=3. Received: {text!r}.")
    if parts[0] not in TOP_LEVEL:
        raise ConfigError(
            f"--set {key}: unknown table {parts[0]!r}.",
            hint=did_you_mean(parts[0], TOP_LEVEL) or f"the tables are {', '.join(SECTIONS)}.",
        )
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare word: a string
    except RecursionError:  # TOML's parser recursed past Python's limit: far past ours
        raise ConfigError(
            f"the document nests deeper than {MAX_DEPTH} levels, kerascnn's limit "
            f"for a recipe; refused.",
            file=f"--set {key}",
        ) from None
    check_nesting(value, file=f"--set {key}", what="a recipe", values=MAX_VALUES)
    node = document
    path: tuple = ()
    for i, part in enumerate(parts):
        if isinstance(node, list):  # finetune.phases.1.epochs: an index into an array of tables
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(
                    f"--set {key}: {'.'.join(parts[:i])} has {len(node)} entries, "
                    f"numbered from 0. Received: {part!r}."
                )
            part = int(part)
        elif not isinstance(node, dict):
            raise ConfigError(f"--set {key}: {'.'.join(parts[:i])} is not a table.")
        path += (part,)
        if i == len(parts) - 1:
            node[part] = value
            if path in LENGTHS and isinstance(node, dict):  # the run's length, said once
                node.pop(LENGTHS[path], None)
        elif isinstance(node, dict):
            node = node.setdefault(part, {})
        else:
            node = node[part]
    return path


def validate_recipe(
    document: dict, source: Source | None = None, *, path: Path | None = None, name: str | None = None
) -> Recipe:
    """Validate a recipe document (already read and overridden) into a `Recipe`.

    Raises:
        ConfigError: the first problem, located by key path (and file and line from `source`).
    """
    source = source or Source()
    check_keys(document, TOP_LEVEL, path=(), source=source, owner="a recipe")
    sections = {key: None for key in OPTIONAL}
    for key, cls in SECTIONS.items():
        if key in OPTIONAL and key not in document:
            continue
        raw = document.get(key, {})
        if not isinstance(raw, dict):
            raise source.error((key,), f"[{key}] must be a table. Received: {raw!r}.")
        if key == "data" and "source" not in raw:
            raise source.error(
                (key,),
                "the recipe needs [data] with a `source`.",
                hint='source = "digits", "synthetic", "folder" or "tfds".',
            )
        sections[key] = cls(**check_call(cls, raw, path=(key,), source=source, what=f"[{key}]", skip=()))
    phases = ()
    if sections["finetune"] is not None:
        phases = tuple(parse_phase(raw, i, source) for i, raw in enumerate(sections["finetune"].phases))
    augment_raw = sections["data"].augment
    augment = AugmentSection(
        **check_call(
            AugmentSection,
            augment_raw,
            path=("data", "augment"),
            source=source,
            what="[data.augment]",
            skip=(),
        )
    )
    recipe_name = name or document.get("name") or (path.stem if path else "recipe")
    if not isinstance(recipe_name, str):
        raise source.error(("name",), f"expected a string. Received: {recipe_name!r}.")
    recipe = Recipe(
        name=recipe_name,
        model=sections["model"],
        data=sections["data"],
        augment=augment,
        train=sections["train"],
        output=sections["output"],
        document=document,
        source=source,
        path=path,
        description=str(document.get("description", "")),
        finetune=sections["finetune"],
        phases=phases,
        tune=sections["tune"],
        space=parse_space(sections["tune"], source),
    )
    check_semantics(recipe)
    if recipe.finetune is not None:
        check_finetune(recipe)
    if recipe.tune is not None:
        check_tune(recipe, with_values)
    return recipe


def with_values(recipe: Recipe, values: dict) -> Recipe:
    """The recipe with `values` ({"train.learning_rate": 0.01, ...}) set, validated anew, without
    its [tune] (a trial's recipe, or the best one)."""
    document = copy.deepcopy(recipe.document)
    document.pop("tune", None)
    for key, value in values.items():
        node = document
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = list(value) if isinstance(value, tuple) else value
    return validate_recipe(document, recipe.source, path=recipe.path, name=recipe.name)
