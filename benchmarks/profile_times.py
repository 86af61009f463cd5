"""Time of `kerascnn.profile` (issue 4: ResNet-152 at 224x224 under 5 s on this 2-core machine).

    python benchmarks/profile_times.py [--models resnet152 ...] [--repeats 3]

For each model: the build (once, after a warm-up build), then `profile(model)` `--repeats` times (the
best is reported; the first includes nothing extra, profiling caches nothing between calls), and the
totals it finds. Prints Markdown rows for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DEFAULT = ["resnet50", "resnet152", "densenet264", "inception_resnet_v2", "resnet1202"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=DEFAULT)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    import keras

    import kerascnn

    kerascnn.build("resnet20")
    print(
        f"# {time.strftime('%Y-%m-%d')}, {platform.node()}, {os.cpu_count()} CPUs, "
        f"keras {keras.__version__} ({keras.backend.backend()})"
    )
    print("| model | layers | build (s) | profile (s) | build + profile (s) | MACs | params |")
    print("|---|--:|--:|--:|--:|--:|--:|")
    for name in args.models:
        keras.backend.clear_session()
        t0 = time.perf_counter()
        model = kerascnn.build(name)
        build = time.perf_counter() - t0
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            result = kerascnn.profile(model)
            times.append(time.perf_counter() - t0)
        first = times[0]
        print(
            f"| `{name}` | {len(result.rows):,} | {build:.1f} | {min(times):.2f} "
            f"(first {first:.2f}) | {build + first:.1f} | {result.macs / 1e9:.2f}G | "
            f"{result.params:,} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
