"""The FastAPI app factory every service uses, so ops and clients meet the same surface:

- `/healthz` (the process answers), `/readyz` (database and broker reachable: 503 naming the
  failed check otherwise), `/metrics` (Prometheus: requests by route template and status);
- an `X-Correlation-ID` read or created per request, bound into every log line and echoed;
- one JSON error shape for every 4xx/5xx: `{"error": code, "detail": ..., "fields": ...}`;
- CORS origins from settings, and the bearer-token verifier on `app.state.token_verifier`.

Middleware order, outermost first: CORS, correlation id + last-resort 500, metrics, then
FastAPI's exception handlers and the routes. The 500 is produced inside the correlation
middleware so that it carries the id and its log line the traceback.
"""

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaClient
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Lifespan, Message, Receive, Scope, Send

from appariement.common.auth import TokenVerifier
from appariement.common.errors import AppError, ErrorBody
from appariement.common.logging import bind_correlation_id, new_correlation_id
from appariement.common.settings import BaseServiceSettings

log = structlog.get_logger(__name__)

CORRELATION_HEADER = "X-Correlation-ID"
_VALID_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_UNMATCHED_ROUTE = "<unmatched>"


# ---------------------------------------------------------------- readiness checks


@dataclass(frozen=True)
class ReadinessCheck:
    """A named probe: `check()` returns when the dependency answers, raises otherwise."""

    name: str
    check: Callable[[], Awaitable[None]]
    timeout: float = 2.0


def database_check(pool_getter: Callable[[], asyncpg.Pool | None]) -> ReadinessCheck:
    """`SELECT 1` on the service's pool (read through `pool_getter`, since the pool is made
    in the lifespan, after the app)."""

    async def check() -> None:
        pool = pool_getter()
        if pool is None:
            raise RuntimeError("database pool not started")
        async with pool.acquire() as conn:
            await conn.fetchval("SELECT 1")

    return ReadinessCheck("database", check)


def kafka_check(bootstrap_servers: str) -> ReadinessCheck:
    """The broker answers a metadata request."""

    async def check() -> None:
        client = AIOKafkaClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=2_000)
        try:
            await client.bootstrap()
        finally:
            await client.close()

    return ReadinessCheck("broker", check, timeout=3.0)


async def _run_check(check: ReadinessCheck) -> str | None:
    """None when healthy, else a short reason (no stack trace: the endpoint is public)."""
    try:
        await asyncio.wait_for(check.check(), timeout=check.timeout)
    except TimeoutError:
        return f"timed out after {check.timeout}s"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    return None


# ---------------------------------------------------------------- errors


