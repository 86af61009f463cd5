"""Discriminative learning rates on the glyphs transfer task (issue 45): `recipes/glyphs_finetune.toml`
(10 unseen glyph classes from 5 images each, 400 test images) after `recipes/glyphs_pretrain.toml`,
its second phase as shipped (the top stage unfrozen at a tenth of the rate) against the same with
`layer_decay`, and against every stage unfrozen with one rate or with decaying rates (fastai's
`fine_tune` with `slice(lo, hi)`).

    python benchmarks/layer_decay.py [--seeds 0 1 2] [--decay 0.5] [--out runs/layer_decay]
                                     [--markdown]

For each seed the pretraining runs with that seed (as docs/finetuning.md's table does), then each
configuration of the fine-tuning; finished runs are reused (runs resume), so the script can be
stopped and run again. Prints test accuracy per seed and the mean.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
from pathlib import Path

import tomllib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def configs(decay: float) -> dict:
    """Each configuration: what phase 2 ("top") sets besides the shipped recipe's keys."""
    return {
        "top stage at lr/10 (shipped)": {},
        f"top stage, layer_decay {decay:g}": {"layer_decay": decay},
        "every stage at lr/10": {"unfreeze": "all"},
        f"every stage, layer_decay {decay:g}": {"unfreeze": "all", "layer_decay": decay},
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--decay", type=float, default=0.5)
    parser.add_argument("--out", default="runs/layer_decay")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)

    import kerascnn
    from kerascnn.recipe import load_recipe
    from kerascnn.recipe.shipped import find_recipe

    out = Path(args.out)

    def shipped(name):
        path = find_recipe(name)
        return tomllib.loads(path.read_text()), path

    results = {name: [] for name in configs(args.decay)}
    for seed in args.seeds:
        pre, pre_path = shipped("glyphs_pretrain")
        pre["train"]["seed"] = seed
        pre["output"]["dir"] = str(out / f"pretrain-{seed}")
        pre["model"]["spec"] = str(pre_path.parent / pre["model"]["spec"])
        _run(kerascnn, load_recipe(pre, name="glyphs_pretrain"))
        for name, phase in configs(args.decay).items():
            doc, _ = shipped("glyphs_finetune")
            doc = copy.deepcopy(doc)
            doc["train"]["seed"] = seed
            doc["finetune"]["weights"] = str(out / f"pretrain-{seed}")
            doc["finetune"]["phases"][1].update(phase)
            slug = name.split(" (")[0].replace(" ", "-").replace("/", "")
            doc["output"]["dir"] = str(out / f"{slug}-{seed}")
            result = _run(kerascnn, load_recipe(doc, name="glyphs_finetune"))
            results[name].append(result.metrics["test"]["accuracy"])
            print(f"seed {seed}  {name:40s} test accuracy {results[name][-1]:.1%}", flush=True)
    _table(results, args.seeds, args.markdown)


def _run(kerascnn, recipe):
    from kerascnn.runs.metrics import RunResult
    from kerascnn.runs.rundir import RunDir

    files = RunDir(Path(recipe.output.dir))
    if files.metrics.exists():  # finished before: reused
        import json

        return RunResult(files.path, json.loads(files.metrics.read_text()), files.model)
    return kerascnn.train(recipe, verbose=0, log=lambda *a: None)


def _table(results, seeds, markdown):
    head = ["phase 2 of glyphs_finetune", *(f"seed {s}" for s in seeds), "mean"]
    rows = [
        [name, *(f"{a:.1%}" for a in values), f"{statistics.mean(values):.1%}"]
        for name, values in results.items()
    ]
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join("---" for _ in head) + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        for row in [head, *rows]:
            print("  ".join(f"{c:>10s}" if i else f"{c:40s}" for i, c in enumerate(row)))


if __name__ == "__main__":
    main()
