"""The package's shape: the layers of the design (layers -> blocks -> spec -> zoo below the training
side) and no import circles, read from the source (module-level, function-level and annotation-only
imports alike: a circle a type checker sees is one a reader follows too)."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "kerascnn"


def import_graph() -> dict[str, set[str]]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
                found = [f"{base}.{a.name}" for a in node.names] + [base]
            else:
                continue
            for target in found:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(target + "."):
                    targets.add(target)
        graph[name] = targets
    return graph


def reachable(graph, start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for target in graph[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_no_import_circles():
    """Every module's imports point one way: no module reaches itself through the others (a
    package's __init__ re-exporting its own modules is not a circle)."""
    graph = import_graph()
    circles = []
    for name in graph:
        for target in graph[name]:
            if name in reachable(graph, target) and not (
                target.startswith(name + ".") or name.startswith(target + ".")
            ):
                circles.append((name, target))
    assert not circles, circles


def test_the_model_side_knows_nothing_of_training():
    """layers, blocks, specs and the zoo never reach the recipe, data or training side, even
    through another module (DESIGN.md: each layer imports only those below it)."""
    graph = import_graph()
    training = {
        "kerascnn.training",
        "kerascnn.tuning.search",
        "kerascnn.tuning.hypermodel",
        "kerascnn.recipe",
        "kerascnn.data",
        "kerascnn.training.freezing",
        "kerascnn.inference",
        "kerascnn.cli",
    }
    for name in graph:
        if name.split(".")[1:2] and name.split(".")[1] in (
            "layers",
            "blocks",
            "spec",
            "zoo",
            "config",
            "backend",
        ):
            reached = {
                t
                for t in reachable(graph, name)
                if any(t == m or t.startswith(m + ".") for m in training)
            }
            assert not reached, (name, sorted(reached))


def test_nothing_imports_the_command_line():
    """The CLI only parses, calls the verbs and prints: no module outside `kerascnn.cli` imports it
    (what recipe scripts share with it is `kerascnn.cli.scripting`, which they import from outside
    the package; the reference generator that documents its commands lives inside it)."""
    graph = import_graph()
    importers = [
        name
        for name, targets in graph.items()
        if not name.startswith("kerascnn.cli") and any(t.startswith("kerascnn.cli") for t in targets)
    ]
    assert importers == [], importers


# --- one home per concept -------------------------------------------------------------------------

# The files of a run directory and of a search's directory (kerascnn.runs.rundir.RunDir names them).
RUN_FILES = {
    "recipe.yaml",
    "run.json",
    "data.json",
    "last.keras",
    "best.keras",
    "model.keras",
    "history.csv",
    "metrics.json",
    "curves.png",
    "tune.json",
    "results.csv",
    "best_recipe.yaml",
    "README.md",
    "batch.png",
    "report.html",
}


