"""Topic registry and start-up creation against the real broker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiokafka.admin import AIOKafkaAdminClient

from appariement.common.events.topics import ALL_TOPICS, ROUND_CLOSURES, TopicSpec, ensure_topics
from appariement.common.messaging.kafka import missing_topics
from appariement.common.stack.info import StackInfo


async def test_ensure_topics_creates_missing_topics_with_their_partitions_once(
    stack: StackInfo, unique_name: Callable[[str], str]
) -> None:
    spec = TopicSpec(unique_name("fanout"), partitions=5)
    bootstrap = stack.kafka_bootstrap_servers
    assert await missing_topics(bootstrap, [spec.name]) == [spec.name]
    assert await ensure_topics(bootstrap, [spec]) == [spec.name]
    assert await ensure_topics(bootstrap, [spec]) == []
    assert await missing_topics(bootstrap, [spec.name]) == []
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([spec.name])
    finally:
        await admin.close()
    assert sorted(p["partition"] for p in described["partitions"]) == [0, 1, 2, 3, 4]


def test_registry_declares_each_topic_once_and_a_wide_round_closure_topic() -> None:
    names = [spec.name for spec in ALL_TOPICS]
    assert len(names) == len(set(names))
    assert ROUND_CLOSURES.partitions >= 12
    assert "dead-letters" in names


async def test_services_starting_together_create_a_shared_topic_once_without_error(
    stack: StackInfo, unique_name: Callable[[str], str]
) -> None:
    spec = TopicSpec(unique_name("shared"), partitions=2)
    results = await asyncio.gather(
        *(ensure_topics(stack.kafka_bootstrap_servers, [spec]) for _ in range(3))
    )
    assert sorted(name for created in results for name in created) == [spec.name]
