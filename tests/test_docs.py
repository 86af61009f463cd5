"""The reference in docs/ is generated from the code (`python -m kerascnn.cli.reference docs`), so it
cannot drift: these tests fail when a committed file is out of date or something public is
undocumented."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest

from kerascnn.cli import reference

DOCS = Path(__file__).resolve().parents[1] / "docs"
README = DOCS.parent / "README.md"
README_LINES = 250  # the front door; the manual is in docs/'s guides (issue 44, point 7)


@pytest.fixture(scope="module")
def generated():
    return reference.generate()


@pytest.mark.parametrize("name", reference.FILES)
def test_committed_reference_is_current(name, generated):
    committed = (DOCS / name).read_text(encoding="utf-8")
    changed = difflib.unified_diff(
        committed.splitlines(), generated[name].splitlines(), "committed", "generated", lineterm=""
    )
    assert committed == generated[name], (
        f"docs/{name} is out of date: run `python -m kerascnn.cli.reference docs` and commit it\n"
        + "\n".join(list(changed)[:40])
    )


def test_every_recipe_key_is_described():
    from kerascnn.config.validation import parameters

    text = reference.recipe_reference()  # raises if a key has no description
    for section, cls in reference._recipe_sections():
        for key in parameters(cls, ()):
            assert f"| `{key}` |" in text, f"[{section}] {key}"


def test_every_key_of_a_section_has_its_own_words():
    """No two keys of a table share a meaning (the fine-tuning phase's [train] keys once all said
    "this phase's own, instead of [train]'s"; five [train] keys "schedule settings"), and a phase's
    [train] key says what [train]'s says."""
    from kerascnn.recipe import PHASE_TRAIN_KEYS

    text = reference.recipe_reference()
    for table in text.split("\n## ")[1:]:
        rows = [line.split(" | ") for line in table.splitlines() if line.startswith("| `")]
        meanings = [row[-1] for row in rows]
        shared = {m for m in meanings if meanings.count(m) > 1}
        assert not shared, f"{table.splitlines()[0]}: keys share a meaning: {shared}"
    train = reference.attribute_docs(__import__("kerascnn").recipe.TrainSection)
    phase = reference.phase_train_docs()
    assert set(phase) == set(PHASE_TRAIN_KEYS)
    for key in PHASE_TRAIN_KEYS:
        assert phase[key].endswith(train[key]), key


def test_an_undescribed_key_is_an_error(monkeypatch):
    from kerascnn import recipe

    monkeypatch.setattr(recipe.OutputSection, "__doc__", "`[output]`: no attributes described.")
    with pytest.raises(ValueError, match=r"OutputSection\.dir, OutputSection\.tensorboard"):
        reference.recipe_reference()


def test_every_public_function_and_class_has_a_docstring():
    assert reference.undocumented() == []
    api = reference.public_api()
    assert "kerascnn.blocks" in api and "basic_block" in api["kerascnn.blocks"]


def test_every_command_is_in_the_cli_reference():
    import argparse

    from kerascnn.cli import build_parser

    text = reference.cli_reference()
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name in commands.choices:
        assert f"## `kerascnn {name}`" in text


def test_docstrings_become_markdown_lists():
    def f(x, *, width: int):
        """Do it.

        Args:
            x: the input.
            width: how wide; a long explanation
                over two lines.

        Example:
            f(1, width=2)
        """

    assert reference._docstring(f) == (
        "Do it.\n\n\n**Args:**\n\n- `x`: the input.\n- `width`: how wide; a long explanation\n"
        "  over two lines.\n\n\n**Example:**\n\n```python\nf(1, width=2)\n```"
    )


