"""Benchmarks: speed and memory figures, printed rather than asserted (DESIGN.md §5)."""
