"""Data for recipes: sources (digits, synthetic, image folders, tensorflow-datasets) and the tf.data
pipeline that feeds `model.fit`."""

from kerascnn.data.pipeline import Data, Preprocessing, load_data
from kerascnn.data.sources import declared_input, synthetic_images

__all__ = ["Data", "Preprocessing", "load_data", "declared_input", "synthetic_images"]
