"""`var/stack.env`: the connection settings the stack chose, for services, CLIs and tests.

The format is plain `KEY=value` lines, readable by `source`, docker's `--env-file` and
`read_env` below; values never hold newlines so no quoting is needed.
"""

import os
from collections.abc import Mapping
from pathlib import Path

STACK_ENV_KEYS = (
    "DATABASE_URL",
    "KAFKA_BOOTSTRAP_SERVERS",
    "KAFKA_ENABLE_IDEMPOTENCE",
    "SMTP_HOST",
    "SMTP_PORT",
    "MAILDIR",
)


def write_env(path: Path, values: Mapping[str, str]) -> None:
    """Write atomically, so a reader never sees half a file."""
    for key, value in values.items():
        if "\n" in value or "\n" in key:
            raise ValueError(f"newline in stack setting {key!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    body = "".join(f"{key}={value}\n" for key, value in values.items())
    tmp.write_text(
        "# Written by `python -m appariement.common.stack`; rewritten at each start.\n" + body,
        encoding="utf-8",
    )
    os.replace(tmp, path)


def read_env(path: Path) -> dict[str, str]:
    """Parse a file written by `write_env` (comments and blank lines ignored)."""
    values: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        values[key.strip()] = value.strip()
    return values
