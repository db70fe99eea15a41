"""The runner every service uses: `python -m appariement.<service> [--only api|workers]`.

One process runs, by default, the HTTP API, the service's consumers and its outbox relay;
`--only api` and `--only workers` split them so ops can scale workers apart (a workers-only
process still serves /healthz, /readyz and /metrics on its port, for probes and Prometheus,
but no API route). Start-up is the same for all six services: logging, database pool and
migrations (the common outbox/inbox tables, then the service's own), topics, then the API
and the workers. SIGINT/SIGTERM stop everything gracefully and the process exits 0 (a stop
during start-up too); invalid settings exit 2 with one plain message, a failed start exits
non-zero. A crashed worker is logged with its traceback and restarted with backoff. A
service spells itself out in its `spec.py`::

    SPEC = ServiceSpec(
        name="candidature",                  # appariement.candidature.migrations/*.sql
        title="Appariement — candidatures",
        settings_class=Settings,
        routers=routers,                     # () -> [APIRouter, ...]
        workers=[consumer_worker("campaign_events", topics=[CAMPAIGN_EVENTS.name],
                                 handlers={PhaseOpened: on_phase_opened})],
    )

and its `__main__.py` is `raise SystemExit(main(SPEC))`.
"""

import argparse
import asyncio
import contextlib
import functools
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar

import asyncpg
import structlog
import uvicorn
from fastapi import APIRouter, FastAPI
from prometheus_client import Counter
from pydantic import ValidationError

from appariement.common.db import COMMON_MIGRATIONS, MigrationSource, open_database
from appariement.common.events.base import IntegrationEvent
from appariement.common.events.topics import ALL_TOPICS, TopicSpec, ensure_topics
from appariement.common.logging import configure_logging
from appariement.common.messaging.consumer import IdempotentConsumer
from appariement.common.messaging.guard import Handler
from appariement.common.messaging.outbox import OutboxRelay
from appariement.common.settings import BaseServiceSettings, UnsafeSettingsError
from appariement.common.web import create_app, database_check, kafka_check

log = structlog.get_logger(__name__)

Mode = Literal["all", "api", "workers"]
T = TypeVar("T")


@dataclass
class ServiceContext:
    """What a worker gets: the validated settings and the pool on the service's schema."""

    settings: BaseServiceSettings
    pool: asyncpg.Pool


Worker = Callable[[ServiceContext], Awaitable[None]]
"""A long-running coroutine (a consumer loop); restarted with backoff if it raises."""


def consumer_worker(
    name: str,
    *,
    topics: Sequence[str],
    handlers: Mapping[type[IntegrationEvent], Handler],
    group_id: str | None = None,
    max_attempts: int = 3,
) -> tuple[str, Worker]:
    """A `ServiceSpec.workers` entry running an inbox-guarded consumer with the service's
    pool and broker settings. Each worker is its own consumer group (and inbox name),
    `<service>.<name>` unless given, so two consumers of one service never share a group::

        workers=[consumer_worker("campaign_events", topics=[CAMPAIGN_EVENTS.name],
                                 handlers={PhaseOpened: on_phase_opened})]
    """

    async def run(context: ServiceContext) -> None:
        settings = context.settings
        await IdempotentConsumer(
            context.pool,
            topics=topics,
            group_id=group_id or f"{settings.service_name}.{name}",
            handlers=handlers,
            bootstrap_servers=settings.kafka_bootstrap_servers,
            enable_idempotence=settings.kafka_enable_idempotence,
            max_attempts=max_attempts,
            session_timeout_ms=settings.kafka_session_timeout_ms,
        ).run()

    return name, run


def _no_routers() -> Sequence[APIRouter]:
    return ()


