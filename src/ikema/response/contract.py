"""The input contract of the response engine: a long table USUBJID, ADY, PARAM, AVAL, AVALC.

One row is one result of one subject on one study day (SDTM convention: no day 0; baseline is the last
result of each PARAM on or before day 1). PARAM codes, units and allowed values:

  SMPROT    serum M-protein, g/dL              AVAL number >= 0
  UMPROT    24-h urine M-protein, mg/24 h      AVAL number >= 0
  FLCK      serum free kappa light chain, mg/L AVAL number >= 0
  FLCL      serum free lambda light chain, mg/L AVAL number >= 0
  BMPC      bone-marrow plasma cells, %        AVAL number 0-100
  PLASMA    plasmacytoma SPD, cm2 (0 = none)   AVAL number >= 0
  SIFE      serum immunofixation               AVALC POSITIVE | NEGATIVE | POSITIVE-DRUG
  UIFE      urine immunofixation               AVALC POSITIVE | NEGATIVE
  CLONALPC  clonal plasma cells in the marrow  AVALC POSITIVE | NEGATIVE
  NEWLES    new bone lesion or plasmacytoma    AVALC Y | N
  MRD       MRD by NGS at 10^-5                AVALC POSITIVE | NEGATIVE

POSITIVE-DRUG (an extension that keeps every file written to the issue's contract valid) records a serum
immunofixation whose only band sits at the position of the therapeutic IgG-kappa antibody (isatuximab),
e.g. shown by the Hydrashift 2/4 isatuximab assay or mass spectrometry. As assessed it counts as positive;
adjusted for the interference it counts as negative (see `ikema.response.engine`).

Numeric PARAMs take AVAL and leave AVALC empty or equal to the number's text; coded PARAMs take AVALC and
leave AVAL empty. One subject has at most one row per (ADY, PARAM). A row that breaks any of this stops
with an `InputError` naming file, line (CSV) or index (DataFrame), field, value and what was expected.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ikema.errors import input_error

COLUMNS = ("USUBJID", "ADY", "PARAM", "AVAL", "AVALC")

NUMERIC_PARAMS: dict[str, tuple[float, float, str]] = {
    "SMPROT": (0.0, math.inf, "g/dL"),
    "UMPROT": (0.0, math.inf, "mg/24h"),
    "FLCK": (0.0, math.inf, "mg/L"),
    "FLCL": (0.0, math.inf, "mg/L"),
    "BMPC": (0.0, 100.0, "%"),
    "PLASMA": (0.0, math.inf, "cm2"),
}

# Allowed AVALC text of each coded PARAM and its numeric code in the engine.
POSITIVE, NEGATIVE, POSITIVE_DRUG = "POSITIVE", "NEGATIVE", "POSITIVE-DRUG"
CODED_PARAMS: dict[str, dict[str, float]] = {
    "SIFE": {POSITIVE: 1.0, NEGATIVE: 0.0, POSITIVE_DRUG: 2.0},
    "UIFE": {POSITIVE: 1.0, NEGATIVE: 0.0},
    "CLONALPC": {POSITIVE: 1.0, NEGATIVE: 0.0},
    "NEWLES": {"Y": 1.0, "N": 0.0},
    "MRD": {POSITIVE: 1.0, NEGATIVE: 0.0},
}
PARAMS = tuple(NUMERIC_PARAMS) + tuple(CODED_PARAMS)

_INT_RE = re.compile(r"^[+-]?\d+$")


def read_assessments(path: str | Path) -> pd.DataFrame:
    """Read and validate an assessments CSV; errors name the file and line (header = line 1)."""
    p = Path(path)
    if not p.is_file():
        raise input_error(str(p), "(file)", "path", str(p), "an existing CSV file")
    try:
        raw = pd.read_csv(p, dtype=str, keep_default_na=False, na_filter=False, skipinitialspace=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise input_error(str(p), "(file)", "format", str(exc).strip(), "a comma-separated UTF-8 file") from exc
    return validate_assessments(raw, source=str(p), line_offset=2)


def validate_assessments(df: pd.DataFrame, source: str = "assessments", line_offset: int | None = None) -> pd.DataFrame:
    """Check the contract and return a clean frame (ADY int64, AVAL float64, AVALC str, VALUE float64 code).

    `line_offset` numbers records as file lines (first record = line_offset); None uses the frame's index.
    """
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise input_error(source, "(header)", missing[0], list(df.columns), f"the columns {', '.join(COLUMNS)}")
    n = len(df)
    labels = (
        np.arange(n) + line_offset if line_offset is not None else np.asarray(df.index)
    )

    def where(i: int) -> str:
        return f"line {labels[i]}" if line_offset is not None else f"index {labels[i]}"

    def text(col: str) -> tuple[np.ndarray, np.ndarray]:
        """(codes, distinct stripped texts) of a column: every check below reads the few hundred distinct values
        (10^5 records), the records only through their codes."""
        s = df[col]
        if not (pd.api.types.is_string_dtype(s) or s.dtype == object):
            s = s.astype(object).where(s.notna(), "")
        codes, distinct = pd.factorize(s, use_na_sentinel=False)
        stripped = pd.Series(distinct, dtype=object).fillna("").astype(str).str.strip().to_numpy(dtype=object)
        again, held = pd.factorize(stripped)  # distinct values equal once stripped share one code
        return again[codes] if len(codes) else codes, held.to_numpy(dtype=object) if hasattr(held, "to_numpy") else held

    u_codes, u_held = text("USUBJID")
    p_codes, p_held = text("PARAM")
    a_codes, a_held = text("AVALC")
    usubjid, param, avalc = u_held[u_codes], p_held[p_codes], a_held[a_codes]
    is_param = lambda values: np.isin(p_held, np.array(values, dtype=object))[p_codes]  # noqa: E731

    # USUBJID
    bad = np.flatnonzero((u_held == "")[u_codes])
    if bad.size:
        i = int(bad[0])
        raise input_error(source, where(i), "USUBJID", df["USUBJID"].iloc[i], "a non-empty subject identifier")

    # PARAM
    bad = np.flatnonzero(~is_param(PARAMS))
    if bad.size:
        i = int(bad[0])
        raise input_error(source, where(i), "PARAM", df["PARAM"].iloc[i], f"one of {', '.join(PARAMS)}")

    # ADY: an integer, not 0
    ady = _integer_days(df["ADY"], source, where)

    # AVAL / AVALC per PARAM kind
    aval_raw = df["AVAL"]
    if pd.api.types.is_numeric_dtype(aval_raw):
        aval = np.array(aval_raw.to_numpy(dtype=float), dtype=float)
        has_aval = ~np.isnan(aval)
    else:
        v_codes, v_held = text("AVAL")
        has_aval = (v_held != "")[v_codes]
        aval = np.array(pd.to_numeric(pd.Series(v_held), errors="coerce"), dtype=float)[v_codes] if len(v_codes) else np.zeros(0)
        aval[~has_aval] = np.nan
    value = np.full(n, np.nan)
    is_num = is_param(list(NUMERIC_PARAMS))
    for i in np.flatnonzero(is_num & (np.isnan(aval) | ~np.isfinite(aval))):
        raise input_error(source, where(int(i)), "AVAL", aval_raw.iloc[int(i)], f"a number in {NUMERIC_PARAMS[param[i]][2]} for PARAM {param[i]}")
    for code, (lo, hi, unit) in NUMERIC_PARAMS.items():
        rows = np.flatnonzero(is_param([code]) & ((aval < lo) | (aval > hi)))
        if rows.size:
            i = int(rows[0])
            rng = f">= {lo:g}" if math.isinf(hi) else f"between {lo:g} and {hi:g}"
            raise input_error(source, where(i), "AVAL", aval_raw.iloc[i], f"a number {rng} ({unit}) for PARAM {code}")
    # AVALC on a numeric row: empty or the same number
    for i in np.flatnonzero(is_num & (a_held != "")[a_codes]):
        try:
            same = math.isclose(float(avalc[i]), aval[i], rel_tol=1e-9, abs_tol=1e-12)
        except ValueError:
            same = False
        if not same:
            raise input_error(source, where(int(i)), "AVALC", df["AVALC"].iloc[int(i)], f"empty or the AVAL number for PARAM {param[i]}")
    value[is_num] = aval[is_num]
    for code, mapping in CODED_PARAMS.items():
        rows = is_param([code])
        if not rows.any():
            continue
        ok = np.isin(a_held, np.array(list(mapping), dtype=object))[a_codes]
        bad = np.flatnonzero(rows & ~ok)
        if bad.size:
            i = int(bad[0])
            raise input_error(source, where(i), "AVALC", df["AVALC"].iloc[i], f"one of {' | '.join(mapping)} for PARAM {code}")
        bad = np.flatnonzero(rows & has_aval)
        if bad.size:
            i = int(bad[0])
            raise input_error(source, where(i), "AVAL", aval_raw.iloc[i], f"empty for the coded PARAM {code} (its result is in AVALC)")
        value[rows] = np.array([mapping.get(t, np.nan) for t in a_held], dtype=float)[a_codes[rows]]

    out = pd.DataFrame(
        {
            "USUBJID": pd.Series(usubjid, dtype=object),
            "ADY": ady,
            "PARAM": pd.Series(param, dtype=object),
            "AVAL": np.where(is_num, aval, np.nan),
            "AVALC": pd.Series(np.where(is_num, "", avalc), dtype=object),
            "VALUE": value,
        }
    )
    # one row per subject, day and PARAM (the texts' codes compared, not the texts)
    dup = pd.DataFrame({"u": u_codes, "d": ady, "p": p_codes}).duplicated(keep="first").to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise input_error(
            source, where(i), "PARAM", param[i],
            f"one row per USUBJID, ADY, PARAM (subject {usubjid[i]} already has {param[i]} on day {ady[i]})",
        )
    return out


def _integer_days(col: pd.Series, source: str, where) -> np.ndarray:
    """ADY as int64; a non-integer, missing or zero day raises naming the row."""
    if pd.api.types.is_integer_dtype(col) and not col.isna().any():
        ady = col.to_numpy(dtype=np.int64)
    else:
        arr = col.astype(object).to_numpy()
        ady = np.zeros(len(arr), dtype=np.int64)
        for i, v in enumerate(arr):
            ok = False
            if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
                ady[i], ok = int(v), True
            elif isinstance(v, (float, np.floating)) and math.isfinite(v) and float(v).is_integer():
                ady[i], ok = int(v), True
            elif isinstance(v, str) and _INT_RE.match(v.strip()):
                ady[i], ok = int(v.strip()), True
            if not ok:
                raise input_error(source, where(i), "ADY", v, "an integer study day (SDTM, no day 0)")
    zero = np.flatnonzero(ady == 0)
    if zero.size:
        i = int(zero[0])
        raise input_error(source, where(i), "ADY", col.iloc[i], "an integer study day other than 0 (SDTM has no day 0)")
    return ady
