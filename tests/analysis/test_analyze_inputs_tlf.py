"""`ikema analyze` as a new user meets it: the pharmaverse oncology ADaM as published, input files of any name and
format, population and parameter choice, clear errors naming the file, and RTF tables opened and read back."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from striprtf.striprtf import rtf_to_text
from typer.testing import CliRunner

from ikema.cli import app

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
PHARMAVERSE = SHARED / "data" / "pharmaverseadam" / "csv"
PILOT = SHARED / "data" / "safetyData-cdiscpilot01" / "csv"
REF = SHARED / "reference" / "survival"


def _invoke(*args: str):
    return CliRunner().invoke(app, ["analyze", *args])


def _rtf_rows(path: Path) -> list[list[str]]:
    """The table rows of an RTF file as read back by an RTF-to-text converter (cells split on '|')."""
    text = rtf_to_text(path.read_text())
    return [line.rstrip("|").split("|") for line in text.splitlines() if line.count("|") >= 2]


def test_pharmaverse_oncology_runs_as_published(tmp_path):
    """Screen failures leave through the population flag (SAFFL: no ITTFL), RSD and per-visit ADRS parameters are
    skipped with their reason, every other parameter is analysed; nothing filtered by hand."""
    res = _invoke("--adsl", str(PHARMAVERSE / "adsl.csv.gz"), "--adtte", str(PHARMAVERSE / "adtte_onco.csv.gz"),
                  "--adrs", str(PHARMAVERSE / "adrs_onco.csv.gz"), "--out", str(tmp_path), "--tlf", "rtf")
    assert res.exit_code == 0, (res.output, res.exception)
    r = json.loads((tmp_path / "results.json").read_text())
    assert r["population"]["flag"] == "SAFFL" and (r["population"]["n"], r["population"]["n_adsl"]) == (254, 306)
    assert any("'Screen Failure' has no subjects" in n for n in r["notes"])
    assert r["reference_arm"] == "Placebo"
    assert set(r["parameters"]["OS"]["arms"]) == {"Placebo", "Xanomeline High Dose", "Xanomeline Low Dose"}
    assert {a: v["events"] for a, v in r["parameters"]["PFS"]["arms"].items()} == \
        {"Placebo": 3, "Xanomeline High Dose": 2, "Xanomeline Low Dose": 1}  # the 6 PFS events of the README
    skipped = {s["paramcd"]: s["reason"] for s in r["skipped"]}
    assert set(skipped) == {"RSD", "BOR", "CBOR", "LSTA", "OVR"}
    assert "no events" in skipped["RSD"] and "22 records for 8 subjects" in skipped["OVR"]
    rsp = r["parameters"]["RSP"]["arms"]["Placebo"]
    assert (rsp["n"], rsp["responders"], rsp["rate"]) == (86, 2, 2 / 86)  # screen failures' ADRS rows left out
    # no responder in any arm: the CMH test is not defined, reported as null (never p = 0)
    cbcp = r["parameters"]["CBCP"]["comparisons"]["Xanomeline High Dose"]
    assert cbcp["cmh_p"] is None and cbcp["cmh_p_corrected"] is None
    assert sorted(p.name for p in (tmp_path / "tlf").iterdir()) == \
        ["f_forest.rtf", "f_km_OS.rtf", "f_km_PFS.rtf", "t_efficacy_tte.rtf", "t_response.rtf"]


def test_rtf_efficacy_table_reads_back(tmp_path):
    """The efficacy RTF, opened as text: title, population, header and the rows with the numbers of results.json."""
    res = _invoke("--adsl", str(PILOT / "adam_adsl.csv.gz"), "--adtte", str(PILOT / "adam_adtte.csv.gz"),
                  "--out", str(tmp_path), "--tlf", "rtf", "--landmarks", "30,90")
    assert res.exit_code == 0, (res.output, res.exception)
    r = json.loads((tmp_path / "results.json").read_text())["parameters"]["TTDE"]
    text = rtf_to_text((tmp_path / "tlf" / "t_efficacy_tte.rtf").read_text())
    assert "Population: ITTFL = 'Y' (254 subjects)" in text and "Source: " in text and "adam_adtte.csv.gz" in text
    rows = _rtf_rows(tmp_path / "tlf" / "t_efficacy_tte.rtf")
    assert rows[0] == ["Parameter", "Arm", "n", "Events", "Median, days (95% CI)", "RMST, days (95% CI)",
                       "Hazard ratio (95% CI)", "p-value"]
    high = r["arms"]["Xanomeline High Dose"]
    c = r["comparisons"]["Xanomeline High Dose"]
    assert rows[1] == ["TTDE", "Placebo (reference)", "86", "29", "NR (NR, NR)",
                       f"{r['arms']['Placebo']['rmst']:.1f} ({r['arms']['Placebo']['rmst_lcl']:.1f}, "
                       f"{r['arms']['Placebo']['rmst_ucl']:.1f})", "-", "-"]
    assert rows[2] == ["TTDE", "Xanomeline High Dose", "84", "61", "36.0 (23.0, 46.0)",
                       f"{high['rmst']:.1f} ({high['rmst_lcl']:.1f}, {high['rmst_ucl']:.1f})",
                       f"{c['hazard_ratio']:.3f} ({c['hazard_ratio_ci'][0]:.3f}, {c['hazard_ratio_ci'][1]:.3f})", "<0.0001"]
    lm = _rtf_rows(tmp_path / "tlf" / "t_landmarks.rtf")
    s30 = r["arms"]["Placebo"]["landmarks"][0]
    assert lm[1] == ["TTDE", "Placebo", "30", f"{100 * s30['survival']:.1f} ({100 * s30['lcl']:.1f}, {100 * s30['ucl']:.1f})"]
    html = (tmp_path / "report.html").read_text()
    assert "RMST to 189.0 days" in html and "p &lt; 0.0001" in html and "0.0000" not in html


def test_params_selection_and_unknown_parameter(tmp_path):
    args = ["--adsl", str(PHARMAVERSE / "adsl.csv.gz"), "--adtte", str(PHARMAVERSE / "adtte_onco.csv.gz"),
            "--adrs", str(PHARMAVERSE / "adrs_onco.csv.gz"), "--out", str(tmp_path)]
    assert _invoke(*args, "--params", "PFS,RSP").exit_code == 0
    r = json.loads((tmp_path / "results.json").read_text())
    assert set(r["parameters"]) == {"PFS", "RSP"} and r["skipped"] == []
    res = _invoke(*args, "--params", "PFS,XYZ")
    assert res.exit_code != 0
    assert "--params: ['XYZ'] not found; the data have PARAMCD ['OS', 'PFS', 'RSD', 'BCP'" in str(res.exception)


@pytest.mark.parametrize("option,value,message", [
    ("--landmarks", "30,-1", "--landmarks: got [-1.0], expected times >= 0"),
    ("--landmarks", "30,a", "--landmarks: got '30,a', expected comma-separated numbers"),
    ("--rmst-tau", "0", "--rmst-tau: got 0.0, expected a positive time"),
    ("--conf-type", "arcsine", "--conf-type: got 'arcsine', expected log-log, log or plain"),
    ("--conf-level", "95", "--conf-level: got 95.0, expected a number between 0 and 1"),
])
def test_bad_options_are_clear_errors(tmp_path, option, value, message):
    res = _invoke("--adam", str(REF / "veteran"), "--out", str(tmp_path), "--reference-arm", "Standard", option, value)
    assert res.exit_code != 0 and message in str(res.exception)


def test_population_option(tmp_path):
    """--population names the flag; an absent flag is an error listing ADSL's flags."""
    args = ["--adam", str(REF / "veteran"), "--out", str(tmp_path), "--reference-arm", "Standard"]
    res = _invoke(*args, "--population", "ITTFL")
    assert "population flag ITTFL not found; ADSL has the flags []" in str(res.exception)
    assert _invoke(*args).exit_code == 0
    r = json.loads((tmp_path / "results.json").read_text())
    assert r["population"] == {"flag": None, "rule": "every ADSL subject (ADSL has no ITTFL or FASFL or SAFFL)",
                               "n": 137, "n_adsl": 137}


