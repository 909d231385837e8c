"""ADaM BDS structure common to every BDS dataset (ADaMIG 1.3): STUDYID, PARAM and PARAMN from the metadata
table's parameters, ASEQ, and the ADTTE source trace (SRCDOM / SRCVAR / SRCSEQ)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def finish_bds(df: pd.DataFrame, name: str, studyid: object = None) -> pd.DataFrame:
    """DF with STUDYID (where missing, `studyid`), PARAM (where missing) and PARAMN from the metadata table's
    parameters of dataset NAME, and ASEQ (1, 2, ... per subject in the dataset's row order). Parameters the table
    does not list keep PARAM = PARAMCD and a missing PARAMN (the conformance tests flag them for this package)."""
    from ikema.cdisc.metadata import parameters

    table = {r["paramcd"]: r for r in parameters().get(name.upper(), [])}
    out = df.copy(deep=False)  # copy-on-write: the columns added here do not reach `df`
    if "STUDYID" not in out.columns:
        out.insert(0, "STUDYID", studyid if studyid is not None else "")
    codes, held = pd.factorize(out["PARAMCD"].astype(str), use_na_sentinel=False)  # each parameter looked up once
    if "PARAM" not in out.columns:
        param = np.array([table[c]["param"] if c in table else c for c in held], dtype=object)
        out.insert(out.columns.get_loc("PARAMCD") + 1, "PARAM", pd.Series(param[codes], index=out.index, dtype="str"))
    out["PARAMN"] = np.array([float(table[c]["paramn"]) if c in table else np.nan for c in held], dtype=float)[codes]
    out["ASEQ"] = out.groupby("USUBJID", sort=False).cumcount() + 1
    return out


def subject_rows(ids: pd.Series, subjects: pd.Series) -> np.ndarray:
    """The row of each of `ids` in `subjects` (one row per subject; -1 for an id not there or missing): each
    distinct id looked up once (hashing every record's text costs more than the derivation that reads it)."""
    codes, distinct = pd.factorize(ids)
    rows = np.r_[pd.Index(subjects).get_indexer(distinct), -1]
    return rows[codes]


# the ADRS parameter an ADTTE date comes from, by ADTTE parameter, for events (CNSR 0) and censorings (CNSR 1)
SOURCE_PARAM = {"PFS": "PD", "TTP": "PD", "DOR": "PD", "TTFR": "RSP", "TTBR": "CBOR"}


def derive_srcseq(adtte: pd.DataFrame, adrs: pd.DataFrame) -> pd.Series:
    """SRCSEQ of each ADTTE record whose SRCDOM is ADRS: the ASEQ of the ADRS record holding its date (the
    confirmed PD / response / best response record for events, the OVR assessment for censorings)."""
    out = pd.Series(np.nan, index=adtte.index)
    if "ASEQ" not in adrs.columns or "SRCDOM" not in adtte.columns:
        return out
    m = adtte["SRCDOM"] == "ADRS"
    if not m.any():
        return out
    want = np.where(adtte.loc[m, "CNSR"].to_numpy() == 0, adtte.loc[m, "PARAMCD"].map(SOURCE_PARAM).fillna("OVR").to_numpy(), "OVR")
    # each (subject, parameter, date) as one number: the first ADRS record of each, found by a binary search (a
    # merge on the three columns cost more than the derivation)
    r_sub, subjects = pd.factorize(adrs["USUBJID"])
    q_sub = subject_rows(adtte.loc[m, "USUBJID"], pd.Series(np.asarray(subjects, dtype=object)))
    r_par, params = pd.factorize(adrs["PARAMCD"])
    q_par = pd.Index(params).get_indexer(want)
    r_t = pd.to_datetime(adrs["ADT"]).to_numpy(dtype="datetime64[ns]").view(np.int64)
    q_t = pd.to_datetime(adtte.loc[m, "ADT"]).to_numpy(dtype="datetime64[ns]").view(np.int64)
    times, t = np.unique(np.r_[r_t, q_t], return_inverse=True)
    key = lambda sub, par, tk: (sub * (len(params) + 1) + par) * len(times) + tk  # noqa: E731
    held = np.flatnonzero((r_sub >= 0) & (r_par >= 0))
    keys, first = np.unique(key(r_sub[held], r_par[held], t[: len(r_t)][held]), return_index=True)
    q = key(q_sub, q_par, t[len(r_t):])
    at = np.minimum(np.searchsorted(keys, q), max(len(keys) - 1, 0))
    found = (q_sub >= 0) & (q_par >= 0) & (keys[at] == q) if len(keys) else np.zeros(len(q), dtype=bool)
    aseq = adrs["ASEQ"].to_numpy(dtype=float)
    out[adtte.index[m]] = np.where(found, aseq[held[first[at]]] if len(keys) else np.nan, np.nan)
    return out
