"""The ``vipguard`` command line (typer). ``main(argv)`` returns the exit status, so it is testable in-process.

Each command group lives in its own module and registers itself on ``app`` in :func:`build_app`.

A usage mistake (unknown command or option, missing argument, bad value) prints the usage and exits 2, never a
traceback (DESIGN.md). typer >= 0.2x raises the exceptions of its bundled copy of click (``typer._click``),
older typer those of click itself: :func:`main` handles both.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Annotated, Any

import typer

from .. import __version__

def _print_version(value: bool) -> None:
    if value:
        print(f"vipguard {__version__}")
        raise typer.Exit(0)


def build_app() -> typer.Typer:
    from . import artifact_cmd, bench_cmd, faces_cmd, forge_cmd, lite_cmd, mllm_cmd, scan_cmd, serve_cmd, setup_cmd

    app = typer.Typer(
        name="vipguard",
        help="Protect specific people (VIPs) from deepfakes: enrol a VIP from photos, then check images.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )

    @app.callback()
    def root(
        version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                              help="print the version and exit")] = False,
        verbose: Annotated[bool, typer.Option("--verbose", help="also print vipguard's debug log and the model "
                                              "runtimes' own lines (LiteRT, MediaPipe) on stderr")] = False,
    ) -> None:
        if verbose:
            from ..infra.nativelog import show_native_logs

            show_native_logs()

    for module in (setup_cmd, faces_cmd, lite_cmd, forge_cmd, mllm_cmd, artifact_cmd, scan_cmd, serve_cmd, bench_cmd):
        module.register(app)
    return app


def _plain_flags(command: Any) -> None:
    """Give every flag (``--json``, ``--help``, ...) of ``command`` and its subcommands an empty metavar, so help
    lists ``--json``, not ``--json <bool>`` (typer >= 0.2x labels every option with its type)."""
    ctx = command.context_class(command, info_name=command.name)
    for param in command.get_params(ctx):
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        _plain_flags(sub)


def build_command() -> Any:
    """The click command behind :func:`build_app` (typer's bundled click or click itself), flags made plain."""
    command = typer.main.get_command(build_app())
    _plain_flags(command)
    return command


def _exception_modules() -> list[ModuleType]:
    """The modules whose exceptions the parser may raise: typer's bundled click and/or click itself."""
    names = [name for name in ("typer._click.exceptions", "click.exceptions")
             if importlib.util.find_spec(name.rsplit(".", 1)[0]) is not None]
    return [importlib.import_module(name) for name in names]


def _classes(name: str, *extra: type) -> tuple[type, ...]:
    """The exception classes called ``name`` in every module of :func:`_exception_modules`, plus ``extra``."""
    found = [getattr(module, name, None) for module in _exception_modules()]
    return tuple(dict.fromkeys(c for c in (*found, *extra) if isinstance(c, type)))


def _context_for(command: Any, args: Sequence[str]) -> Any:
    """A context for the (sub)command that ``args`` name: the usage to show with an error raised without one
    (``vipguard list --db``: the parser says a value is missing, but not for which command)."""
    ctx = command.context_class(command, info_name="vipguard")
    for token in args:
        sub = getattr(ctx.command, "commands", {}).get(token)
        if sub is not None:
            ctx = sub.context_class(sub, info_name=token, parent=ctx)
        elif not token.startswith("-"):
            break
    return ctx


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv) or ["--help"]  # bare `vipguard`: the help, status 0
    command = build_command()
    no_args, exit_, abort = _classes("NoArgsIsHelpError"), _classes("Exit", typer.Exit), _classes("Abort", typer.Abort)
    try:
        result = command.main(args=args, prog_name="vipguard", standalone_mode=False)
    except no_args as exc:  # a command group given no subcommand (`vipguard mllm`): its help, like bare `vipguard`
        exc.show()
        return 0
    except exit_ as exc:
        return int(exc.exit_code)
    except _classes("ClickException") as exc:
        if isinstance(exc, _classes("UsageError")) and exc.ctx is None:
            exc.ctx = _context_for(command, args)
        exc.show()
        return int(exc.exit_code)
    except abort:
        print("aborted", file=sys.stderr)
        return 130
    return int(result) if isinstance(result, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
