"""The toolkit's one error type for bad specs and recipes.

Every problem found in a user's document is a `ConfigError`: it names the file and line where known,
the key path (`stages[1].filters`), what was received and what is allowed, and a hint where one helps.
It subclasses `ValueError`, so code that catches `ValueError` keeps working.
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
from collections.abc import Iterable, Sequence

# Where the user is: the `kerascnn` command line or Python. Advice names an option as they would
# write it there (`--restart` or `restart=True`); the command line sets it for the command's run.
_SURFACE = contextvars.ContextVar("kerascnn_surface", default="python")


@contextlib.contextmanager
def on_command_line():
    """Inside the block, `option` spells options as the `kerascnn` command takes them."""
    token = _SURFACE.set("cli")
    try:
        yield
    finally:
        _SURFACE.reset(token)


def option(name: str, value=None, *, python: str | None = None) -> str:
    """An option as the user writes it where they are (the command line, or Python):
    `option("normalize")` names it (`--normalize`, `normalize`); `option("restart", True)` is
    `--restart` or `restart=True`; `option("normalize", "unit")` is `--normalize unit` or
    `normalize='unit'`. `python`: the argument's name in Python where it differs from the flag's."""
    if _SURFACE.get() == "cli":
        flag = "--" + name.replace("_", "-")
        return flag if value is None or value is True else f"{flag} {value}"
    name = python or name
    return name if value is None else f"{name}={value!r}"


def format_path(path: Sequence) -> str:
    """`("stages", 1, "filters")` -> `"stages[1].filters"`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def first_line(error: BaseException) -> str:
    """An exception's message in one line, for a plain error built on top of it (its class name
    when it has no message)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def did_you_mean(word: str, allowed: Iterable[str]) -> str | None:
    """A 'did you mean' hint for a misspelt key or name, or None when nothing is close."""
    by_lower = {}
    for option in allowed:
        by_lower.setdefault(str(option).lower(), str(option))
    close = difflib.get_close_matches(str(word).lower(), list(by_lower), n=3, cutoff=0.6)
    if not close:
        return None
    return "did you mean " + " or ".join(repr(by_lower[c]) for c in close) + "?"


class ConfigError(ValueError):
    """A problem in a spec or recipe, located as precisely as the input allows.

    Attributes:
        message: what is wrong, in plain words (includes what was received).
        path: the key path inside the document, e.g. `("stages", 1, "filters")`.
        file: the document's file name, when it came from a file.
        line: the 1-based line number in that file, when known.
        hint: a suggestion ("did you mean 'filters'?", the allowed values, ...).
        origin: where the value came from when not from the file, e.g. "--set train.epochs=0".
    """

    def __init__(
        self,
        message: str,
        *,
        path: Sequence = (),
        file: str | None = None,
        line: int | None = None,
        hint: str | None = None,
        origin: str | None = None,
    ):
        self.message = message
        self.path = tuple(path)
        self.file = file
        self.line = line
        self.hint = hint
        self.origin = origin
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.origin:
            where = f"{self.origin}: "
        elif self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        elif self.line:
            where = f"line {self.line}: "
        key = f"{format_path(self.path)}: " if self.path else ""
        hint = f" Hint: {self.hint[0].upper()}{self.hint[1:]}" if self.hint else ""
        return f"{where}{key}{self.message}{hint}"
