"""`clearline screening …`: the lists (`screening lists load|show`, in `lists_cli`) and matching
(`screening match`, `screening batch`, in `match_cli`)."""

from __future__ import annotations

import typer

screening_app = typer.Typer(
    help="Sanctions and PEP screening: load lists, match names across scripts.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the `screening` command group to the `clearline` app."""
    from clearline.aml.screening import lists_cli, match_cli

    lists_cli.register(screening_app)
    match_cli.register(screening_app)
    app.add_typer(screening_app, name="screening")
