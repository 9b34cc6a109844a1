"""`clearline screening lists load|show`: screening lists loaded into the data directory.

Guarantees:
- `load` parses the file(s) before it opens the data directory: a bad file prints
  `error: list_file_invalid: FILE:where: what` for each problem, exits 1 and stores nothing.
- A load prints the list's version, the record counts, and what was added, changed and removed
  against the version before (or `unchanged`); it is an audit event `screening.list_load` by
  `cli`. Parsing shows a progress bar on a terminal.
- `show` prints every loaded list: version, loaded at (UTC), source files with their SHA-256,
  counts; `--json` prints the same as JSON.
- Both refuse (exit 1) while another process (a running `clearline serve`) has the directory.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from clearline.aml.screening.lists import ListFileInvalid, ParsedList
from clearline.core.clock import to_datetime
from clearline.core.errors import ClearlineError

if TYPE_CHECKING:
    from clearline.aml.screening.store import LoadResult, ScreeningLists

lists_app = typer.Typer(
    help="Screening lists: load the UN, OFAC and internal lists; show the versions loaded.",
    no_args_is_help=True,
)

DIFF_IDS_SHOWN = 20
"""A load prints at most this many ids of each kind of change."""


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


@contextmanager
def opened(directory: Path) -> Iterator[ScreeningLists]:
    """The data directory's screening lists, refused at once while another process serves it."""
    from clearline.aml.screening.store import ScreeningLists
    from clearline.platform import DirectoryLock, Platform, PlatformBusy

    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        DirectoryLock(directory, exclusive=True).release()
        risk_log = logging.getLogger("clearline.payments.risk_gate")
        level = risk_log.level
        risk_log.setLevel(logging.ERROR)  # its "no model" warning is about payments
        try:
            platform = Platform.open(directory)
        finally:
            risk_log.setLevel(level)
    except PlatformBusy as error:
        raise fail(f"error: {error.code}: {error.message}") from None
    except ClearlineError as error:
        raise fail(f"error: {error.code}: {error.message}") from None
    try:
        yield ScreeningLists(platform.store, platform.trail, platform.clock)
    finally:
        platform.close()


