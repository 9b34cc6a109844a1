"""Cross-script evaluation (partial, see issue 15). Run: `python -m bench.screening_eval`.

Pairs, and how they were made (independent of the matcher's own tables):
- `un_arabic`: the UN excerpt's NAME_ORIGINAL_SCRIPT names (given by the list, 11) queried
  against an index WITHOUT the original-script names; correct = the UN record.
- `ru_cyrillic`: OFAC persons whose remarks say "nationality Russia"; their romanised primary
  name written back in Cyrillic by cyrtranslit (a different transliteration path from the
  matcher's tables; it is lossy, e.g. "kh" → "кх"), queried; correct = that ent_num.
- `shuffled`: given names and surnames of different same-nationality persons combined; any
  result at or above THRESHOLD is a false positive.
Baseline in the same run: rapidfuzz `process.extractOne`, `fuzz.token_sort_ratio` on anyascii.
Not done: calibration fit on a train split, recall at precision ≥ 0.95, the PR plot.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import cyrtranslit
from anyascii import anyascii
from rapidfuzz import fuzz, process

from clearline.aml.screening.lists import load_ofac, load_un
from clearline.aml.screening.matcher import Matcher, Query
from clearline.aml.screening.model import Entry

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sanctions"
RESULTS = Path(__file__).parent / "results" / "screening_eval.json"
THRESHOLD = 0.5
SEED = 15


def main() -> None:
    un = load_un(DATA / "un-consolidated-excerpt.xml")
    ofac = load_ofac(DATA / "ofac-sdn.csv", DATA / "ofac-alt.csv", DATA / "ofac-add.csv")
    pairs: list[tuple[str, str, str]] = []  # (set, query, expected list_id)
    indexed: list[Entry] = []
    for entry in un + ofac:
        script = [n for n in entry.names if n.role == "original_script"]
        pairs += [("un_arabic", n.text, entry.list_id) for n in script]
        kept = tuple(n for n in entry.names if n.role != "original_script")
        indexed.append(Entry(entry.list, entry.list_id, entry.kind, kept, entry.birth_dates))
    russians = [e for e in ofac if e.kind == "person" and "nationality Russia" in e.remarks]
    split = [e.primary.split(", ", 1) for e in russians if ", " in e.primary]
    for entry, (last, first) in zip(russians, split, strict=False):
        cyrillic = cyrtranslit.to_cyrillic(f"{first} {last}".title(), "ru")
        pairs.append(("ru_cyrillic", cyrillic, entry.list_id))
    rng = random.Random(SEED)
    firsts, lasts = [f for _, f in split], [last for last, _ in split]
    rng.shuffle(firsts)
    shuffled = [f"{f} {last}" for f, last in zip(firsts, lasts, strict=True)]
    matcher = Matcher(indexed)
    index_ids = [(e.list_id, anyascii(n.text).lower()) for e in indexed for n in e.names]
    folded = [text for _, text in index_ids]
    report: dict[str, dict[str, float]] = {}
    for name in ("un_arabic", "ru_cyrillic"):
        chosen = [(q, want) for s, q, want in pairs if s == name]
        ours = sum(
            bool(m := matcher.match(Query(q, kind="person"), top=1)) and m[0].entry.list_id == want
            for q, want in chosen
        )
        base = 0
        for q, want in chosen:
            found = process.extractOne(anyascii(q).lower(), folded, scorer=fuzz.token_sort_ratio)
            base += found is not None and index_ids[found[2]][0] == want
        report[name] = {"pairs": len(chosen), "ours_top1": ours / len(chosen)}
        report[name]["baseline_top1"] = base / len(chosen)
    false = sum(
        any(m.score >= THRESHOLD for m in matcher.match(Query(q, kind="person"), top=1))
        for q in shuffled
    )
    report["shuffled_same_nationality"] = {
        "queries": len(shuffled),
        "ours_fpr": false / len(shuffled),
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
