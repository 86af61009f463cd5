"""Pictures: what a network learned — Grad-CAM, ZFNet's occlusion sensitivity, saliency and guided
backpropagation as arrays (`gradcam`, `occlusion`, `saliency`), a layer's filters (`plot_filters`,
AlexNet's Fig. 3), each stage's strongest feature maps (`plot_features`), a first training batch as
the network receives it (`draw_batch`) — and every chart (`figures`: curves, confusion matrices,
trial scores, the learning-rate range test). Over image files and trained runs:
`kerascnn.inference.explain`; a recipe's batch: `kerascnn.show_batch`.

The arrays take network inputs (sized and normalized) and work on any Functional classification
model: a run's, a zoo or spec network, one of your own. Grad-CAM's layer is found from the stage
structure (`target_layer`: the last stage's output, through concatenations), or named.
"""

from kerascnn.visualize.attribution import gradcam, saliency
from kerascnn.visualize.batch import ShownBatch, draw_batch
from kerascnn.visualize.occlusion import occlusion
from kerascnn.visualize.pictures import overlay, plot_features, plot_filters, stage_features
from kerascnn.visualize.targets import feature_stages, target_layer

__all__ = [
    "gradcam",
    "occlusion",
    "saliency",
    "overlay",
    "plot_filters",
    "plot_features",
    "stage_features",
    "draw_batch",
    "ShownBatch",
    "feature_stages",
    "target_layer",
]
