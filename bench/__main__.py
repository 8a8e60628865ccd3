"""Runs every ``bench/bench_*.py`` module, or the ones named: ``python -m bench acl``.

Flags go to every benchmark run:

* none: the default sizes (``make bench``), a few minutes each at most;
* ``--full``: the large sizes, for a release;
* ``--smoke``: the smallest sizes, each contender run once, in seconds. ``make test``
  runs every benchmark this way (``tests/project/test_bench_smoke.py``), so none can rot: a
  benchmark that breaks, or whose contenders stop agreeing, fails the tests. Its
  ratios only show the code ran; they say nothing about speed.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path


def names() -> list[str]:
    """The benchmarks, by module name (``bench_acl``, ...)."""
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))


def main(argv: list[str]) -> None:
    found = names()
    wanted = [a for a in argv if not a.startswith("-")]
    unknown = sorted(set(wanted) - {n.removeprefix("bench_") for n in found})
    if unknown:
        raise SystemExit(f"no such benchmark: {', '.join(unknown)}")
    if wanted:
        found = [n for n in found if n.removeprefix("bench_") in wanted]
    flags = [a for a in argv if a.startswith("-")]
    if "--smoke" in flags:
        print("smoke sizes: the figures show the code runs, not how fast it is\n", flush=True)
    for name in found:
        print(f"== {name.removeprefix('bench_')} ==", flush=True)
        started = time.perf_counter()
        importlib.import_module(f"bench.{name}").main(flags)
        print(f"   ({time.perf_counter() - started:.1f} s)\n", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
