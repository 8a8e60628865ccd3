"""The free-text scan: throughput of the recognisers, and precision and recall.

``python -m bench scan`` scans 1,000,000 text values (``--full``: 3,000,000;
``--smoke``: 2,000) drawn from the seeded corpus in :mod:`bench.scan_corpus`
(mostly ordinary text, as in a real notes column), and prints values per second
against a baseline measured in the same run: one pass of a single regular
expression over the same values (what a naive "digits and @" search costs).
Then precision and recall per kind on the corpus, whose true answers are
computed independently of the detector. It raises when a recogniser misses a
true BSN or IBAN or takes a false one, so a smoke run fails on a wrong result.
"""

from __future__ import annotations

import re
import time

from bench.scan_corpus import NEUTRAL, corpus, score


def main(args: list[str]) -> None:
    from flask_avg.features.scan.detect import KINDS, find

    smoke = "--smoke" in args
    n = 2_000 if smoke else 3_000_000 if "--full" in args else 1_000_000
    labelled = corpus(min(n, 20_000))
    # four ordinary texts to every one holding (or mimicking) personal data
    texts = [t for t, _ in labelled] + list(NEUTRAL) * (4 * len(labelled) // len(NEUTRAL))
    values = (texts * (n // len(texts) + 1))[:n]

    naive = re.compile(r"\d{9}|@|\+\d")
    started = time.perf_counter()
    base_hits = sum(1 for v in values if naive.search(v))
    base = max(time.perf_counter() - started, 1e-9)

    started = time.perf_counter()
    hits = 0
    for v in values:
        hits += bool(find(v))  # no cache: every value checked as the scan checks it
    ours = max(time.perf_counter() - started, 1e-9)
    print(f"   {n:,} values: {hits:,} with personal data ({base_hits:,} naive regex hits)")
    print(f"   recognisers {n / ours:,.0f} values/s, naive regex {n / base:,.0f} values/s")
    print(f"   recognisers / naive regex: {ours / base:.2f}x the time")

    found_kinds = [set(find(t)) for t, _ in labelled]
    truth = [k for _, k in labelled]
    scores = score(found_kinds, truth, KINDS)
    for kind in KINDS:
        precision, recall = scores[kind]
        support = sum(1 for k in truth if kind in k)
        print(f"   {kind:10s} precision {precision:.3f} recall {recall:.3f} ({support} true)")
    for kind in ("bsn", "iban"):
        if scores[kind] != (1.0, 1.0):
            raise AssertionError(f"{kind}: precision/recall {scores[kind]} on the seeded corpus")
