"""The input contract: every broken row stops with an error naming file, line, field, value, expectation."""

from __future__ import annotations

import pandas as pd
import pytest

from ikema.errors import InputError
from ikema.response import read_assessments, validate_assessments

HEADER = "USUBJID,ADY,PARAM,AVAL,AVALC\n"
GOOD = "P1,1,SMPROT,2.0,\nP1,1,SIFE,,POSITIVE\n"


def _write(tmp_path, body: str):
    p = tmp_path / "assessments.csv"
    p.write_text(HEADER + body)
    return p


def test_valid_file_reads_with_codes(tmp_path):
    df = read_assessments(_write(tmp_path, GOOD + "P1,29,SIFE,,POSITIVE-DRUG\nP1,29,NEWLES,,N\n"))
    assert list(df["VALUE"]) == [2.0, 1.0, 2.0, 0.0]
    assert df["ADY"].dtype == "int64"


@pytest.mark.parametrize(
    ("line", "field", "needle"),
    [
        ("P1,29,SPEP,1.0,", "PARAM", "one of SMPROT"),
        ("P1,29,SMPROT,high,", "AVAL", "a number in g/dL"),
        ("P1,29.5,SMPROT,1.0,", "ADY", "an integer study day"),
        ("P1,0,SMPROT,1.0,", "ADY", "other than 0"),
        ("P1,,SMPROT,1.0,", "ADY", "an integer study day"),
        ("P1,29,SMPROT,-0.1,", "AVAL", ">= 0"),
        ("P1,29,BMPC,120,", "AVAL", "between 0 and 100"),
        ("P1,29,SIFE,,positive", "AVALC", "POSITIVE | NEGATIVE | POSITIVE-DRUG"),
        ("P1,29,UIFE,,POSITIVE-DRUG", "AVALC", "POSITIVE | NEGATIVE for PARAM UIFE"),
        ("P1,29,NEWLES,1,Y", "AVAL", "empty for the coded PARAM"),
        ("P1,29,SMPROT,1.0,2.0", "AVALC", "empty or the AVAL number"),
        (",29,SMPROT,1.0,", "USUBJID", "non-empty"),
        ("P1,1,SMPROT,2.5,", "PARAM", "one row per USUBJID, ADY, PARAM"),
    ],
)
def test_broken_row_names_file_line_field_value(tmp_path, line, field, needle):
    p = _write(tmp_path, GOOD + line + "\n")
    with pytest.raises(InputError) as exc:
        read_assessments(p)
    msg = str(exc.value)
    assert str(p) in msg and "line 4" in msg and f"field {field}" in msg and needle in msg


def test_missing_column_is_named(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("USUBJID,ADY,PARAM,AVAL\nP1,1,SMPROT,1\n")
    with pytest.raises(InputError, match="AVALC"):
        read_assessments(p)


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="an existing CSV file"):
        read_assessments(tmp_path / "nope.csv")


def test_dataframe_errors_name_the_index():
    df = pd.DataFrame({"USUBJID": ["P1", "P1"], "ADY": [1, 2.5], "PARAM": ["SMPROT"] * 2, "AVAL": [1.0, 1.0], "AVALC": ["", ""]})
    with pytest.raises(InputError, match=r"index 1, field ADY: got 2\.5"):
        validate_assessments(df)


def test_integral_float_days_are_accepted_from_frames():
    df = pd.DataFrame({"USUBJID": ["P1"], "ADY": [29.0], "PARAM": ["UMPROT"], "AVAL": [10], "AVALC": [None]})
    assert int(validate_assessments(df)["ADY"].iloc[0]) == 29


@pytest.mark.parametrize("text", [False, True])
def test_texts_equal_once_stripped_are_one_subject_and_parameter(text):
    # the checks read each column's distinct values: " P1" and "SIFE " are P1 and SIFE (a duplicate of row 1), as
    # text held in Arrow and as Python objects
    df = pd.DataFrame({"USUBJID": ["P1", " P1", "P2"], "ADY": [29, 29, 29], "PARAM": ["SIFE", "SIFE ", "SIFE"],
                       "AVAL": [None, None, None], "AVALC": ["POSITIVE", " NEGATIVE", "NEGATIVE "]})
    if not text:
        df = df.astype(object)
    with pytest.raises(InputError, match=r"index 1, field PARAM.*subject P1 already has SIFE on day 29"):
        validate_assessments(df)
    out = validate_assessments(df.iloc[[0, 2]])
    assert out["USUBJID"].tolist() == ["P1", "P2"] and out["VALUE"].tolist() == [1.0, 0.0]
    assert out["AVALC"].tolist() == ["POSITIVE", "NEGATIVE"] and out["PARAM"].tolist() == ["SIFE", "SIFE"]


def test_an_unchecked_frame_with_an_unknown_param_is_refused_naming_it():
    # evaluate(validate=False) trusts a checked frame; a PARAM outside the contract still stops it, named
    from ikema.response import evaluate

    df = validate_assessments(pd.DataFrame({"USUBJID": ["P1", "P1"], "ADY": [1, 29], "PARAM": ["SMPROT"] * 2,
                                            "AVAL": [2.0, 1.0], "AVALC": ["", ""]}))
    assert evaluate(df, validate=False).responses["RESP"].tolist() == ["PR"]
    df.loc[1, "PARAM"] = "SPEP"
    with pytest.raises(ValueError, match="PARAM 'SPEP' is not one of SMPROT"):
        evaluate(df, validate=False)
