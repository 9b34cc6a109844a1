"""Screening benchmark: per-name latency and batch throughput of `Matcher.match` against the
full shipped lists (UN excerpt + OFAC SDN with aliases), beside a plain-rapidfuzz baseline
(`process.extractOne` with `fuzz.token_sort_ratio` over anyascii-folded names) in the same run.

Run: `python -m bench.screening` (`--queries N`). Queries: list names (every 7th, so present in
the index) and the same names with one letter dropped (misspelt). Results:
bench/results/screening.json. Targets (issue 15): p99 ≤ 2 ms, batch ≥ 2,000 names/s.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

from anyascii import anyascii
from rapidfuzz import fuzz, process

from bench.common import machine, percentile, settle_heap
from clearline.aml.screening.lists import load_ofac, load_un
from clearline.aml.screening.matcher import Matcher, Query

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sanctions"
RESULTS = Path(__file__).parent / "results" / "screening.json"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=1_000)
    args = parser.parse_args()
    entries = load_un(DATA / "un-consolidated-excerpt.xml") + load_ofac(
        DATA / "ofac-sdn.csv", DATA / "ofac-alt.csv", DATA / "ofac-add.csv"
    )
    rss_before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    matcher = Matcher(entries)
    build_s = time.perf_counter() - started
    rss_index_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before_kib
    names = [n.text for e in entries for n in e.names]
    queries = []
    for text in names[::7][: args.queries // 2]:
        queries += [text, text[:2] + text[3:]]
    folded = [anyascii(n).lower() for n in names]
    settle_heap()
    ours = []
    for text in queries:
        t = time.perf_counter()
        matcher.match(Query(text), top=5)
        ours.append((time.perf_counter() - t) * 1000)
    base = []
    for text in queries[:200]:
        t = time.perf_counter()
        process.extractOne(anyascii(text).lower(), folded, scorer=fuzz.token_sort_ratio)
        base.append((time.perf_counter() - t) * 1000)
    result = {
        "machine": machine(),
        "names_indexed": len(matcher.names),
        "entries": len(entries),
        "index_build_s": round(build_s, 3),
        "index_rss_growth_mib": round(rss_index_kib / 1024, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "queries": len(queries),
        "ours_ms_p50": round(percentile(ours, 0.5), 3),
        "ours_ms_p99": round(percentile(ours, 0.99), 3),
        "ours_names_per_s": round(len(ours) / (sum(ours) / 1000), 1),
        "baseline_queries": len(base),
        "baseline_ms_p50": round(percentile(base, 0.5), 3),
        "baseline_ms_p99": round(percentile(base, 0.99), 3),
        "baseline_names_per_s": round(len(base) / (sum(base) / 1000), 1),
        "command": "python -m bench.screening",
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
