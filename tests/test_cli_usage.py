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
