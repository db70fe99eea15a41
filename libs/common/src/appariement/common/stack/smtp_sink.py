"""An SMTP server that accepts every message and stores it as a file in a Maildir.

Run as its own process by the stack:
`python -m appariement.common.stack.smtp_sink --host 127.0.0.1 --port 2525 --maildir var/mail`.
Read the mail with `mailbox.Maildir(path)`. Each stored message starts with `X-MailFrom` and
`X-RcptTo` headers holding the SMTP envelope, so a test can check Bcc recipients too.
"""

import argparse
import asyncio
import mailbox
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import structlog
from aiosmtpd.smtp import SMTP, Envelope, Session

from appariement.common.stack import processes

log = structlog.get_logger(__name__)

NAME = "smtp"


def ensure_maildir(path: Path) -> mailbox.Maildir:
    """Open the Maildir, creating its tmp/new/cur folders even if `path` already exists
    (`mailbox.Maildir(create=True)` only creates them for a missing path)."""
    for sub in ("tmp", "new", "cur"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    return mailbox.Maildir(path, create=False)


class MaildirHandler:
    """aiosmtpd handler: one Maildir file per accepted message (written atomically by
    `mailbox.Maildir.add`, via tmp/ then new/)."""

    def __init__(self, maildir: Path) -> None:
        self.maildir = ensure_maildir(maildir)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 (aiosmtpd's hook name)
        content = envelope.original_content or b""
        if isinstance(content, str):
            content = content.encode("utf-8")
        headers = (
            f"X-MailFrom: {envelope.mail_from}\r\nX-RcptTo: {', '.join(envelope.rcpt_tos)}\r\n"
        )
        self.maildir.add(headers.encode("utf-8") + content)
        log.info("mail_stored", mail_from=envelope.mail_from, rcpt_tos=envelope.rcpt_tos)
        return "250 Message accepted for delivery"


async def serve(host: str, port: int, maildir: Path) -> None:
    """Serve until SIGTERM or SIGINT."""
    handler = MaildirHandler(maildir)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="appariement-smtp-sink"), host=host, port=port
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("smtp_sink_listening", host=host, port=port, maildir=str(maildir))
    await stop.wait()
    server.close()
    await server.wait_closed()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="SMTP sink writing every message to a Maildir")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--maildir", type=Path, required=True)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port, args.maildir))


def start(
    *, port: int, maildir: Path, log_file: IO[bytes], run_dir: Path, attached: bool
) -> subprocess.Popen[bytes]:
    argv = [
        sys.executable,
        "-m",
        "appariement.common.stack.smtp_sink",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--maildir",
        str(maildir),
    ]
    env = {"PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1"}
    return processes.spawn(
        NAME, argv, run_dir=run_dir, log_file=log_file, env=env, attached=attached
    )


async def wait_ready(
    host: str, port: int, proc: subprocess.Popen[bytes] | None, within: float
) -> None:
    """Poll until the server greets and answers EHLO."""
    deadline = time.monotonic() + within
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"smtp sink exited with code {proc.returncode} while starting")
        try:
            await asyncio.wait_for(_ehlo(host, port), timeout=2.0)
            return
        except (TimeoutError, OSError, ValueError) as exc:
            last_error = exc
        await asyncio.sleep(0.05)
    raise TimeoutError(f"smtp not ready at {host}:{port} after {within}s: {last_error!r}")


async def _ehlo(host: str, port: int) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        greeting = await reader.readline()
        if not greeting.startswith(b"220"):
            raise ValueError(f"unexpected SMTP greeting {greeting!r}")
        writer.write(b"EHLO stack-health-check\r\n")
        await writer.drain()
        while True:
            line = await reader.readline()
            if not line.startswith(b"250"):
                raise ValueError(f"unexpected EHLO reply {line!r}")
            if line[3:4] == b" ":
                break
        writer.write(b"QUIT\r\n")
        await writer.drain()
    finally:
        writer.close()
        await writer.wait_closed()


if __name__ == "__main__":
    main()