def test_other_formats_and_names(tmp_path):
    """Parquet and gzip CSV under any names give the numbers of the CSV folder."""
    base = _invoke("--adam", str(REF / "colon"), "--out", str(tmp_path / "a"), "--reference-arm", "Observation")
    assert base.exit_code == 0
    pd.read_csv(REF / "colon" / "adsl.csv").to_parquet(tmp_path / "subjects.parquet")
    with gzip.open(tmp_path / "events.csv.gz", "wb") as f:
        f.write((REF / "colon" / "adtte.csv").read_bytes())
    res = _invoke("--adsl", str(tmp_path / "subjects.parquet"), "--adtte", str(tmp_path / "events.csv.gz"),
                  "--out", str(tmp_path / "b"), "--reference-arm", "Observation")
    assert res.exit_code == 0, (res.output, res.exception)
    a = json.loads((tmp_path / "a" / "results.json").read_text())["parameters"]
    b = json.loads((tmp_path / "b" / "results.json").read_text())["parameters"]
    assert a == b


@pytest.mark.parametrize("name,expected", [
    ("adtte.xpt", "adtte.xpt: cannot be read as SAS transport (XPT)"),
    ("adtte.sas7bdat", "adtte.sas7bdat: cannot be read as SAS7BDAT"),
    ("adtte.parquet", "adtte.parquet: cannot be read as Parquet"),
    ("adtte.csv.gz", "adtte.csv.gz: cannot be read as gzip CSV"),
    ("adtte.txt", "adtte.txt: file name ending '.txt' not supported"),
])
def test_unreadable_file_is_a_clear_error(tmp_path, name, expected):
    bad = tmp_path / name
    bad.write_text("USUBJID,PARAMCD\nX,OS\n")
    res = _invoke("--adsl", str(REF / "veteran" / "adsl.csv"), "--adtte", str(bad), "--out", str(tmp_path / "o"))
    assert res.exit_code != 0 and expected in str(res.exception)


