"""Confirmation of per-assessment IMWG responses and the per-subject summary (BOR, response and PD days).

Works on unconfirmed per-assessment responses, whether computed by `ikema.response.engine` from lab
values or read as labels (e.g. SDTM RS OVRLRESP as in pharmaversesdtm `rs_onco_imwg`).

Confirmation (Durie 2006: "two consecutive assessments made at any time before the institution of any
new therapy"; table of the admiralonco IMWG vignette), per assessment i with response R_i, where the
"next" assessment j is the next one of the subject whose response is not NE (NE assessments are skipped):

  R_i in MR..sCR, R_j in MR..sCR, day_j <= new-therapy day   -> min(R_i, R_j)   (confirmed at day_i)
  R_i in MR..sCR otherwise (R_j SD/PD, no j, j after new therapy) -> SD
  R_i = SD                                                   -> SD (needs no confirmation)
  R_i = PD from imaging (new lesion, plasmacytoma) or marrow  -> PD (needs no confirmation)
  R_i = PD biochemical, R_j = PD (any day, also after new therapy) -> PD
  R_i = PD biochemical, no j and the subject died on/after day_i   -> PD (death confirms)
  R_i = PD biochemical otherwise                             -> NE (unconfirmed progression)
  R_i = NE                                                   -> NE

CONFIRMED is that category at assessment i; the date of a confirmed response or progression is the day of
its first assessment (day_i). Unlike admiralonco's COVR, CONFIRMED is not carried forward as a running
maximum; the summary takes the maximum itself.

Summary per subject (BOR window: assessments on or before the first new-therapy day and on or before the
first confirmed PD):
  BOR            best CONFIRMED in the window, order sCR > CR > VGPR > PR > MR > SD > PD > NE; NE if none
  FIRST_RESP_DY  first day in the window with CONFIRMED PR or better
  BEST_RESP_DY   first day in the window with CONFIRMED equal to BOR (empty when BOR is NE)
  PD_DY          first day with CONFIRMED PD (all assessments, also after new therapy: the endpoint
                 derivations decide what a PD after new therapy means)
  MRDNEG         Y if an MRD result after day 1 and on or before the new-therapy day is NEGATIVE, else N
                 (no MRD assessment counts as not negative: ITT denominators)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Response codes: larger is better; PD and NE below SD so that max() gives the best overall response.
NE, PD, SD, MR, PR, VGPR, CR, SCR = -1, 0, 1, 2, 3, 4, 5, 6
LABELS: dict[int, str] = {NE: "NE", PD: "PD", SD: "SD", MR: "MR", PR: "PR", VGPR: "VGPR", CR: "CR", SCR: "sCR"}
CODES: dict[str, int] = {v: k for k, v in LABELS.items()}
RESPONSE_ORDER = ("sCR", "CR", "VGPR", "PR", "MR", "SD", "PD", "NE")

PD_IMAGING, PD_MARROW, PD_BIOCHEMICAL, PD_DEATH = "IMAGING", "MARROW", "BIOCHEMICAL", "DEATH"


def labels_of(codes: np.ndarray) -> np.ndarray:
    """Response labels (object array) of integer response codes."""
    table = np.array([LABELS[c] for c in range(NE, SCR + 1)], dtype=object)
    return table[np.asarray(codes, dtype=np.int64) - NE]


def confirm_codes(
    subj: np.ndarray,
    ady: np.ndarray,
    resp: np.ndarray,
    pd_unconfirmable: np.ndarray,
    newth_dy: np.ndarray,
    death_dy: np.ndarray,
) -> np.ndarray:
    """Confirmed response code of each assessment; arrays are sorted by subject then day.

    `pd_unconfirmable` marks PD that needs no confirmation (imaging or marrow); `newth_dy` and `death_dy`
    are per assessment (the subject's value; +inf / NaN when none).
    """
    n = len(resp)
    ev = np.flatnonzero(resp != NE)
    nxt = np.full(n, -1, dtype=np.int64)
    if ev.size > 1:
        same = subj[ev[1:]] == subj[ev[:-1]]
        nxt[ev[:-1]] = np.where(same, ev[1:], -1)
    has_next = nxt >= 0
    r_next = np.where(has_next, resp[np.where(has_next, nxt, 0)], NE)
    d_next = np.where(has_next, ady[np.where(has_next, nxt, 0)], np.iinfo(np.int64).max)

    conf = np.full(n, NE, dtype=np.int64)
    is_resp = resp >= MR
    ok = is_resp & has_next & (r_next >= MR) & (d_next <= newth_dy)
    conf[is_resp] = SD
    conf[ok] = np.minimum(resp[ok], r_next[ok])
    conf[resp == SD] = SD
    is_pd = resp == PD
    died_after = ~np.isnan(death_dy) & (death_dy >= ady)
    pd_ok = is_pd & (pd_unconfirmable | (has_next & (r_next == PD)) | (~has_next & died_after))
    conf[pd_ok] = PD
    return conf


def summarize_codes(
    subjects: np.ndarray,
    subj: np.ndarray,
    ady: np.ndarray,
    conf: np.ndarray,
    newth_dy_by_subject: np.ndarray,
    mrd_subj: np.ndarray,
    mrd_ady: np.ndarray,
    mrd_negative: np.ndarray,
) -> pd.DataFrame:
    """Per-subject BOR, FIRST_RESP_DY, BEST_RESP_DY, PD_DY, MRDNEG from confirmed codes (see module doc)."""
    nsub = len(subjects)
    big = np.iinfo(np.int64).max
    newth = newth_dy_by_subject[subj]
    pd_day = np.full(nsub, big, dtype=np.int64)
    is_pd = conf == PD
    np.minimum.at(pd_day, subj[is_pd], ady[is_pd])
    win = (ady <= newth) & (ady <= pd_day[subj])
    bor = np.full(nsub, NE, dtype=np.int64)
    np.maximum.at(bor, subj[win], conf[win])
    first_resp = np.full(nsub, big, dtype=np.int64)
    sel = win & (conf >= PR)
    np.minimum.at(first_resp, subj[sel], ady[sel])
    best_day = np.full(nsub, big, dtype=np.int64)
    sel = win & (conf == bor[subj]) & (conf != NE)
    np.minimum.at(best_day, subj[sel], ady[sel])
    mrdneg = np.zeros(nsub, dtype=bool)
    sel = mrd_negative & (mrd_ady > 1) & (mrd_ady <= newth_dy_by_subject[mrd_subj])
    mrdneg[mrd_subj[sel]] = True

    def days(x: np.ndarray) -> pd.Series:
        return pd.Series(np.where(x == big, pd.NA, x), dtype="Int64")

    return pd.DataFrame(
        {
            "USUBJID": pd.Series(subjects, dtype=object),
            "BOR": labels_of(bor),
            "FIRST_RESP_DY": days(first_resp),
            "BEST_RESP_DY": days(best_day),
            "PD_DY": days(pd_day),
            "MRDNEG": np.where(mrdneg, "Y", "N").astype(object),
        }
    )


def confirm_labels(
    responses: pd.DataFrame,
    subjects: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Confirm unconfirmed response labels and summarize; returns (responses, summary) like `evaluate`.

    `responses` columns: USUBJID, ADY (int), RESP (sCR|CR|VGPR|PR|MR|SD|PD|NE) and optionally PDSRC
    (IMAGING | MARROW | DEATH (death due to PD before another assessment) | BIOCHEMICAL; empty or
    missing = BIOCHEMICAL). Only BIOCHEMICAL progression needs confirmation. `subjects` optional columns:
    USUBJID, NEWTHDY (first day of further anti-myeloma therapy), DTHDY (day of death), MRDNEGDY (a day
    with a negative MRD result).
    """
    from ikema.errors import input_error

    for col in ("USUBJID", "ADY", "RESP"):
        if col not in responses.columns:
            raise input_error("responses", "(header)", col, list(responses.columns), "columns USUBJID, ADY, RESP")
    r = responses.reset_index(drop=True)
    resp_txt = r["RESP"].astype(object).to_numpy()
    bad = ~np.isin(resp_txt, np.array(list(CODES), dtype=object))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise input_error("responses", i, "RESP", resp_txt[i], f"one of {', '.join(RESPONSE_ORDER)}")
    ady_col = pd.to_numeric(r["ADY"], errors="coerce")
    if ady_col.isna().any() or (ady_col != np.floor(ady_col)).any():
        i = int(np.flatnonzero((ady_col.isna() | (ady_col != np.floor(ady_col))).to_numpy())[0])
        raise input_error("responses", i, "ADY", r["ADY"].iloc[i], "an integer study day")
    all_ids = list(r["USUBJID"].astype(str))
    if subjects is not None:
        all_ids += list(subjects["USUBJID"].astype(str))
    names = np.array(sorted(set(all_ids)), dtype=object)
    index = {s: k for k, s in enumerate(names)}
    subj = np.array([index[s] for s in r["USUBJID"].astype(str)], dtype=np.int64)
    ady = ady_col.to_numpy(dtype=np.int64)
    order = np.lexsort((ady, subj))
    subj, ady = subj[order], ady[order]
    codes = np.array([CODES[t] for t in resp_txt], dtype=np.int64)[order]
    src = (
        r["PDSRC"].astype(object).where(r["PDSRC"].notna(), "").to_numpy()[order]
        if "PDSRC" in r.columns
        else np.full(len(r), "", dtype=object)
    )
    pd_unconf = np.isin(src, np.array([PD_IMAGING, PD_MARROW, PD_DEATH], dtype=object))
    newth_s, death_s = _subject_days(subjects, index, len(names))
    conf = confirm_codes(subj, ady, codes, pd_unconf, newth_s[subj], death_s[subj])
    mrd_s = np.zeros(0, dtype=np.int64)
    mrd_d = np.zeros(0, dtype=np.int64)
    if subjects is not None and "MRDNEGDY" in subjects.columns:
        m = subjects[subjects["MRDNEGDY"].notna()]
        mrd_s = np.array([index[str(s)] for s in m["USUBJID"]], dtype=np.int64)
        mrd_d = m["MRDNEGDY"].to_numpy(dtype=np.int64)
    summary = summarize_codes(names, subj, ady, conf, newth_s, mrd_s, mrd_d, np.ones(len(mrd_s), dtype=bool))
    out = pd.DataFrame(
        {
            "USUBJID": names[subj],
            "ADY": ady,
            "RESP": labels_of(codes),
            "CONFIRMED": labels_of(conf),
            "PDSRC": np.where(codes == PD, np.where(src == "", PD_BIOCHEMICAL, src), ""),
        }
    )
    return out, summary


def _subject_days(subjects: pd.DataFrame | None, index: dict, nsub: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-subject new-therapy day (+inf if none) and death day (NaN if none)."""
    newth = np.full(nsub, np.inf)
    death = np.full(nsub, np.nan)
    if subjects is None:
        return newth, death
    ids = subjects["USUBJID"].astype(str).to_numpy()
    k = np.array([index[s] for s in ids], dtype=np.int64) if len(ids) else np.zeros(0, dtype=np.int64)
    if "NEWTHDY" in subjects.columns:
        v = _day_column(subjects, "NEWTHDY")
        newth[k] = np.where(np.isnan(v), np.inf, v)
    if "DTHDY" in subjects.columns:
        death[k] = _day_column(subjects, "DTHDY")
    return newth, death


def _day_column(subjects: pd.DataFrame, col: str) -> np.ndarray:
    """Study days as float (NaN = none); text or a non-integer day raises naming the row."""
    from ikema.errors import input_error

    raw = subjects[col]
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):  # numbers: no text to read
        arr = raw.to_numpy(dtype=float, na_value=np.nan)
        bad = ~np.isnan(arr) & (arr != np.floor(arr))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise input_error("subjects", f"index {subjects.index[i]}", col, raw.iloc[i], "an integer study day or empty")
        return arr
    v = pd.to_numeric(raw.astype(object).where(raw.notna() & (raw.astype(str).str.strip() != ""), np.nan), errors="coerce")
    arr = np.array(v.to_numpy(dtype=float), dtype=float)
    bad = (raw.notna() & (raw.astype(str).str.strip() != "")).to_numpy() & (np.isnan(arr) | (arr != np.floor(arr)))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise input_error("subjects", f"index {subjects.index[i]}", col, raw.iloc[i], "an integer study day or empty")
    return arr
