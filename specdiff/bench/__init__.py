"""Benchmarks: op cases shared by ``benchmarks/`` (pytest-benchmark) and ``specdiff bench``."""
