"""Benchmarks, run by hand (outside the test suite)."""