@dataclass(frozen=True)
class ServiceSpec:
    """Everything the runner needs to know about one service."""

    name: str
    title: str
    settings_class: type[BaseServiceSettings]
    routers: Callable[[], Sequence[APIRouter]] = _no_routers
    workers: Sequence[tuple[str, Worker]] = ()
    topics: Sequence[TopicSpec] = ALL_TOPICS
    version: str = "0.1.0"
    relay: bool = True
    migrations: Sequence[MigrationSource] = field(default=())

    def migration_sources(self) -> list[MigrationSource]:
        """The common outbox/inbox tables first, then the service's own migrations."""
        own = self.migrations or (
            MigrationSource(self.name, f"appariement.{self.name}.migrations"),
        )
        return [COMMON_MIGRATIONS, *own]


@dataclass
class _Runtime:
    """Mutable state shared by the app (readiness) and the start-up sequence."""

    pool: asyncpg.Pool | None = None


def build_app(
    spec: ServiceSpec,
    settings: BaseServiceSettings,
    runtime: _Runtime | None = None,
    *,
    ops_only: bool = False,
) -> FastAPI:
    """The service's FastAPI app: common endpoints plus the service's routers (`ops_only`:
    the common endpoints alone, what a `--only workers` process serves for its probes and
    Prometheus)."""
    runtime = runtime or _Runtime()
    app = create_app(
        settings,
        title=spec.title,
        version=spec.version,
        routers=() if ops_only else spec.routers(),
        readiness_checks=[
            database_check(lambda: runtime.pool),
            kafka_check(settings.kafka_bootstrap_servers),
        ],
    )
    app.state.runtime = runtime
    return app


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the runner owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _transient(exc: BaseException) -> bool:
    """A dependency still starting: connection refused, timeouts, PostgreSQL "starting up"
    (57P03, seen when a pod starts with its database), aiokafka's connection errors."""
    return isinstance(
        exc,
        OSError
        | asyncpg.PostgresConnectionError
        | asyncpg.CannotConnectNowError
        | asyncio.TimeoutError,
    ) or type(exc).__name__ in {"KafkaConnectionError", "KafkaTimeoutError", "NodeNotReadyError"}


