"""Typer entry point: `ikema ...`. Each package contributes its commands through a `register(app)` function."""

from __future__ import annotations

import importlib
import sys

import typer
from rich.console import Console

from ikema.errors import IkemaError

app = typer.Typer(no_args_is_help=True, add_completion=False, help="IKEMA (NCT03275285) as software.")

# Each module defines `register(app: typer.Typer) -> None`; order is the order of `ikema --help`.
_COMMAND_MODULES = [
    "ikema.pipeline",  # demo
    "ikema.conduct.commands",  # screen, randomize, calendar
    "ikema.analysis.commands",  # analyze
    "ikema.analysis.qol_commands",  # qol score
    "ikema.response.commands",  # response
    "ikema.design.commands",  # design boundaries|events|simulate
    "ikema.design.predict_commands",  # predict
    "ikema.simulate.commands",  # twin
    "ikema.web.commands",  # serve, users
]



@app.callback()
def _root() -> None:
    """IKEMA (NCT03275285) as software: protocol, site operations, analysis, design, report."""


@app.command()
def version() -> None:
    """Print the ikema version."""
    from ikema import __version__

    typer.echo(__version__)


for _name in _COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main() -> None:
    """Run the CLI; an IkemaError prints its message (no traceback) and exits with status 2."""
    try:
        app()
    except IkemaError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
