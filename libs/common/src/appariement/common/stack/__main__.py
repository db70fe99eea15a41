"""`python -m appariement.common.stack up|down|status|env|run` (`make stack`, `make run`).

- up: start the backing servers in the background, write `<var>/stack.env`, return;
- down: stop what `up` started;
- status: which recorded servers run (exit 0 if the stack is up, 3 otherwise);
- env: print stack.env (`set -a; . var/stack.env` in a shell does the same);
- run: servers + every service + demo campaign, in the foreground until Ctrl-C.
The var dir is `--var-dir`, else $APPARIEMENT_VAR_DIR, else `./var`.
"""

import argparse
import asyncio
import logging
import os
import shlex
import subprocess
import sys
from pathlib import Path

from appariement.common.logging import configure_logging
from appariement.common.stack import launcher
from appariement.common.stack.core import (
    ENV_FILE,
    healthy_recorded_stack,
    recorded_env,
    recorded_processes,
    start_stack,
    stop_recorded_stack,
)
from appariement.common.stack.processes import reap_leftovers

EXIT_FAILED = 1
EXIT_NOT_RUNNING = 3


def _var_dir(option: str | None) -> Path:
    return Path(option or os.environ.get("APPARIEMENT_VAR_DIR") or "var").resolve()


def _configure_logging(verbose: bool) -> None:
    """Readable console lines for a person at a terminal."""
    configure_logging("console", logging.DEBUG if verbose else logging.INFO)


def up(var_dir: Path) -> int:
    existing = asyncio.run(healthy_recorded_stack(var_dir))
    if existing is not None:
        sys.stdout.write(f"La pile tourne déjà ({var_dir / ENV_FILE}) :\n")
        sys.stdout.write("".join(f"{key}={value}\n" for key, value in existing.env.items()))
        return 0
    reap_leftovers(var_dir / "run")
    try:
        running = asyncio.run(start_stack(var_dir, attached=False, environ=os.environ))
    except (RuntimeError, TimeoutError, OSError, subprocess.CalledProcessError) as exc:
        sys.stderr.write(f"La pile n'a pas démarré : {exc}\n")
        return EXIT_FAILED
    for handle in running.logs:  # the servers keep their own copy of the descriptors
        handle.close()
    sys.stdout.write(f"Pile démarrée ; réglages dans {var_dir / ENV_FILE} :\n")
    sys.stdout.write("".join(f"{key}={value}\n" for key, value in running.info.env.items()))
    sys.stdout.write("Arrêt : python -m appariement.common.stack down\n")
    return 0


def down(var_dir: Path) -> int:
    stopped = stop_recorded_stack(var_dir)
    sys.stdout.write(f"Arrêtés : {', '.join(stopped)}\n" if stopped else "Rien ne tournait.\n")
    return 0


def status(var_dir: Path) -> int:
    alive = recorded_processes(var_dir)
    env = recorded_env(var_dir)
    for record in alive:
        sys.stdout.write(f"{record.name}: en marche (pid {record.pid})\n")
    if env is None or not alive:
        sys.stdout.write(f"La pile ne tourne pas ({var_dir}).\n")
        return EXIT_NOT_RUNNING
    sys.stdout.write("".join(f"{key}={value}\n" for key, value in env.items()))
    return 0


def env(var_dir: Path, export: bool) -> int:
    """`eval "$(python -m appariement.common.stack env --export)"` sets them in a shell."""
    values = recorded_env(var_dir)
    if values is None:
        sys.stderr.write(f"Pas de {var_dir / ENV_FILE} : lancez d'abord `make stack`.\n")
        return EXIT_NOT_RUNNING
    prefix = "export " if export else ""
    quote = shlex.quote if export else str
    sys.stdout.write("".join(f"{prefix}{key}={quote(value)}\n" for key, value in values.items()))
    return 0


def run(var_dir: Path, services: str | None) -> int:
    chosen = launcher.parse_services(services) if services else launcher.SERVICES
    try:
        asyncio.run(launcher.run(var_dir, environ=os.environ, services=chosen))
    except KeyboardInterrupt:
        return 0
    except asyncio.CancelledError:  # SIGTERM
        return 0
    except launcher.AlreadyRunningError as exc:
        sys.stderr.write(f"{exc}\n")
        return EXIT_FAILED
    except (RuntimeError, TimeoutError, OSError, subprocess.CalledProcessError) as exc:
        sys.stderr.write(f"La pile n'a pas démarré : {exc}\n")
        return EXIT_FAILED
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m appariement.common.stack",
        description="Backing servers (PostgreSQL, Tansu, SMTP sink) and the services, for dev.",
    )
    parser.add_argument("command", choices=["up", "down", "status", "env", "run"])
    parser.add_argument("--var-dir", help="default: $APPARIEMENT_VAR_DIR or ./var")
    parser.add_argument(
        "--services",
        help="run: only these, e.g. `identity,campaign` or `name:port` (default: all six)",
    )
    parser.add_argument("--export", action="store_true", help="env: `export K=V` lines")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logs")
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    var_dir = _var_dir(args.var_dir)
    if args.command == "run":
        return run(var_dir, args.services)
    if args.command == "env":
        return env(var_dir, args.export)
    commands = {"up": up, "down": down, "status": status}
    return commands[args.command](var_dir)


if __name__ == "__main__":
    sys.exit(main())
