"""The ``matdesign`` command. Each command group lives in its own module and is registered here."""

from __future__ import annotations

import sys

import typer

from matdesign.cli.boundary import guarded
from matdesign.cli.invocation import set_argv

app = typer.Typer(
    name="matdesign",
    help="Inverse design of particle-reinforced composites by FEM-guided diffusion.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    """Attach the command groups (imported lazily so `matdesign --help` stays fast), once per process."""
    if app.registered_groups or app.registered_commands:
        return
    # Command groups register themselves here, one line each.
    from matdesign.cli import materials

    app.add_typer(materials.app, name="materials")
    from matdesign.cli import dataset

    app.add_typer(dataset.app, name="dataset")
    from matdesign.cli import train as train_cli

    train_cli.register(app)  # `train`, `sample`
    from matdesign.cli import microstructure

    app.add_typer(microstructure.app, name="microstructure")
    from matdesign.cli import design

    design.register(app)
    from matdesign.cli import baseline

    app.add_typer(baseline.app, name="baseline")
    from matdesign.cli import evaluate

    evaluate.register(app)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app behind the error boundary (:mod:`matdesign.cli.boundary`); return the exit code."""
    set_argv(sys.argv[1:] if argv is None else list(argv))  # read back by matdesign.cli.invocation.invocation()
    _register()
    return guarded(lambda: app(args=argv, standalone_mode=False))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
