"""HTTP API of the support service."""
