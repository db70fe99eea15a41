"""Wait for a condition with a deadline instead of sleeping a guessed time."""

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def wait_until(
    predicate: Callable[[], T | Awaitable[T]],
    *,
    timeout: float = 10.0,  # noqa: ASYNC109 (the name every caller expects)
    interval: float = 0.05,
    message: str = "",
) -> T:
    """Call `predicate` (sync or async) until it returns a truthy value, and return that value.

    Raises AssertionError with `message` (and the last exception, if the predicate raised)
    once `timeout` seconds have passed.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = predicate()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return result
            last_error = None
        except AssertionError as exc:  # a predicate may assert: keep its message
            last_error = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error is not None else ""
            raise AssertionError(f"timed out after {timeout}s: {message}{detail}")
        await asyncio.sleep(interval)
