"""Table 6 of He et al. (2016), "Deep residual learning for image recognition", in a loop: ResNet-20,
32, 44, 56 and 110 trained on CIFAR-10 by recipes/resnet20_cifar10.toml (ResNet-110 with the
warm-up of recipes/resnet110_cifar10.toml), then their test errors beside the paper's and a plot of
error against depth. Each error is the final model's, trained on all 50k images, as the paper's.

    python recipes/resnet_depths_cifar10.py                         # all five, as the paper
    python recipes/resnet_depths_cifar10.py --depths 20 32 --set train.iterations=10000

Each depth is an ordinary run directory (runs/resnet<depth>_cifar10): an interrupted sweep resumes
where it stopped, and finished depths are read back rather than trained again.
"""

import argparse
import json
import sys
from pathlib import Path

from kerascnn.cli.scripting import add_train_options, recipe_overrides

HERE = Path(__file__).resolve().parent
PAPER_ERROR = {20: 8.75, 32: 7.51, 44: 7.17, 56: 6.97, 110: 6.43}  # Table 6, % test error
# ResNet-110's warm-up (Section 4.2): 0.01 for about 400 iterations, then 0.1.
WARMUP = ["train.warmup=400", 'train.warmup_shape="constant"', "train.warmup_learning_rate=0.01"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--depths",
        type=int,
        nargs="+",
        default=sorted(PAPER_ERROR),
        choices=sorted(PAPER_ERROR),
        metavar="DEPTH",
        help="which of 20 32 44 56 110 (default: all)",
    )
    add_train_options(parser)
    args = parser.parse_args(argv)

    import keras

    from kerascnn.config import ConfigError
    from kerascnn.recipe import load_recipe
    from kerascnn.runs import rundir
    from kerascnn.verbs import train

    base = Path(args.output) if args.output else Path("runs")
    args.output = None  # each depth gets its own directory under `base`
    errors = {}
    try:
        recipes = []
        for depth in args.depths:  # every recipe validated before the first one trains
            overrides = [
                f"model.name=resnet{depth}",
                f'output.dir="{(base / f"resnet{depth}_cifar10").as_posix()}"',
                *(WARMUP if depth >= 110 else []),
                *recipe_overrides(args),
            ]
            recipes.append(
                (
                    depth,
                    load_recipe(
                        HERE / "resnet20_cifar10.toml", overrides, name=f"resnet{depth}_cifar10"
                    ),
                )
            )
        for depth, recipe in recipes:
            keras.backend.clear_session()  # one network's graph at a time
            state = rundir.read_state(recipe.run_dir()) or {}
            if state.get("status") == "finished" and not args.restart:
                metrics = json.loads((recipe.run_dir() / "metrics.json").read_text())
            else:
                metrics = train(
                    recipe, restart=args.restart, verbose=0 if args.quiet else "auto"
                ).metrics
            if "test" in metrics:
                errors[depth] = 100 * (1 - metrics["test"]["accuracy"])
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    print(f"\n{'model':<11}{'test error':>11}{'paper':>8}")
    for depth, error in errors.items():
        print(f"resnet{depth:<5}{error:>10.2f}%{PAPER_ERROR[depth]:>7.2f}%")
    if errors:
        plot = base / "resnet_depths_cifar10.png"
        _plot(errors, plot)
        print(f"plot: {plot}")
    return 0


def _plot(errors: dict, target: Path) -> None:
    from matplotlib.figure import Figure  # no pyplot: leaves the backend alone

    fig = Figure(figsize=(5, 3.5), dpi=110)
    ax = fig.subplots()
    depths = sorted(errors)
    ax.plot(depths, [errors[d] for d in depths], "o-", label="this run")
    ax.plot(depths, [PAPER_ERROR[d] for d in depths], "s--", label="He et al. (2016), Table 6")
    ax.set_xscale("log")
    ax.set_xticks(depths, [str(d) for d in depths])
    ax.set_xlabel("depth (layers)")
    ax.set_ylabel("CIFAR-10 test error (%)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(target)


if __name__ == "__main__":
    sys.exit(main())
