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
