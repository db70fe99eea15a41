"""HTTP API of the candidature service."""
