"""HTTP API of the campaign service."""
