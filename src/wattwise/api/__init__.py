"""HTTP API, live dashboard and Prometheus metrics: ``create_app(store_url, ...)``.

FastAPI is imported only when :func:`create_app` is called, so importing
``wattwise.api`` stays cheap for the CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI


def create_app(store_url: str | None = None, **kwargs: Any) -> FastAPI:
    """Build the app; see :func:`wattwise.api.app.create_app` for the options."""
    from wattwise.api.app import create_app as _create

    return _create(store_url, **kwargs)


__all__ = ["create_app"]
