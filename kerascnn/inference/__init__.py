"""Using a trained model: load a run directory (or a saved model), evaluate it on labelled images, and
predict the classes of image files, and see what it looked at in them (`explaining.explain`:
Grad-CAM, occlusion, saliency, guided backpropagation over image files; `show_filters`,
`show_features`; imported on its own: it loads Keras, which the command line's checks do not).

A run directory knows how its images were fed (`data.json`: input size, resize, crop, mean and std,
class names), so evaluation and prediction repeat exactly what validation did during training. A bare
`.keras` file outside a run directory says none of that: its input size comes from the model, and the
normalization must be named (`normalize="unit"`, "imagenet", "caffe", "tf" or "none").
"""

from kerascnn.data.feeding import NORMALIZATIONS
from kerascnn.inference.evaluation import Evaluation, Mistake, evaluate, plot_confusion
from kerascnn.inference.prediction import Prediction, predict
from kerascnn.inference.trained import (
    IMAGE_SUFFIXES,
    Trained,
    image_files,
    load_trained,
    trained_model,
)
from kerascnn.inference.views import CROPS

__all__ = [
    "Trained",
    "Evaluation",
    "Mistake",
    "Prediction",
    "load_trained",
    "trained_model",
    "evaluate",
    "predict",
    "plot_confusion",
    "image_files",
    "NORMALIZATIONS",
    "IMAGE_SUFFIXES",
    "CROPS",
]
