"""A `Profile` as people read it (a rich table, Markdown, CSV, JSON) and several side by side, with the
classic parameters-versus-multiply-adds chart."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: Profile renders itself through this module
    from kerascnn.analysis.profile import Profile

COLUMNS = ("layer", "type", "output shape", "params", "MACs", "activations", "memory", "RF",
           "stride")


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


def _axes(values) -> str:
    return "" if values is None else "x".join(map(str, values))


def _shape(shapes) -> str:
    return " ".join("(" + ", ".join(map(str, s)) + ")" for s in shapes)


def rows_for_display(profile: Profile) -> list[list[str]]:
    return [[r.name, r.type, _shape(r.output_shapes), f"{r.params:,}" if r.params else "",
             "not counted" if r.macs is None else (human(r.macs) if r.macs else ""),
             human(r.activations), "in place" if r.inplace else human(r.activation_bytes, "B"),
             _axes(r.receptive_field),
             _axes(r.stride)] for r in profile.rows]


def footer(profile: Profile) -> list[str]:
    memory = profile.training_memory()
    lines = [
        f"{profile.model_name}: {profile.params:,} parameters ({profile.trainable_params:,} "
        f"trainable), {human(profile.macs)} multiply-adds ({profile.macs:,}) and "
        f"{human(profile.activations)} activation values ({human(profile.activation_bytes, 'B')}) "
        f"per batch of {profile.batch_size}.",
        f"Training memory with SGD+momentum: {human(memory.total, 'B')} = weights "
        f"{human(memory.weights, 'B')} + gradients {human(memory.gradients, 'B')} + momentum "
        f"{human(memory.optimizer_state, 'B')} + activations {human(memory.activations, 'B')} "
        f"+ their gradients {human(memory.activation_gradients, 'B')}.",
        f"Counted as the papers count: {profile.convention}.",
    ]
    if profile.not_counted:
        lines.append(f"Not counted (no multiply-add rule for their type): "
                     f"{', '.join(profile.not_counted)}.")
    return lines


def rich_table(profile: Profile):
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in COLUMNS:
        table.add_column(column, justify="left" if column in ("layer", "type", "output shape")
                         else "right", overflow="fold")
    for row in rows_for_display(profile):
        table.add_row(*row)
    return table


def text_table(profile: Profile, width: int = 160) -> str:
    from rich.console import Console

    console = Console(width=width, file=io.StringIO(), color_system=None)
    console.print(rich_table(profile))
    lines = [line.rstrip() for line in console.file.getvalue().splitlines()]
    return "\n".join(lines + [""] + footer(profile))


def to_json(profile: Profile) -> str:
    return json.dumps(profile.to_dict(), indent=2)


def to_csv(profile: Profile) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["layer", "type", "output_shape", "trainable_params", "non_trainable_params",
                     "macs", "activations", "activation_bytes", "inplace", "receptive_field",
                     "stride"])
    for r in profile.rows:
        writer.writerow([r.name, r.type, _shape(r.output_shapes), r.trainable_params,
                         r.non_trainable_params, "" if r.macs is None else r.macs, r.activations,
                         r.activation_bytes, int(r.inplace), _axes(r.receptive_field),
                         _axes(r.stride)])
    return out.getvalue()


def _markdown_table(columns, rows, left: int) -> list[str]:
    """Markdown lines; the first `left` columns left-aligned, the numbers right-aligned."""
    def line(cells):
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    rule = "|" + "|".join("---" if i < left else "--:" for i in range(len(columns))) + "|"
    return [line(columns), rule] + [line(row) for row in rows]


def to_markdown(profile: Profile) -> str:
    lines = _markdown_table(COLUMNS, rows_for_display(profile), left=3)
    return "\n".join(lines + [""] + footer(profile)) + "\n"


# --- several models ----------------------------------------------------------------------------------

COMPARE_COLUMNS = ("model", "input", "params", "MACs", "activations", "activation memory",
                   "training memory")


def comparison_rows(profiles: Sequence[Profile], inputs: Sequence[str]) -> list[list[str]]:
    return [[p.model_name, shape, f"{p.params:,}", human(p.macs), human(p.activations),
             human(p.activation_bytes, "B"), human(p.training_memory().total, "B")]
            for p, shape in zip(profiles, inputs)]


def comparison_markdown(profiles: Sequence[Profile], inputs: Sequence[str]) -> str:
    return "\n".join(_markdown_table(COMPARE_COLUMNS, comparison_rows(profiles, inputs),
                                     left=2)) + "\n"


def comparison_csv(profiles: Sequence[Profile], inputs: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["model", "input", "params", "macs", "activations", "activation_bytes",
                     "training_memory_bytes"])
    for p, shape in zip(profiles, inputs):
        writer.writerow([p.model_name, shape, p.params, p.macs, p.activations,
                         p.activation_bytes, p.training_memory().total])
    return out.getvalue()


def comparison_table(profiles: Sequence[Profile], inputs: Sequence[str]):
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in COMPARE_COLUMNS:
        table.add_column(column, justify="left" if column in ("model", "input") else "right")
    for row in comparison_rows(profiles, inputs):
        table.add_row(*row)
    return table


def comparison_dicts(profiles: Sequence[Profile], inputs: Sequence[str]) -> list[dict]:
    return [{"model": p.model_name, "input": shape, **p.totals(),
             "training_memory": p.training_memory().total, "not_counted": p.not_counted}
            for p, shape in zip(profiles, inputs)]


def plot_comparison(profiles: Sequence[Profile], path) -> None:
    """Parameters against multiply-adds, one labelled point per model, both axes logarithmic: the
    accuracy-free half of the classic comparison chart (Canziani et al., 2016)."""
    from matplotlib.figure import Figure  # no pyplot: leaves the backend alone
    from matplotlib.ticker import FuncFormatter, LogLocator

    fig = Figure(figsize=(7, 5), dpi=120)
    ax = fig.subplots()
    for p in profiles:
        point = (p.macs / p.batch_size / 1e9, p.params / 1e6)
        ax.scatter(*point, s=36)
        ax.annotate(p.model_name, point, textcoords="offset points", xytext=(5, 4), fontsize=8)
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis, values in ((ax.xaxis, [p.macs / p.batch_size for p in profiles]),
                         (ax.yaxis, [p.params for p in profiles])):
        decades = math.log10(max(values) / min(values)) if min(values) > 0 else 99
        axis.set_major_locator(LogLocator(subs=(1, 2, 5) if decades < 2.5 else (1,)))
        axis.set_major_formatter(plain)
        axis.set_minor_formatter(FuncFormatter(lambda value, _: ""))
    ax.set_xlabel("multiply-adds per image (G)")
    ax.set_ylabel("parameters (M)")
    ax.set_title("Parameters vs multiply-adds")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
