"""`[data.augment]` tables the tests share."""

CROPS_AND_FLIPS = {"crop_padding": 2, "flip": True}

EVERY_DRAW = {  # every random draw the input paths make, at once
    "scale": [0.5, 1.0],
    "crop_padding": 2,
    "flip": True,
    "randaugment": 2,
    "mixup": 0.2,
    "cutmix": 1.0,
}
