"""Read what the SMTP sink stored: parsed messages, and a wait for the ones a test expects."""

import email
import mailbox
from email.message import EmailMessage
from email.policy import default as default_policy

from appariement.common.testing.polling import wait_until


def read_messages(box: mailbox.Maildir) -> list[EmailMessage]:
    """Every message in the Maildir, oldest first, parsed with the modern email API
    (`msg["Subject"]` decoded, `msg.get_body(("plain",)).get_content()` for the text)."""
    entries = []
    for key in box.iterkeys():
        entries.append((box.get_message(key).get_date(), key))
    entries.sort()
    return [
        email.message_from_bytes(box.get_bytes(key), policy=default_policy)
        for _date, key in entries
    ]


def envelope_recipients(message: EmailMessage) -> list[str]:
    """The SMTP envelope recipients (Bcc included), as recorded by the sink."""
    raw = str(message.get("X-RcptTo", ""))
    return [address.strip() for address in raw.split(",") if address.strip()]


def messages_to(box: mailbox.Maildir, address: str) -> list[EmailMessage]:
    """Messages whose envelope names `address` (case-insensitive)."""
    wanted = address.lower()
    return [
        message
        for message in read_messages(box)
        if wanted in (r.lower() for r in envelope_recipients(message))
    ]


async def wait_for_messages(
    box: mailbox.Maildir,
    *,
    to: str | None = None,
    count: int = 1,
    timeout: float = 10.0,  # noqa: ASYNC109
) -> list[EmailMessage]:
    """Wait until at least `count` messages (to `to`, if given) arrived; return them all."""

    def arrived() -> list[EmailMessage]:
        found = messages_to(box, to) if to is not None else read_messages(box)
        return found if len(found) >= count else []

    return await wait_until(
        arrived,
        timeout=timeout,
        message=f"expected {count} message(s)" + (f" to {to}" if to else ""),
    )
