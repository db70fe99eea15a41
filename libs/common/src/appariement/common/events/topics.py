"""The one registry of Kafka topics, created at start-up, never auto-created.

Tansu gives a producer-created topic 4 partitions and keeps no configuration we did not
ask for, so every topic is declared here with its partition count and retention, and
:func:`ensure_topics` creates the missing ones before any producer or consumer starts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

log = structlog.get_logger(__name__)

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    retention_ms: int = 30 * DAY_MS
    replication_factor: int = 1

    def config(self) -> dict[str, str]:
        return {"retention.ms": str(self.retention_ms)}


IDENTITY_EVENTS = TopicSpec("identity.events", partitions=4)
CAMPAIGN_EVENTS = TopicSpec("campaign.events", partitions=4)
ROUND_CLOSURES = TopicSpec("campaign.round-closures", partitions=12)
"""One message per (specialty, region) of a closed round: matching workers share them."""
CANDIDATURE_EVENTS = TopicSpec("candidature.events", partitions=8)
MATCHING_EVENTS = TopicSpec("matching.events", partitions=4)
NOTIFICATION_EVENTS = TopicSpec("notification.events", partitions=4)
SUPPORT_EVENTS = TopicSpec("support.events", partitions=4)
DEAD_LETTERS = TopicSpec("dead-letters", partitions=3, retention_ms=90 * DAY_MS)
"""Poison messages of every consumer group; headers say which group, why and from where."""

ALL_TOPICS: tuple[TopicSpec, ...] = (
    IDENTITY_EVENTS,
    CAMPAIGN_EVENTS,
    ROUND_CLOSURES,
    CANDIDATURE_EVENTS,
    MATCHING_EVENTS,
    NOTIFICATION_EVENTS,
    SUPPORT_EVENTS,
    DEAD_LETTERS,
)


def topic_spec(name: str) -> TopicSpec:
    for spec in ALL_TOPICS:
        if spec.name == name:
            return spec
    raise KeyError(f"topic {name!r} is not declared in appariement.common.events.topics")


async def ensure_topics(
    bootstrap_servers: str,
    topics: Iterable[TopicSpec] = ALL_TOPICS,
    *,
    request_timeout_ms: int = 15_000,
) -> list[str]:
    """Create the topics that do not exist yet; returns the names created. Idempotent."""
    wanted = {spec.name: spec for spec in topics}
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, request_timeout_ms=request_timeout_ms
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [spec for name, spec in wanted.items() if name not in existing]
        created: list[str] = []
        for spec in missing:
            response = await admin.create_topics(
                [
                    NewTopic(
                        name=spec.name,
                        num_partitions=spec.partitions,
                        replication_factor=spec.replication_factor,
                        topic_configs=spec.config(),
                    )
                ]
            )
            for topic_error in response.topic_errors:
                code = topic_error[1]
                if code == TopicAlreadyExistsError.errno:
                    continue  # created meanwhile by another process starting up
                if code != 0:
                    raise for_code(code)(f"cannot create topic {spec.name}: {topic_error}")
                created.append(spec.name)
        if created:
            log.info("topics_created", topics=created)
        return created
    finally:
        await admin.close()
