"""Several profiles side by side (a table, Markdown, CSV, JSON) and the classic parameters-versus-
multiply-adds chart. One profile prints itself (`Profile.text_table`, `to_markdown`, ...)."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence

from kerascnn.analysis.formatting import human, markdown_table
from kerascnn.analysis.result import Profile

COMPARE_COLUMNS = (
    "model",
    "input",
    "params",
    "MACs",
    "activations",
    "activation memory",
    "training memory",
)


def comparison_rows(profiles: Sequence[Profile], inputs: Sequence[str]) -> list[list[str]]:
    return [
        [
            p.model_name,
            shape,
            f"{p.params:,}",
            human(p.macs),
            human(p.activations),
            human(p.activation_bytes, "B"),
            human(p.training_memory().total, "B"),
        ]
        for p, shape in zip(profiles, inputs)
    ]


def comparison_markdown(profiles: Sequence[Profile], inputs: Sequence[str]) -> str:
    return "\n".join(markdown_table(COMPARE_COLUMNS, comparison_rows(profiles, inputs), left=2)) + "\n"


def comparison_csv(profiles: Sequence[Profile], inputs: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["model", "input", "params", "macs", "activations", "activation_bytes", "training_memory_bytes"]
    )
    for p, shape in zip(profiles, inputs):
        writer.writerow(
            [
                p.model_name,
                shape,
                p.params,
                p.macs,
                p.activations,
                p.activation_bytes,
                p.training_memory().total,
            ]
        )
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
    return [
        {
            "model": p.model_name,
            "input": shape,
            **p.totals(),
            "training_memory": p.training_memory().total,
            "not_counted": p.not_counted,
        }
        for p, shape in zip(profiles, inputs)
    ]


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
    for axis, values in (
        (ax.xaxis, [p.macs / p.batch_size for p in profiles]),
        (ax.yaxis, [p.params for p in profiles]),
    ):
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
