"""HTTP service: FastAPI app (:func:`create_app`), one web page, models loaded once, CPU work off the event loop."""

from .app import ServiceConfig, create_app

__all__ = ["ServiceConfig", "create_app"]
