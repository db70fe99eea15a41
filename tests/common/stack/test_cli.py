"""`python -m appariement.common.stack` in a throw-away var dir: up, down, a restart after a
crash, and `run` stopping every child on Ctrl-C."""

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import psutil
import pytest

from appariement.common.stack import postgres
from appariement.common.stack.envfile import STACK_ENV_KEYS, read_env
from appariement.common.stack.ports import free_port
from appariement.common.stack.processes import identity
from appariement.common.testing.polling import wait_until

STACK = [sys.executable, "-m", "appariement.common.stack"]
pytestmark = pytest.mark.slow


def cli(
    var_dir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*STACK, *args, "--var-dir", str(var_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env if env is not None else _clean_env(),
    )


def _shell_env_after_export(var_dir: Path) -> list[str]:
    """What a shell holds after `eval "$(... env --export)"`."""
    script = f'eval "$({" ".join(STACK)} env --export --var-dir {var_dir})"; env'
    return subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, check=True, env=_clean_env()
    ).stdout.splitlines()


def _clean_env() -> dict[str, str]:
    """The CLI under test must start its own servers, whatever the outer environment says."""
    return {k: v for k, v in os.environ.items() if k not in STACK_ENV_KEYS}


def _alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except psutil.NoSuchProcess:
            pass
    return alive


def _pid_alive(pid: int) -> bool:
    try:
        return bool(_alive([psutil.Process(pid)]))
    except psutil.NoSuchProcess:
        return False


def _recorded_pids(var_dir: Path) -> list[int]:
    return [json.loads(p.read_text())["pid"] for p in (var_dir / "run").glob("*.pid")]


@pytest.fixture
def var_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "var"
    yield path
    cli(path, "down")  # never leave servers behind, even when a test fails


async def _database_answers(url: str) -> bool:
    conn = await asyncpg.connect(url, timeout=5)
    try:
        return bool(await conn.fetchval("SELECT 1") == 1)
    finally:
        await conn.close()


async def test_up_writes_stack_env_and_down_stops_every_server(var_dir: Path) -> None:
    up = cli(var_dir, "up")
    assert up.returncode == 0, up.stderr

    env = read_env(var_dir / "stack.env")
    assert set(env) == set(STACK_ENV_KEYS)
    assert env["DATABASE_URL"].startswith("postgresql://postgres@127.0.0.1:")
    assert env["KAFKA_ENABLE_IDEMPOTENCE"] == "false"
    assert Path(env["MAILDIR"]) == (var_dir / "mail").resolve()
    assert await _database_answers(env["DATABASE_URL"])
    assert cli(var_dir, "status").returncode == 0
    assert cli(var_dir, "env").stdout.splitlines() == [f"{k}={v}" for k, v in env.items()]
    assert {f"{k}={v}" for k, v in env.items()} <= set(_shell_env_after_export(var_dir))
    pids = _recorded_pids(var_dir)
    assert len(pids) == 3

    down = cli(var_dir, "down")
    assert down.returncode == 0, down.stderr
    assert not [pid for pid in pids if _pid_alive(pid)]
    assert not (var_dir / "stack.env").exists()
    assert not list((var_dir / "run").glob("*.pid"))
    assert cli(var_dir, "status").returncode == 3


async def test_second_up_after_servers_were_sigkilled_starts_a_working_stack(var_dir: Path) -> None:
    assert cli(var_dir, "up").returncode == 0
    for pid in _recorded_pids(var_dir):
        os.kill(pid, signal.SIGKILL)
    assert (var_dir / "postgres" / "postmaster.pid").exists()  # the stale lock is there

    again = cli(var_dir, "up")

    assert again.returncode == 0, again.stderr
    second = read_env(var_dir / "stack.env")
    assert await _database_answers(second["DATABASE_URL"])
    assert cli(var_dir, "status").returncode == 0


FAKE_SERVICE = textwrap.dedent(
    """
    import http.server, os, subprocess, sys
    from pathlib import Path

    PORT = int(os.environ["HTTP_PORT"])  # the launcher gives each service its port
    Path({env_file!r}).write_text(os.environ.get("DATABASE_URL", ""))
    subprocess.Popen(["sleep", "300"])  # a grandchild: must not survive `run`

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()
            self.wfile.write(b"ok")

    http.server.HTTPServer(("127.0.0.1", PORT), Health).serve_forever()
    """
)


