"""Benchmarks: ``make bench`` (or ``python -m bench [name ...]``).

Every module ``bench/bench_*.py`` defines ``main(args) -> None`` and prints
its own figures as ratios against a baseline measured in the same run. It
understands ``--full`` (large sizes) and ``--smoke`` (tiny sizes, one run each,
which ``make test`` runs so no benchmark can rot), and raises, rather than
prints, when its contenders disagree on the result.
"""
