"""Build time of every registry model at its default input (issue 3: under 10 s each on 2 cores).

    python benchmarks/build_times.py [--models resnet50 vgg16 ...] [--markdown]

Each model is built once in this process after one warm-up build (Keras' and the backend's one-time
set-up is not the model's cost), `keras.backend.clear_session()` between builds. Prints a table; with
`--markdown`, rows ready for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)

    import keras

    import kerascnn
    from kerascnn.zoo import list_models

    names = args.models or list_models()
    t0 = time.perf_counter()
    kerascnn.build("resnet20")
    warmup = time.perf_counter() - t0
    print(
        f"# {time.strftime('%Y-%m-%d')}, {platform.node()}, {os.cpu_count()} CPUs, "
        f"keras {keras.__version__} ({keras.backend.backend()}); warm-up build {warmup:.1f} s"
    )
    rows = []
    for name in names:
        keras.backend.clear_session()
        t0 = time.perf_counter()
        model = kerascnn.build(name)
        seconds = time.perf_counter() - t0
        rows.append((name, len(model.layers), model.count_params(), seconds))
        mark = "" if seconds < 10 else "  <-- over 10 s"
        if args.markdown:
            print(f"| `{name}` | {len(model.layers):,} | {seconds:.1f} |{mark}")
        else:
            print(f"{name:22s} {len(model.layers):6,d} layers {seconds:6.1f} s{mark}", flush=True)
        del model
    slow = [r[0] for r in rows if r[3] >= 10]
    print(f"# slowest: {max(rows, key=lambda r: r[3])[0]}; over 10 s: {', '.join(slow) or 'none'}")


if __name__ == "__main__":
    main()