async def _retry_until_ready(
    what: str, attempt: Callable[[], Awaitable[T]], *, deadline_s: float = 120.0
) -> T:
    """Start-up steps wait for a database or broker that is still starting (compose, k8s)."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + deadline_s
    delay = 0.2
    while True:
        try:
            return await attempt()
        except Exception as exc:
            if not _transient(exc) or loop.time() > give_up:
                raise
            log.warning("dependency_not_ready", step=what, error=str(exc), retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


WORKER_CRASHES = Counter(
    "worker_crashes_total",
    "Crashes of a supervised worker (consumer, outbox relay); each is followed by a restart.",
    ["worker"],
)
"""On the default registry: /metrics shows it in every mode."""

_HTTP_DRAIN_S = 20
_FIRST_RESTART_DELAY_S = 0.5
_HEALTHY_RUN_S = 60.0


async def _supervise(name: str, run: Callable[[], Awaitable[None]]) -> None:
    """Keep a worker alive: a crash is logged with its traceback and the worker restarts."""
    loop = asyncio.get_running_loop()
    delay = _FIRST_RESTART_DELAY_S
    while True:
        began = loop.time()
        try:
            await run()
            log.warning("worker_returned", worker=name)
        except asyncio.CancelledError:
            raise
        except Exception:
            if loop.time() - began > _HEALTHY_RUN_S:
                delay = _FIRST_RESTART_DELAY_S  # a crash after a long healthy run starts afresh
            WORKER_CRASHES.labels(worker=name).inc()
            log.exception("worker_crashed", worker=name, restart_in=delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 30.0)


@contextlib.asynccontextmanager
async def _database(
    spec: ServiceSpec, settings: BaseServiceSettings, runtime: _Runtime
) -> AsyncIterator[asyncpg.Pool]:
    pool = await _retry_until_ready(
        "database", lambda: open_database(settings, sources=spec.migration_sources())
    )
    runtime.pool = pool
    try:
        yield pool
    finally:
        runtime.pool = None
        await pool.close()


def _worker_tasks(
    spec: ServiceSpec, settings: BaseServiceSettings, pool: asyncpg.Pool
) -> list[asyncio.Task[None]]:
    context = ServiceContext(settings=settings, pool=pool)
    tasks: list[asyncio.Task[None]] = []
    if spec.relay:
        relay = OutboxRelay(
            pool,
            bootstrap_servers=settings.kafka_bootstrap_servers,
            enable_idempotence=settings.kafka_enable_idempotence,
        )
        tasks.append(asyncio.create_task(_supervise("outbox_relay", relay.run)))
    for name, worker in spec.workers:
        tasks.append(asyncio.create_task(_supervise(name, functools.partial(worker, context))))
    return tasks


async def serve(spec: ServiceSpec, settings: BaseServiceSettings, mode: Mode = "all") -> None:
    """Run the service until SIGINT/SIGTERM, then stop it gracefully."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    this = asyncio.current_task()
    starting = True

    def on_signal() -> None:
        stop.set()
        if starting and this is not None:
            # Still waiting for the database or the broker: nothing to drain, give up now
            # (a pod stopped during a long start must not wait for the retry deadline).
            this.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)

    runtime = _Runtime()
    tasks: list[asyncio.Task[None]] = []
    # Every mode serves HTTP: `--only workers` the common endpoints alone (probes, Prometheus).
    config = uvicorn.Config(
        build_app(spec, settings, runtime, ops_only=mode == "workers"),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        lifespan="auto",
        # Drain in-flight requests, but within the 30 s Kubernetes/compose give before SIGKILL.
        timeout_graceful_shutdown=_HTTP_DRAIN_S,
    )
    server = _Server(config)
    # The API answers /healthz at once; /readyz turns green when the pool is open.
    tasks.append(asyncio.create_task(server.serve(), name="http"))

    log.info("service_starting", service=spec.name, mode=mode, port=settings.http_port)
    try:
        async with _database(spec, settings, runtime) as pool:
            if mode != "api":
                await _retry_until_ready(
                    "topics", lambda: ensure_topics(settings.kafka_bootstrap_servers, spec.topics)
                )
                tasks.extend(_worker_tasks(spec, settings, pool))
            starting = False
            log.info("service_started", service=spec.name, mode=mode)
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            log.info("service_stopping", service=spec.name)
            await _shutdown(server, tasks)
    except asyncio.CancelledError:
        if not (starting and stop.is_set()):
            raise
        if this is not None:
            this.uncancel()
        log.info("service_start_abandoned", service=spec.name)
    finally:
        starting = False  # a signal during the clean-up below must not cancel it
        await _shutdown(server, tasks)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    log.info("service_stopped", service=spec.name)


async def _shutdown(server: _Server | None, tasks: list[asyncio.Task[None]]) -> None:
    """Let uvicorn finish in-flight requests, cancel the workers, wait for all of them."""
    if server is not None:
        server.should_exit = True
    for task in tasks:
        if task.get_name() != "http":
            task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def main(spec: ServiceSpec, argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m appariement.<service>`."""
    parser = argparse.ArgumentParser(
        prog=f"python -m appariement.{spec.name}", description=spec.title
    )
    parser.add_argument(
        "--only",
        choices=["api", "workers"],
        help="run only the HTTP API, or only the consumers and the outbox relay "
        "(which still serve /healthz, /readyz and /metrics)",
    )
    args = parser.parse_args(argv)
    try:
        settings = spec.settings_class()
    except (UnsafeSettingsError, ValidationError, FileNotFoundError) as exc:
        # FileNotFoundError: APPARIEMENT_STACK_ENV names a file that is not there.
        # Before logging is configured: one plain message, no traceback (ops read it in a pod log).
        print(f"appariement.{spec.name}: invalid settings: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings)
    mode: Mode = args.only or "all"
    try:
        asyncio.run(serve(spec, settings, mode))
    except KeyboardInterrupt:  # Ctrl-C before the runner's own handler was installed
        log.info("service_stopped", service=spec.name)
    except Exception:
        log.exception("service_failed", service=spec.name)
        return 1
    return 0


__all__ = [
    "ServiceContext",
    "ServiceSpec",
    "Worker",
    "build_app",
    "consumer_worker",
    "main",
    "serve",
]
