"""What kerascnn writes and reads back: a run directory (`rundir`: its files, its one writer, atomic
writes), the one safe model loader and writer of `.keras` files (`saving`), and each run's results
(`metrics`: metrics.json, `RunResult`), and a run tracked in MLflow (`tracking`)."""

from kerascnn.runs.metrics import RunResult
from kerascnn.runs.saving import check_archive, load_model, read_feeding, write_feeding

__all__ = [
    "load_model",
    "check_archive",
    "write_feeding",
    "RunResult",
    "read_feeding",
]
