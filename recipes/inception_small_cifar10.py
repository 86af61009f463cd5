"""A custom network written in Python from kerascnn's blocks: the small Inception of Zhang, Bengio,
Hardt, Recht & Vinyals (2017), "Understanding deep learning requires rethinking generalization"
(Figure 3, Appendix A), trained on CIFAR-10 by the same trainer as the TOML recipes.

    python recipes/inception_small_cifar10.py                      # CIFAR-10, as the paper
    python recipes/inception_small_cifar10.py --set train.epochs=5 --output runs/try

The network: a 3x3 convolution with 96 filters, then Inception modules (a 1x1 and a 3x3 convolution in
parallel, concatenated) and two downsample modules (a stride-2 3x3 convolution beside a stride-2 3x3
max-pool), every convolution followed by batch normalization and ReLU, global average pooling and a
10-way softmax. The paper's Table 1 counts 1,649,402 parameters: the convolutions with a bias per
filter and the classifier. Here the convolutions have no bias and each batch normalization a scale
and a shift: 1,651,114 trainable parameters (the test checks both counts).

The paper reports (Table 1) 89.05% test accuracy with random crops and weight decay, 89.31% with crops
only, 86.03% with weight decay only and 85.75% with neither, and that the same network fits random
labels perfectly. As the paper: 28x28 crops of the 32x32 images (random in training, the centre for
evaluation), SGD with momentum 0.9 and learning rate 0.1 decayed by a factor 0.95 every epoch.
Differs: per-channel standardization instead of per-image whitening; flips; weight decay 5e-4 and
100 epochs are this recipe's choices.
"""

import sys

import keras

from kerascnn.blocks import branches, classifier_head, conv_bn_act

RECIPE = {
    "name": "inception_small_cifar10",
    "data": {
        "source": "tfds",
        "name": "cifar10",
        "validation_split": 0.1,
        "batch_size": 128,
        "image_size": [28, 28],
        "load_size": [32, 32],
        "augment": {"flip": True},
    },
    "train": {
        "epochs": 100,
        "optimizer": "sgd",
        "learning_rate": 0.1,
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "schedule": "step",
        "step_every": 1,
        "gamma": 0.95,
        "seed": 0,
    },
    "output": {"dir": "runs/inception_small_cifar10"},
}


def inception(x, ch1: int, ch3: int, *, name: str):
    """The paper's Inception module: a 1x1 and a 3x3 convolution side by side."""
    return branches(x, branches=[[f"conv1-{ch1}"], [f"conv3-{ch3}"]], name=name)


def downsample(x, ch3: int, *, name: str):
    """The paper's downsample module: a stride-2 3x3 convolution beside a stride-2 3x3 max-pool."""
    return branches(x, branches=[[f"conv3-{ch3} s2 valid"], ["maxpool3 s2 valid"]], name=name)


def inception_small(input_shape, classes):
    inputs = keras.Input(input_shape, name="image")
    x = conv_bn_act(inputs, filters=96, kernel_size=3, name="stem")
    x = inception(x, 32, 32, name="stage1_inception1")
    x = inception(x, 32, 48, name="stage1_inception2")
    x = downsample(x, 80, name="stage1_down")
    for i, (ch1, ch3) in enumerate([(112, 48), (96, 64), (80, 80), (48, 96)], start=1):
        x = inception(x, ch1, ch3, name=f"stage2_inception{i}")
    x = downsample(x, 96, name="stage2_down")
    x = inception(x, 176, 160, name="stage3_inception1")
    x = inception(x, 176, 160, name="stage3_inception2")
    outputs = classifier_head(x, classes=classes, pool="avg", name="head")
    return keras.Model(inputs, outputs, name="inception_small")


def main(argv=None) -> int:
    from kerascnn.cli.scripting import run_script

    return run_script(RECIPE, model=inception_small, argv=argv, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
