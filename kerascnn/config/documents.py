"""Reading spec and recipe files safely, remembering where every key stands.

Only data parsers are used: `tomllib` for TOML and a `yaml.SafeLoader` subclass for YAML. YAML tags that
would build Python objects (`!!python/object`, ...) are refused, and so are duplicate keys (TOML forbids
them; PyYAML would silently keep the last one). What a document may cost is bounded before anything
uses it (`kerascnn.config.limits`): its size, its nesting depth, and the number of values it holds
with YAML's aliases expanded (a "billion laughs" document of 1.5 KB is refused, not expanded).

A `Source` maps key paths to line numbers so that any later validation error can say `file:line`.
For TOML, whose standard parser keeps no positions, the map comes from a light scan of the text (table
headers and `key =` lines); a value inside an inline table or a multi-line array is located by searching
for its text after its key's line.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kerascnn.config.errors import ConfigError
from kerascnn.config.limits import MAX_DEPTH, MAX_DOCUMENT_BYTES, MAX_VALUES, check_nesting, read_bounded

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

SUFFIXES = {".toml": "toml", ".yaml": "yaml", ".yml": "yaml"}


@dataclass
class Source:
    """Where a document came from, and the line of each key path in it."""

    file: str | None = None
    lines: dict[tuple, int] = field(default_factory=dict)
    text: list[str] = field(default_factory=list)
    overrides: dict[tuple, str] = field(default_factory=dict)  # key path -> the `--set` that set it

    def line_of(self, path: tuple, value: Any = None) -> int | None:
        """The line of `path`; else of its nearest located ancestor, refined by searching for `value`."""
        path = tuple(path)
        if path in self.lines:
            return self.lines[path]
        for cut in range(len(path) - 1, -1, -1):
            if path[:cut] in self.lines:
                start = self.lines[path[:cut]]
                if isinstance(value, str) and value:
                    for quote in ('"', "'"):
                        needle = f"{quote}{value}{quote}"
                        for i in range(start - 1, len(self.text)):
                            if needle in self.text[i]:
                                return i + 1
                return start
        return None

    def error(
        self, path: tuple, message: str, *, hint: str | None = None, value: Any = None
    ) -> ConfigError:
        """A `ConfigError` for `path`, located in this source (or in the `--set` that gave it)."""
        path = tuple(path)
        for cut in range(len(path), 0, -1):
            if path[:cut] in self.overrides:
                return ConfigError(
                    message, path=path, hint=hint, origin=f"--set {self.overrides[path[:cut]]}"
                )
        return ConfigError(message, path=path, file=self.file, line=self.line_of(path, value), hint=hint)


def load_document(path: str | Path) -> tuple[dict, Source]:
    """Parse a `.toml`, `.yaml` or `.yml` file into a dict and its `Source`.

    Raises:
        ConfigError: the file is missing or unreadable, has another suffix, is not valid TOML/YAML,
            repeats a key, uses a YAML tag, or its top level is not a table.
    """
    path = Path(path)
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ConfigError(
            f"unsupported file type {path.suffix!r}. Allowed: .toml, .yaml, .yml.", file=str(path)
        )
    try:
        text = read_bounded(path, MAX_DOCUMENT_BYTES, what="a recipe or spec").decode("utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found.", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read the file: {e}.", file=str(path)) from None
    return loads(text, kind=kind, file=str(path))


def loads(text: str, *, kind: str, file: str | None = None) -> tuple[dict, Source]:
    """Parse TOML or YAML text (`kind` is "toml" or "yaml") into a dict and its `Source`, within
    the limits of `kerascnn.config.limits` (size, nesting, values)."""
    if len(text) > MAX_DOCUMENT_BYTES:
        raise ConfigError(
            f"the document is larger than {MAX_DOCUMENT_BYTES >> 20} MiB, kerascnn's "
            f"limit for a recipe or spec; refused.",
            file=file,
        )
    if kind == "toml":
        data, lines = _load_toml(text, file)
    elif kind == "yaml":
        data, lines = _load_yaml(text, file)
    else:
        raise ValueError(f"kind must be 'toml' or 'yaml'. Received: kind={kind!r}")
    if not isinstance(data, dict):
        raise ConfigError(
            f"the document must be a table of keys, not {type(data).__name__}.", file=file, line=1
        )
    return data, Source(file=file, lines=lines, text=text.splitlines())


# --- TOML -------------------------------------------------------------------------------------------

_TOML_LINE = re.compile(r"at line (\d+)")
_HEADER = re.compile(r"^\s*(\[\[|\[)\s*(.+?)\s*(\]\]|\])\s*(#.*)?$")
_KEY_PART = r"(?:[A-Za-z0-9_-]+|\"(?:[^\"\\]|\\.)*\"|'[^']*')"
_KEY = re.compile(rf"^\s*({_KEY_PART}(?:\s*\.\s*{_KEY_PART})*)\s*=")


def _split_key(key: str) -> tuple[str, ...]:
    parts = re.findall(_KEY_PART, key)
    return tuple(p[1:-1] if p[:1] in "\"'" else p for p in parts)


def _load_toml(text: str, file: str | None) -> tuple[Any, dict]:
    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise _too_deep(file) from None
    except tomllib.TOMLDecodeError as e:
        line = getattr(e, "lineno", None)
        if line is None:
            found = _TOML_LINE.search(str(e))
            line = int(found.group(1)) if found else None
        message = str(e).split(" (at line")[0]
        if "overwrite" in message.lower() or "duplicate" in message.lower():
            message = "a key is defined twice (TOML forbids duplicate keys): " + message
        raise ConfigError(f"invalid TOML: {message}.", file=file, line=line) from None
    check_nesting(data, file=file, what="a recipe or spec", values=MAX_VALUES)
    return data, _toml_lines(text)


def _too_deep(file) -> ConfigError:
    return ConfigError(
        f"the document nests deeper than {MAX_DEPTH} levels, kerascnn's limit for "
        f"a recipe or spec; refused.",
        file=file,
    )


def _toml_lines(text: str) -> dict[tuple, int]:
    lines: dict[tuple, int] = {}
    arrays: dict[tuple, int] = {}  # array-of-tables path -> number of entries seen so far

    def resolve(parts):
        out: tuple = ()
        for part in parts:
            out += (part,)
            if out in arrays:
                out += (arrays[out] - 1,)
        return out

    current: tuple = ()
    in_string = None
    for number, raw in enumerate(text.splitlines(), start=1):
        if in_string:  # inside a multi-line string: nothing here is a key
            if raw.count(in_string) % 2 == 1:
                in_string = None
            continue
        header = _HEADER.match(raw)
        if header and header.group(1) == "[[" and header.group(3) == "]]":
            parts = _split_key(header.group(2))
            base = resolve(parts[:-1]) + (parts[-1],)
            arrays[base] = arrays.get(base, 0) + 1
            lines.setdefault(base, number)
            current = base + (arrays[base] - 1,)
            lines[current] = number
            continue
        if header and header.group(1) == "[" and header.group(3) == "]":
            current = resolve(_split_key(header.group(2)))
            lines.setdefault(current, number)
            continue
        key = _KEY.match(raw)
        if key:
            lines[current + _split_key(key.group(1))] = number
            for quote in ('"""', "'''"):
                if raw.count(quote) % 2 == 1:
                    in_string = quote
    return lines


