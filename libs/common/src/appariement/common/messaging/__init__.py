"""Reliable messaging: Kafka clients, the transactional outbox and its relay, the inbox.

Guarantees: an event leaves only if the transaction that wrote it commits (outbox); it is
delivered at least once, in order per key (relay); its effect happens once per consumer
(inbox); a message that cannot be handled goes to the dead-letter topic (consumer).
"""

from importlib.resources import files
from importlib.resources.abc import Traversable


def migrations_path() -> Traversable:
    """The SQL migrations (outbox, inbox) every service applies in its own schema first."""
    return files(__name__).joinpath("migrations")


__all__ = ["migrations_path"]
