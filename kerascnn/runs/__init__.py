"""What kerascnn writes and reads back: a run directory (`rundir`: its files, its one writer, atomic
writes), the one safe model loader (`saving`), and a trained model with how to feed it
(`trained`: a run directory, a `.keras` file, or a model in memory), how a model is fed in one
record (`feeding`: data.json, a `.keras` file's kerascnn.json, an export's preprocessing.json), and
published weights saved as a model file (`porting`), and each finished run's model card
(`card`: README.md)."""

from kerascnn.runs.card import write_card
from kerascnn.runs.feeding import Feeding
from kerascnn.runs.porting import Ported, port
from kerascnn.runs.saving import check_archive, load_model, read_feeding, write_feeding
from kerascnn.runs.trained import Trained, load_trained, trained_model

__all__ = [
    "load_model",
    "check_archive",
    "write_feeding",
    "Feeding",
    "write_card",
    "port",
    "Ported",
    "read_feeding",
    "Trained",
    "load_trained",
    "trained_model",
]