# --- YAML -------------------------------------------------------------------------------------------


class _SafeLoader(yaml.SafeLoader):
    """PyYAML's safe loader; tags that construct Python objects stay unknown to it and fail."""


def _load_yaml(text: str, file: str | None) -> tuple[Any, dict]:
    try:
        loader = _SafeLoader(text)  # reads the text at once: a control character fails here
    except yaml.YAMLError as e:
        raise ConfigError(f"invalid YAML: {e}.", file=file) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        _measure_yaml(node, 1, {}, file)  # before anything expands or walks it
        lines: dict[tuple, int] = {}
        _walk_yaml(node, (), lines, file, set())
        return loader.construct_document(node), lines
    except RecursionError:  # the parser's own recursion, on a document nested past our limit
        raise _too_deep(file) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        problem = e.problem or str(e)
        if "constructor for the tag" in problem:
            problem = (
                "YAML tags that build Python objects are not allowed; "
                "a spec or recipe holds plain data only (" + problem + ")"
            )
        raise ConfigError(f"invalid YAML: {problem}.", file=file, line=line) from None
    except yaml.YAMLError as e:
        raise ConfigError(f"invalid YAML: {e}.", file=file) from None
    finally:
        loader.dispose()


def _measure_yaml(node, level: int, memo: dict, file) -> int:
    """How many values the node holds with every alias expanded, without expanding any (each node
    is counted once and its count reused wherever an alias repeats it); a `ConfigError` past
    `MAX_VALUES` values or `MAX_DEPTH` levels (aliases included), and for an alias of itself."""
    if level > MAX_DEPTH:
        raise _too_deep(file)
    known = memo.get(id(node))
    if known is not None:
        count, depth = known
        if level + depth - 1 > MAX_DEPTH:
            raise _too_deep(file)
        return count
    if isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    else:
        children = []
    count, depth = 1, 1
    for child in children:
        count += _measure_yaml(child, level + 1, memo, file)
        depth = max(depth, 1 + memo[id(child)][1])
        if count > MAX_VALUES:
            raise ConfigError(
                f"the document holds more than {MAX_VALUES:,} values once its YAML "
                f"aliases are expanded (an alias bomb?), kerascnn's limit for a "
                f"recipe or spec; refused unexpanded.",
                file=file,
                line=node.start_mark.line + 1,
            )
    memo[id(node)] = (count, depth)
    return count


def _walk_yaml(node, path: tuple, lines: dict, file, seen: set) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if id(node) in seen:  # an alias: already walked once; never walk it again
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        keys: dict = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key is not None and key != "<<":
                if key in keys:
                    raise ConfigError(
                        f"duplicate key {key!r} (first defined on line {keys[key]}).",
                        path=path + (key,),
                        file=file,
                        line=key_node.start_mark.line + 1,
                    )
                keys[key] = key_node.start_mark.line + 1
                lines[path + (key,)] = key_node.start_mark.line + 1
            _walk_yaml(value_node, path + ((key,) if key not in (None, "<<") else ()), lines, file, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk_yaml(item, path + (i,), lines, file, seen)
