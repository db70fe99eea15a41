"""Appariement support service."""
