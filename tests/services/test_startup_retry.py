"""Which start-up failures the runner waits out (a dependency still starting, as in compose
or Kubernetes) and which stop the start at once (a configuration error: retrying hides it)."""

import asyncpg
import pytest
from aiokafka.errors import KafkaConnectionError

from appariement.common.service import _transient


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connection refused"),
        OSError(-2, "Name or service not known"),  # compose DNS before the container exists
        asyncpg.CannotConnectNowError("the database system is starting up"),
        TimeoutError(),
        KafkaConnectionError("Unable to bootstrap from [('kafka', 9092)]"),
    ],
)
def test_a_dependency_still_starting_is_waited_for(error: BaseException) -> None:
    assert _transient(error)


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.InvalidCatalogNameError('database "appariement" does not exist'),
        asyncpg.InvalidPasswordError("password authentication failed"),
        ValueError("bad migration"),
    ],
)
def test_a_configuration_error_is_not_retried(error: BaseException) -> None:
    assert not _transient(error)
