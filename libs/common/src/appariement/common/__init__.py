"""Shared building blocks of the Appariement services."""
