"""The ``matdesign`` command. Each command group lives in its own module and is registered here."""

from __future__ import annotations

import sys

import typer

from matdesign.errors import InputError

app = typer.Typer(
    name="matdesign",
    help="Inverse design of particle-reinforced composites by FEM-guided diffusion.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    """Attach the command groups (imported lazily so `matdesign --help` stays fast)."""
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


_ARGV: list[str] = []


def invocation() -> str:
    """The command line of the running ``matdesign`` call, for reports and metadata."""
    import shlex

    return "matdesign " + " ".join(shlex.quote(a) for a in _ARGV)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning :class:`InputError` into one line on stderr and exit 2."""
    _ARGV[:] = sys.argv[1:] if argv is None else list(argv)
    _register()
    try:
        app(args=argv, standalone_mode=False)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (typer.Exit, SystemExit) as err:
        code = getattr(err, "exit_code", getattr(err, "code", 0))
        return int(code or 0)
    except Exception as err:  # usage errors of click, or of the click copy that newer typer versions vendor
        if callable(getattr(err, "show", None)) and isinstance(getattr(err, "exit_code", None), int):
            err.show()
            return err.exit_code
        if type(err).__name__ == "Abort":
            print("aborted", file=sys.stderr)
            return 1
        raise
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
