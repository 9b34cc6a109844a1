"""`clearline screening match NAME` and `clearline screening batch QUERIES.csv`: names screened
against lists loaded straight from files (`--un FILE`, `--ofac-sdn FILE [--ofac-alt FILE]`).

For now the lists come from those files on every run; the versioned list store
(`screening lists load`) will become the default. `batch` writes one row per candidate:
`query_id,rank,list,list_id,matched_name,score`, and shows a progress bar.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated, Any, Final, cast

import typer
from rich.progress import track

from clearline.aml.screening.matcher import Match, Matcher, Query
from clearline.aml.screening.model import Entry, Kind

SOURCE_NOTE: Final = (
    "Lists are read from the files given with --un / --ofac-sdn / --ofac-alt on every run "
    "(the stored, versioned lists will become the default)."
)
UnOption = Annotated[Path | None, typer.Option("--un", help="UN consolidated list XML.")]
SdnOption = Annotated[Path | None, typer.Option("--ofac-sdn", help="OFAC sdn.csv.")]
AltOption = Annotated[Path | None, typer.Option("--ofac-alt", help="OFAC alt.csv.")]
TopOption = Annotated[int, typer.Option("--top", min=1, max=100, help="Candidates per name.")]
RESULT_COLUMNS: Final = ("query_id", "rank", "list", "list_id", "matched_name", "score")


def _matcher(un: Path | None, sdn: Path | None, alt: Path | None) -> Matcher:
    from clearline.aml.screening.lists import load_ofac, load_un

    entries: list[Entry] = []
    if un is not None:
        entries += load_un(un)
    if sdn is not None:
        entries += load_ofac(sdn, alt)
    if not entries:
        typer.echo("error: no_lists_given: give --un FILE and/or --ofac-sdn FILE", err=True)
        raise typer.Exit(1)
    return Matcher(entries)


def _kind(text: str | None) -> Kind | None:
    if text in (None, ""):
        return None
    if text not in ("person", "organization"):
        typer.echo(f"error: type_must_be_person_or_organization: {text}", err=True)
        raise typer.Exit(1)
    return cast(Kind, text)


def _document(match: Match) -> dict[str, Any]:
    return {
        "list": match.entry.list,
        "list_id": match.entry.list_id,
        "kind": match.entry.kind,
        "primary": match.entry.primary,
        "matched_name": match.matched_name,
        "score": round(match.score, 4),
        "query_form": match.query_form,
        "transliteration": match.transliteration,
        "contributions": {k: round(v, 3) for k, v in match.contributions.items()},
    }


def match(
    name: Annotated[str, typer.Argument(help="The name, in any script.")],
    kind: Annotated[str | None, typer.Option("--type", help="person or organization.")] = None,
    country: Annotated[str | None, typer.Option("--country", help="ISO 3166 alpha-2.")] = None,
    birth_date: Annotated[str | None, typer.Option("--birth-date", help="YYYY-MM-DD.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    top: TopOption = 5,
    un: UnOption = None,
    sdn: SdnOption = None,
    alt: AltOption = None,
) -> None:
    """Screen one name. Lists are read from --un / --ofac-sdn / --ofac-alt files for now.

    Example: clearline screening match '李方伟' --type person --ofac-sdn sdn.csv --ofac-alt alt.csv
    """
    query = Query(name, _kind(kind), country, birth_date)
    matches = _matcher(un, sdn, alt).match(query, top=top)
    if as_json:
        typer.echo(json.dumps([_document(m) for m in matches], ensure_ascii=False, indent=2))
        return
    for rank, found in enumerate(matches, 1):
        typer.echo(
            f"{rank}. {found.score:.3f} {found.entry.list}:{found.entry.list_id} "
            f"{found.matched_name!r} via {found.transliteration} ({found.query_form})"
        )


def batch(
    queries: Annotated[Path, typer.Argument(help="CSV: id,name[,type,country,birth_date].")],
    out: Annotated[Path, typer.Option("--out", help="Results CSV to write.")],
    top: TopOption = 5,
    un: UnOption = None,
    sdn: SdnOption = None,
    alt: AltOption = None,
) -> None:
    """Screen every name of a CSV; one result row per candidate. Lists: --un / --ofac-* files.

    Example: clearline screening batch q.csv --out r.csv --top 3 --ofac-sdn sdn.csv
    """
    matcher = _matcher(un, sdn, alt)
    with queries.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(RESULT_COLUMNS)
        for row in track(rows, description="screening"):
            query = Query(
                row["name"],
                _kind(row.get("type")),
                row.get("country") or None,
                row.get("birth_date") or None,
            )
            for rank, found in enumerate(matcher.match(query, top=top), 1):
                entry, score = found.entry, f"{found.score:.4f}"
                writer.writerow(
                    (row["id"], rank, entry.list, entry.list_id, found.matched_name, score)
                )


def register(app: typer.Typer) -> None:
    """Add `match` and `batch` to the `screening` group."""
    app.command("match", epilog=SOURCE_NOTE)(match)
    app.command("batch", epilog=SOURCE_NOTE)(batch)
