"""Producer and consumer factories with the settings every service shares.

``enable_idempotence`` is a parameter: Tansu (embedded dev/test broker) refuses the
idempotent producer, real Kafka should have it on. Delivery is at least once either way;
the inbox makes effects happen once. Session timeouts are parameters because Tansu holds a
JoinGroup reply for half the session timeout: dev and tests use short ones.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient


def make_producer(
    bootstrap_servers: str,
    *,
    enable_idempotence: bool,
    client_id: str | None = None,
    linger_ms: int = 5,
    request_timeout_ms: int = 30_000,
    max_batch_size: int = 1_048_576,
) -> AIOKafkaProducer:
    """A producer that waits for all in-sync replicas.

    aiokafka keeps one request in flight per partition, so retries never reorder a
    partition; a large ``max_batch_size`` keeps a relay batch in few requests.
    """
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=enable_idempotence,
        linger_ms=linger_ms,
        request_timeout_ms=request_timeout_ms,
        max_batch_size=max_batch_size,
    )


def make_consumer(
    topics: Iterable[str],
    *,
    bootstrap_servers: str,
    group_id: str,
    client_id: str | None = None,
    session_timeout_ms: int = 10_000,
    heartbeat_interval_ms: int | None = None,
    max_poll_records: int = 100,
    auto_offset_reset: str = "earliest",
) -> AIOKafkaConsumer:
    """A group consumer with manual commits (``enable_auto_commit=False``).

    Subscribe with a listener via ``consumer.subscribe(topics, listener=...)`` when
    ``topics`` is empty. aiokafka 0.14 has no ``allow_auto_create_topics`` switch (its
    metadata requests always allow creation), so callers check the topics exist first:
    see :func:`missing_topics`.
    """
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset=auto_offset_reset,
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=heartbeat_interval_ms or max(session_timeout_ms // 3, 100),
        rebalance_timeout_ms=session_timeout_ms,
        max_poll_records=max_poll_records,
    )


async def missing_topics(bootstrap_servers: str, topics: Iterable[str]) -> list[str]:
    """The names among ``topics`` the broker does not have (asking never creates them)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
    finally:
        await admin.close()
    return sorted(set(topics) - existing)
