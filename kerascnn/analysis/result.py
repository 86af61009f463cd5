"""What `profile(model)` returns: a row per layer call (`LayerProfile`), the totals, the memory of a
training step (`TrainingMemory`), and the profile as people read it (text, rich, Markdown, CSV, JSON)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field

from kerascnn.analysis.costs import CONVENTION
from kerascnn.analysis.formatting import axes, human, markdown_table, shapes

COLUMNS = ("layer", "type", "output shape", "params", "MACs", "activations", "memory", "RF", "stride")

# Optimizer state per trainable parameter, in parameter-sized slots.
OPTIMIZER_SLOTS = {
    "sgd": 0,
    "momentum": 1,
    "nesterov": 1,
    "rmsprop": 1,
    "adagrad": 1,
    "adadelta": 2,
    "adam": 2,
    "adamw": 2,
    "nadam": 2,
    "adamax": 2,
    "lion": 1,
}


@dataclass(frozen=True)
class LayerProfile:
    """One layer call.

    Attributes:
        name: the layer's name, prefixed by the enclosing models' (`backbone/conv1`); a shared layer's
            later calls are `name (call 2)`, ...
        type: the layer class name.
        output_shapes: the shape of each output, batch dimension included.
        trainable_params, non_trainable_params: weights first seen at this call (a shared layer's
            later calls and tied weights count 0).
        param_bytes: their size in bytes.
        macs: multiply-adds for the batch (see `costs.CONVENTION`); None when the layer type has no
            rule, so it is not counted (never a silent zero).
        activations: output values for the batch.
        activation_bytes: their size in bytes (the output dtype: 2 for float16/bfloat16).
        inplace: the layer can overwrite or view its input (activations, dropout, flatten), so the
            totals do not count its output again (see `Profile.activations`).
        receptive_field: input pixels one output position sees, per spatial axis; None where it is
            not defined (no spatial axes, global pooling, flatten, unknown layers).
        stride: the output's step in input pixels per spatial axis (the product of the strides so far).
    """

    name: str
    type: str
    output_shapes: tuple[tuple[int, ...], ...]
    trainable_params: int
    non_trainable_params: int
    param_bytes: int
    macs: int | None
    activations: int
    activation_bytes: int
    inplace: bool = False
    receptive_field: tuple[int, ...] | None = None
    stride: tuple[int, ...] | None = None

    @property
    def params(self) -> int:
        return self.trainable_params + self.non_trainable_params

    @property
    def output_shape(self) -> tuple[int, ...]:
        """The first (usually only) output's shape."""
        return self.output_shapes[0]


@dataclass(frozen=True)
class TrainingMemory:
    """Bytes a training step holds, as the lecture tables estimate it (an upper estimate: frameworks
    free or fuse some of it): weights, their gradients, the optimizer's slots, every layer's output
    and the gradient of every layer's output."""

    weights: int
    gradients: int
    optimizer_state: int
    activations: int
    activation_gradients: int

    @property
    def total(self) -> int:
        return (
            self.weights
            + self.gradients
            + self.optimizer_state
            + self.activations
            + self.activation_gradients
        )

    def to_dict(self) -> dict:
        return {**asdict(self), "total": self.total}


