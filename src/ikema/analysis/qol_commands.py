"""`ikema qol ...`: score questionnaire answers (QLQ-C30, QLQ-MY20, EQ-5D-5L) from a CSV file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from ikema.analysis.qol import DEFAULT_VALUE_SET, score_answers, validate_answers
from ikema.errors import InputError

qol_app = typer.Typer(no_args_is_help=True, help="Quality of life: score EORTC QLQ-C30 / QLQ-MY20 and EQ-5D-5L.")


@qol_app.command("score")
def score(
    in_: Path = typer.Option(..., "--in", help="CSV of answers: USUBJID, VISIT, QSCAT, QSTESTCD, QSORRES."),
    out: Path = typer.Option(..., "--out", help="CSV of scores to write."),
    errors: Path | None = typer.Option(None, "--errors", help="Also write the rejected rows to this CSV."),
    value_set: str = typer.Option(DEFAULT_VALUE_SET, help="EQ-5D-5L value set: England (Devlin 2018) or US (Pickard 2019)."),
) -> None:
    """Score every valid answer row; list every rejected row (file, line, field, value, expected).

    Exit status: 0 all rows valid; 1 scores written but some rows rejected (never scored); 2 unusable input.
    """
    if not in_.is_file():
        raise InputError(f"{in_}: file not found, expected a CSV of answers")
    try:
        answers = pd.read_csv(in_, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"{in_}: not a readable CSV ({exc}), expected a CSV of answers") from exc
    valid, rejected = validate_answers(answers, str(in_))
    scores = score_answers(valid, value_set)
    out.parent.mkdir(parents=True, exist_ok=True)
    scores.to_csv(out, index=False)
    console = Console(stderr=True)
    console.print(f"{len(scores)} scores from {len(valid)} valid answers written to {out}", highlight=False)
    if rejected:
        table = Table(title=f"{len(rejected)} rejected answer rows (not scored)")
        for col in ("file", "line", "field", "value", "expected"):
            table.add_column(col)
        for r in rejected:
            table.add_row(r.file, str(r.line), r.field, repr(r.value), r.expected)
        console.print(table)
        if errors is not None:
            pd.DataFrame([r.__dict__ for r in rejected]).to_csv(errors, index=False)
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    """Add the `qol` sub-app to the ikema CLI."""
    app.add_typer(qol_app, name="qol")
