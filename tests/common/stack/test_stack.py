"""The stack's own promises: the broker can be paused and resumed; external servers are used,
not started."""

import asyncio
import json
import socket

import psutil
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from appariement.common.stack import StackInfo, launcher, start_stack
from appariement.common.stack.ports import free_port


async def test_paused_broker_answers_nothing_until_resumed(stack: StackInfo, unique_name) -> None:  # type: ignore[no-untyped-def]
    topic = unique_name("pause")
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap_servers,
        enable_idempotence=stack.kafka_enable_idempotence,
        request_timeout_ms=30000,
    )
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"before")
        with stack.broker_paused():
            delivery = await producer.send(topic, b"while paused")
            done, _ = await asyncio.wait({delivery}, timeout=1.0)
            assert not done, f"a paused broker acknowledged {delivery.result()}"
        metadata = await asyncio.wait_for(delivery, timeout=20)
        assert metadata.offset == 1
    finally:
        await producer.stop()


async def test_servers_named_in_the_environment_are_used_not_started(
    stack: StackInfo, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    environ = {
        "DATABASE_URL": stack.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap_servers,
        "SMTP_HOST": stack.smtp_host,
        "SMTP_PORT": str(stack.smtp_port),
    }

    running = await start_stack(tmp_path / "var", environ=environ)
    try:
        assert running.children == {}
        assert running.info.database_url == stack.database_url
        assert running.info.kafka_bootstrap_servers == stack.kafka_bootstrap_servers
        assert running.info.kafka_enable_idempotence is True  # real Kafka's default
        assert running.info.env["SMTP_PORT"] == str(stack.smtp_port)
        assert not (tmp_path / "var" / "postgres").exists()
        with pytest.raises(RuntimeError, match="external"):
            running.info.pause_broker()
    finally:
        running.stop()


async def test_run_hands_the_stack_settings_to_the_demo_loader(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "fake_demo.py").write_text(
        "import json, pathlib\n"
        "async def load_demo(settings_env):\n"
        f"    pathlib.Path({str(tmp_path / 'seen.json')!r}).write_text(json.dumps(settings_env))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(launcher, "DEMO_MODULE", "fake_demo")

    await launcher._load_demo({"DATABASE_URL": "postgresql://x"})

    assert json.loads((tmp_path / "seen.json").read_text()) == {"DATABASE_URL": "postgresql://x"}


def test_services_option_keeps_default_ports_unless_given() -> None:
    assert launcher.parse_services("identity, campaign:9002") == {
        "identity": 8001,
        "campaign": 9002,
    }
    with pytest.raises(ValueError, match="unknown service"):
        launcher.parse_services("nosuch")


async def test_a_server_that_never_answers_fails_the_start_and_stops_the_others(
    tmp_path,
) -> None:  # type: ignore[no-untyped-def]
    before = {p.pid for p in psutil.Process().children()}
    dead_end = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"

    with pytest.raises(TimeoutError):
        await start_stack(tmp_path / "var", environ={"DATABASE_URL": dead_end}, ready_within=1.5)

    assert not list((tmp_path / "var" / "run").glob("*.pid"))
    leftovers = [
        " ".join(p.cmdline())
        for p in psutil.Process().children()
        if p.pid not in before and p.status() != psutil.STATUS_ZOMBIE
    ]
    assert leftovers == []


def test_a_service_port_held_by_a_listener_is_not_free() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert launcher.port_is_free(port) is False
    assert launcher.port_is_free(port) is True
