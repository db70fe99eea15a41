"""Reliable messaging: Kafka clients, the transactional outbox and its relay, the inbox.

Guarantees: an event leaves only if the transaction that wrote it commits (outbox); it is
delivered at least once, in order per key (relay); its effect happens once per consumer
(inbox); a message that cannot be handled goes to the dead-letter topic (consumer).

A service wires it like this (the runner passes its settings)::

    # start-up, before anything produces or consumes (topics are never auto-created)
    await ensure_topics(settings.kafka_bootstrap_servers)          # events.topics
    # migrations: messaging/migrations/*.sql first, in the service's schema

    # a state change and its event, one transaction (service layer)
    async with conn.transaction():
        await conn.execute("INSERT INTO wishes ...")
        await publish(conn, WishesSubmitted(...))                   # messaging.outbox

    # workers: one relay per schema is active (advisory lock), others stand by
    relay = OutboxRelay(pool, bootstrap_servers=..., enable_idempotence=...)
    consumer = IdempotentConsumer(
        pool, topics=[CAMPAIGN_EVENTS.name], group_id="candidature",
        handlers={PhaseOpened: on_phase_opened, PostPublished: on_post_published},
        bootstrap_servers=..., enable_idempotence=...,
    )
    await asyncio.gather(relay.run(), consumer.run())

Handlers are ``async def on_x(conn, event, envelope)`` and run inside the inbox
transaction: their writes and the events they ``publish`` commit with the claim, and
those events inherit the correlation id and name the handled event as their cause.
"""

from importlib.resources import files
from importlib.resources.abc import Traversable


def migrations_path() -> Traversable:
    """The SQL migrations (outbox, inbox) every service applies in its own schema first."""
    return files(__name__).joinpath("migrations")


__all__ = ["migrations_path"]
