"""Data for recipes: sources (digits, synthetic, image folders, tensorflow-datasets) and the tf.data
pipeline that feeds `model.fit`."""

from kerascnn.data.pipeline import Data, load_data, normalize_images
from kerascnn.data.sources import synthetic_images

__all__ = ["Data", "load_data", "normalize_images", "synthetic_images"]
