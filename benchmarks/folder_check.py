"""What checking an image folder before training costs (issue 22, item 1): every image decoded once,
in parallel tf.data, the result remembered per file.

    python benchmarks/folder_check.py [--images 3000] [--size 500 375] [--repeats 3] [--markdown]

Generates a folder of JPEGs the size of the Cats-vs-Dogs photos the Keras tutorials use (about
500x375, two classes, one damaged), then times, median (range) of `--repeats` runs each:
listing the files alone (no decoding), the check with an empty cache (the first run on a folder),
the check with a warm cache (a resumed run, a second run, `kerascnn evaluate`), and for scale one
epoch of the training pipeline's own reading (read, decode, resize to 224x224: what an epoch pays
when `data.cache` is off, and the first epoch pays when it is on).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def make_folder(root: Path, images: int, size) -> Path:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    width, height = size
    # Smooth random images compress like photos (noise would make every JPEG unusually large).
    for i in range(images):
        folder = root / ("cat" if i % 2 else "dog")
        folder.mkdir(parents=True, exist_ok=True)
        coarse = rng.integers(0, 255, (height // 25 + 1, width // 25 + 1, 3), dtype=np.uint8)
        image = Image.fromarray(coarse).resize((width, height), Image.BILINEAR)
        image.save(folder / f"{i}.jpg", quality=90)
    damaged = root / "cat" / "1.jpg"
    data = damaged.read_bytes()
    damaged.write_bytes(data[: len(data) // 3])
    return root


def timed(fn, repeats: int, before=None):
    times = []
    for _ in range(repeats):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times), max(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--size", type=int, nargs=2, default=(500, 375), metavar=("W", "H"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)

    import keras
    import tensorflow as tf

    from kerascnn.data import folder

    work = Path(tempfile.mkdtemp(prefix="kerascnn-folder-check-"))
    cache = work / "cache"
    os.environ["KERASCNN_CACHE"] = str(cache)
    try:
        t0 = time.perf_counter()
        root = make_folder(work / "images", args.images, args.size)
        made = time.perf_counter() - t0
        megabytes = sum(p.stat().st_size for p in root.rglob("*.jpg")) / 1e6
        index = folder.index_folder(root, seed=0, check=True)
        assert len(index.bad) == 1 and len(index.paths) == args.images - 1, index.bad

        def clear():
            shutil.rmtree(cache, ignore_errors=True)

        listing = timed(lambda: folder.index_folder(root, seed=0, check=False), args.repeats)
        cold = timed(lambda: folder.index_folder(root, seed=0, check=True), args.repeats, before=clear)
        folder.index_folder(root, seed=0, check=True)
        warm = timed(lambda: folder.index_folder(root, seed=0, check=True), args.repeats)

        def epoch():
            ds = folder.images_dataset(index.paths, index.labels, size=(224, 224), channels=3)
            for _ in ds.batch(64).prefetch(tf.data.AUTOTUNE):
                pass

        reading = timed(epoch, args.repeats)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    rows = [
        ("listing the files (no decoding)", listing),
        ("check, first run (empty cache): every image decoded", cold),
        ("check, later runs (cache warm): nothing decoded", warm),
        ("for scale: one epoch of reading, decoding and resizing to 224x224", reading),
    ]
    head = (
        f"{time.strftime('%Y-%m-%d')}, {platform.node()}, {os.cpu_count()} CPUs, "
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}; {args.images:,} JPEGs of "
        f"{args.size[0]}x{args.size[1]} ({megabytes:.0f} MB, one damaged), generated in "
        f"{made:.0f} s; median (range) of {args.repeats}"
    )
    if args.markdown:
        print(f"{head}.\n\n| step | seconds | images/s |\n| --- | ---: | ---: |")
        for name, (median, low, high) in rows:
            print(f"| {name} | {median:.2f} ({low:.2f}–{high:.2f}) | {args.images / median:,.0f} |")
    else:
        print("# " + head)
        for name, (median, low, high) in rows:
            print(
                f"{name:<68} {median:7.2f} s ({low:.2f}-{high:.2f})  "
                f"{args.images / median:9,.0f} images/s"
            )


if __name__ == "__main__":
    main()
