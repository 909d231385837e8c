"""IMWG 2016 response at each assessment from serial lab, marrow and imaging results (vectorized).

`evaluate(assessments)` takes the long table of `ikema.response.contract` and returns the unconfirmed
response of every post-baseline assessment day (RESP), its confirmed category (CONFIRMED, see
`ikema.response.confirm`) and a per-subject summary. All thresholds come from `Criteria` (one table with
sources in `ikema.response.criteria`).

Rules applied (Kumar 2016; Rajkumar 2011; Durie 2006), with every case the criteria leave open decided here
once (tests in tests/response/ name the decision they pin):

Baseline and measurable disease
  D1  Baseline of each PARAM is its last result on or before day 1; assessments are the distinct days > 1.
  D2  Serum measurable: SMPROT >= serum_measurable (the protocol's 0.5 g/dL for IKEMA; IMWG 1 g/dL).
      Urine measurable: UMPROT >= 200 mg/24 h. FLC-measurable only when neither is: involved FLC
      >= 100 mg/L with an abnormal kappa/lambda ratio. Involved chain = kappa if baseline ratio > 1.
      Marrow-only (none measurable): PR by BMPC only if baseline BMPC >= 30 %.
  D3  dFLC = involved - uninvolved (signed, involved chain fixed at baseline).

Response at one assessment (percent changes from baseline)
  D4  Relative criteria apply to each component measurable at baseline ("lowest level" rule: the
      response is the minimum over measurable components). A component not measurable at baseline is
      not followed relatively; only the urine absolute limits apply to serum-measurable patients whose
      urine was not measurable: latest known urine (this day, else the last earlier result including
      baseline) < 100 allows VGPR, < 200 allows PR, >= 200 caps at MR; no urine result at all caps at PR.
  D5  A measurable component missing on the day while another is present: the response from the present
      ones is downgraded one level (floor SD) ("critical data missing -> next lower level"). All
      measurable components missing: NE (unless PD or CR criteria decide).
  D6  Marrow (BMPC, CLONALPC) and imaging (PLASMA) results need no confirmation and are carried forward
      from the last post-baseline result (baseline is never carried): CR needs a post-baseline BMPC
      < 5 %; sCR a post-baseline CLONALPC NEGATIVE and a normal FLC ratio on the day.
  D7  CR = serum IFE NEGATIVE and urine IFE NEGATIVE on the day, BMPC < 5 %, no plasmacytoma (baseline
      SPD 0/absent, or carried SPD = 0), and for FLC-measurable disease a normal ratio. CR does not look
      at SPEP (IFE is the more sensitive test, and a drug band may remain on SPEP). A missing IFE or
      marrow means no CR (edge cases 13, 14); the M-protein level then decides (VGPR at most).
  D8  Plasmacytoma present at baseline: carried SPD reduction >= 50 % allows PR/VGPR, 25-49 % caps at
      MR, < 25 % caps at SD; not re-imaged after baseline: downgrade one level (edge case 15).
  D9  VGPR's "detectable by IFE but not by electrophoresis" needs no separate rule: SPEP 0 and urine 0 are
      a 100 % reduction and < 100 mg.
  D10 MR applies to serum/urine disease only (no FLC-only or marrow-only MR).

Progression (from the nadir; nadir includes baseline)
  D11 nadir_mode "all" (default): nadir = lowest of baseline and all earlier post-baseline values.
      nadir_mode "confirmed": an earlier value counts as max(value, the next value of that PARAM)
      ("lowest confirmed response value"); a value with no later result does not count.
  D12 Serum: increase >= 0.5 g/dL and >= 25 % of nadir, or >= 1 g/dL when the nadir >= 5 g/dL. Urine:
      >= 200 mg/24 h and >= 25 %. Both apply whenever followed (also when not measurable at baseline, so
      a CR patient with SPEP 0 progresses once the spike is back at >= 0.5 g/dL). dFLC (FLC-measurable
      only): > 100 mg/L and >= 25 %. BMPC (marrow-only disease): >= 10 points and >= 25 %.
  D13 Imaging PD: NEWLES = Y, or SPD >= 1.5 x nadir SPD (nadir > 0), or SPD > 0 after a nadir of 0 (a new
      plasmacytoma). SPD needs an earlier result to compare. Imaging and marrow PD need no confirmation;
      biochemical PD needs the next non-NE assessment to be PD (or death before any, with `subjects`).
  D14 Reappearance of IFE positivity in CR is relapse from CR, not PD (the level drops per the criteria).

  D16 Criteria.ruleset "2011" (switchable profile): marrow PD = 25 % increase with the new BMPC >= 10 %
      (2016: absolute increase >= 10 points); the >= 1 g/dL serum rule applies when the baseline M-component
      is >= 5 g/dL (2016: when the nadir is). Response categories are the same in both.

Isatuximab interference
  D15 SIFE = POSITIVE-DRUG (band only at the antibody's position): `interference="assessed"` counts it
      POSITIVE (CR impossible; VGPR at most); `interference="adjusted"` counts it NEGATIVE.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np
import pandas as pd

from ikema.response.confirm import (
    CR,
    MR,
    NE,
    PD,
    PD_BIOCHEMICAL,
    PD_IMAGING,
    PD_MARROW,
    PR,
    SCR,
    SD,
    VGPR,
    _subject_days,
    confirm_codes,
    labels_of,
    summarize_codes,
)
from ikema.response.contract import PARAMS, validate_assessments
from ikema.response.criteria import COMPARISON_TOLERANCE as TOL
from ikema.errors import input_error
from ikema.response.criteria import Criteria

Interference = Literal["assessed", "adjusted"]
_P = {p: k for k, p in enumerate(PARAMS)}
_NONE = 99  # "no constraint" level in minimum() over components


class Evaluation(NamedTuple):
    """Per-assessment responses and per-subject summary."""

    responses: pd.DataFrame
    summary: pd.DataFrame


def _ge(a: np.ndarray, b: np.ndarray | float) -> np.ndarray:
    return a >= b - TOL


def _lt(a: np.ndarray, b: np.ndarray | float) -> np.ndarray:
    return a < b - TOL


def _gt(a: np.ndarray, b: np.ndarray | float) -> np.ndarray:
    return a > b + TOL


def _reduction(base: np.ndarray, x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(base > 0, (base - x) / base, np.nan)


class _Groups:
    """Segmented (per subject) operations on arrays sorted by subject then day."""

    def __init__(self, subj: np.ndarray) -> None:
        self.subj = subj
        self.first = np.r_[True, subj[1:] != subj[:-1]] if len(subj) else np.zeros(0, dtype=bool)
        self.last = np.r_[subj[1:] != subj[:-1], True] if len(subj) else np.zeros(0, dtype=bool)

    def ffill(self, x: np.ndarray) -> np.ndarray:
        """Carry the last non-missing value forward within subject."""
        return pd.Series(x).groupby(self.subj).ffill().to_numpy(dtype=float)

    def next_value(self, x: np.ndarray) -> np.ndarray:
        """The next non-missing value after each row within subject (NaN if none)."""
        shifted = np.empty_like(x)
        shifted[:-1] = x[1:]
        shifted[self.last] = np.nan
        return pd.Series(shifted).groupby(self.subj).bfill().to_numpy(dtype=float)

    def prior_min(self, x: np.ndarray) -> np.ndarray:
        """Minimum of non-missing values strictly before each row within subject (+inf if none)."""
        v = np.where(np.isnan(x), np.inf, x)
        cm = pd.Series(v).groupby(self.subj).cummin().to_numpy(dtype=float)
        out = np.empty_like(cm)
        out[1:] = cm[:-1]
        out[self.first] = np.inf
        return out


def _nadir(g: _Groups, x: np.ndarray, base: np.ndarray, mode: str) -> np.ndarray:
    """Nadir before each assessment: lowest of baseline and earlier values (decision D11); NaN if none."""
    if mode == "confirmed":
        nxt = g.next_value(x)
        cand = np.where(np.isnan(x) | np.isnan(nxt), np.nan, np.maximum(x, nxt))
    else:
        cand = x
    m = np.fmin(g.prior_min(cand), np.where(np.isnan(base), np.inf, base))
    return np.where(np.isinf(m), np.nan, m)


def _pd_increase(x, nadir, rel, abs_min, strict=False):
    d = x - nadir
    absolute = _gt(d, abs_min) if strict else _ge(d, abs_min)
    return ~np.isnan(d) & absolute & _ge(d, rel * nadir)


def _as_text(values: pd.Series) -> np.ndarray:
    """The values as Python strings (`astype(str)`), without a round trip through a text column when they are already."""
    v = values.to_numpy(dtype=object)
    return v if pd.api.types.infer_dtype(v, skipna=False) == "string" else values.astype(str).to_numpy(dtype=object)


def evaluate(
    assessments: pd.DataFrame,
    criteria: Criteria | None = None,
    *,
    subjects: pd.DataFrame | None = None,
    interference: Interference = "assessed",
    validate: bool = True,
) -> Evaluation:
    """IMWG response per assessment day and per-subject summary from a long assessments table.

    `assessments`: USUBJID, ADY, PARAM, AVAL, AVALC (see `ikema.response.contract`). `subjects`
    (optional): USUBJID plus NEWTHDY (day further anti-myeloma therapy started) and DTHDY (day of death);
    its subjects appear in the summary even without assessments. `criteria` None = `default_criteria()`.
    Returns responses (USUBJID, ADY, RESP, CONFIRMED, PDSRC) and summary (USUBJID, BOR, FIRST_RESP_DY,
    BEST_RESP_DY, PD_DY, MRDNEG, MEASDIS). For repeated calls on frames already checked, pass
    `validate_assessments(df)` with `validate=False` (halves the time).
    """
    if interference not in ("assessed", "adjusted"):
        raise ValueError(f"interference must be 'assessed' or 'adjusted', got {interference!r}")
    c = criteria if criteria is not None else default_criteria()
    a = validate_assessments(assessments, source="assessments") if validate else assessments

    if subjects is not None:
        if "USUBJID" not in subjects.columns:
            raise input_error("subjects", "(header)", "USUBJID", list(subjects.columns), "a column USUBJID")
        dup = subjects["USUBJID"].astype(str).duplicated().to_numpy()
        if dup.any():
            i = int(np.flatnonzero(dup)[0])
            raise input_error("subjects", f"index {subjects.index[i]}", "USUBJID", subjects["USUBJID"].iloc[i], "one row per subject")
    ids = _as_text(a["USUBJID"])
    extra = _as_text(subjects["USUBJID"]) if subjects is not None else np.zeros(0, object)
    # np.unique(..., return_inverse=True) by the distinct subjects: sorting a few hundred names, not every record's
    codes, distinct = pd.factorize(np.concatenate([ids, extra]))
    order = np.argsort(distinct, kind="stable")
    names, inv = distinct[order], np.argsort(order)[codes]
    subj_all = inv[: len(ids)].astype(np.int64)
    nsub, npar = len(names), len(PARAMS)
    pc, held = pd.factorize(a["PARAM"].to_numpy(dtype=object), use_na_sentinel=False)  # each distinct PARAM looked up once
    known = np.array([_P.get(x, -1) for x in held], dtype=np.int64)
    if (known < 0).any():
        raise ValueError(f"PARAM {held[np.flatnonzero(known < 0)[0]]!r} is not one of {', '.join(PARAMS)} (validate the assessments)")
    pcode = known[pc] if len(pc) else np.zeros(0, dtype=np.int64)
    ady_all = a["ADY"].to_numpy(dtype=np.int64)
    val = a["VALUE"].to_numpy(dtype=float)

    # D1 baseline: last value per (subject, PARAM) on or before day 1
    base = np.full((nsub, npar), np.nan)
    bm = ady_all <= 1
    if bm.any():
        s, p, d, v = subj_all[bm], pcode[bm], ady_all[bm], val[bm]
        o = np.lexsort((d, p, s))
        s, p, v = s[o], p[o], v[o]
        lastrow = np.r_[(s[1:] != s[:-1]) | (p[1:] != p[:-1]), True]
        base[s[lastrow], p[lastrow]] = v[lastrow]

    # post-baseline assessment days, one row per (subject, day)
    pm = ~bm
    key = (subj_all[pm] << 32) | ady_all[pm]
    ukey, vi = np.unique(key, return_inverse=True)
    subj = (ukey >> 32).astype(np.int64)
    ady = (ukey & 0xFFFFFFFF).astype(np.int64)
    W = np.full((len(ukey), npar), np.nan)
    W[vi, pcode[pm]] = val[pm]
    B = base[subj]
    g = _Groups(subj)

    def col(name: str) -> np.ndarray:
        return W[:, _P[name]]

    def bcol(name: str) -> np.ndarray:
        return B[:, _P[name]]

    S, U, K, L = col("SMPROT"), col("UMPROT"), col("FLCK"), col("FLCL")
    S0, U0, K0, L0 = bcol("SMPROT"), bcol("UMPROT"), bcol("FLCK"), bcol("FLCL")
    BM, SPD, NEW = col("BMPC"), col("PLASMA"), col("NEWLES")
    BM0, SPD0 = bcol("BMPC"), bcol("PLASMA")
    BMc, CLc, SPDc = g.ffill(BM), g.ffill(col("CLONALPC")), g.ffill(SPD)
    sife = col("SIFE")
    sife_neg = (sife == 0) | ((sife == 2) if interference == "adjusted" else False)
    uife_neg = col("UIFE") == 0

    # D2 measurable disease at baseline (per subject, broadcast to rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio0 = K0 / L0
        ratio = K / L
    normal0 = _ge(ratio0, c["flc_ratio_low"]) & ~_gt(ratio0, c["flc_ratio_high"])
    normal = _ge(ratio, c["flc_ratio_low"]) & ~_gt(ratio, c["flc_ratio_high"])
    mS = _ge(S0, c["serum_measurable"])
    mU = _ge(U0, c["urine_measurable"])
    kappa = ratio0 > 1
    inv0 = np.where(kappa, K0, L0)
    mF = ~mS & ~mU & _ge(inv0, c["flc_measurable"]) & ~np.isnan(ratio0) & ~normal0
    bonly = ~mS & ~mU & ~mF
    dF0 = np.where(kappa, K0 - L0, L0 - K0)  # D3
    dF = np.where(kappa, K - L, L - K)

    # D4/D5 M-protein level from the measurable components
    rS = _reduction(S0, S)
    lv_s = np.select(
        [_ge(rS, c["vgpr_serum_reduction"]), _ge(rS, c["pr_serum_reduction"]), _ge(rS, c["mr_serum_reduction"])],
        [VGPR, PR, MR], SD,
    )
    rU = _reduction(U0, U)
    lv_u = np.select(
        [_lt(U, c["vgpr_urine_below"]), _ge(rU, c["pr_urine_reduction"]) | _lt(U, c["pr_urine_below"]),
         _ge(rU, c["mr_urine_reduction"])],
        [VGPR, PR, MR], SD,
    )
    has_s, has_u = mS & ~np.isnan(S), mU & ~np.isnan(U)
    n_meas = mS.astype(int) + mU.astype(int)
    n_avail = has_s.astype(int) + has_u.astype(int)
    lvl_su = np.minimum(np.where(has_s, lv_s, _NONE), np.where(has_u, lv_u, _NONE))
    lvl_su = np.where(n_avail < n_meas, np.maximum(lvl_su - 1, SD), lvl_su)
    lvl_su = np.where(n_avail == 0, NE, lvl_su)
    # urine absolute limits for serum-measurable patients whose urine was not measurable (D4)
    u_last = np.where(np.isnan(U), g.ffill(U), U)
    u_last = np.where(np.isnan(u_last), U0, u_last)
    cap_u = np.select(
        [np.isnan(u_last), _lt(u_last, c["vgpr_urine_below"]), _lt(u_last, c["pr_urine_below"])],
        [PR, _NONE, PR], MR,
    )
    lvl_su = np.where(mS & ~mU & (lvl_su > NE), np.minimum(lvl_su, cap_u), lvl_su)

    rF = _reduction(dF0, dF)
    lv_f = np.select([_gt(rF, c["vgpr_flc_reduction"]), _ge(rF, c["pr_flc_reduction"])], [VGPR, PR], SD)
    lv_f = np.where(np.isnan(dF), NE, lv_f)
    rB = _reduction(BM0, BMc)
    lv_b = np.where(_ge(BM0, c["bmpc_measurable"]) & _ge(rB, c["pr_bmpc_reduction"]), PR, SD)
    lv_b = np.where(np.isnan(BMc), NE, lv_b)
    lvl = np.select([mS | mU, mF], [lvl_su, lv_f], lv_b)

    # D8 plasmacytoma gate
    has_p0 = SPD0 > 0
    rP = _reduction(SPD0, SPDc)
    cap_p = np.select(
        [_ge(rP, c["pr_plasma_reduction"]), _ge(rP, c["mr_plasma_reduction"])], [_NONE, MR], SD
    )
    gated = has_p0 & (lvl > NE)
    lvl = np.where(gated & ~np.isnan(SPDc), np.minimum(lvl, cap_p), lvl)
    lvl = np.where(gated & np.isnan(SPDc), np.maximum(lvl - 1, SD), lvl)

    # D6/D7 CR and sCR
    no_plasma = ~has_p0 | (SPDc == 0)
    cr = sife_neg & uife_neg & _lt(BMc, c["cr_bmpc_below"]) & no_plasma & (~mF | normal)
    scr = cr & normal & (CLc == 0)
    lvl = np.where(cr, np.maximum(lvl, CR), lvl)
    lvl = np.where(scr, SCR, lvl)

    # D11-D13 progression
    mode = c.nadir_mode
    rel = c["pd_relative_increase"]
    nS = _nadir(g, S, S0, mode)
    high = S0 if c.ruleset == "2011" else nS  # D16: "starting" (2011) vs "lowest" (2016) M component
    pd_s = _pd_increase(S, nS, rel, c["pd_serum_abs"]) | (
        _ge(high, c["pd_serum_high_nadir"]) & _ge(S - nS, c["pd_serum_high_nadir_abs"])
    )
    pd_u = _pd_increase(U, _nadir(g, U, U0, mode), rel, c["pd_urine_abs"])
    pd_f = mF & _pd_increase(dF, _nadir(g, dF, dF0, mode), rel, c["pd_flc_abs"], strict=True)
    nB = _nadir(g, BM, BM0, mode)
    if c.ruleset == "2011":  # D16: 25 % increase and the new value >= 10 %
        pd_b = bonly & ~np.isnan(BM - nB) & _gt(BM - nB, 0) & _ge(BM - nB, rel * nB) & _ge(BM, c["pd_bmpc_abs"])
    else:
        pd_b = bonly & _pd_increase(BM, nB, rel, c["pd_bmpc_abs"])
    nP = _nadir(g, SPD, SPD0, mode)
    pd_p = ~np.isnan(SPD) & (
        ((nP > 0) & _ge(SPD - nP, c["pd_plasma_increase"] * nP) & (SPD > nP)) | ((nP == 0) & (SPD > 0))
    )
    pd_i = pd_p | (NEW == 1)
    is_pd = pd_s | pd_u | pd_f | pd_b | pd_i
    resp = np.where(is_pd, PD, lvl).astype(np.int64)
    pdsrc = np.select([~is_pd, pd_i, pd_b], ["", PD_IMAGING, PD_MARROW], PD_BIOCHEMICAL).astype(object)

    newth_s, death_s = _subject_days(subjects, {s: k for k, s in enumerate(names)}, nsub)
    conf = confirm_codes(subj, ady, resp, is_pd & (pd_i | pd_b), newth_s[subj], death_s[subj])

    mrd = (pcode == _P["MRD"]) & pm
    summary = summarize_codes(
        names, subj, ady, conf, newth_s, subj_all[mrd], ady_all[mrd], val[mrd] == 0
    )
    summary["MEASDIS"] = measurable_disease(base, c)
    responses = pd.DataFrame(
        {"USUBJID": names[subj], "ADY": ady, "RESP": labels_of(resp), "CONFIRMED": labels_of(conf), "PDSRC": pdsrc}
    )
    return Evaluation(responses, summary)


def measurable_disease(base: np.ndarray, c: Criteria) -> np.ndarray:
    """Measurable-disease type per subject from the baseline matrix (rows subjects, columns PARAMS)."""
    S0, U0, K0, L0 = (base[:, _P[p]] for p in ("SMPROT", "UMPROT", "FLCK", "FLCL"))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio0 = K0 / L0
    normal0 = _ge(ratio0, c["flc_ratio_low"]) & ~_gt(ratio0, c["flc_ratio_high"])
    mS, mU = _ge(S0, c["serum_measurable"]), _ge(U0, c["urine_measurable"])
    inv0 = np.where(ratio0 > 1, K0, L0)
    mF = ~mS & ~mU & _ge(inv0, c["flc_measurable"]) & ~np.isnan(ratio0) & ~normal0
    return np.select([mS & mU, mS, mU, mF], ["SERUM+URINE", "SERUM", "URINE", "FLC"], "NONE").astype(object)


def default_criteria() -> Criteria:
    """IMWG 2016 with the measurable-disease thresholds of the packaged protocol (ikema.toml)."""
    return Criteria.from_protocol()
