"""The runner's promises beyond the happy start: a crashing worker is logged and restarted
(never dies silently), and SIGTERM — what Docker and Kubernetes send — stops the process as
cleanly as SIGINT, exit code 0."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import httpx
from fastapi import APIRouter

from appariement.common.service import ServiceSpec, build_app
from appariement.common.stack.info import StackInfo
from appariement.common.stack.ports import free_port
from appariement.common.testing.polling import wait_until
from appariement.support.config import Settings

# A service whose only worker fails on its first run and then keeps running: the runner must
# log the crash with its traceback and start the worker again.
CRASHING_SERVICE = textwrap.dedent(
    """
    import asyncio
    import sys

    from appariement.common.service import ServiceContext, ServiceSpec, main
    from appariement.matching.config import Settings

    runs = 0


    async def flaky(context: ServiceContext) -> None:
        global runs
        runs += 1
        if runs == 1:
            raise RuntimeError("first run fails on purpose")
        async with context.pool.acquire() as conn:
            await conn.fetchval("SELECT 1")
        print(f"flaky_worker_running run={runs}", flush=True)
        await asyncio.Event().wait()


    SPEC = ServiceSpec(
        name="matching",
        title="Appariement — runner test",
        settings_class=Settings,
        workers=[("flaky", flaky)],
        topics=(),
        relay=False,
    )
    sys.exit(main(SPEC, sys.argv[1:]))
    """
)


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)


async def test_crashed_worker_is_logged_and_restarted_then_sigterm_exits_zero(
    stack: StackInfo, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    script = tmp_path / "crashing_service.py"
    script.write_text(CRASHING_SERVICE)
    log = tmp_path / "service.log"
    env = {
        **os.environ,
        **stack.env,
        "APPARIEMENT_STACK_ENV": "",
        "DATABASE_SCHEMA": unique_name("runner"),
        "HTTP_PORT": str(port := free_port()),
        "LOG_FORMAT": "console",
    }
    process = _start([sys.executable, str(script)], env, log)
    try:

        def output() -> str:
            return log.read_text(errors="replace")

        await wait_until(
            lambda: "flaky_worker_running run=2" in output() or process.poll() is not None,
            timeout=60,
            message="the worker was not restarted after its crash",
        )
        assert process.poll() is None, output()
        text = output()
        assert "worker_crashed" in text
        assert "first run fails on purpose" in text  # the traceback is in the log
        async with httpx.AsyncClient(timeout=5) as client:
            metrics = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
        assert 'worker_crashes_total{worker="flaky"} 1.0' in metrics
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0, output()
        assert "service_stopped" in output()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _run_to_exit(args: list[str], env: dict[str, str], log: Path) -> int:
    process = _start(args, env, log)
    try:
        return process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_unsafe_production_settings_stop_the_start_with_one_plain_message(
    tmp_path: Path,
) -> None:
    log = tmp_path / "service.log"
    env = {**os.environ, "APPARIEMENT_STACK_ENV": "", "ENVIRONMENT": "production"}
    env.pop("JWT_PUBLIC_KEY", None)
    code = _run_to_exit([sys.executable, "-m", "appariement.support"], env, log)
    text = log.read_text()
    assert code == 2, text
    assert "appariement.support: invalid settings" in text
    assert "Traceback" not in text


def test_a_database_that_refuses_us_fails_the_start_with_exit_code_1(
    stack: StackInfo, tmp_path: Path
) -> None:
    log = tmp_path / "service.log"
    base, _, _ = stack.database_url.rpartition("/")
    env = {
        **os.environ,
        **stack.env,
        "APPARIEMENT_STACK_ENV": "",
        "DATABASE_URL": f"{base}/no_such_database",
        "LOG_FORMAT": "console",
    }
    code = _run_to_exit([sys.executable, "-m", "appariement.support", "--only", "api"], env, log)
    text = log.read_text()
    assert code == 1, text
    assert "service_failed" in text
    assert "no_such_database" in text


async def test_sigterm_while_waiting_for_the_database_stops_at_once_with_exit_code_0(
    stack: StackInfo, tmp_path: Path
) -> None:
    # Nothing listens on this port: the runner keeps retrying (up to 120 s), as it does while
    # compose or Kubernetes start PostgreSQL. A stop then must not wait for that deadline.
    log = tmp_path / "service.log"
    env = {
        **os.environ,
        **stack.env,
        "APPARIEMENT_STACK_ENV": "",
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/postgres",
        "HTTP_PORT": str(free_port()),
        "LOG_FORMAT": "console",
    }
    process = _start([sys.executable, "-m", "appariement.support"], env, log)
    try:
        await wait_until(
            lambda: "dependency_not_ready" in log.read_text() or process.poll() is not None,
            timeout=30,
            message="the runner never waited for the database",
        )
        assert process.poll() is None, log.read_text()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0, log.read_text()
        assert "service_start_abandoned" in log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_busy_http_port_fails_the_start_with_a_nonzero_exit_code(
    stack: StackInfo, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    # Another program holds the port: exit non-zero so compose/Kubernetes restart and report
    # it, rather than a process that looks alive with no API.
    log = tmp_path / "service.log"
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        env = {
            **os.environ,
            **stack.env,
            "APPARIEMENT_STACK_ENV": "",
            "DATABASE_SCHEMA": unique_name("busy"),
            "HTTP_PORT": str(holder.getsockname()[1]),
            "LOG_FORMAT": "console",
        }
        code = _run_to_exit([sys.executable, "-m", "appariement.support"], env, log)
    text = log.read_text()
    assert code != 0, text
    assert "address already in use" in text


def test_a_missing_stack_env_file_stops_the_start_with_one_plain_message(
    tmp_path: Path,
) -> None:
    log = tmp_path / "service.log"
    env = {**os.environ, "APPARIEMENT_STACK_ENV": str(tmp_path / "gone" / "stack.env")}
    code = _run_to_exit([sys.executable, "-m", "appariement.support"], env, log)
    text = log.read_text()
    assert code == 2, text
    assert "appariement.support: invalid settings" in text
    assert "gone/stack.env" in text
    assert "Traceback" not in text


# A service with one slow route: a stop signal must let the request in flight finish.
SLOW_SERVICE = textwrap.dedent(
    """
    import asyncio
    import sys

    from fastapi import APIRouter

    from appariement.common.service import ServiceSpec, main
    from appariement.support.config import Settings

    router = APIRouter()


    @router.get("/slow")
    async def slow() -> dict[str, str]:
        print("slow_request_started", flush=True)
        await asyncio.sleep(1.5)
        return {"done": "yes"}


    SPEC = ServiceSpec(
        name="support",
        title="Appariement — drain test",
        settings_class=Settings,
        routers=lambda: [router],
        topics=(),
        relay=False,
    )
    sys.exit(main(SPEC, sys.argv[1:]))
    """
)


async def test_sigterm_lets_the_request_in_flight_finish_then_exits_zero(
    stack: StackInfo, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    script = tmp_path / "slow_service.py"
    script.write_text(SLOW_SERVICE)
    log = tmp_path / "service.log"
    port = free_port()
    env = {
        **os.environ,
        **stack.env,
        "APPARIEMENT_STACK_ENV": "",
        "DATABASE_SCHEMA": unique_name("drain"),
        "HTTP_PORT": str(port),
        "LOG_FORMAT": "console",
    }
    process = _start([sys.executable, str(script), "--only", "api"], env, log)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:

            async def ready() -> bool:
                try:
                    return (await client.get("/readyz")).status_code == 200
                except httpx.HTTPError:
                    return process.poll() is not None

            await wait_until(ready, timeout=60, message="the service never became ready")
            assert process.poll() is None, log.read_text()
            request = asyncio.create_task(client.get("/slow"))
            await wait_until(lambda: "slow_request_started" in log.read_text(), timeout=10)
            process.send_signal(signal.SIGTERM)
            response = await request
        assert response.status_code == 200
        assert response.json() == {"done": "yes"}
        assert process.wait(timeout=20) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def test_a_workers_only_app_serves_the_ops_endpoints_and_no_api_route() -> None:
    router = APIRouter()

    @router.get("/tickets")
    async def tickets() -> list[str]:
        return []

    spec = ServiceSpec(
        name="support",
        title="Appariement — ops test",
        settings_class=Settings,
        routers=lambda: [router],
    )
    settings = Settings(database_url="postgresql://unused@127.0.0.1:1/x")
    for ops_only, tickets_status in ((False, 200), (True, 404)):
        app = build_app(spec, settings, ops_only=ops_only)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/tickets")).status_code == tickets_status
            assert (await client.get("/healthz")).status_code == 200
            assert (await client.get("/metrics")).status_code == 200
