"""Appariement identity service."""
