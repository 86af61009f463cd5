"""Report pages from Jinja2 templates (`kerascnn/report/templates/`). Jinja2 rather than strings
built by hand: autoescaping is on for every value, and a class name, a file name or a recipe's text
is a user's (a folder named `<script>` is shown, never run); the three pages share one layout.

A page kerascnn wrote begins with `MARK`: `kerascnn report` writes over its own pages and refuses
to write over any other file."""

from __future__ import annotations

from pathlib import Path

from kerascnn.analysis.formatting import human
from kerascnn.config import ConfigError
from kerascnn.runs.rundir import write_atomic

__all__ = ["render", "write_page", "MARK"]

MARK = "<!-- kerascnn report -->"


def _environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("kerascnn.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a name the template expects and the page lacks: an error
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["number"] = _number
    env.filters["share"] = lambda v: "" if v is None else f"{float(v):.1%}"
    env.filters["fixed"] = lambda v, d=4: "" if v in (None, "") else f"{float(v):.{d}f}"
    return env


def _number(value, unit: str = "") -> str:
    """12345678 -> "12.3M", bytes with unit="B" -> "4.71 MiB" (`kerascnn.analysis.formatting`)."""
    return "" if value in (None, "") else human(float(value), unit)


def render(template: str, **values) -> str:
    return MARK + "\n" + _environment().get_template(template).render(**values)


def write_page(target: Path, text: str) -> Path:
    """Write a page, over a page kerascnn wrote but over nothing else."""
    target = Path(target)
    if target.exists():
        with open(target, encoding="utf-8", errors="replace") as f:
            ours = f.read(len(MARK)) == MARK
        if not ours:
            raise ConfigError(
                f"{target} exists and is not a page kerascnn wrote: not overwritten.",
                hint="give another --out.",
            )
    if target.suffix.lower() not in (".html", ".htm"):
        raise ConfigError(f"a report is an .html file. Received: {str(target)!r}.")
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, text)
    return target
