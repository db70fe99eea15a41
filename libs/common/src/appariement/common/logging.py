"""Logging: structlog everywhere, JSON lines in production, readable console lines in dev.

Standard-library loggers (uvicorn, asyncpg, aiokafka) go through the same processors, so
every line has the same shape. The correlation id lives in structlog's context variables:
the HTTP middleware and the event consumers bind it, `merge_contextvars` puts it in every
line of that request or event, and the outbox copies it into the events a handler publishes.
"""

import contextlib
import logging
import sys
import uuid
from collections.abc import Iterator
from typing import IO, Any, Literal

import structlog
from structlog.typing import Processor

from appariement.common.settings import BaseServiceSettings

CORRELATION_ID_KEY = "correlation_id"
_HANDLER_NAME = "appariement"


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def get_correlation_id() -> str | None:
    """The correlation id bound in the current context (request or event), if any."""
    value = structlog.contextvars.get_contextvars().get(CORRELATION_ID_KEY)
    return str(value) if value is not None else None


@contextlib.contextmanager
def bind_correlation_id(correlation_id: str | None = None) -> Iterator[str]:
    """Bind a correlation id (a new one when None) for the block; the previous one comes back
    after it, also when blocks nest."""
    value = correlation_id or new_correlation_id()
    with structlog.contextvars.bound_contextvars(**{CORRELATION_ID_KEY: value}):
        yield value


def configure_logging(
    settings_or_format: BaseServiceSettings | Literal["json", "console"],
    level: int | str | None = None,
    *,
    stream: IO[str] | None = None,
) -> None:
    """Configure structlog and the standard library's root logger; call once at start.

    Calling it again replaces the previous configuration (tests do). `level` defaults to the
    settings' `log_level`, or INFO.
    """
    if isinstance(settings_or_format, BaseServiceSettings):
        log_format: str = settings_or_format.log_format
        level = level if level is not None else settings_or_format.log_level
        service: str | None = settings_or_format.service_name
    else:
        log_format = settings_or_format
        service = None
    if isinstance(level, str):
        level = logging.getLevelNamesMapping()[level.upper()]
    elif level is None:
        level = logging.INFO

    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        _drop_color_message,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    if service is not None:
        shared.append(_add_service(service))
    renderer: Processor
    if log_format == "json":
        final: list[Processor] = [
            structlog.processors.format_exc_info,
            structlog.processors.UnicodeDecoder(),
        ]
        renderer = structlog.processors.JSONRenderer()
    else:
        final = []
        renderer = structlog.dev.ConsoleRenderer(colors=stream is None and sys.stderr.isatty())

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *final,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)

    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn installs its own handlers unless started with log_config=None: route its
    # loggers to ours so its lines carry the same fields.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    for chatty in ("aiokafka", "httpx", "httpcore"):  # a line per connection or request
        logging.getLogger(chatty).setLevel(max(level, logging.WARNING))


def _drop_color_message(
    _logger: Any, _method: str, event_dict: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """uvicorn passes an ANSI-coloured copy of its message as an `extra`: not for us."""
    event_dict.pop("color_message", None)
    return event_dict


def _add_service(service: str) -> Processor:
    def add(_logger: Any, _method: str, event_dict: structlog.typing.EventDict) -> Any:
        event_dict.setdefault("service", service)
        return event_dict

    return add


__all__ = [
    "CORRELATION_ID_KEY",
    "bind_correlation_id",
    "configure_logging",
    "get_correlation_id",
    "new_correlation_id",
]
