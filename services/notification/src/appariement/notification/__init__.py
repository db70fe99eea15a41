"""Appariement notification service."""