@functools.cache
def modules() -> dict[str, ast.Module]:
    return {
        str(path.relative_to(PACKAGE.parent)): ast.parse(path.read_text(encoding="utf-8"))
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def docstrings(tree) -> set[int]:
    """The ids of the docstring nodes of a module, its classes and functions."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def test_at_most_four_modules_sit_at_the_package_root():
    """Everything else lives in a package named after its concept: README's Layout."""
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert len(loose) <= 4, loose


def test_the_file_names_of_a_run_are_spelled_in_one_module():
    """`RunDir` names every file of a run; everything else asks it (`RunDir(path).model`), so a
    name in code (not in prose) appears only in kerascnn/runs/rundir.py."""
    spelled = {}
    for name, tree in modules().items():
        prose = docstrings(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value in RUN_FILES
                and id(node) not in prose
            ):
                spelled.setdefault(node.value, set()).add(name)
    elsewhere = {f: sorted(m) for f, m in spelled.items() if m != {"kerascnn/runs/rundir.py"}}
    assert not elsewhere, elsewhere
    assert set(spelled) == RUN_FILES  # and the owner spells them all


def test_the_run_directory_owner_imports_nothing_of_training():
    """kerascnn.runs (what a run writes and reads back) sits below training, tuning and the command
    line: evaluate, predict and export read runs without importing the code that trains."""
    graph = import_graph()
    above = ("kerascnn.training", "kerascnn.tuning", "kerascnn.cli", "kerascnn.inference")
    assert {"kerascnn.runs", "kerascnn.runs.rundir", "kerascnn.runs.saving"} <= set(graph)
    for name in graph:
        if name.startswith("kerascnn.runs"):
            reached = sorted(t for t in reachable(graph, name) if t.startswith(above))
            assert not reached, (name, reached)


def test_only_zoo_weights_talks_to_the_hub_and_to_keras_applications_weights():
    """Published weights have one home: the Hub client is imported, keras.applications is asked for
    ImageNet weights, and a Hub id becomes a network (`network_of`) only in kerascnn/zoo/weights/."""
    hub, downloads, steps = [], [], []
    for name, tree in modules().items():
        inside = name.startswith("kerascnn/zoo/weights/")
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
                if any((n or "").split(".")[0] == "huggingface_hub" for n in names) and not inside:
                    hub.append(name)
            if isinstance(node, ast.Call):
                keywords = {k.arg: k.value for k in node.keywords}
                weights = keywords.get("weights")
                if isinstance(weights, ast.Constant) and weights.value == "imagenet":
                    if "keras.applications" in ast.unparse(node.func):
                        downloads.append(name)
                    if isinstance(node.func, ast.Name) and node.func.id == "getattr":
                        downloads.append(name)
            if isinstance(node, ast.Dict):  # `**options` with weights="imagenet"
                for key, value in zip(node.keys, node.values):
                    if (
                        isinstance(key, ast.Constant)
                        and key.value == "weights"
                        and isinstance(value, ast.Constant)
                        and value.value == "imagenet"
                    ):
                        downloads.append(name)
            if isinstance(node, ast.Subscript) and ast.unparse(node.value) == "ARCHITECTURES":
                steps.append(name)
    assert hub == [], hub
    assert downloads == ["kerascnn/zoo/weights/applications.py"], downloads
    assert set(steps) <= {"kerascnn/zoo/weights/cards.py", "kerascnn/zoo/weights/timm.py"}, steps


# Keras' private attributes kerascnn reads, only in kerascnn/backend/internals.py.
KERAS_PRIVATE = ("_symbolic_build", "_swap_variables", "_keras_history", "_inbound_nodes")


def test_no_module_imports_a_private_name_of_another_package():
    """A leading underscore means "this package's own": no module imports one from another
    package, and only kerascnn/backend/internals.py reaches into Keras' private modules and names."""
    found = []
    for name, tree in modules().items():
        package = name.split("/")[1] if name.count("/") > 1 else name
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kerascnn"):
                parts = node.module.split(".")
                source = parts[1] if len(parts) > 1 else "kerascnn"
                target = f"{source}.py" if f"kerascnn/{source}.py" in modules() else source
                for alias in node.names:
                    private = alias.name.startswith("_") and not alias.name.startswith("__")
                    if private and target != package:
                        found.append(f"{name}: from {node.module} import {alias.name}")
            internals = name == "kerascnn/backend/internals.py"
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("keras.src"):
                if not internals:
                    found.append(f"{name}: from {node.module}")
            if isinstance(node, ast.Import) and any(a.name.startswith("keras.src") for a in node.names):
                if not internals:
                    found.append(f"{name}: import keras.src")
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            ):
                if not internals and node.attr in KERAS_PRIVATE:
                    found.append(f"{name}: .{node.attr}")
            if isinstance(node, ast.Constant) and node.value in KERAS_PRIVATE:
                if not internals:
                    found.append(f"{name}: {node.value!r}")
    assert found == [], found


def test_no_function_body_is_longer_than_80_lines():
    """Across the package a function's body, from its first statement after the docstring to its
    end, is at most 80 lines: a longer one does several jobs, each of which a helper can name. The
    docstring does not count (the public builders carry their paper's table in it). The command line
    is a package too: one small function per command that declares its arguments, one that checks
    them and calls the verb."""
    assert "kerascnn/cli/__init__.py" in modules()  # a package, not one module
    long = []
    for name, tree in modules().items():
        prose = docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = node.body
                if isinstance(body[0], ast.Expr) and id(body[0].value) in prose:
                    body = body[1:]
                lines = node.end_lineno - body[0].lineno + 1 if body else 0
                if lines > 80:
                    long.append(f"{name}:{node.name} ({lines} lines)")
    assert long == [], long


