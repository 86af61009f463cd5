"""The commands that run recipes: `kerascnn train`, `kerascnn tune`, `kerascnn recipes`.

Each command is two functions: `add_<command>` declares its arguments, `run_<command>` checks
what it names, calls the verb and prints."""

from __future__ import annotations

from kerascnn.cli.arguments import check_new_plot, positive_int, print_table, recipe_file
from kerascnn.cli.scripting import add_set_option, add_train_options, quiet_backend, recipe_overrides
from kerascnn.config import check_folder
from kerascnn.recipe.shipped import copy_recipe, shipped_recipes


def add_train(commands) -> None:
    train = commands.add_parser(
        "train",
        help="run a recipe with model.fit into a resumable run directory",
        description="Validate a recipe, then train: progress bars, a run directory with the "
        "resolved recipe, checkpoints, history, TensorBoard logs, curves and the "
        "final model. Running the same command again resumes an interrupted run.",
    )
    train.add_argument(
        "recipe",
        metavar="RECIPE",
        help="a recipe file, or the name of a shipped recipe (`kerascnn recipes`), e.g. lenet5_digits",
    )
    add_train_options(train)
    train.set_defaults(run=run_train)


def run_train(args) -> int:
    recipe = recipe_file(args, recipe_overrides(args))
    check_folder(recipe.run_dir(), what="the run directory")
    quiet_backend()
    from kerascnn.verbs import train

    train(recipe, restart=args.restart, verbose=0 if args.quiet else "auto")
    return 0


def add_tune(commands) -> None:
    tune = commands.add_parser(
        "tune",
        help="search a recipe's [tune] space with keras-tuner",
        description="Run the hyperparameter search a recipe's [tune] table declares (random, "
        "hyperband or bayesian, keras-tuner), print every trial, and write the best "
        "trial's recipe as a file `kerascnn train` runs. Running the same command "
        "again resumes an interrupted search.",
    )
    tune.add_argument(
        "recipe",
        metavar="RECIPE",
        help="a recipe file with [tune], or a shipped one's name, e.g. lenet5_digits_search",
    )
    add_train_options(
        tune,
        example="tune.max_trials=3",
        output="the search directory (default: the run directory's name + _tune)",
        restart="start a new search beside one made by a different recipe",
    )
    tune.set_defaults(run=run_tune)


def run_tune(args) -> int:
    recipe = recipe_file(args, args.overrides)  # --output is the search's directory
    check_folder(recipe.search_dir(args.output), what="the search directory")
    quiet_backend()
    from kerascnn.verbs import tune

    tune(recipe, directory=args.output, restart=args.restart, verbose=0 if args.quiet else "auto")
    return 0


def add_recipes(commands) -> None:
    recipes = commands.add_parser(
        "recipes",
        help="the recipes that ship with kerascnn: list them, or copy one to edit",
        description="The shipped recipes (the papers' training set-ups, the offline quickstart, "
        "transfer learning and search examples): `kerascnn train NAME` runs one from "
        "any directory; --copy writes one here to edit (never overwriting).",
    )
    recipes.add_argument(
        "--copy", metavar="NAME", help="copy this recipe (and the spec files it names) to edit"
    )
    recipes.add_argument(
        "--to", default=".", metavar="DIR", help="where --copy writes (default: the current directory)"
    )
    recipes.set_defaults(run=run_recipes)


def run_recipes(args) -> int:
    if args.copy is not None:
        for path in copy_recipe(args.copy, args.to):
            print(f"copied {path}")
        return 0
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("recipe", "network", "dataset", "what the paper reports / what it does"):
        table.add_column(column, overflow="fold")
    for recipe in shipped_recipes().values():
        table.add_row(recipe.name, recipe.network, recipe.dataset, recipe.reported)
    print_table(table)
    return 0


def add_lr_find(commands) -> None:
    finder = commands.add_parser(
        "lr-find",
        help="sweep a recipe's learning rate (the range test) and suggest one",
        description="The learning-rate range test (Smith 2017): about a hundred training steps "
        "of the recipe's model and data while the rate grows exponentially, the loss of each "
        "step, and a suggested rate (a tenth of the one with the lowest loss) printed as the "
        "--set to train with. Writes no run directory; --out draws loss against rate.",
    )
    finder.add_argument("recipe", metavar="RECIPE", help="a recipe file, or a shipped recipe's name")
    add_set_option(finder, example="data.batch_size=64")
    finder.add_argument("--steps", type=positive_int, default=100, help="steps (default 100)")
    finder.add_argument("--start", type=float, default=1e-7, help="first rate (default 1e-7)")
    finder.add_argument("--end", type=float, default=10.0, help="last rate (default 10)")
    finder.add_argument("--out", metavar="FILE.png", help="the plot (never overwritten)")
    finder.add_argument("--quiet", action="store_true", help="no progress bar")
    finder.set_defaults(run=run_lr_find)


def run_lr_find(args) -> int:
    recipe = recipe_file(args, args.overrides)  # every recipe error before the data loads
    if args.out is not None:
        check_new_plot(args.out, "--out")
    quiet_backend()
    from kerascnn.training import lr_find

    found = lr_find(
        recipe,
        start=args.start,
        end=args.end,
        steps=args.steps,
        out=args.out,
        verbose=0 if args.quiet else "auto",
    )
    print(
        f"lr-find: {len(found.rates)} steps from {found.rates[0]:.3g} to {found.rates[-1]:.3g}; "
        f"lowest loss at {found.lowest:.3g}, steepest fall at {found.steepest:.3g}"
    )
    if found.plot is not None:
        print(f"saved {found.plot}")
    print(f"suggested: --set {found.override()}")
    return 0
