"""The pytest plugin's fixtures give each test real, isolated servers."""

import mailbox
import smtplib
from email.message import EmailMessage

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from appariement.common.stack import StackInfo
from appariement.common.testing.maildir import envelope_recipients, wait_for_messages
from appariement.common.testing.polling import wait_until
from appariement.common.testing.schemas import fresh_schema


async def test_database_answers_over_tcp_on_localhost(stack: StackInfo) -> None:
    assert stack.database_url.startswith("postgresql://postgres@127.0.0.1:")
    conn = await asyncpg.connect(stack.database_url)
    try:
        assert await conn.fetchval("SELECT 1") == 1
        assert await conn.fetchval("SELECT current_database()") == "appariement"
    finally:
        await conn.close()


async def test_pg_schema_is_fresh_and_dropped_afterwards(
    pg_pool: asyncpg.Pool, pg_schema: str
) -> None:
    tables = await pg_pool.fetchval(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1", pg_schema
    )
    assert tables == 0
    await pg_pool.execute(f'CREATE TABLE "{pg_schema}".t (id int)')
    await pg_pool.execute(f'INSERT INTO "{pg_schema}".t VALUES (1)')
    assert await pg_pool.fetchval(f'SELECT id FROM "{pg_schema}".t') == 1


async def test_fresh_schema_is_dropped_with_its_tables_on_exit(
    stack: StackInfo, pg_pool: asyncpg.Pool, unique_name
) -> None:  # type: ignore[no-untyped-def]
    exists = "SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1"
    async with fresh_schema(stack.database_url, unique_name("test")) as name:
        await pg_pool.execute(f'CREATE TABLE "{name}".t (id int)')
        assert await pg_pool.fetchval(exists, name) == 1
    assert await pg_pool.fetchval(exists, name) == 0


def test_unique_name_is_lowercase_identifier_and_unique(unique_name) -> None:  # type: ignore[no-untyped-def]
    names = {unique_name("Orders-Topic.v1") for _ in range(100)}
    assert len(names) == 100
    for name in names:
        assert name.startswith("orders_topic_v1_")
        assert set(name) <= set("abcdefghijklmnopqrstuvwxyz0123456789_")
        assert len(name) <= 50


async def test_broker_roundtrip_on_an_explicit_topic(stack: StackInfo, unique_name) -> None:  # type: ignore[no-untyped-def]
    topic = unique_name("roundtrip")
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap_servers,
        enable_idempotence=stack.kafka_enable_idempotence,
    )
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"bonjour", key=b"k1")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=stack.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=None,  # no group: Tansu holds a JoinGroup for half the session timeout
    )
    await consumer.start()
    try:
        message = await consumer.getone()
    finally:
        await consumer.stop()
    assert (message.key, message.value) == (b"k1", b"bonjour")
    assert stack.kafka_enable_idempotence is False
    assert stack.env["KAFKA_ENABLE_IDEMPOTENCE"] == "false"


async def test_smtp_sink_stores_each_message_in_the_maildir(
    stack: StackInfo,
    maildir: mailbox.Maildir,
    unique_name,  # type: ignore[no-untyped-def]
) -> None:
    recipient = f"{unique_name('dj')}@example.org"
    message = EmailMessage()
    message["From"] = "noreply@appariement.example"
    message["To"] = recipient
    message["Subject"] = "Résultat de l'appariement"
    message.set_content("Votre affectation est disponible.")
    with smtplib.SMTP(stack.smtp_host, stack.smtp_port) as client:
        client.send_message(message, to_addrs=[recipient, "bcc@example.org"])
    [stored] = await wait_for_messages(maildir, to=recipient)
    assert stored["Subject"] == "Résultat de l'appariement"
    assert stored.get_content().strip() == "Votre affectation est disponible."
    assert envelope_recipients(stored) == [recipient, "bcc@example.org"]
    assert mailbox.Maildir(stack.env["MAILDIR"], create=False) is not None


async def test_wait_until_returns_the_truthy_value_and_accepts_async_predicates() -> None:
    calls: list[int] = []

    async def third_time() -> int:
        calls.append(1)
        return len(calls) if len(calls) >= 3 else 0

    assert await wait_until(third_time, interval=0.001) == 3


async def test_wait_until_raises_with_the_message_on_timeout() -> None:
    with pytest.raises(AssertionError, match="never true"):
        await wait_until(lambda: False, timeout=0.05, interval=0.01, message="never true")
