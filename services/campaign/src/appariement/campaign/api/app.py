"""`create_app(settings)`: the service API (common endpoints; its own routes go here)."""

from collections.abc import Sequence

from fastapi import APIRouter, FastAPI

from appariement.campaign.config import Settings
from appariement.common.service import build_app


def routers() -> Sequence[APIRouter]:
    """The service's own routers, mounted next to /healthz, /readyz and /metrics."""
    return ()


def create_app(settings: Settings | None = None) -> FastAPI:
    """The ASGI app, for `uvicorn --factory` and tests (the runner builds the same one)."""
    from appariement.campaign.spec import SPEC

    return build_app(SPEC, settings or Settings())
