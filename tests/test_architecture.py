"""The package's import structure (docs/architecture.md): floors import only from their own or lower floors,
no module imports another that imports it back (lazy imports inside functions included), and nothing
outside tests/ imports from tests/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "matdesign"

FLOORS = [
    {"errors", "atomic", "filelock", "targets", "validate", "provenance"},
    {"materials"},
    {"microstructure"},
    {"fem"},
    {"data", "verification", "backproject"},
    {"diffusion"},
    {"guidance"},
    {"pipeline"},
    {"baselines"},
    {"evaluate"},
    {"cli", "__main__"},
]
"""Packages (and top-level modules) of matdesign from the bottom floor up."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_lines(tree: ast.Module) -> set[int]:
    """Lines inside ``if TYPE_CHECKING:`` blocks (imports for type checkers only, never executed)."""
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for child in node.body:
                lines.update(range(child.lineno, child.end_lineno + 1))
    return lines


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The matdesign modules ``path`` imports (module level and inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_lines(tree)
    found = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from a.b import c`: the module a.b.c when c is one, else a.b
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                     for a in node.names]
        found.update(n for n in names if n in modules)
    return found


def _graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in SRC.rglob("*.py")}
    modules = set(paths)
    return {m: _imports(p, modules) - {m} for m, p in paths.items()}


def _floor(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) == 1:
        return 0  # the package root imports only errors; its public API is lazy (PEP 562, import_module)
    for k, floor in enumerate(FLOORS):
        if parts[1] in floor:
            return k
    raise AssertionError(f"{module} is on no floor of FLOORS; add it")


def test_every_package_imports_only_its_own_floor_or_lower():
    bad = []
    for module, targets in _graph().items():
        here = _floor(module)
        for target in targets:
            there = _floor(target)
            if there > here:
                bad.append(f"{module} -> {target}")
    assert not bad, "imports from a higher floor:\n" + "\n".join(sorted(bad))


def test_the_import_graph_has_no_cycles():
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                pytest.fail("import cycle: " + " -> ".join(stack[stack.index(t):] + [t]))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_a_lower_floor_importing_a_higher_one_is_caught(tmp_path, monkeypatch):
    """The floor test can fail: a fem module that imported the pipeline would be reported."""
    fake = tmp_path / "matdesign"
    for folder, text in (("fem", "from matdesign.pipeline.y import z\n"), ("pipeline", "z = 1\n")):
        (fake / folder).mkdir(parents=True)
        (fake / folder / ("x.py" if folder == "fem" else "y.py")).write_text(text)
    monkeypatch.setitem(globals(), "SRC", fake)
    with pytest.raises(AssertionError, match="matdesign.fem.x -> matdesign.pipeline.y"):
        test_every_package_imports_only_its_own_floor_or_lower()


@pytest.mark.parametrize("folder", ["src", "benchmarks", "experiments", "scripts"])
def test_nothing_outside_tests_imports_from_tests(folder):
    for path in (ROOT / folder).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n == "tests" or n.startswith(("tests.", "test_")) for n in names), path
        assert "sys.path" not in path.read_text(encoding="utf-8") or "tests" not in path.read_text(encoding="utf-8"), path


def test_the_cli_light_copies_match_their_sources():
    """The CLI keeps two lists without importing their heavy modules; they must stay the sources' lists."""
    from matdesign.cli import checks, common
    from matdesign.verification import DEFINITIONS, PROPERTIES

    assert common.TARGET_PROPERTIES == tuple(PROPERTIES)
    assert checks.DEFINITIONS == tuple(DEFINITIONS)
