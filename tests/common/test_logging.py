"""Logging: every line of a request or an event carries its correlation id, in one format."""

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from appariement.common.logging import (
    bind_correlation_id,
    configure_logging,
    get_correlation_id,
)
from appariement.common.settings import BaseServiceSettings


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state: put it back for the other tests."""
    saved_config = structlog.get_config()
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    yield
    structlog.configure(**saved_config)
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


@pytest.fixture(autouse=True)
def no_bound_context() -> Iterator[None]:
    """Start from an empty logging context whatever ran before, and give it back."""
    saved = structlog.contextvars.get_contextvars()
    structlog.contextvars.clear_contextvars()
    yield
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(**saved)


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.mark.usefixtures("restore_logging")
def test_json_lines_carry_the_bound_correlation_id_from_structlog_and_stdlib() -> None:
    stream = io.StringIO()
    configure_logging("json", "INFO", stream=stream)

    with bind_correlation_id("req-42"):
        structlog.get_logger("app").info("wishes_submitted", count=3)
        logging.getLogger("asyncpg.pool").warning("stdlib %s", "line")
    structlog.get_logger("app").info("after_request")

    first, second, third = json_lines(stream)
    assert first["event"] == "wishes_submitted"
    assert first["count"] == 3
    assert first["correlation_id"] == "req-42"
    assert first["level"] == "info"
    assert first["timestamp"].endswith("Z")
    assert second["event"] == "stdlib line"
    assert second["correlation_id"] == "req-42"
    assert second["logger"] == "asyncpg.pool"
    assert "correlation_id" not in third


def test_nested_bindings_restore_the_outer_id() -> None:
    assert get_correlation_id() is None
    with bind_correlation_id("outer"):
        with bind_correlation_id("inner") as inner:
            assert inner == "inner"
            assert get_correlation_id() == "inner"
        assert get_correlation_id() == "outer"
    assert get_correlation_id() is None


def test_binding_without_an_id_makes_a_new_one() -> None:
    with bind_correlation_id() as first, bind_correlation_id() as second:
        assert first != second
        assert len(first) == 32


@pytest.mark.usefixtures("restore_logging")
def test_settings_choose_format_level_and_service_name() -> None:
    stream = io.StringIO()
    settings = BaseServiceSettings(service_name="support", environment="test", log_level="WARNING")
    configure_logging(settings, stream=stream)

    structlog.get_logger().info("not_shown")
    structlog.get_logger().warning("ticket_escalated", ticket=7)

    (line,) = json_lines(stream)
    assert line["event"] == "ticket_escalated"
    assert line["service"] == "support"


@pytest.mark.usefixtures("restore_logging")
def test_exceptions_are_logged_with_their_traceback_in_json() -> None:
    stream = io.StringIO()
    configure_logging("json", stream=stream)

    with bind_correlation_id("evt-1"):
        try:
            raise ValueError("bad payload")
        except ValueError:
            structlog.get_logger().exception("handler_failed")

    (line,) = json_lines(stream)
    assert line["correlation_id"] == "evt-1"
    assert "ValueError: bad payload" in line["exception"]


@pytest.mark.usefixtures("restore_logging")
def test_console_format_is_readable_and_still_carries_the_id() -> None:
    stream = io.StringIO()
    configure_logging("console", stream=stream)

    with bind_correlation_id("abc123"):
        structlog.get_logger().info("magic_link_requested", person="p1")

    text = stream.getvalue()
    assert "magic_link_requested" in text
    assert "correlation_id=abc123" in text
    assert not text.lstrip().startswith("{")


@pytest.mark.usefixtures("restore_logging")
def test_configuring_twice_keeps_one_handler() -> None:
    configure_logging("json", stream=io.StringIO())
    stream = io.StringIO()
    configure_logging("json", stream=stream)

    structlog.get_logger().info("once")

    assert len(json_lines(stream)) == 1
    assert sum(1 for h in logging.getLogger().handlers if h.get_name() == "appariement") == 1
