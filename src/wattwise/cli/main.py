"""The ``wattwise`` command: one Typer app, one sub-module per command group.

Each command module registers itself through :func:`register`; imports of heavy
libraries happen inside the commands. ``wattwise measure`` does not load Typer at all
(it costs about 0.3 s here, with the pydantic adapters it builds per option): its
arguments are read by :func:`wattwise.cli.measure.main_fast`, which hands ``--help``
and malformed command lines back to Typer. A :class:`~wattwise.errors.WattwiseError`
becomes one line on stderr and exit 2.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from wattwise.errors import WattwiseError

if TYPE_CHECKING:
    import typer

# Command groups, in the order `wattwise --help` lists them. Add a new one here.
_COMMAND_MODULES = (
    "wattwise.cli.measure",
    "wattwise.cli.demo",
    "wattwise.cli.runs",
    "wattwise.cli.report",
    "wattwise.cli.devices",
    "wattwise.cli.grid",
    "wattwise.cli.simulate",
    "wattwise.cli.optimize",
    "wattwise.cli.engine",
    "wattwise.cli.predict",
)


def build_app() -> typer.Typer:
    """The Typer app with every command group registered."""
    import importlib

    import typer

    app = typer.Typer(
        name="wattwise",
        help="Measure, cut and schedule the energy and carbon of AI workloads.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    for module_name in _COMMAND_MODULES:
        importlib.import_module(module_name).register(app)
    return app


def _fast(args: Sequence[str]) -> int | None:
    """The exit status of a command run without Typer, or ``None`` when Typer must run it."""
    if args[:1] == ["measure"]:
        from wattwise.cli.measure import main_fast

        return main_fast(args[1:])
    return None


def _typer(args: Sequence[str]) -> Any:
    return build_app()(args=list(args), standalone_mode=False)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``wattwise`` console script."""
    args = sys.argv[1:] if argv is None else argv
    code = _guarded(lambda: _fast(args))
    if code is None:
        code = _guarded(lambda: _typer(args))
    # standalone_mode=False hands typer.Exit's code back instead of exiting.
    if isinstance(code, int):
        sys.exit(code)


def _guarded(run: Callable[[], Any]) -> Any:
    try:
        return run()
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


if __name__ == "__main__":
    main()
