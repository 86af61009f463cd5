"""What each regularizer does on a task that overfits on 2 CPU cores (issue 26): the glyphs few-shot
task of `recipes/glyphs_scratch.toml` (10 new glyph classes, 5 training images each, 400 test images)
with ResNet-20 (residual, so that every regularizer applies), the same budget (epochs, optimizer) and
the same seeds for each, against none.

    python benchmarks/regularizers.py [--seeds 0 1 2] [--epochs 40] [--out runs/regularizers]
                                      [--markdown]

Each configuration is the shipped glyphs_scratch recipe with `model.name = "resnet20"` and overrides;
`data.seed = 0` keeps the images and splits the same across the training seeds. Prints test
accuracy per seed, the mean and
the difference from none; finished runs are reused (the runs resume), so the script can be stopped
and run again.
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CONFIGS = {
    "none": [],
    "stochastic depth 0.2": ["model.options.drop_path=0.2"],
    "zero-init last BN": ["model.options.zero_init_last=true"],
    "EMA 0.99": ["train.ema=true", "train.ema_momentum=0.99"],
    "MixUp 0.2": ["data.augment.mixup=0.2"],
    "CutMix 1.0": ["data.augment.cutmix=1.0"],
    "RandAugment 2": ["data.augment.randaugment=2"],
}


def base_recipe() -> dict:
    """glyphs_scratch as shipped, with ResNet-20 for its network."""
    import tomllib

    from kerascnn.recipe.shipped import find_recipe

    document = tomllib.loads(find_recipe("glyphs_scratch").read_text(encoding="utf-8"))
    document["model"] = {"name": "resnet20"}
    document["data"]["seed"] = 0
    return document


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--out", default="runs/regularizers")
    parser.add_argument("--only", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()

    import kerascnn

    results = {}
    for name in args.only:
        for seed in args.seeds:
            folder = Path(args.out) / f"{name.split()[0].lower()}-{name.split()[-1]}-seed{seed}"
            overrides = [
                *CONFIGS[name],
                f"train.seed={seed}",
                f"train.epochs={args.epochs}",
                f'output.dir="{folder}"',
            ]
            run = kerascnn.train(base_recipe(), overrides=overrides, verbose=0, log=lambda *lines: None)
            accuracy = run.metrics["test"]["accuracy"]
            results.setdefault(name, []).append(accuracy)
            print(
                f"{name:22} seed {seed}: test accuracy {accuracy:.4f} "
                f"({run.metrics.get('seconds', 0):.0f} s)",
                flush=True,
            )
    none = statistics.mean(results["none"]) if "none" in results else None
    rows = []
    for name, values in results.items():
        mean = statistics.mean(values)
        delta = "" if none is None or name == "none" else f"{100 * (mean - none):+.1f}"
        rows.append((name, " / ".join(f"{100 * v:.1f}" for v in values), f"{100 * mean:.1f}", delta))
    if args.markdown:
        print("| regularizer | test accuracy per seed (%) | mean | vs none (points) |")
        print("|---|---:|---:|---:|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        for row in rows:
            print(f"{row[0]:22} {row[1]:>22}  mean {row[2]:>5}  {row[3]}")


if __name__ == "__main__":
    main()
