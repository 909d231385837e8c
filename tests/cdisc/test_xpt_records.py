"""write_xpt encodes the observation records itself (numpy/pyarrow) after pyreadstat's headers: the bytes must be
pyreadstat's own (apart from the header time stamps), for numbers (IBM doubles), SAS dates, datetimes and text."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
import pyreadstat

import ikema.cdisc.io as io

STAMP = re.compile(rb"\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d")


def test_ibm_doubles_known_encodings():
    # IBM System/360 hexadecimal floating point (SAS transport): 1.0, -118.625 (the textbook example), 0.1, 0, missing
    out = io._ibm_doubles(np.array([1.0, -118.625, 0.1, 0.0, np.nan]))
    assert out[0].tobytes() == bytes.fromhex("4110000000000000")
    assert out[1].tobytes() == bytes.fromhex("C276A00000000000")
    assert out[2].tobytes() == bytes.fromhex("401999999999999A")
    assert out[3].tobytes() == bytes(8)
    assert out[4].tobytes() == b"." + bytes(7)
    assert io._ibm_doubles(np.array([1.0, np.inf])) is None  # not encodable: pyreadstat writes the records


def _frame(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """A frame as write_xpt hands it on: text as Python strings, numbers as doubles, SAS dates as datetime.date."""
    base = pd.Timestamp("2018-01-09")
    days = rng.integers(-400, 3000, n)
    df = pd.DataFrame({
        "STUDYID": "EFC15246",
        "USUBJID": [f"EFC15246-{rng.integers(100, 999)}-{k:04d}" for k in range(n)],
        "AETERM": rng.choice(["", "Pneumonia", "Upper respiratory tract infection", "x"], n),
        "AESEQ": np.arange(1, n + 1, dtype=float),
        "AVAL": np.where(rng.random(n) < 0.1, np.nan, rng.normal(0, 1e3, n) * 10.0 ** rng.integers(-6, 6, n)),
        "ASTDT": [None if k % 7 == 0 else (base + pd.Timedelta(days=int(d))).date() for k, d in enumerate(days)],
        "ADTM": (base + pd.to_timedelta(rng.integers(0, 10**8, n), unit="s")).where(rng.random(n) > 0.2),
    })
    return df.astype({c: object for c in ("STUDYID", "USUBJID", "AETERM")})


def test_records_equal_pyreadstat_bytes(tmp_path):
    rng = np.random.default_rng(17)
    df = _frame(500, rng)
    fmt = {"ASTDT": "DATE9.", "ADTM": "DATETIME20."}
    records, widths = io._xpt_records(df, {"ASTDT"})
    assert records is not None and widths == {"STUDYID": 8, "USUBJID": 17, "AETERM": 33}
    assert records.shape == (500, 8 + 17 + 33 + 4 * 8)
    # the whole file through write_xpt's path and through pyreadstat alone
    ours = tmp_path / "ours.xpt"
    head = io._xpt_head_row(df, widths)
    pyreadstat.write_xport(head, str(ours), table_name="ADAE", file_format_version=5, variable_format=fmt)
    data = ours.read_bytes()
    start = data.find(b"HEADER RECORD*******OBS     HEADER RECORD!!!!!!!") + 80
    body = records.tobytes()
    ours.write_bytes(data[:start] + body + b" " * (-len(body) % 80))
    theirs = tmp_path / "theirs.xpt"
    pyreadstat.write_xport(df, str(theirs), table_name="ADAE", file_format_version=5, variable_format=fmt)
    assert STAMP.sub(b"T", ours.read_bytes()) == STAMP.sub(b"T", theirs.read_bytes())
    back, _ = pyreadstat.read_xport(str(ours))
    assert back["AETERM"].tolist() == df["AETERM"].tolist()


def test_text_outside_ascii_falls_back_to_pyreadstat():
    df = pd.DataFrame({"T": ["Grün", "a"], "N": [1.0, 2.0]}).astype({"T": object})
    assert io._xpt_records(df, set()) == (None, {})
    assert io._xpt_text(pd.Series(["a", None], dtype=object)) is None