def test_no_module_calls_through_the_facade():
    """`kerascnn.<name>` is the users' face: kerascnn's own modules import what they use from the
    module that defines it (`from kerascnn.zoo import build`), never `import kerascnn` to call
    `kerascnn.build`, so every dependency is an import a reader (and the structure test) sees.
    The package's version is read from it, nothing else."""
    found = []
    for name, tree in modules().items():
        if name == "kerascnn/__init__.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import) and any(a.name == "kerascnn" for a in node.names):
                found.append(f"{name}:{node.lineno}: import kerascnn")
            if isinstance(node, ast.ImportFrom) and node.module == "kerascnn" and node.level == 0:
                names = [a.name for a in node.names if a.name != "__version__"]
                facade = [
                    n for n in names if not (PACKAGE / n).is_dir() and not (PACKAGE / f"{n}.py").exists()
                ]
                if facade:
                    found.append(f"{name}:{node.lineno}: from kerascnn import {', '.join(facade)}")
    assert found == [], found


def test_the_root_package_installs_no_import_hooks():
    """Importing kerascnn chooses the default backend and nothing else: no finder on
    `sys.meta_path`, no old module paths kept importable (the package is unreleased)."""
    import subprocess
    import sys

    code = "import sys; before = list(sys.meta_path); import kerascnn; print(sys.meta_path == before)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "True", done.stderr


# --- imports at the top ---------------------------------------------------------------------------

# The kerascnn modules a module imports inside a function, and why: each would load Keras into an
# import that must not (`kerascnn list` and a recipe's checks run without it, and the command line
# reads runs and images before it). Moving one to the top means removing it here.
LATE_IMPORTS = {
    "kerascnn/data/device.py": (
        {"kerascnn.backend.devices"},
        "asks for accelerators: keeps kerascnn.data free of Keras",
    ),
    "kerascnn/inference/evaluation.py": (
        {"kerascnn.visualize.figures"},
        "the confusion picture: keeps kerascnn.inference free of Keras",
    ),
    "kerascnn/inference/trained.py": (
        {"kerascnn.zoo"},
        "drop_side_outputs is kerascnn.zoo.factory's: keeps kerascnn.inference free of Keras",
    ),
    "kerascnn/runs/saving.py": (
        {"kerascnn.layers", "kerascnn.optim"},
        "registered for load_model: keeps kerascnn.runs free of Keras",
    ),
    "kerascnn/zoo/resnet.py": ({"kerascnn.blocks.attention"}, "keeps kerascnn.zoo free of Keras"),
    "kerascnn/zoo/weights/applications.py": (
        {"kerascnn.zoo.factory"},
        "builds the network: keeps kerascnn.zoo.weights free of Keras",
    ),
    "kerascnn/zoo/weights/starts.py": (
        {"kerascnn.zoo.factory"},
        "builds the network: keeps kerascnn.recipe's checks free of Keras",
    ),
}
# Outside the rule: kerascnn/cli/ (a command imports what loads Keras after its checks:
# kerascnn/cli/__init__.py).
OUTSIDE = ("kerascnn/cli/",)


def late_imports() -> dict[str, set[str]]:
    """{module file: the kerascnn modules it imports inside a function}."""
    found = {}
    for name, tree in modules().items():
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.ImportFrom):
                    imported = [node.module or ""]
                elif isinstance(node, ast.Import):
                    imported = [a.name for a in node.names]
                else:
                    continue
                for module in imported:
                    if module == "kerascnn" or module.startswith("kerascnn."):
                        found.setdefault(name, set()).add(module)
    return found


def test_internal_imports_are_at_the_top_but_where_keras_must_wait():
    """kerascnn's modules import one another at the top, where a reader sees what a module depends
    on; the imports made inside a function are LATE_IMPORTS, each with its reason: a new one is a
    choice, and one moved to the top leaves the list."""
    late = {n: m for n, m in late_imports().items() if not n.startswith(OUTSIDE)}
    assert late == {name: allowed for name, (allowed, _) in LATE_IMPORTS.items()}
