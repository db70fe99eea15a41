"""The app factory: error shape, correlation id, readiness on real servers, metrics, CORS."""

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest
import structlog
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from appariement.common.errors import AppError, NotFound
from appariement.common.logging import configure_logging, get_correlation_id
from appariement.common.settings import BaseServiceSettings
from appariement.common.stack.info import StackInfo
from appariement.common.stack.ports import free_port
from appariement.common.web import ReadinessCheck, create_app, database_check, kafka_check

router = APIRouter()


class Wish(BaseModel):
    post_id: int
    hearts: int


class PhaseClosed(AppError):
    code = "phase_closed"
    status = 409


@router.post("/campaigns/{campaign_id}/wishes")
async def submit_wishes(campaign_id: int, wishes: list[Wish]) -> dict[str, int]:
    return {"count": len(wishes)}


@router.get("/closed")
async def closed() -> None:
    raise PhaseClosed("La phase de vœux est close.", fields={"phase": "close"})


@router.get("/posts/{post_id}")
async def post(post_id: int) -> None:
    raise NotFound(f"Poste {post_id} introuvable.")


@router.get("/crash")
async def crash() -> None:
    raise RuntimeError("password=hunter2 at db.internal")


@router.get("/whoami/correlation")
async def correlation() -> dict[str, str | None]:
    structlog.get_logger("test").info("inside_handler")
    return {"correlation_id": get_correlation_id()}


@router.get("/sync/correlation")
def sync_correlation() -> dict[str, str | None]:
    return {"correlation_id": get_correlation_id()}  # runs in a worker thread


def settings(**overrides: object) -> BaseServiceSettings:
    values: dict[str, object] = {"service_name": "candidature", "environment": "test"}
    return BaseServiceSettings(**(values | overrides))  # type: ignore[arg-type]


def app_with(*checks: ReadinessCheck, **overrides: object) -> FastAPI:
    return create_app(
        settings(**overrides),
        title="candidature",
        version="0.1.0",
        routers=[router],
        readiness_checks=checks,
    )


async def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with await client_for(app_with()) as c:
        yield c


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    saved_config = structlog.get_config()
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging("json", "INFO", stream=stream)
    yield stream
    structlog.configure(**saved_config)
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


def parsed(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


async def test_health_is_always_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "service": "candidature"}


async def test_unknown_route_has_the_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/nowhere")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "Not Found", "fields": None}


async def test_wrong_method_has_the_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.delete("/healthz")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


async def test_validation_errors_map_dotted_field_paths_to_reasons(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/campaigns/abc/wishes", json=[{"post_id": 1, "hearts": 5}, {"post_id": "x"}]
    )

    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "validation_error"
    assert set(body["fields"]) == {"path.campaign_id", "1.post_id", "1.hearts"}
    assert "integer" in body["fields"]["1.post_id"]
    assert "required" in body["fields"]["1.hearts"].lower()


async def test_domain_errors_keep_their_code_status_and_fields(client: httpx.AsyncClient) -> None:
    closed = await client.get("/closed")
    missing = await client.get("/posts/7")

    assert closed.status_code == 409
    assert closed.json() == {
        "error": "phase_closed",
        "detail": "La phase de vœux est close.",
        "fields": {"phase": "close"},
    }
    assert missing.status_code == 404
    assert missing.json() == {
        "error": "not_found",
        "detail": "Poste 7 introuvable.",
        "fields": None,
    }


async def test_unhandled_error_is_a_500_without_internals_and_logged_with_traceback(
    client: httpx.AsyncClient, log_lines: io.StringIO
) -> None:
    response = await client.get("/crash", headers={"X-Correlation-ID": "crash-1"})

    assert response.status_code == 500
    assert response.json()["error"] == "internal_error"
    assert "hunter2" not in response.text
    assert response.headers["X-Correlation-ID"] == "crash-1"
    (error,) = [line for line in parsed(log_lines) if line["event"] == "unhandled_error"]
    assert error["correlation_id"] == "crash-1"
    assert "RuntimeError: password=hunter2" in str(error["exception"])


