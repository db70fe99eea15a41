"""HTTP API of the identity service."""
