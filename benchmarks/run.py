"""The benchmark suite (issue 9, items 1-4): ratios measured in one run, A and B alternated, medians over
repeats, warm-up and compilation excluded.

    python benchmarks/run.py [--quick] [--device cpu|gpu] [--parts builder trainer pipeline scaling]
                             [--no-record]

1. builder: training images/s of kerascnn `resnet50`, `vgg16`, `densenet121` against the
   keras.applications model of the same architecture, both compiled alike and trained by `model.fit`
   on the same in-memory batches (same batch size, precision, optimizer). Goal: ratio >= 1.0.
2. trainer: `kerascnn train` (its tf.data pipeline, defaults, validation, checkpoints and history;
   per-epoch times from its history.csv) against a plain `model.fit` loop on the same model, the same
   training and validation images as NumPy arrays. Goal: never slower.
3. pipeline: an image folder of JPEGs through kerascnn's tf.data path (decode, resize, random crop and
   flip, normalize; with and without `cache`) against one epoch of that pipeline's output held in
   memory, feeding the same model. Goal: >= 0.95 (the model never waits for data).
4. scaling: build and profile time against depth (resnet20 -> resnet1202, densenet121 -> densenet264),
   training throughput against batch size.

Prints a table per part and, unless `--no-record`, inserts the results (date, machine, backend,
versions, command) at the top of BENCHMARKS.md. `--quick` (small inputs, fewer repeats) runs in under
10 minutes on 2 CPU cores. The GPU item (5) is `benchmarks/gpu.py`.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
PARTS = ("builder", "trainer", "pipeline", "scaling")


def log(*args):
    print(f"[{time.strftime('%H:%M:%S')}]", *args, file=sys.stderr, flush=True)


def alternate(candidates: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    """Each candidate once per round, in turn, for `repeats` rounds: A B A B ..."""
    results: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            results[name].append(fn())
    return results


def spread(values: list[float]) -> str:
    """The median, and the range in brackets: this VM's 2 cores are at times only one (a window
    then runs at half speed), so single measurements mislead."""
    return f"{statistics.median(values):.1f} ({min(values):.0f}–{max(values):.0f})"


def table(header: list[str], rows: list[list]) -> str:
    lines = [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join(["---"] + ["---:"] * (len(header) - 1)) + " |",
    ]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def fit_rate(model, dataset, images: int, epochs: int = 1) -> float:
    """Training images/s of `epochs` epochs of `model.fit` (the model compiled and warmed up)."""
    start = time.perf_counter()
    model.fit(dataset, epochs=epochs, verbose=0)
    return epochs * images / (time.perf_counter() - start)


def memory_dataset(x, y, batch: int):
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch).cache().prefetch(tf.data.AUTOTUNE)


def random_task(n: int, size: int, classes: int = 10, seed: int = 0):
    import keras
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, size, size, 3)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, classes, n), classes)
    return x, y


def compile_sgd(model):
    import keras

    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )


# --- 1. builder overhead ---------------------------------------------------------------------------


def part_builder(quick: bool) -> str:
    import keras

    import kerascnn

    size, batch, steps, repeats = (64, 16, 8, 5) if quick else (224, 32, 8, 5)
    rows = []
    for name, app in [("resnet50", "ResNet50"), ("vgg16", "VGG16"), ("densenet121", "DenseNet121")]:
        keras.backend.clear_session()
        x, y = random_task(batch * steps, size)
        data = memory_dataset(x, y, batch)
        ours = kerascnn.build(name, input_shape=(size, size, 3), classes=10)
        theirs = getattr(keras.applications, app)(weights=None, input_shape=(size, size, 3), classes=10)
        for model in (ours, theirs):
            compile_sgd(model)
            model.fit(data, epochs=1, verbose=0)  # compilation, warm-up
        rates = alternate(
            {
                "kerascnn": lambda ours=ours, data=data, x=x: fit_rate(ours, data, len(x)),
                "applications": lambda theirs=theirs, data=data, x=x: fit_rate(theirs, data, len(x)),
            },
            repeats,
        )
        a, b = (statistics.median(rates[k]) for k in ("kerascnn", "applications"))
        rows.append(
            [
                f"`{name}` / `{app}`",
                f"{ours.count_params():,} / {theirs.count_params():,}",
                spread(rates["kerascnn"]),
                spread(rates["applications"]),
                f"**{a / b:.3f}**",
            ]
        )
        log(f"builder {name}: {a:.1f} vs {b:.1f} images/s")
    return (
        f"Training images/s, {size}x{size}x3 inputs, 10 classes, batch {batch}, {steps} steps "
        f"per measurement (a cached in-memory tf.data dataset), float32, SGD momentum 0.9, "
        f"median (range) of {repeats} alternated epochs after a warm-up epoch. Parameters differ "
        f"where keras.applications keeps conv biases "
        f"before BN (ResNet50).\n\n"
        + table(
            [
                "model (kerascnn / keras.applications)",
                "params",
                "kerascnn images/s",
                "keras.applications images/s",
                "ratio of medians",
            ],
            rows,
        )
    )


# --- 2. trainer defaults ---------------------------------------------------------------------------


def part_trainer(quick: bool) -> str:
    import csv

    import keras
    import numpy as np

    import kerascnn
    from kerascnn.data import load_data
    from kerascnn.recipe import load_recipe
    from kerascnn.verbs import train

    samples, epochs, repeats, batch = (1600, 4, 3, 64) if quick else (4000, 6, 5, 128)
    work = Path(tempfile.mkdtemp(prefix="kerascnn-bench-"))
    doc = {
        "model": {"name": "resnet20"},
        "data": {
            "source": "synthetic",
            "classes": 10,
            "samples": samples,
            "image_size": [32, 32],
            "channels": 3,
            "batch_size": batch,
        },
        "train": {"epochs": epochs, "optimizer": "sgd", "learning_rate": 0.05, "momentum": 0.9},
        "output": {"tensorboard": False},
    }
    recipe = load_recipe(doc, name="bench")
    data = load_data(recipe)

    def arrays(ds):
        xs, ys = zip(*((x, y) for x, y in ds.as_numpy_iterator()))
        return np.concatenate(xs), np.concatenate(ys)

    x, y = arrays(data.train)
    xv, yv = arrays(data.val)
    counter = {"run": 0}

    def kerascnn_train() -> float:
        counter["run"] += 1
        run = work / f"run{counter['run']}"
        doc["output"]["dir"] = str(run)
        train(load_recipe(doc, name="bench"), verbose=0, log=lambda *a: None)
        with open(run / "history.csv", newline="") as f:
            seconds = [float(r["seconds"]) for r in csv.DictReader(f)][1:]  # after compilation
        return len(x) * len(seconds) / sum(seconds)

    class EpochTimes(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.start)

    def plain_fit() -> float:
        keras.backend.clear_session()
        model = kerascnn.build("resnet20", input_shape=(32, 32, 3), classes=10)
        compile_sgd(model)
        timer = EpochTimes()
        timer.seconds = []
        model.fit(
            x, y, batch_size=batch, epochs=epochs, validation_data=(xv, yv), callbacks=[timer], verbose=0
        )
        return len(x) * len(timer.seconds[1:]) / sum(timer.seconds[1:])

    try:
        rates = alternate({"kerascnn train": kerascnn_train, "model.fit": plain_fit}, repeats)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    a, b = (statistics.median(rates[k]) for k in ("kerascnn train", "model.fit"))
    log(f"trainer: {a:.1f} vs {b:.1f} images/s")
    from kerascnn.training.compile import steps_per_execution as _steps_per_execution
    from kerascnn.training.devices import precision as _precision

    chosen = (
        f"{_precision('auto')}, {_steps_per_execution('auto')} batches a call, tf.data autotuning off"
    )
    return (
        f"`resnet20`, {len(x):,} training and {len(xv):,} validation images of 32x32x3, batch "
        f"{batch}, SGD momentum 0.9, {epochs} epochs per run (the first, with compilation, "
        f"left out), {repeats} alternated runs each; median (range) of the runs. Both validate "
        f"every epoch; kerascnn also writes its backup, best checkpoint and history. The "
        f"trainer's choices on this machine: {chosen}; plain `model.fit`: float32, one batch "
        f"a call, Keras' own tf.data adapter.\n\n"
        + table(
            ["trainer", "training images/s"],
            [
                ["`kerascnn train` (defaults)", spread(rates["kerascnn train"])],
                ["plain `model.fit` (NumPy arrays)", spread(rates["model.fit"])],
                ["ratio of medians", f"**{a / b:.3f}**"],
            ],
        )
    )


# --- 3. input pipeline -----------------------------------------------------------------------------


def part_pipeline(quick: bool) -> str:
    import keras
    import numpy as np
    import tensorflow as tf

    import kerascnn
    from kerascnn.data import load_data
    from kerascnn.recipe import load_recipe

    per_class, repeats, batch = (96, 5, 64) if quick else (256, 5, 128)
    work = Path(tempfile.mkdtemp(prefix="kerascnn-bench-"))
    rng = np.random.default_rng(0)
    for k in range(10):  # 10 classes of 48x48 JPEGs, a colour and noise per class
        folder = work / "images" / f"class{k}"
        folder.mkdir(parents=True)
        base = rng.integers(0, 256, 3)
        for i in range(per_class):
            image = np.clip(base + rng.normal(0, 40, (48, 48, 3)), 0, 255).astype("uint8")
            keras.utils.save_img(folder / f"{i}.jpg", image)
    rows = []
    try:
        for cache in (False, True):
            doc = {
                "model": {"name": "resnet20"},
                "data": {
                    "source": "folder",
                    "path": str(work / "images"),
                    "image_size": [32, 32],
                    "batch_size": batch,
                    "cache": cache,
                    "validation_split": 0.0,
                    "augment": {"crop_padding": 4, "flip": True},
                },
                "train": {"epochs": 1},
                "output": {"tensorboard": False},
            }
            data = load_data(load_recipe(doc, name="pipeline"))
            xs, ys = zip(*((x, y) for x, y in data.train.as_numpy_iterator()))
            # The same tf.data options as the pipeline's (autotuning off): only the source differs.
            memory = (
                tf.data.Dataset.from_tensor_slices((np.concatenate(xs), np.concatenate(ys)))
                .batch(batch)
                .prefetch(tf.data.AUTOTUNE)
                .with_options(data.train.options())
            )
            n = sum(len(x) for x in xs)
            keras.backend.clear_session()
            model = kerascnn.build("resnet20", input_shape=(32, 32, 3), classes=10)
            compile_sgd(model)
            model.fit(memory, epochs=1, verbose=0)  # compilation
            model.fit(data.train, epochs=1, verbose=0)  # and the cache filled, when it caches

            rates = alternate(
                {
                    "folder": lambda model=model, train=data.train, n=n: fit_rate(
                        model, train, n, epochs=2
                    ),
                    "memory": lambda model=model, memory=memory, n=n: fit_rate(
                        model, memory, n, epochs=2
                    ),
                },
                repeats,
            )
            a, b = (statistics.median(rates[k]) for k in ("folder", "memory"))
            rows.append(
                [
                    f"JPEG folder, cache = {str(cache).lower()}",
                    spread(rates["folder"]),
                    spread(rates["memory"]),
                    f"**{a / b:.3f}**",
                ]
            )
            log(f"pipeline cache={cache}: {a:.1f} vs {b:.1f} images/s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return (
        f"`resnet20` trained on {n:,} 48x48 JPEGs (10 class folders) brought to 32x32, 4-pixel "
        f"padded random crops and flips, batch {batch}, against one epoch of the same "
        f"pipeline's output held in memory (`from_tensor_slices`); median (range) of {repeats} "
        f"alternated windows of 2 epochs after warm-up.\n\n"
        + table(["data path", "images/s", "from memory, images/s", "ratio of medians"], rows)
    )


# --- 4. scaling ------------------------------------------------------------------------------------


def part_scaling(quick: bool) -> str:
    import keras

    import kerascnn

    kerascnn.build("resnet20")  # one-time set-up is not a model's cost
    rows = []
    for name in [
        "resnet20",
        "resnet56",
        "resnet110",
        "resnet1202",
        "densenet121",
        "densenet169",
        "densenet201",
        "densenet264",
    ]:
        keras.backend.clear_session()
        start = time.perf_counter()
        model = kerascnn.build(name)
        built = time.perf_counter() - start
        start = time.perf_counter()
        p = kerascnn.profile(model)
        profiled = time.perf_counter() - start
        rows.append(
            [
                f"`{name}`",
                f"{len(model.layers):,}",
                f"{p.params:,}",
                f"{p.macs / 1e9:.2f}",
                f"{built:.1f}",
                f"{profiled:.2f}",
            ]
        )
        log(f"scaling {name}: build {built:.1f} s, profile {profiled:.2f} s")
        del model
    depth = table(
        ["model (default input)", "layers", "params", "GMACs", "build (s)", "profile (s)"], rows
    )

    batches, repeats = ([32, 128], 3) if quick else ([16, 32, 64, 128, 256], 5)
    x, y = random_task(512 if quick else 1024, 32)
    keras.backend.clear_session()
    model = kerascnn.build("resnet20", input_shape=(32, 32, 3), classes=10)
    compile_sgd(model)
    data = {batch: memory_dataset(x, y, batch) for batch in batches}
    for batch in batches:
        model.fit(data[batch], epochs=1, verbose=0)  # compiles for this batch size
    rates = alternate(
        {batch: (lambda b=batch: fit_rate(model, data[b], len(x))) for batch in batches}, repeats
    )
    rows = [[str(batch), spread(rates[batch])] for batch in batches]
    log("scaling batches: " + ", ".join(f"{b}: {statistics.median(r):.0f}" for b, r in rates.items()))
    throughput = table(["batch", "images/s"], rows)
    return (
        f"Build and profile time against depth, one build each after a warm-up build:\n\n"
        f"{depth}\n\n`resnet20` training throughput (32x32x3, float32, `model.fit` from "
        f"{len(x)} in-memory images, median (range) of {repeats} epochs after warm-up, batch "
        f"sizes alternated) against batch size:\n\n{throughput}"
    )


# --- the run ---------------------------------------------------------------------------------------


def machine() -> str:
    import keras
    import tensorflow as tf

    import kerascnn

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpus = tf.config.list_physical_devices("GPU")
    return (
        f"{os.cpu_count()} CPU cores ({cpu}){', ' + str(len(gpus)) + ' GPU' if gpus else ''}; "
        f"Python {platform.python_version()}, Keras {keras.__version__} "
        f"({keras.backend.backend()} backend), TensorFlow {tf.__version__}, kerascnn "
        f"{kerascnn.__version__}"
    )


def record(text: str, path: Path) -> None:
    """Insert an entry at the top of BENCHMARKS.md (newest first), after its introduction."""
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n\n"
    cut = old.find("\n## ")
    head, rest = (old, "") if cut < 0 else (old[: cut + 1], old[cut + 1 :])
    path.write_text(head + text.rstrip() + "\n\n" + rest, encoding="utf-8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small inputs, fewer repeats")
    parser.add_argument(
        "--device", choices=("cpu", "gpu"), default="cpu", help="cpu hides any GPU; gpu requires one"
    )
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--no-record", action="store_true", help="print only; BENCHMARKS.md unchanged")
    args = parser.parse_args(argv)
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    import tensorflow as tf

    if args.device == "gpu" and not tf.config.list_physical_devices("GPU"):
        print("--device gpu: no GPU is visible to TensorFlow.", file=sys.stderr)
        return 2
    command = "python benchmarks/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    started = time.perf_counter()
    sections = []
    functions = {
        "builder": part_builder,
        "trainer": part_trainer,
        "pipeline": part_pipeline,
        "scaling": part_scaling,
    }
    titles = {
        "builder": "1. Builder overhead: kerascnn against keras.applications",
        "trainer": "2. Trainer defaults: `kerascnn train` against plain `model.fit`",
        "pipeline": "3. Input pipeline: files against memory",
        "scaling": "4. Scaling: depth and batch size",
    }
    for part in args.parts:
        log(f"part {part} ...")
        sections.append(f"### {titles[part]}\n\n{functions[part](args.quick)}")
        print(sections[-1] + "\n", flush=True)
    minutes = (time.perf_counter() - started) / 60
    entry = (
        f"## {time.strftime('%Y-%m-%d')} — {args.device.upper()}: benchmark suite"
        f"{' (quick)' if args.quick else ''}\n\nMachine: {machine()}.\n`{command.strip()}` "
        f"({minutes:.1f} minutes).\n\n" + "\n\n".join(sections)
    )
    if not args.no_record:
        record(entry, REPO / "BENCHMARKS.md")
        log("recorded in BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