async def test_correlation_id_is_echoed_and_bound_for_the_handler(
    client: httpx.AsyncClient, log_lines: io.StringIO
) -> None:
    response = await client.get("/whoami/correlation", headers={"X-Correlation-ID": "abc-123"})

    assert response.headers["X-Correlation-ID"] == "abc-123"
    assert response.json() == {"correlation_id": "abc-123"}
    events = {str(line["event"]): line for line in parsed(log_lines)}
    assert events["inside_handler"]["correlation_id"] == "abc-123"
    assert events["http_request"]["correlation_id"] == "abc-123"
    assert events["http_request"]["status"] == 200


async def test_sync_handlers_in_threads_see_the_correlation_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/sync/correlation", headers={"X-Correlation-ID": "thread-1"})
    assert response.json() == {"correlation_id": "thread-1"}


async def test_correlation_id_is_generated_when_absent_or_unsafe(
    client: httpx.AsyncClient,
) -> None:
    plain = await client.get("/whoami/correlation")
    forged = await client.get(
        "/whoami/correlation", headers={"X-Correlation-ID": 'x" level="critical'}
    )
    too_long = await client.get("/whoami/correlation", headers={"X-Correlation-ID": "a" * 129})

    for response in (plain, forged, too_long):
        generated = response.headers["X-Correlation-ID"]
        assert len(generated) == 32
        assert response.json() == {"correlation_id": generated}
    assert plain.headers["X-Correlation-ID"] != forged.headers["X-Correlation-ID"]


async def test_ready_when_database_and_broker_answer(
    stack: StackInfo, pg_pool: asyncpg.Pool
) -> None:
    app = app_with(database_check(lambda: pg_pool), kafka_check(stack.kafka_bootstrap_servers))
    async with await client_for(app) as client:
        response = await client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "broker": "ok"}}


async def test_not_ready_names_the_unreachable_database(stack: StackInfo) -> None:
    # A pool on a port where nothing listens: created empty, every acquire is refused.
    dead_pool = await asyncpg.create_pool(
        f"postgresql://postgres@127.0.0.1:{free_port()}/postgres", min_size=0, max_size=1
    )
    app = app_with(database_check(lambda: dead_pool), kafka_check(stack.kafka_bootstrap_servers))
    try:
        async with await client_for(app) as client:
            response = await client.get("/readyz")
    finally:
        await dead_pool.close()

    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "not_ready"
    assert body["detail"]["checks"]["broker"] == "ok"
    assert body["detail"]["checks"]["database"] != "ok"


async def test_not_ready_while_the_pool_is_not_started_or_the_broker_is_down() -> None:
    app = app_with(database_check(lambda: None), kafka_check(f"127.0.0.1:{free_port()}"))
    async with await client_for(app) as client:
        response = await client.get("/readyz")

    assert response.status_code == 503
    checks = response.json()["detail"]["checks"]
    assert "not started" in checks["database"]
    assert checks["broker"] != "ok"


async def test_metrics_count_requests_by_route_template_and_status(
    client: httpx.AsyncClient,
) -> None:
    await client.get("/posts/1")
    await client.get("/posts/2")
    await client.get("/healthz")

    text = (await client.get("/metrics")).text

    assert 'http_requests_total{method="GET",route="/posts/{post_id}",status="404"} 2.0' in text
    assert 'http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text
    assert 'http_request_duration_seconds_count{method="GET",route="/posts/{post_id}"} 2.0' in text
    assert "process_" in text or "python_info" in text  # the default registry too


async def test_two_apps_in_one_process_keep_separate_counters() -> None:
    async with await client_for(app_with()) as first, await client_for(app_with()) as second:
        await first.get("/healthz")
        text = (await second.get("/metrics")).text
    assert 'route="/healthz"' not in text


async def test_cors_allows_configured_origins_only() -> None:
    app = app_with(cors_origins=["https://app.example.fr"])
    async with await client_for(app) as client:
        allowed = await client.options(
            "/healthz",
            headers={"Origin": "https://app.example.fr", "Access-Control-Request-Method": "GET"},
        )
        refused = await client.get("/healthz", headers={"Origin": "https://evil.example"})

    assert allowed.headers["access-control-allow-origin"] == "https://app.example.fr"
    assert "access-control-allow-origin" not in refused.headers


async def test_openapi_documents_the_error_shape(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert "ErrorBody" in schema["components"]["schemas"]
    assert (await client.get("/docs")).status_code == 200
