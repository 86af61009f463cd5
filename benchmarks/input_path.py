"""The input paths' cost (issue 33): what `kerascnn train` feeds `model.fit` on each backend, the
grain path (`kerascnn.data.feed`) and the tf.data path, against the same model fed the same epoch
from in-memory arrays (`model.fit(x, y)`: no pipeline at all), validation included in each.

One process per backend builds the recipe's model and data once (`load_data`, as `kerascnn train`
does), then alternates `fit` runs of `--epochs` epochs: arrays, grain, tf.data, arrays, grain, ...
`--repeats` times. An epoch's time is measured by a callback from its start to its end (validation
included); each run's first epoch (compilation) is left out; the table gives medians and the ratio
arrays / path (1.0: the path costs nothing; the goal is 0.9 or more).

    python benchmarks/input_path.py [--repeats 3] [--epochs 4] [--torch]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

RECIPES = {
    # The quickstart: LeNet-5 on 1,293 8x8 digits brought to 32x32, padded crops: a tiny model,
    # where a feed's cost shows most.
    "lenet5_digits": [],
    # CIFAR-shaped: ResNet-20 on 2,500 32x32 glyphs, padded crops and flips, batch 128.
    "resnet20_glyphs": [
        'model.name="resnet20"',
        'data.source="glyphs"',
        "data.classes=10",
        "data.samples=2500",
        "data.batch_size=128",
        "data.augment.flip=true",
        "data.augment.crop_padding=4",
    ],
}

WORKER = r"""
import json, sys, time
import numpy as np
import keras
from kerascnn.config.installed import installed
from kerascnn.data import load_data
from kerascnn.data.feed import for_keras
from kerascnn.recipe import load_recipe
from kerascnn.recipe.shipped import find_recipe
from kerascnn.training.compile import compile_model
from kerascnn.training.fit import build_model

sets, epochs, repeats = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
paths = ["grain"] + (["tf.data"] if installed("tensorflow") else [])
data = {p: load_data(load_recipe(find_recipe("lenet5_digits"), sets + [f'data.pipeline="{p}"']))
        for p in paths}
recipe = load_recipe(find_recipe("lenet5_digits"), sets)
grain = data["grain"]
train = [grain.train.batch(0, k) for k in range(len(grain.train))]  # one epoch, made once
val = [grain.val.batch(0, k) for k in range(len(grain.val))]
arrays = tuple(np.concatenate([b[i] for b in train]) for i in (0, 1))
val_arrays = tuple(np.concatenate([b[i] for b in val]) for i in (0, 1))
keras.utils.set_random_seed(0)
model = build_model(recipe, grain.input_shape, grain.classes)
compile_model(model, recipe, len(grain.train))
times = []


class Clock(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        times.append(time.perf_counter() - self.start)


def fit(path):
    times.clear()
    if path == "arrays":
        model.fit(*arrays, batch_size=recipe.data.batch_size, epochs=epochs, shuffle=True,
                  validation_data=val_arrays, verbose=0, callbacks=[Clock()])
    else:
        d = data[path]
        x, steps = for_keras(d.train, 0, epochs)
        v, val_steps = for_keras(d.val, 0, epochs)
        model.fit(x, steps_per_epoch=steps, validation_data=v, validation_steps=val_steps,
                  epochs=epochs, shuffle=False, verbose=0, callbacks=[Clock()])
    return times[1:]


found = {p: [] for p in ["arrays", *paths]}
for _ in range(repeats):
    for path in found:
        found[path] += fit(path)
print("RESULT", json.dumps({"images": len(arrays[0]), "validation": len(val_arrays[0]),
                            "batch": recipe.data.batch_size, "epochs": found}))
"""


def measure(backend: str, sets: list[str], epochs: int, repeats: int) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", WORKER, json.dumps(sets), str(epochs), str(repeats)],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if done.returncode:
        raise SystemExit(done.stderr[-4000:])
    return json.loads(done.stdout.split("RESULT ", 1)[1].splitlines()[0])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--recipes", nargs="*", default=list(RECIPES))
    parser.add_argument("--torch", action="store_true", help="PyTorch too")
    parser.add_argument("--backends", nargs="*", help="only these (default: jax, tensorflow)")
    parser.add_argument("--out", default="benchmarks/results/input_path.json")
    args = parser.parse_args(argv)
    backends = args.backends or ["jax", "tensorflow"] + (["torch"] if args.torch else [])
    results = {}
    for name in args.recipes:
        for backend in backends:
            found = measure(backend, RECIPES[name], args.epochs, args.repeats)
            results[f"{name} {backend}"] = found
            arrays = statistics.median(found["epochs"]["arrays"])
            print(
                f"{name} on {backend}: {found['images']:,} images + {found['validation']:,} "
                f"validation a epoch, batch {found['batch']}; median s/epoch:",
                flush=True,
            )
            for path, seconds in found["epochs"].items():
                median = statistics.median(seconds)
                print(
                    f"  {path:<8} {median:7.3f}  arrays/{path} {arrays / median:.2f}  "
                    f"({len(seconds)} epochs)",
                    flush=True,
                )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
