"""The ``vipguard`` command line (typer). ``main(argv)`` returns the exit status, so it is testable in-process.

Each command group lives in its own module and registers itself on ``app`` in :func:`build_app`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click
import typer


def build_app() -> typer.Typer:
    from . import artifact_cmd, bench_cmd, faces_cmd, forge_cmd, lite_cmd, mllm_cmd, scan_cmd, serve_cmd, setup_cmd

    app = typer.Typer(
        name="vipguard",
        help="Protect specific people (VIPs) from deepfakes: enrol a VIP from photos, then check images.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    for module in (setup_cmd, faces_cmd, lite_cmd, forge_cmd, mllm_cmd, artifact_cmd, scan_cmd, serve_cmd, bench_cmd):
        module.register(app)
    return app


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    app = build_app()
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = app(args=args, prog_name="vipguard", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return int(exc.exit_code)
    except click.exceptions.Abort:
        print("aborted", file=sys.stderr)
        return 130
    return int(result) if isinstance(result, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
