"""``vipguard serve``: the HTTP service and its web page (FastAPI + uvicorn)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import error, stderr

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="TCP port")] = 8000,
        db: Annotated[Optional[Path], typer.Option("--db", help="registry file")] = None,
        models: Annotated[Optional[Path], typer.Option(help="model folder")] = None,
        workers: Annotated[int, typer.Option(help="analyzers working at once in each process (threads)")] = 1,
        processes: Annotated[int, typer.Option(help="server processes sharing the port, each with its own models "
                                                    "(~450 MiB each)")] = 1,
        strictness: Annotated[Optional[str], typer.Option(
            help="default operating point of checks: lenient | default | strict or a genuine-reject rate "
                 "(default: each VIP's own, chosen at enrolment)")] = None,
        insecure_no_auth: Annotated[bool, typer.Option("--insecure-no-auth",
                                                       help="serve without an API key (local testing only)")] = False,
    ) -> int:
        """Serve the HTTP API and web page. The API key is read from VIPGUARD_API_KEY."""
        try:
            import uvicorn

            from ..lite.decision import reject_rate
            from ..service import ServiceConfig, StartupError, create_app
        except ImportError as exc:
            error(f"the service needs its extra: pip install 'vipguard[service]' ({exc})")
            return 2
        key = os.environ.get("VIPGUARD_API_KEY") or None
        if key is None and not insecure_no_auth:
            error("set VIPGUARD_API_KEY (clients send it as 'Authorization: Bearer …'), "
                  "or pass --insecure-no-auth for local testing")
            return 2
        if key is None:
            where = "" if host in LOOPBACK else f" on {host}, reachable from other machines"
            stderr().print(f"[yellow]warning:[/] serving WITHOUT authentication{where}")
        if workers < 1 or processes < 1 or not 0 < port < 65536:
            error("--workers and --processes must be ≥ 1 and --port in 1-65535")
            return 2
        try:
            reject_rate(strictness)
        except ValueError as exc:
            error(f"--strictness: {exc}")
            return 2
        config = ServiceConfig(db=db, models=models, api_key=key, insecure=key is None, workers=workers,
                               strictness=strictness)
        try:
            app = create_app(config)  # checks the registry and the model files: one line, not a traceback
        except StartupError as exc:
            error(exc)
            return 2
        many = f" ({processes} processes)" if processes > 1 else ""
        stderr().print(f"vipguard service on http://{host}:{port}/{many} (API docs at /docs)")
        if processes == 1:
            uvicorn.run(app, host=host, port=port, log_level="info", server_header=False)
            return 0
        # several processes on one socket: uvicorn starts each and each imports the factory, which builds its
        # app from the options set here (checked above, in this process, so that a bad option is one line)
        os.environ.update(config.to_environment())
        uvicorn.run("vipguard.service.app:app_from_environment", factory=True, workers=processes, host=host,
                    port=port, log_level="info", server_header=False)
        return 0
