"""Appariement campaign service."""
