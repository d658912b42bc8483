"""Command-line usage errors (a missing or unknown option) end in one usage message, not a traceback."""

import pytest

from matdesign.cli.main import main


@pytest.mark.parametrize("argv, message", [
    (["evaluate", "--dim", "3"], "Missing option '--targets'"),
    (["design", "--no-such-option"], "No such option"),
])
def test_usage_error_is_one_message(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [
    ["evaluate", "--targets", "40"],
    ["design", "--target-K", "40"],
    ["baseline", "bo", "--target-K", "40"],
    ["baseline", "cfg", "--target-K", "40"],
])
def test_unknown_definition_is_one_error_line(argv, tmp_path, capsys):
    """Checked before any model is loaded or FEM solved: one line naming the option and the choices."""
    assert main([*argv, "--definition", "walls", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--definition 'walls'" in err and all(d in err for d in ("composite", "composite-fine", "paper"))
    assert not any(tmp_path.iterdir())


def _imports(path) -> set[str]:
    """The modules a source file imports (at any depth: lazy imports inside functions count)."""
    import ast

    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_no_command_module_imports_the_entry_point():
    """cli/main.py registers the command modules; none of them imports it back (or a sibling's private helper)."""
    from pathlib import Path

    import matdesign.cli

    folder = Path(matdesign.cli.__file__).parent
    for path in folder.glob("*.py"):
        if path.name == "main.py":
            continue
        imports = _imports(path)
        assert "matdesign.cli.main" not in imports, path.name
        assert not any(n.startswith("matdesign.cli.") and n.rsplit(".", 1)[1].startswith("_") for n in imports), path.name


def test_invocation_is_the_running_command_line(monkeypatch):
    from matdesign.cli import invocation

    seen = []
    monkeypatch.setattr("matdesign.cli.main._register", lambda: None)
    monkeypatch.setattr("matdesign.cli.main.app", lambda **kw: seen.append(invocation.invocation()))
    assert main(["design", "--target-K", "40", "--out", "a b"]) == 0
    assert seen == ["matdesign design --target-K 40 --out 'a b'"]
