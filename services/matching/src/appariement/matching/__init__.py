"""Appariement matching service."""