@dataclass(frozen=True)
class Profile:
    """The rows of `profile(model)` and their totals (see `LayerProfile`)."""

    model_name: str
    batch_size: int
    rows: tuple[LayerProfile, ...]
    convention: str = field(default=CONVENTION, repr=False)

    @property
    def trainable_params(self) -> int:
        return sum(r.trainable_params for r in self.rows)

    @property
    def non_trainable_params(self) -> int:
        return sum(r.non_trainable_params for r in self.rows)

    @property
    def params(self) -> int:
        return self.trainable_params + self.non_trainable_params

    @property
    def param_bytes(self) -> int:
        return sum(r.param_bytes for r in self.rows)

    @property
    def macs(self) -> int:
        """Multiply-adds of the counted layers, for the batch."""
        return sum(r.macs for r in self.rows if r.macs is not None)

    @property
    def activations(self) -> int:
        """Output values for the batch, the input included, counted as the lecture tables count
        them: a layer that can work in place (a ReLU after a convolution, dropout, flatten) adds
        nothing, so VGG16 holds 15.2M values per image. Keras without XLA fusion materialises the
        in-place rows too: add `r.activations` of the rows with `r.inplace` for that figure."""
        return sum(r.activations for r in self.rows if not r.inplace)

    @property
    def activation_bytes(self) -> int:
        return sum(r.activation_bytes for r in self.rows if not r.inplace)

    @property
    def not_counted(self) -> list[str]:
        """Rows whose layer type has no multiply-add rule (see `costs.register_cost`)."""
        return [r.name for r in self.rows if r.macs is None]

    def __getitem__(self, name: str) -> LayerProfile:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(f"no layer named {name!r} in the profile of {self.model_name!r}.")

    def select(self, *types: str) -> list[LayerProfile]:
        """The rows of the given layer types, e.g. `select("Conv2D", "Dense")`."""
        return [r for r in self.rows if r.type in types]

    def training_memory(
        self, optimizer: str | int = "momentum", batch_size: int | None = None
    ) -> TrainingMemory:
        """Bytes for one training step: weights + gradients + optimizer slots + activations and their
        gradients (for `batch_size` images; default the profile's).

        Args:
            optimizer: a name (`OPTIMIZER_SLOTS`: "sgd" 0 slots, "momentum" 1, "adam" 2, ...) or the
                number of parameter-sized slots it keeps.
        """
        if isinstance(optimizer, str):
            if optimizer.lower() not in OPTIMIZER_SLOTS:
                raise ValueError(
                    f"unknown optimizer {optimizer!r}. Known: "
                    f"{', '.join(OPTIMIZER_SLOTS)}, or give the number of slots."
                )
            slots = OPTIMIZER_SLOTS[optimizer.lower()]
        elif isinstance(optimizer, int) and not isinstance(optimizer, bool) and optimizer >= 0:
            slots = optimizer
        else:
            raise ValueError(f"`optimizer` must be a name or a number of slots. Received: {optimizer!r}")
        batch = self.batch_size if batch_size is None else positive_int(batch_size, "batch_size")
        per_param = self.param_bytes / self.params if self.params else 4
        trainable_bytes = round(self.trainable_params * per_param)
        forward = self.activation_bytes * batch // self.batch_size
        return TrainingMemory(
            weights=self.param_bytes,
            gradients=trainable_bytes,
            optimizer_state=slots * trainable_bytes,
            activations=forward,
            activation_gradients=forward,
        )

    def totals(self) -> dict:
        return {
            "params": self.params,
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.non_trainable_params,
            "param_bytes": self.param_bytes,
            "macs": self.macs,
            "activations": self.activations,
            "activation_bytes": self.activation_bytes,
        }

    def to_dict(self) -> dict:
        """Everything, JSON-ready: the totals, `not_counted`, the convention and a `layers` list."""
        layers = []
        for r in self.rows:
            row = asdict(r)
            row["output_shapes"] = [list(s) for s in r.output_shapes]
            for key in ("receptive_field", "stride"):
                row[key] = list(row[key]) if row[key] is not None else None
            layers.append(row)
        return {
            "model": self.model_name,
            "batch_size": self.batch_size,
            **self.totals(),
            "not_counted": self.not_counted,
            "convention": self.convention,
            "training_memory": self.training_memory().to_dict(),
            "layers": layers,
        }

    # --- as people read it ------------------------------------------------------------------------

    def display_rows(self) -> list[list[str]]:
        """The per-layer table's cells, formatted (`COLUMNS`)."""
        return [
            [
                r.name,
                r.type,
                shapes(r.output_shapes),
                f"{r.params:,}" if r.params else "",
                "not counted" if r.macs is None else (human(r.macs) if r.macs else ""),
                human(r.activations),
                "in place" if r.inplace else human(r.activation_bytes, "B"),
                axes(r.receptive_field),
                axes(r.stride),
            ]
            for r in self.rows
        ]

    def footer(self) -> list[str]:
        """The totals in sentences: parameters, multiply-adds, activations, training memory."""
        memory = self.training_memory()
        lines = [
            f"{self.model_name}: {self.params:,} parameters ({self.trainable_params:,} "
            f"trainable), {human(self.macs)} multiply-adds ({self.macs:,}) and "
            f"{human(self.activations)} activation values ({human(self.activation_bytes, 'B')}) "
            f"per batch of {self.batch_size}.",
            f"Training memory with SGD+momentum: {human(memory.total, 'B')} = weights "
            f"{human(memory.weights, 'B')} + gradients {human(memory.gradients, 'B')} + momentum "
            f"{human(memory.optimizer_state, 'B')} + activations {human(memory.activations, 'B')} "
            f"+ their gradients {human(memory.activation_gradients, 'B')}.",
            f"Counted as the papers count: {self.convention}.",
        ]
        if self.not_counted:
            lines.append(
                f"Not counted (no multiply-add rule for their type): {', '.join(self.not_counted)}."
            )
        return lines

    def rich_table(self):
        """The per-layer table as a `rich.table.Table` (what `kerascnn summary` prints)."""
        from rich.table import Table

        table = Table(box=None, header_style="bold", pad_edge=False)
        for column in COLUMNS:
            table.add_column(
                column,
                justify="left" if column in ("layer", "type", "output shape") else "right",
                overflow="fold",
            )
        for row in self.display_rows():
            table.add_row(*row)
        return table

    def text_table(self, width: int = 160) -> str:
        """The per-layer table and the footer as plain text, `width` characters wide."""
        from rich.console import Console

        console = Console(width=width, file=io.StringIO(), color_system=None)
        console.print(self.rich_table())
        lines = [line.rstrip() for line in console.file.getvalue().splitlines()]
        return "\n".join(lines + [""] + self.footer())

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_csv(self) -> str:
        """One line per layer, the numbers unformatted."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(
            [
                "layer",
                "type",
                "output_shape",
                "trainable_params",
                "non_trainable_params",
                "macs",
                "activations",
                "activation_bytes",
                "inplace",
                "receptive_field",
                "stride",
            ]
        )
        for r in self.rows:
            writer.writerow(
                [
                    r.name,
                    r.type,
                    shapes(r.output_shapes),
                    r.trainable_params,
                    r.non_trainable_params,
                    "" if r.macs is None else r.macs,
                    r.activations,
                    r.activation_bytes,
                    int(r.inplace),
                    axes(r.receptive_field),
                    axes(r.stride),
                ]
            )
        return out.getvalue()

    def to_markdown(self) -> str:
        """The per-layer table and the footer as Markdown."""
        lines = markdown_table(COLUMNS, self.display_rows(), left=3)
        return "\n".join(lines + [""] + self.footer()) + "\n"

    def __str__(self) -> str:
        return self.text_table()

    def _repr_markdown_(self) -> str:
        """The per-layer table and the totals, as a notebook shows a profile."""
        return self.to_markdown()


def positive_int(value, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"`{what}` must be a positive integer. Received: {what}={value!r}")
    return value
