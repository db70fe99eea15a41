"""Appariement candidature service."""
