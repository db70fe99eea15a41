"""The embedded stack: real PostgreSQL, a Kafka-protocol broker (Tansu) and an SMTP sink.

Everything a developer or a test run needs comes from the package registry, so `make run` and
`make test` work on a machine with only Python 3.11 and make. `start_stack` is the entry point
for code (pytest plugin, launcher); `python -m appariement.common.stack` is the one for people.
"""

from appariement.common.stack.core import RunningStack, start_stack, stop_recorded_stack
from appariement.common.stack.info import StackInfo

__all__ = ["RunningStack", "StackInfo", "start_stack", "stop_recorded_stack"]
