"""`ikema response --in assessments.csv --out DIR`: IMWG responses and per-subject summary as CSV files.

Writes, for the file contract of issue #4:
  DIR/responses.csv   USUBJID, ADY, RESP, CONFIRMED            (as assessed)
  DIR/summary.csv     USUBJID, BOR, FIRST_RESP_DY, BEST_RESP_DY, PD_DY, MRDNEG   (as assessed)
and the same two files adjusted for isatuximab interference (SIFE POSITIVE-DRUG counted NEGATIVE):
  DIR/responses_adjusted.csv, DIR/summary_adjusted.csv
Empty cells where a value does not apply. A row breaking the input contract stops the run (exit 2) with an
error naming file, line, field, value and what was expected; nothing is written then.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer

from ikema.response.contract import read_assessments
from ikema.response.criteria import Criteria
from ikema.response.engine import default_criteria, evaluate

RESPONSE_COLUMNS = ["USUBJID", "ADY", "RESP", "CONFIRMED"]
SUMMARY_COLUMNS = ["USUBJID", "BOR", "FIRST_RESP_DY", "BEST_RESP_DY", "PD_DY", "MRDNEG"]


def run_response(in_path: Path, out_dir: Path, criteria: Criteria | None = None) -> dict[str, Path]:
    """Evaluate an assessments CSV and write the four result files; returns their paths by name."""
    data = read_assessments(in_path)
    return write_results(data, out_dir, criteria if criteria is not None else default_criteria())


def write_results(data: pd.DataFrame, out_dir: Path, c: Criteria) -> dict[str, Path]:
    """Evaluate validated assessments as assessed and interference-adjusted; write the four CSV files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for suffix, mode in (("", "assessed"), ("_adjusted", "adjusted")):
        ev = evaluate(data, c, interference=mode, validate=False)
        for name, frame, cols in (
            ("responses", ev.responses, RESPONSE_COLUMNS),
            ("summary", ev.summary, SUMMARY_COLUMNS),
        ):
            path = out_dir / f"{name}{suffix}.csv"
            _write(frame[cols], path)
            written[f"{name}{suffix}"] = path
    return written


def _write(frame: pd.DataFrame, path: Path) -> None:
    """CSV with empty cells for missing values and integer days without decimals."""
    frame.to_csv(path, index=False, na_rep="", lineterminator="\n")


def register(app: typer.Typer) -> None:
    """Add the `response` command."""

    @app.command("response")
    def response_cmd(
        in_path: Path = typer.Option(..., "--in", help="assessments CSV: USUBJID, ADY, PARAM, AVAL, AVALC"),
        out: Path = typer.Option(..., "--out", help="output directory"),
        imwg_serum_threshold: bool = typer.Option(
            False, "--imwg-measurable", help="judge serum measurability at IMWG's 1 g/dL instead of the protocol's"
        ),
        nadir: str = typer.Option("all", "--nadir", help="nadir for progression: all | confirmed"),
        ruleset: str = typer.Option("2016", "--ruleset", help="IMWG wording of the progression rules: 2016 | 2011"),
    ) -> None:
        """IMWG 2016 response per assessment and best overall response per subject."""
        from dataclasses import replace

        from rich.console import Console

        from ikema.errors import input_error

        if nadir not in ("all", "confirmed"):
            raise input_error("command line", "--nadir", "nadir", nadir, "all | confirmed")
        if ruleset not in ("2016", "2011"):
            raise input_error("command line", "--ruleset", "ruleset", ruleset, "2016 | 2011")
        data = read_assessments(in_path)  # contract errors first, before anything else is looked up
        base = Criteria.imwg() if imwg_serum_threshold else default_criteria()
        crit = replace(base, nadir_mode=nadir, ruleset=ruleset)
        paths = write_results(data, out, crit)
        summary = pd.read_csv(paths["summary"], keep_default_na=False)
        adjusted = pd.read_csv(paths["summary_adjusted"], keep_default_na=False)
        console = Console()
        counts = summary["BOR"].value_counts()
        console.print(
            f"{len(summary)} subjects; BOR "
            + ", ".join(f"{k} {int(counts.get(k, 0))}" for k in ("sCR", "CR", "VGPR", "PR", "MR", "SD", "PD", "NE"))
        )
        cr = summary["BOR"].isin(["sCR", "CR"]).sum()
        cr_adj = adjusted["BOR"].isin(["sCR", "CR"]).sum()
        console.print(f">= CR as assessed {cr}, adjusted for isatuximab interference {cr_adj}")
        for p in paths.values():
            console.print(f"wrote {p}")
