"""The package's shape, read from its imports: no circle, wings entered by their front door.

Every import counts, type-only (``if TYPE_CHECKING:``) and function-level ones included.
A wing is a folder under ``formats/`` (``sandbox``, ``torch``, ``frameworks``) or
``runlog/``: nothing outside it imports a module inside it, only its ``__init__``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "stepsched_cli"
WINGS = ("stepsched_cli.formats.sandbox", "stepsched_cli.formats.torch",
         "stepsched_cli.formats.frameworks", "stepsched_cli.runlog")  # fmt: skip
MAX_LINES = 600


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str) -> set[str]:
    """The package's modules ``name`` imports (``from package import module`` names the
    module; ``from module import name`` the module)."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in MODULES)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                if child in MODULES:
                    found.add(child)
                elif node.module in MODULES:
                    found.add(node.module)
    found.discard(name)
    return found


GRAPH = {name: _imports(name) for name in MODULES}


def _circle() -> list[str]:
    """One import circle, as the modules on it, or [] when there is none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str) -> list[str]:
        state[name] = 1
        path.append(name)
        for target in sorted(GRAPH[name]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (circle := visit(target)):
                return circle
        path.pop()
        state[name] = 2
        return []

    for name in sorted(GRAPH):
        if name not in state and (circle := visit(name)):
            return circle
    return []


def test_no_import_circle_type_only_imports_included() -> None:
    assert _circle() == []


def _wing_of(name: str) -> str | None:
    return next((wing for wing in WINGS if name.startswith(wing + ".")), None)


@pytest.mark.parametrize("wing", WINGS)
def test_nothing_outside_a_wing_imports_its_insides(wing: str) -> None:
    trespasses = sorted(
        f"{name} -> {target}"
        for name, targets in GRAPH.items()
        if not (name == wing or name.startswith(wing + "."))
        for target in targets
        if _wing_of(target) == wing
    )
    assert trespasses == []


def test_no_module_is_over_600_lines() -> None:
    sizes = {
        name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in MODULES.items()
    }
    assert {name: size for name, size in sizes.items() if size > MAX_LINES} == {}


def test_the_design_lists_every_formats_and_runlog_module() -> None:
    """docs/design.md's map (its Architecture section) names every module of formats/,
    by wing, and of runlog/."""
    design = (PACKAGE.parent / "docs" / "design.md").read_text(encoding="utf-8")
    section = design.split("\n## Architecture\n")[1].split("\n### ")[0]
    formats = PACKAGE / "formats"
    listed = section.split("Inside `formats/`", 1)[1].split("Inside `runlog/`")[0]
    missing = [
        path.relative_to(formats).as_posix()
        for path in sorted(formats.rglob("[!_]*.py"))
        if path.name not in listed
    ]
    missing += [
        path.name
        for path in sorted((PACKAGE / "runlog").glob("[!_]*.py"))
        if f"`{path.stem}`" not in section
    ]
    assert missing == []
