"""The recipes that ship with kerascnn: found by name from any directory, listed, copied out to edit.

They live in the checkout's `recipes/` and install as `kerascnn/recipes/` (pyproject.toml), so that
after `pip install kerascnn` the paper recipes work as they do in a checkout, the way Ultralytics
resolves `coco8.yaml`:

    kerascnn train lenet5_digits          # a name: the shipped recipes/lenet5_digits.toml
    kerascnn train my/lenet5.toml         # a file path always wins over a name
    kerascnn recipes                      # the table: name, network, dataset, what the paper reports
    kerascnn recipes --copy lenet5_digits # ./lenet5_digits.toml (and the spec files it names)

A recipe's run directory (`output.dir`, e.g. `runs/lenet5_digits`) is relative to where the command
runs, never inside the installed package.
"""

from __future__ import annotations

import ast
import shutil
from dataclasses import dataclass
from pathlib import Path

from kerascnn.config import ConfigError, check_folder, check_new_file, load_document, option
from kerascnn.config.errors import did_you_mean

__all__ = ["ShippedRecipe", "recipes_folder", "shipped_recipes", "find_recipe", "copy_recipe"]

RECIPE_SUFFIXES = (".toml", ".yaml", ".yml")


def recipes_folder() -> Path:
    """Where the shipped recipes are: `kerascnn/recipes/` in an installed package, `recipes/` beside
    the package in a source checkout."""
    package = Path(__file__).resolve().parents[1]  # kerascnn/
    installed = package / "recipes"
    if installed.is_dir():
        return installed
    checkout = package.parent / "recipes"
    if checkout.is_dir() and (package.parent / "pyproject.toml").is_file():
        return checkout
    raise ConfigError(
        f"kerascnn's shipped recipes are missing (looked in {installed} and "
        f"{checkout}): reinstall kerascnn."
    )


@dataclass(frozen=True)
class ShippedRecipe:
    """One shipped recipe: its name, file, network, dataset and what its paper reports (the
    recipe's `description`; a script's docstring)."""

    name: str
    path: Path
    network: str
    dataset: str
    reported: str

    @property
    def script(self) -> bool:
        return self.path.suffix == ".py"


def shipped_recipes() -> dict[str, ShippedRecipe]:
    """Every shipped recipe by name (its file's stem), in name order."""
    folder = recipes_folder()
    found = {}
    for path in sorted(folder.iterdir()):
        if path.suffix in RECIPE_SUFFIXES and path.is_file():
            found[path.stem] = _describe(path)
        elif path.suffix == ".py" and path.is_file() and not path.name.startswith("_"):
            found[path.stem] = _describe_script(path)
    return found


def find_recipe(text: str | Path) -> Path:
    """The recipe file `text` names: a file path when one exists (it always wins), else the shipped
    recipe of that name (`lenet5_digits`, or `lenet5_digits.toml`).

    Raises:
        ConfigError: neither a file nor a shipped recipe (with close names), or a recipe script.
    """
    path = Path(text)
    if path.is_file():
        return path
    name = path.stem if path.suffix in (*RECIPE_SUFFIXES, ".py") else path.name
    recipes = shipped_recipes()
    if len(path.parts) > 1:  # a path, not a name
        raise ConfigError(
            f"no recipe file at {str(text)!r}.",
            hint=f"the shipped recipe of that name runs from any directory: `kerascnn train {name}`."
            if name in recipes
            else None,
        )
    if name not in recipes:
        raise ConfigError(
            f"no recipe file at {str(text)!r} and no shipped recipe named {name!r}.",
            hint=did_you_mean(name, list(recipes))
            or "`kerascnn recipes` lists the shipped ones; the quickstart is lenet5_digits.",
        )
    recipe = recipes[name]
    if recipe.script:
        raise ConfigError(
            f"{name!r} is a recipe script (Python), which runs by itself: "
            f"`python {recipe.path} --help`.",
            hint=f"`kerascnn recipes --copy {name}` copies it here to edit.",
        )
    return recipe.path


def copy_recipe(name: str, to: str | Path = ".") -> list[Path]:
    """Copy the shipped recipe `name` (and the spec files it names) into the folder `to`, to edit;
    nothing is overwritten. Returns the files written."""
    recipes = shipped_recipes()
    if name not in recipes:
        raise ConfigError(
            f"no shipped recipe named {name!r}.",
            hint=did_you_mean(name, list(recipes)) or "`kerascnn recipes` lists them.",
        )
    source = recipes[name].path
    folder = check_folder(to, what=option("to"))
    files = [(source, folder / source.name)]
    spec = _spec_file(source)
    if spec is not None:
        files.append((source.parent / spec, folder / spec))
    taken = [str(target) for _, target in files if target.exists()]
    if taken:
        raise ConfigError(
            f"{', '.join(taken)} exist{'s' if len(taken) == 1 else ''}; kerascnn does "
            f"not overwrite a file.",
            hint=f"copy into another folder ({option('to', 'DIR')}).",
        )
    for _, target in files:
        check_new_file(target, what="the copy")
    for original, target in files:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(original, target)
    return [target for _, target in files]


def _describe(path: Path) -> ShippedRecipe:
    document, _ = load_document(path)
    model = document.get("model", {})
    finetune = document.get("finetune", {})
    if model.get("name"):
        network = model["name"]
    elif model.get("spec"):
        network = f"spec {Path(str(model['spec'])).stem}" if isinstance(model["spec"], str) else "spec"
    elif finetune:
        start = finetune.get("application") or Path(str(finetune.get("weights", ""))).name
        network = f"fine-tuned {start}"
    else:
        network = ""
    data = document.get("data", {})
    dataset = data.get("name") or data.get("source", "")
    if data.get("source") == "folder":
        dataset = "your image folder"
    if "tune" in document:
        network += " (search)"
    return ShippedRecipe(
        name=path.stem,
        path=path,
        network=network,
        dataset=str(dataset),
        reported=" ".join(str(document.get("description", "")).split()),
    )


def _describe_script(path: Path) -> ShippedRecipe:
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    paragraph = " ".join(docstring.split("\n\n")[0].split())
    first = paragraph.split(". ")[0].rstrip(".") + "."
    return ShippedRecipe(name=path.stem, path=path, network="Python script", dataset="", reported=first)


def _spec_file(recipe: Path) -> str | None:
    """The spec file a recipe names relative to itself (`model.spec = "specs/x.toml"`)."""
    if recipe.suffix not in RECIPE_SUFFIXES:
        return None
    document, _ = load_document(recipe)
    spec = document.get("model", {}).get("spec")
    if isinstance(spec, str) and not Path(spec).is_absolute() and (recipe.parent / spec).is_file():
        return spec
    return None
