"""`ikema response --in --out`: the file contract (columns, empty cells) and errors without traceback."""

from __future__ import annotations

import pandas as pd
from imwg_helpers import IKEMA, History, frame_of
from typer.testing import CliRunner

from ikema.cli import app
from ikema.response.commands import RESPONSE_COLUMNS, SUMMARY_COLUMNS, run_response


def _histories() -> pd.DataFrame:
    a = (
        History("A")
        .visit(1, SMPROT=2.0, UMPROT=30, BMPC=30)
        .visit(29, SMPROT=0, UMPROT=0, SIFE="POSITIVE-DRUG", UIFE="NEGATIVE", BMPC=2)
        .visit(57, SMPROT=0, UMPROT=0, SIFE="POSITIVE-DRUG", UIFE="NEGATIVE", MRD="NEGATIVE")
    )
    b = History("B").visit(1, SMPROT=2.0).visit(29, SMPROT=1.9).visit(57, SMPROT=2.6).visit(85, SMPROT=2.7)
    return frame_of(a, b)


def test_run_response_writes_the_contract_files(tmp_path):
    src = tmp_path / "assessments.csv"
    _histories().to_csv(src, index=False)
    paths = run_response(src, tmp_path / "out", IKEMA)
    responses = (tmp_path / "out" / "responses.csv").read_text().splitlines()
    assert responses[0] == ",".join(RESPONSE_COLUMNS)
    assert responses[1:3] == ["A,29,VGPR,VGPR", "A,57,VGPR,SD"]
    summary = (tmp_path / "out" / "summary.csv").read_text().splitlines()
    assert summary[0] == ",".join(SUMMARY_COLUMNS)
    assert summary[1] == "A,VGPR,29,29,,Y"  # empty PD_DY cell
    assert summary[2] == "B,SD,,29,57,N"
    adjusted = (tmp_path / "out" / "summary_adjusted.csv").read_text().splitlines()
    assert adjusted[1] == "A,CR,29,29,,Y"
    assert set(paths) == {"responses", "summary", "responses_adjusted", "summary_adjusted"}


def test_cli_error_names_the_row_and_exits_2(tmp_path):
    src = tmp_path / "bad.csv"
    src.write_text("USUBJID,ADY,PARAM,AVAL,AVALC\nP1,1,SMPROT,2.0,\nP1,29,SMPROT,lots,\n")
    result = CliRunner().invoke(app, ["response", "--in", str(src), "--out", str(tmp_path / "o")])
    assert result.exit_code != 0
    assert "line 3" in str(result.exception) and "AVAL" in str(result.exception)
    assert not (tmp_path / "o" / "responses.csv").exists()


def test_cli_runs_end_to_end_with_imwg_threshold(tmp_path):
    src = tmp_path / "assessments.csv"
    _histories().to_csv(src, index=False)
    result = CliRunner().invoke(app, ["response", "--in", str(src), "--out", str(tmp_path / "o"), "--imwg-measurable"])
    assert result.exit_code == 0, result.output
    assert "2 subjects" in result.output
    s = pd.read_csv(tmp_path / "o" / "summary.csv", keep_default_na=False)
    assert list(s["BOR"]) == ["VGPR", "SD"]


def test_cli_ruleset_and_nadir_options_are_checked(tmp_path):
    src = tmp_path / "assessments.csv"
    _histories().to_csv(src, index=False)
    result = CliRunner().invoke(app, ["response", "--in", str(src), "--out", str(tmp_path / "o"), "--imwg-measurable", "--ruleset", "2009"])
    assert result.exit_code != 0 and "2016 | 2011" in str(result.exception)
    result = CliRunner().invoke(
        app, ["response", "--in", str(src), "--out", str(tmp_path / "o"), "--imwg-measurable", "--nadir", "confirmed", "--ruleset", "2011"]
    )
    assert result.exit_code == 0, result.output
