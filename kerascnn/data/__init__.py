"""Data for recipes: sources (digits, synthetic, image folders, tensorflow-datasets), the
preprocessing record and how a trained model is fed (`feeding`), and the input paths (tf.data,
grain, the device) that feed `model.fit`."""

from kerascnn.data.feeding import Feeding
from kerascnn.data.load import Data, load_data
from kerascnn.data.preprocessing import Preprocessing
from kerascnn.data.sources import declared_input, synthetic_images

__all__ = ["Data", "Preprocessing", "Feeding", "load_data", "declared_input", "synthetic_images"]