def _start_run(var_dir: Path, services: str, pythonpath: Path) -> subprocess.Popen[str]:
    env = _clean_env() | {"PYTHONPATH": str(pythonpath)}
    return subprocess.Popen(
        [*STACK, "run", "--var-dir", str(var_dir), "--services", services],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


async def _read_until(proc: subprocess.Popen[str], marker: str, within: float = 60.0) -> str:
    """Read run's output until `marker` (in a thread: the pipe read blocks)."""
    assert proc.stdout is not None
    stdout = proc.stdout
    lines: list[str] = []

    def read() -> str:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            line = stdout.readline()
            if not line:
                break
            lines.append(line)
            if marker in line:
                return "".join(lines)
        raise AssertionError(f"{marker!r} not printed; output:\n{''.join(lines)}")

    return await asyncio.to_thread(read)


async def test_run_serves_then_ctrl_c_stops_every_child_and_a_second_run_works(
    tmp_path: Path, var_dir: Path
) -> None:
    port = free_port()
    env_file = tmp_path / "seen_database_url"
    package = tmp_path / "pkgs" / "appariement" / "fakesvc"
    package.mkdir(parents=True)
    (package / "__main__.py").write_text(FAKE_SERVICE.format(env_file=str(env_file)))
    crashing = tmp_path / "pkgs" / "appariement" / "crashsvc"
    crashing.mkdir()
    (crashing / "__main__.py").write_text("raise SystemExit(3)\n")

    for attempt in (1, 2):
        services = f"fakesvc:{port},absentsvc:{free_port()},crashsvc:{free_port()}"
        run = _start_run(var_dir, services, tmp_path / "pkgs")
        try:
            output = await _read_until(run, "Ctrl-C")
            assert f"http://127.0.0.1:{port}/docs" in output, output
            assert "appariement.absentsvc n'a pas encore de __main__" in output
            assert re.search(r"crashsvc\s+en échec\s+arrêté \(code 3\)", output), output
            assert env_file.read_text() == read_env(var_dir / "stack.env")["DATABASE_URL"]
            me = psutil.Process(run.pid)
            descendants = me.children(recursive=True)
            names = " ".join(" ".join(p.cmdline()) for p in descendants)
            for expected in ("sleep 300", "tansu", "postgres", "smtp_sink"):
                assert expected in names
            if attempt == 1:
                concurrent = cli(var_dir, "run")
                assert concurrent.returncode == 1
                assert "tourne déjà" in concurrent.stderr

            run.send_signal(signal.SIGINT)
            assert run.wait(timeout=60) == 0, attempt
        finally:
            if run.poll() is None:
                run.kill()
            if run.stdout is not None:
                run.stdout.close()

        try:
            await wait_until(lambda children=descendants: not _alive(children), timeout=10)
        except AssertionError:
            left = [" ".join(p.cmdline()) for p in _alive(descendants)]
            raise AssertionError(f"children of `run` still alive: {left}") from None
        assert not list((var_dir / "run").glob("*.pid"))
        assert not (var_dir / "stack.env").exists()


OWNER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from appariement.common.stack import start_stack

    async def main():
        await start_stack(Path(sys.argv[1]), attached=True)
        print("OWNER-READY", flush=True)
        await asyncio.sleep(300)

    asyncio.run(main())
    """
)


def _start_owner(var_dir: Path) -> subprocess.Popen[str]:
    """A process that starts an attached stack, then waits: killing it is the crash."""
    return subprocess.Popen(
        [sys.executable, "-c", OWNER, str(var_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_clean_env(),
    )


async def test_servers_die_with_their_sigkilled_owner_and_the_next_up_works(var_dir: Path) -> None:
    owner = _start_owner(var_dir)
    try:
        await _read_until(owner, "OWNER-READY")
        pids = _recorded_pids(var_dir)
        assert len(pids) == 3
        owner.kill()
        owner.wait(timeout=10)
    finally:
        if owner.poll() is None:
            owner.kill()
        if owner.stdout is not None:
            owner.stdout.close()

    await wait_until(
        lambda: not [pid for pid in pids if _pid_alive(pid)],
        timeout=20,
        message="servers outlived the process that started them",
    )
    again = cli(var_dir, "up")
    assert again.returncode == 0, again.stderr
    assert await _database_answers(read_env(var_dir / "stack.env")["DATABASE_URL"])


def _start_sleeper() -> subprocess.Popen[bytes]:
    """A process of the server's own user: PostgreSQL cannot tell it from a live postmaster."""
    user = postgres.SYSTEM_USER if os.geteuid() == 0 else None
    return subprocess.Popen(["sleep", "60"], **identity(user))


async def test_up_ignores_a_postmaster_pid_whose_pid_now_belongs_to_another_process(
    var_dir: Path,
) -> None:
    assert cli(var_dir, "up").returncode == 0
    pid_file = var_dir / "postgres" / "postmaster.pid"
    stale = pid_file.read_text().splitlines()
    for pid in _recorded_pids(var_dir):
        os.kill(pid, signal.SIGKILL)
    await wait_until(lambda: not [p for p in _recorded_pids(var_dir) if _pid_alive(p)])
    stranger = _start_sleeper()  # the crashed postmaster's pid, reused by someone else
    try:
        pid_file.write_text("\n".join([str(stranger.pid), *stale[1:]]) + "\n")

        again = cli(var_dir, "up")

        assert again.returncode == 0, again.stdout + again.stderr
        assert stranger.poll() is None, "the stranger holding the old pid was killed"
        assert await _database_answers(read_env(var_dir / "stack.env")["DATABASE_URL"])
    finally:
        stranger.kill()
        stranger.wait()


def test_up_refuses_a_data_dir_of_another_postgres_major_version_with_a_plain_message(
    var_dir: Path,
) -> None:
    (var_dir / "postgres").mkdir(parents=True)
    (var_dir / "postgres" / "PG_VERSION").write_text("17\n")

    up = cli(var_dir, "up")

    assert up.returncode == 1
    assert "holds a PostgreSQL 17 cluster" in up.stderr
    assert "Traceback" not in up.stderr
    assert not list((var_dir / "run").glob("*.pid"))
