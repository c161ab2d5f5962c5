"""Benchmarks of the course: speed against references measured in the same run, and learning results.

Run all with ``make bench`` (``python -m bench``), one with ``python -m bench attention``.
Results go to bench/RESULTS.md (and bench/results.json, machine-readable).
"""
