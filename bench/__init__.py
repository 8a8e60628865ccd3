"""Benchmarks: ``make bench`` (or ``python -m bench [name ...]``).

Every module ``bench/bench_*.py`` defines ``main(args) -> None`` and prints
its own figures as ratios against a baseline measured in the same run.
"""
