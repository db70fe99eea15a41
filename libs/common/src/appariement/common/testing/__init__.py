"""Test support shared by every package: the pytest plugin (fixtures on real servers),
polling with a deadline, and Maildir readers. Loaded with `-p appariement.common.testing`."""

from appariement.common.testing.plugin import maildir, pg_pool, pg_schema, stack, unique_name

__all__ = ["maildir", "pg_pool", "pg_schema", "stack", "unique_name"]
