"""Validation driven by type annotations: a function's signature is its schema.

Block builders are annotated (`filters: int`, `shortcut: Literal["A", "B", "C"] = "B"`), so a
spec's block
arguments are checked against the very function that will receive them: unknown keys (with a "did
you mean"
hint), missing required keys, wrong types and values outside a `Literal` are all reported before anything
is built, each naming the key path, file and line. The same functions serve recipes.

Supported annotations: `Any`, `int`, `float` (ints accepted), `bool` (never confused with int), `str`,
`None`, `Literal[...]`, unions (`int | None`), `tuple[T, ...]`, `tuple[T1, T2]`, `list[T]`, `dict`.
Lists are returned as tuples where the annotation says tuple.
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, Union

from kerascnn.config.documents import Source
from kerascnn.config.errors import did_you_mean

REQUIRED = inspect.Parameter.empty


class _Mismatch(Exception):
    pass


def describe(tp) -> str:
    """Plain words for an annotation: `int | None` -> 'an integer or none'."""
    if tp is Any:
        return "any value"
    if tp is type(None) or tp is None:
        return "none"
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (Union, types.UnionType):
        return " or ".join(describe(a) for a in args)
    if origin in (tuple, list):
        if origin is list or (len(args) == 2 and args[1] is Ellipsis):
            return f"a list of {_plural(args[0]) if args else 'values'}"
        return (
            f"a list of {len(args)} {_plural(args[0])}"
            if len(set(args)) == 1
            else "a list of (" + ", ".join(describe(a) for a in args) + ")"
        )
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        return "a table of keys"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _plural(tp) -> str:
    words = {int: "integers", float: "numbers", bool: "booleans", str: "strings"}
    return words.get(tp, describe(tp))


def coerce(value, tp):
    """Return `value` checked against annotation `tp` (lists become tuples for tuple annotations).

    Raises:
        _Mismatch: the value does not fit.
    """
    if tp is Any:
        return value
    if tp is type(None) or tp is None:
        if value is None:
            return None
        raise _Mismatch
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Literal:
        for allowed in args:
            if value == allowed and type(value) is type(allowed):
                return value
        raise _Mismatch
    if origin in (Union, types.UnionType):
        for member in args:
            try:
                return coerce(value, member)
            except _Mismatch:
                pass
        raise _Mismatch
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise _Mismatch
        if origin is list or (len(args) == 2 and args[1] is Ellipsis):
            item = args[0] if args else Any
            out = [coerce(v, item) for v in value]
        else:
            if len(value) != len(args):
                raise _Mismatch
            out = [coerce(v, a) for v, a in zip(value, args)]
        return tuple(out) if origin is tuple else out
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise _Mismatch
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _Mismatch
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _Mismatch
    if tp is str:
        if isinstance(value, str):
            return value
        raise _Mismatch
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise _Mismatch


def check_value(value, tp, *, path: tuple, source: Source):
    """`coerce`, raising a located `ConfigError` that says what was expected and received."""
    try:
        return coerce(value, tp)
    except _Mismatch:
        hint = None
        if typing.get_origin(tp) is Literal and isinstance(value, str):
            hint = did_you_mean(value, [a for a in typing.get_args(tp) if isinstance(a, str)])
        raise source.error(
            path, f"expected {describe(tp)}. Received: {value!r}.", hint=hint, value=value
        ) from None


def check_keys(
    data: Mapping, allowed: Iterable[str], *, path: tuple, source: Source, owner: str | None = None
) -> None:
    """Reject any key of `data` not in `allowed`, with a 'did you mean' hint.

    `owner` completes the message: "unknown key 'filterz' for block 'basic'".
    """
    allowed = list(allowed)
    for key in data:
        if key not in allowed:
            hint = did_you_mean(key, allowed) or (
                "allowed: " + ", ".join(allowed) + "." if allowed else "this table takes no keys."
            )
            where = f" for {owner}" if owner else ""
            raise source.error(path + (key,), f"unknown key {key!r}{where}.", hint=hint)


@functools.cache
def parameters(fn: Callable, skip: tuple[str, ...] = ("x", "name")) -> dict[str, inspect.Parameter]:
    """The keyword parameters of `fn` (positional `x` and `name` left out), annotations resolved."""
    hints = typing.get_type_hints(fn)
    out = {}
    for p in inspect.signature(fn).parameters.values():
        if p.name in skip or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        out[p.name] = p.replace(annotation=hints.get(p.name, Any))
    return out


def accepts_var_kwargs(fn: Callable) -> bool:
    return any(p.kind is p.VAR_KEYWORD for p in inspect.signature(fn).parameters.values())


def check_call(
    fn: Callable,
    kwargs: Mapping,
    *,
    path: tuple,
    source: Source,
    extra: Mapping[str, inspect.Parameter] | None = None,
    given: Iterable[str] = (),
    what: str | None = None,
    skip: tuple[str, ...] = ("x", "name"),
) -> dict:
    """Validate `kwargs` for a call of `fn`; return them with types normalised.

    Args:
        fn: the function whose keyword parameters define what is allowed.
        kwargs: the arguments from the document.
        path: where `kwargs` sits in the document.
        source: for file and line.
        extra: further parameters accepted through `fn`'s `**kwargs` (e.g. the convolution
            arguments a block forwards to `conv_bn_act`).
        given: parameter names the caller supplies itself (not required from the document).
        what: how to call `fn` in messages, e.g. "block 'bottleneck'".
        skip: parameters the document never gives (a block's tensor `x` and its `name`).
    """
    params = dict(parameters(fn, skip))
    for key, p in (extra or {}).items():
        params.setdefault(key, p)
    what = what or f"{fn.__name__}()"
    check_keys(kwargs, [k for k in params if k not in given], path=path, source=source, owner=what)
    out = {}
    for key, value in kwargs.items():
        out[key] = check_value(value, params[key].annotation, path=path + (key,), source=source)
    missing = [
        k for k, p in params.items() if p.default is REQUIRED and k not in kwargs and k not in given
    ]
    if missing:
        raise source.error(
            path,
            f"{what} needs {', '.join(repr(m) for m in missing)}.",
            hint=f"add {missing[0]} = ({describe(params[missing[0]].annotation)}).",
        )
    return out