def _parse(
    console: Console,
    un: Path | None,
    ofac_sdn: Path | None,
    ofac_alt: Path | None,
    ofac_add: Path | None,
    csv_file: Path | None,
    list_name: str | None,
) -> ParsedList:
    from clearline.aml.screening import lists

    chosen = [un is not None, ofac_sdn is not None, csv_file is not None]
    if sum(chosen) != 1:
        raise typer.BadParameter("give exactly one of --un, --ofac-sdn, --csv")
    if (ofac_alt or ofac_add) and ofac_sdn is None:
        raise typer.BadParameter("--ofac-alt and --ofac-add go with --ofac-sdn")
    if (csv_file is None) != (list_name is None):
        raise typer.BadParameter("--csv FILE goes with --list NAME", param_hint="--list")
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task("parsing", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        try:
            if un is not None:
                return lists.read_un(un, advance)
            if ofac_sdn is not None:
                return lists.read_ofac(ofac_sdn, ofac_alt, ofac_add, advance)
            assert csv_file is not None and list_name is not None
            return lists.read_internal(csv_file, list_name)
        except ListFileInvalid as error:
            raise fail(
                "\n".join(f"error: {error.code}: {problem}" for problem in error.problems)
                + "\nnothing was loaded"
            ) from None
        except ClearlineError as error:
            raise fail(f"error: {error.code}: {error.message}") from None


def _file() -> dict[str, Any]:
    """An existing, readable file option."""
    return {"exists": True, "dir_okay": False, "readable": True, "metavar": "FILE"}


def load(
    ctx: typer.Context,
    un: Annotated[
        Path | None, typer.Option("--un", help="The UN consolidated list XML.", **_file())
    ] = None,
    ofac_sdn: Annotated[
        Path | None, typer.Option("--ofac-sdn", help="OFAC's SDN.CSV.", **_file())
    ] = None,
    ofac_alt: Annotated[
        Path | None, typer.Option("--ofac-alt", help="OFAC's ALT.CSV (aliases).", **_file())
    ] = None,
    ofac_add: Annotated[
        Path | None, typer.Option("--ofac-add", help="OFAC's ADD.CSV (addresses).", **_file())
    ] = None,
    csv_file: Annotated[
        Path | None,
        typer.Option("--csv", help="An internal or PEP list (.csv or .json).", **_file()),
    ] = None,
    list_name: Annotated[
        str | None, typer.Option("--list", help="The internal list's name (with --csv).")
    ] = None,
) -> None:
    """Load a screening list as its next version; print the counts and the diff.

    Loading the same file again changes nothing (reported unchanged). Run it with the server
    stopped. Each load is an audit event `screening.list_load` by `cli`.

    Example:

        clearline screening lists load --un consolidated.xml

        clearline screening lists load --ofac-sdn sdn.csv --ofac-alt alt.csv --ofac-add add.csv

        clearline screening lists load --csv peps.csv --list peps
    """
    from clearline.cli import data_dir_from
    from clearline.trail import CLI

    console = Console(highlight=False, soft_wrap=True, markup=False)
    parsed = _parse(console, un, ofac_sdn, ofac_alt, ofac_add, csv_file, list_name)
    with opened(data_dir_from(ctx)) as screening:
        try:
            result = screening.load(parsed, CLI)
        except ClearlineError as error:
            raise fail(f"error: {error.code}: {error.message}") from None
    _print_load(console, result)


def _print_load(console: Console, result: LoadResult) -> None:
    entries = result.counts.get("entries", 0)
    if result.unchanged:
        console.print(
            f"{result.list}: unchanged, still version {result.version} ({entries} entries)"
        )
    else:
        console.print(f"{result.list}: version {result.version} ({entries} entries)")
    kinds = ", ".join(
        f"{key.removeprefix('kind.')} {value}"
        for key, value in result.counts.items()
        if key.startswith("kind.")
    )
    names = ", ".join(
        f"{key.removeprefix('names.')} {value}"
        for key, value in result.counts.items()
        if key.startswith("names.")
    )
    console.print(f"  kinds: {kinds or 'none'}")
    console.print(f"  names: {names or 'none'}")
    for f in result.files:
        console.print(f"  file {f.name} sha256 {f.sha256} ({f.size_bytes} bytes)")
    console.print(
        f"  added {result.added_count}, changed {result.changed_count}, "
        f"removed {result.removed_count}"
    )
    for word, ids, count in (
        ("added", result.added, result.added_count),
        ("changed", result.changed, result.changed_count),
        ("removed", result.removed, result.removed_count),
    ):
        if ids and not (word == "added" and result.version == 1):
            shown = ", ".join(ids[:DIFF_IDS_SHOWN])
            more = f" and {count - DIFF_IDS_SHOWN} more" if count > DIFF_IDS_SHOWN else ""
            console.print(f"  {word}: {shown}{more}")


def show(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show each loaded list: version, loaded at, source files and their hashes, counts.

    Example:

        clearline screening lists show

        clearline screening lists show --json
    """
    from clearline.cli import data_dir_from

    console = Console(highlight=False, soft_wrap=True, markup=False)
    with opened(data_dir_from(ctx)) as screening:
        versions = screening.versions()
    if as_json:
        documents = [
            {**v.document(), "loaded_at": _utc(v.loaded_ns), "last_load_at": _utc(v.last_load_ns)}
            for v in versions
        ]
        typer.echo(json.dumps({"lists": documents}, indent=2, sort_keys=True))
        return
    if not versions:
        console.print("no lists loaded: clearline screening lists load --help")
        return
    for v in versions:
        console.print(
            f"{v.list}: version {v.version}, {v.source}, loaded {_utc(v.loaded_ns)} by "
            f"{v.loaded_by} (last load {_utc(v.last_load_ns)})"
        )
        console.print("  counts: " + ", ".join(f"{k} {n}" for k, n in v.counts.items()))
        for f in v.files:
            console.print(f"  file {f.name} sha256 {f.sha256} ({f.size_bytes} bytes)")


def _utc(timestamp_ns: int) -> str:
    return to_datetime(timestamp_ns).isoformat(timespec="seconds")


def register(app: typer.Typer) -> None:
    """Add the `lists` group (`lists load`, `lists show`) to the `screening` group."""
    if not lists_app.registered_commands:
        lists_app.command("load")(load)
        lists_app.command("show")(show)
    app.add_typer(lists_app, name="lists")
