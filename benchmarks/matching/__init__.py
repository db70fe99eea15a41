"""Matching engine benchmarks: `python -m benchmarks.matching [--quick]`."""