def test_ci_runs_the_readme_test_command_then_the_slow_tier():
    """`.ci/run` runs exactly the README's test command (the default tier), then the full check
    README names (the slow tier): the two cannot drift apart."""
    root = DOCS.parent
    readme = (root / "README.md").read_text(encoding="utf-8")
    ci = [
        line
        for line in (root / ".ci" / "run").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith(("#", "set ", "cd "))
    ]
    tests = next(line for line in readme.splitlines() if 'pip install -q ".[test]"' in line)
    assert '-m "not slow"' in tests
    full = (
        'pip install -q "torch==2.13.0" "ruff==0.17.6" && tests/install_browser.sh && ruff check . '
        "&& ruff format --check . && pytest -n auto -m slow"
    )  # PyTorch: slow tier only; Chromium: the report page's test; ruff: the linter
    assert ci == [tests, full]
    assert f"\n{full}\n" in readme


def test_the_readme_is_a_front_door_of_at_most_250_lines():
    """README says what kerascnn is, how to set it up, what runs on which backend, a short tour
    and the package's layout, then points to docs/'s guides."""
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_LINES, f"README.md: {len(lines)} lines"


def test_the_readme_layout_is_the_package_and_its_imports_point_down_it():
    """README's Layout names every package and module at kerascnn's root, and each one imports only
    what the list puts below it (the floors of the house, read from the source)."""
    from test_structure import PACKAGE, import_graph

    text = README.read_text(encoding="utf-8")
    block = text[text.index("## Layout") :].split("```")[1]
    order = []
    for line in block.splitlines():
        if line.startswith("kerascnn/"):
            head = re.split(r"\s{2,}", line)[0]
            order += [n.strip().removeprefix("kerascnn/").strip("/") for n in head.split(",")]
    order = [n.removesuffix(".py") for n in order]
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    root = packages | {p.stem for p in PACKAGE.glob("*.py") if p.name != "__init__.py"}
    assert sorted(order) == sorted(root), (sorted(order), sorted(root))
    graph = import_graph()
    place = {name: i for i, name in enumerate(order)}
    upward = []
    for module, targets in graph.items():
        source = module.split(".")[1] if module.count(".") else None
        for target in targets:
            goal = target.split(".")[1] if target.count(".") else None
            if source in place and goal in place and source != goal and place[goal] < place[source]:
                upward.append(f"{module} -> {target}")
    assert upward == [], upward


def _outside_code_blocks(text: str) -> str:
    """The Markdown without its fenced code blocks (a `# comment` there is no heading)."""
    kept, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        elif not fenced:
            kept.append(line)
    return "\n".join(kept)


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: its text (a link's text, code without backticks) lowercased,
    punctuation but '-' and '_' removed, spaces made '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return "".join(c for c in text if c.isalnum() or c in "-_ ").replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading's anchor in a Markdown file; a repeated one gets -1, -2, ... as on GitHub."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in _outside_code_blocks(path.read_text(encoding="utf-8")).splitlines():
        heading = re.match(r"#{1,6} +(.*?)(?: +#+)? *$", line)
        if heading:
            slug = _anchor(heading[1])
            found.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
            seen[slug] = seen.get(slug, 0) + 1
    return found


def test_anchors_follow_githubs_rules():
    assert _anchor("Set-up (fresh machine, Python ≥ 3.10)") == "set-up-fresh-machine-python--310"
    assert _anchor("The model zoo (`kerascnn.build`)") == "the-model-zoo-kerascnnbuild"
    assert _anchor("`kerascnn.backend.internals`") == "kerascnnbackendinternals"


@pytest.mark.parametrize("page", ["README.md", *(f"docs/{p.name}" for p in sorted(DOCS.glob("*.md")))])
def test_every_relative_link_points_to_a_file_and_heading_that_exist(page):
    """A link into the repository names a file that is there and, with an #anchor into a Markdown
    file, a heading of it: moving a section to another page cannot leave a link behind."""
    path = DOCS.parent / page
    prose = re.sub(r"`[^`]*`", "", _outside_code_blocks(path.read_text(encoding="utf-8")))
    broken = []
    for target in re.findall(r"\]\(([^)\s]*)(?:\s+\"[^\"]*\")?\)", prose):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading #{anchor} in {linked.name}")
    assert not broken, f"{page}: {broken}"
