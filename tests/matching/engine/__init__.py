"""Tests of the pure matching engine (a package so that helpers import relatively)."""
