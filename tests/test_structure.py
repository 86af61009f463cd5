"""The package's shape: the layers of the design (layers -> blocks -> spec -> zoo below the training
side) and no import circles, read from the source (module-level, function-level and annotation-only
imports alike: a circle a type checker sees is one a reader follows too)."""

from __future__ import annotations

import ast
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
            "building",
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
