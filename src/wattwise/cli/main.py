"""The ``wattwise`` command: one Typer app, one sub-module per command group.

Each command module registers itself through :func:`register`; imports of heavy
libraries happen inside the commands so ``wattwise measure -- true`` starts fast.
A :class:`~wattwise.errors.WattwiseError` becomes one line on stderr and exit 2.
"""

from __future__ import annotations

import sys

import typer

from wattwise.errors import WattwiseError

app = typer.Typer(
    name="wattwise",
    help="Measure, cut and schedule the energy and carbon of AI workloads.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Command groups, in the order `wattwise --help` lists them. Add a new one here.
_COMMAND_MODULES = (
    "wattwise.cli.measure",
    "wattwise.cli.demo",
    "wattwise.cli.runs",
    "wattwise.cli.devices",
    "wattwise.cli.grid",
    "wattwise.cli.simulate",
    "wattwise.cli.optimize",
    "wattwise.cli.engine",
)


def _register_all() -> None:
    import importlib

    for module_name in _COMMAND_MODULES:
        importlib.import_module(module_name).register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``wattwise`` console script."""
    _register_all()
    try:
        code = app(args=argv, standalone_mode=False)
    except WattwiseError as err:
        print(f"wattwise: error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("wattwise: interrupted", file=sys.stderr)
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as err:
        # Usage errors (unknown option, missing argument) come from the click that
        # typer vendors, not the `click` package: recognise them by what they offer.
        show, exit_code = getattr(err, "show", None), getattr(err, "exit_code", None)
        if callable(show) and isinstance(exit_code, int):
            show()
            sys.exit(exit_code)
        if type(err).__name__ == "Abort":
            sys.exit(1)
        raise
    # standalone_mode=False hands typer.Exit's code back instead of exiting.
    if isinstance(code, int):
        sys.exit(code)


if __name__ == "__main__":
    main()
