"""HTTP service: FastAPI app (:func:`create_app`), one web page, models loaded once, CPU work off the event loop."""

from .app import ServiceConfig, StartupError, create_app

__all__ = ["ServiceConfig", "StartupError", "create_app"]
