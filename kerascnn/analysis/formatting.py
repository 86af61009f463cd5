"""Numbers, shapes and Markdown tables as kerascnn's reports print them (a profile's own table and
several profiles side by side share them)."""

from __future__ import annotations


def human(n: float | None, unit: str = "") -> str:
    """1234567 -> '1.23M'; bytes with unit='B' -> '4.71 MiB'."""
    if n is None:
        return "not counted"
    if unit == "B":
        for suffix in ("B", "KiB", "MiB", "GiB", "TiB"):
            if abs(n) < 1024 or suffix == "TiB":
                return f"{n:.0f} {suffix}" if suffix == "B" else f"{n:.2f} {suffix}"
            n /= 1024
    for suffix, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{suffix}"
    return f"{n:g}"


def axes(values) -> str:
    return "" if values is None else "x".join(map(str, values))


def shapes(shapes) -> str:
    return " ".join("(" + ", ".join(map(str, s)) + ")" for s in shapes)


def markdown_table(columns, rows, left: int) -> list[str]:
    """Markdown lines; the first `left` columns left-aligned, the numbers right-aligned."""

    def line(cells):
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    rule = "|" + "|".join("---" if i < left else "--:" for i in range(len(columns))) + "|"
    return [line(columns), rule] + [line(row) for row in rows]