def error_response(
    status: int,
    error: str,
    detail: Any = None,
    fields: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorBody(error=error, detail=detail, fields=fields)
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def _code_for_status(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def _field_path(loc: Iterable[int | str]) -> str:
    parts = [str(part) for part in loc]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or "body"


async def _on_app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    if exc.status_code >= 500:
        log.warning("app_error", error=exc.error_code, detail=exc.detail)
    return error_response(exc.status_code, exc.error_code, exc.detail, exc.fields, exc.headers)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers) if exc.headers else None
    return error_response(
        exc.status_code, _code_for_status(exc.status_code), exc.detail, None, headers
    )


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    fields: dict[str, str] = {}
    for error in exc.errors():
        path = _field_path(error.get("loc", ()))
        message = str(error.get("msg", "invalid"))
        fields[path] = f"{fields[path]}; {message}" if path in fields else message
    return error_response(422, "validation_error", "Données invalides.", fields)


# ---------------------------------------------------------------- middleware


class CorrelationIdMiddleware:
    """Reads `X-Correlation-ID` (or makes one), binds it for the request's logs, echoes it,
    logs one `http_request` line, and turns an unhandled exception into the 500 error shape
    (logged with its traceback, nothing internal in the body)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-correlation-id")
        correlation_id = (
            incoming
            if incoming is not None and _VALID_CORRELATION_ID.match(incoming)
            else new_correlation_id()
        )
        started = time.perf_counter()
        status: list[int] = []

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
                headers = list(message.get("headers", []))
                headers.append((CORRELATION_HEADER.lower().encode(), correlation_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        with bind_correlation_id(correlation_id):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                log.exception("unhandled_error", method=scope["method"], path=scope["path"])
                if status:  # the response had started: all we can do is drop the connection
                    raise
                response = error_response(
                    500, "internal_error", "Erreur interne : l'incident est journalisé."
                )
                await response(scope, receive, send_with_id)
            finally:
                if scope["path"] not in _QUIET_PATHS:
                    log.info(
                        "http_request",
                        method=scope["method"],
                        path=scope["path"],
                        status=status[0] if status else None,
                        duration_ms=round((time.perf_counter() - started) * 1000, 1),
                    )


class MetricsMiddleware:
    """Request count and latency by method, route template (`/posts/{post_id}`, never the
    raw path: bounded label values) and status."""

    def __init__(self, app: ASGIApp, *, requests: Counter, latency: Histogram) -> None:
        self.app = app
        self.requests = requests
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_recording)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or _UNMATCHED_ROUTE
            method = scope["method"]
            self.requests.labels(method, template, str(status)).inc()
            self.latency.labels(method, template).observe(time.perf_counter() - started)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            try:
                return str(value.decode("latin-1"))
            except UnicodeDecodeError:
                return None
    return None


# ---------------------------------------------------------------- the factory


def create_app(
    settings: BaseServiceSettings,
    *,
    title: str,
    version: str,
    routers: Sequence[APIRouter] = (),
    readiness_checks: Sequence[ReadinessCheck] = (),
    lifespan: Lifespan[FastAPI] | None = None,
    token_verifier: TokenVerifier | None = None,
) -> FastAPI:
    """A FastAPI app with the common endpoints, middleware and error shape.

    `token_verifier` defaults to one built from the settings' JWT key or JWKS URL (none if
    neither is set: authenticated routes then answer 503 `auth_not_configured`).
    """
    error_responses: dict[int | str, dict[str, Any]] = {
        "4XX": {"model": ErrorBody, "description": "Erreur du client"},
        "5XX": {"model": ErrorBody, "description": "Erreur du serveur"},
    }
    app = FastAPI(title=title, version=version, lifespan=lifespan, responses=error_responses)
    app.state.settings = settings
    app.state.token_verifier = token_verifier or TokenVerifier.from_settings(settings)

    registry = CollectorRegistry(auto_describe=True)
    app.state.metrics_registry = registry
    requests = Counter(
        "http_requests_total",
        "HTTP requests by method, route template and status.",
        ["method", "route", "status"],
        registry=registry,
    )
    latency = Histogram(
        "http_request_duration_seconds",
        "HTTP request latency by method and route template.",
        ["method", "route"],
        registry=registry,
    )

    app.add_exception_handler(AppError, _on_app_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)

    # add_middleware puts the last one outermost.
    app.add_middleware(MetricsMiddleware, requests=requests, latency=latency)
    app.add_middleware(CorrelationIdMiddleware)
    if settings.cors_origins:
        wildcard = "*" in settings.cors_origins
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=not wildcard,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=[CORRELATION_HEADER],
        )

    checks = tuple(readiness_checks)

    @app.get("/healthz", tags=["ops"], summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": settings.service_name}

    @app.get(
        "/readyz",
        tags=["ops"],
        summary="Database and broker reachable",
        responses={503: {"description": "A dependency is unreachable"}},
    )
    async def readyz() -> JSONResponse:
        results = await asyncio.gather(*(_run_check(check) for check in checks))
        failed = {c.name: reason for c, reason in zip(checks, results, strict=True) if reason}
        if failed:
            log.warning("not_ready", failed=failed)
            return error_response(
                503,
                "not_ready",
                {"checks": {c.name: failed.get(c.name, "ok") for c in checks}},
            )
        return JSONResponse({"status": "ready", "checks": {c.name: "ok" for c in checks}})

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        body = generate_latest(REGISTRY) + generate_latest(registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    for router in routers:
        app.include_router(router)
    return app


__all__ = [
    "CORRELATION_HEADER",
    "CorrelationIdMiddleware",
    "MetricsMiddleware",
    "ReadinessCheck",
    "create_app",
    "database_check",
    "error_response",
    "kafka_check",
]