def test_no_analysis_dataset_lists_what_was_found(tmp_path):
    shutil.copy(REF / "veteran" / "adsl.csv", tmp_path / "adsl.csv")
    shutil.copy(REF / "veteran" / "adtte.csv", tmp_path / "adtte_onco.csv")
    res = _invoke("--adam", str(tmp_path), "--out", str(tmp_path / "o"))
    assert "no analysis dataset besides ADSL" in str(res.exception)
    assert "found ['adsl.csv', 'adtte_onco.csv']" in str(res.exception)


def test_bad_record_message_names_the_file(tmp_path):
    t = pd.read_csv(REF / "veteran" / "adtte.csv")
    t.loc[3, "AVAL"] = -4
    t.to_csv(tmp_path / "tte_data.csv", index=False)
    res = _invoke("--adsl", str(REF / "veteran" / "adsl.csv"), "--adtte", str(tmp_path / "tte_data.csv"),
                  "--out", str(tmp_path / "o"), "--reference-arm", "Standard")
    assert f"ADTTE ({tmp_path / 'tte_data.csv'}): record 3 (USUBJID VET-004, PARAMCD OS), field AVAL: got -4" \
        in str(res.exception)


def test_rtf_safety_table_reads_back(tmp_path, pilot_adam):
    """CDISC pilot with ADAE: the TEAE RTF table carries results.json's overview counts per arm."""
    adam = pilot_adam("adsl", "adtte", "adae")
    res = _invoke("--adam", str(adam), "--out", str(tmp_path / "o"), "--arm-var", "TRT01A", "--tlf", "rtf")
    assert res.exit_code == 0, (res.output, res.exception)
    safety = json.loads((tmp_path / "o" / "results.json").read_text())["safety"]
    rows = _rtf_rows(tmp_path / "o" / "tlf" / "t_safety_teae.rtf")
    arms = list(safety["population"])
    assert rows[0] == ["Category / system organ class / preferred term"] + \
        [f"{a} (N={safety['population'][a]}) n (%)" for a in arms]
    first = safety["overview"][0]
    assert first["category"] == "Any TEAE"
    assert rows[1] == ["Any TEAE"] + [f"{first['arms'][a]['n']} ({first['arms'][a]['pct']:.1f})" for a in arms]
    assert "Population: safety (SAFFL = 'Y')" in rtf_to_text((tmp_path / "o" / "tlf" / "t_safety_teae.rtf").read_text())


def test_records_outside_the_population_are_left_out(tmp_path):
    """Subjects with ITTFL = N keep their ADTTE records in the file but leave the analysis (no error)."""
    adsl = pd.read_csv(PILOT / "adam_adsl.csv.gz")
    out_ids = adsl.loc[adsl["TRT01P"] == "Placebo", "USUBJID"].iloc[:10]
    adsl.loc[adsl["USUBJID"].isin(out_ids), "ITTFL"] = "N"
    adsl.to_csv(tmp_path / "adsl.csv", index=False)
    res = _invoke("--adsl", str(tmp_path / "adsl.csv"), "--adtte", str(PILOT / "adam_adtte.csv.gz"),
                  "--out", str(tmp_path / "o"))
    assert res.exit_code == 0, (res.output, res.exception)
    r = json.loads((tmp_path / "o" / "results.json").read_text())
    assert r["population"] == {"flag": "ITTFL", "rule": "ITTFL = 'Y'", "n": 244, "n_adsl": 254}
    assert {a: v["n"] for a, v in r["parameters"]["TTDE"]["arms"].items()} == \
        {"Placebo": 76, "Xanomeline High Dose": 84, "Xanomeline Low Dose": 84}


@pytest.mark.parametrize("dtype", ["str", object])
def test_is_in_answers_as_pandas_isin(dtype):
    # the analyses' membership test on distinct values gives pandas' answer: missing values, repeats, sets, Series,
    # lists, nothing to find, no values
    from ikema.analysis.efficacy import is_in

    values = pd.Series(["S-2", None, "S-1", "S-2", "S-3", ""], dtype=dtype)
    for of in (pd.Series(["S-2", "S-9"], dtype="str"), {"S-1", ""}, ["S-3", None], [], pd.Series([], dtype="str")):
        assert is_in(values, of).tolist() == values.isin(of).tolist()
    assert is_in(values, ["S-2"]).tolist() == [True, False, False, True, False, False]
    assert is_in(values.iloc[:0], ["S-2"]).tolist() == []
