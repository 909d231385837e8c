"""Efficacy analyses of the SAP on ADaM data: time-to-event (KM, stratified log-rank, stratified Cox) and response (CP, CMH).

Results follow the `ikema analyze` results.json schema: {"parameters": {PARAMCD: {...}}, ...}; other
analyses (safety, PK, QoL, simulation summaries) add their own top-level sections to the same dict.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ikema.errors import InputError
from ikema.errors import input_error as _input_error
from ikema.stats import clopper_pearson, cmh, coxph, kaplan_meier, logrank, rate_difference
from ikema.stats._checks import StatsInputError

ARM_VAR = "TRT01P"
STRATA_PATTERN = re.compile(r"^STRAT\d+R$")
# arm names that mark a comparator when the reference arm is not given (no trial fact: generic trial vocabulary)
CONTROL_MARKERS = ("control", "placebo", "standard", "observation", "reference", "comparator", "standard of care", "soc")


def input_error(file: str, record: object, field: str, value: object, expected: str) -> InputError:
    """input_error with numpy scalars shown as plain Python values."""
    value = value.item() if isinstance(value, np.generic) else value
    return _input_error(file, record, field, value, expected)


def strata_columns(adsl: pd.DataFrame, strata: Sequence[str] | None = None) -> list[str]:
    """Stratification columns: those given (checked against ADSL), else every STRATnR column of ADSL."""
    if strata is None:
        return sorted((c for c in adsl.columns if STRATA_PATTERN.match(str(c))), key=lambda c: int(c[5:-1]))
    cols = [c for c in strata if c]
    missing = [c for c in cols if c not in adsl.columns]
    if missing:
        raise InputError(f"ADSL: stratification column(s) {missing} not found; ADSL has {list(adsl.columns)}")
    return cols


def resolve_arms(arms: Sequence[str], reference_arm: str | None = None) -> tuple[str, list[str]]:
    """The reference arm and the other (experimental) arms; an unnamed reference is taken from control-like names."""
    arms = sorted(arms)
    if len(arms) < 2:
        raise InputError(f"ADSL: field {ARM_VAR}: arms {arms}; expected at least two arms with subjects")
    if reference_arm is not None:
        if reference_arm not in arms:
            raise InputError(f"--reference-arm: got {reference_arm!r}, expected one of the arms {arms}")
        return reference_arm, [a for a in arms if a != reference_arm]
    hits = [a for a in arms if any(re.search(rf"\b{re.escape(m)}\b", a.lower()) for m in CONTROL_MARKERS)]
    if len(hits) == 1:
        return hits[0], [a for a in arms if a != hits[0]]
    raise InputError(f"ADSL: field {ARM_VAR}: cannot tell the reference arm among {arms} (control-like names: {hits}); "
                     f"expected --reference-arm NAME")


def _subjects(adsl: pd.DataFrame, strata: list[str], arm_var: str) -> pd.DataFrame:
    for col in ("USUBJID", arm_var):
        if col not in adsl.columns:
            raise InputError(f"ADSL: column {col} missing; expected USUBJID, {arm_var} and STRATnR columns")
    s = adsl[["USUBJID", arm_var] + strata].copy()
    s = s[s[arm_var].notna() & (s[arm_var].astype(str).str.strip() != "")]
    dup = s["USUBJID"].duplicated()
    if dup.any():
        i = s.index[dup.to_numpy()][0]
        raise input_error("ADSL", i, "USUBJID", s.loc[i, "USUBJID"], "one record per subject")
    for c in strata:
        bad = s[c].isna() | (s[c].astype(str).str.strip() == "")
        if bad.any():
            i = s.index[bad.to_numpy()][0]
            raise input_error("ADSL", f"{i} (USUBJID {s.loc[i, 'USUBJID']})", c, s.loc[i, c], "a stratum value")
    s["_STRATUM"] = s[strata].astype(str).agg(" / ".join, axis=1) if strata else "all"
    s["_ARM"] = s[arm_var].astype(str)
    return s


def _num(v: float | None) -> float | None:
    return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else float(v)


def _join(df: pd.DataFrame, subj: pd.DataFrame, name: str, p: str) -> pd.DataFrame:
    d = df.drop(columns=[c for c in df.columns if c in subj.columns and c != "USUBJID"])
    dup = d["USUBJID"].duplicated()
    if dup.any():
        i = d.index[dup.to_numpy()][0]
        raise input_error(name, f"{i} (PARAMCD {p})", "USUBJID", d.loc[i, "USUBJID"],
                          "one record per subject and parameter (filter ANL01FL first)")
    unknown = ~d["USUBJID"].isin(subj["USUBJID"])
    if unknown.any():
        i = d.index[unknown.to_numpy()][0]
        raise input_error(name, f"{i} (PARAMCD {p})", "USUBJID", d.loc[i, "USUBJID"], f"a subject of ADSL with {ARM_VAR}")
    return d.merge(subj, on="USUBJID", how="inner")


def _tte_rows(d: pd.DataFrame, p: str) -> tuple[np.ndarray, np.ndarray]:
    aval = pd.to_numeric(d["AVAL"], errors="coerce")
    bad = aval.isna() | (aval < 0)
    if bad.any():
        i = d.index[bad.to_numpy()][0]
        raise input_error("ADTTE", f"{i} (USUBJID {d.loc[i, 'USUBJID']}, PARAMCD {p})", "AVAL", d.loc[i, "AVAL"],
                          "a non-missing time >= 0 (days)")
    cnsr = pd.to_numeric(d["CNSR"], errors="coerce")
    bad = ~cnsr.isin([0, 1])
    if bad.any():
        i = d.index[bad.to_numpy()][0]
        raise input_error("ADTTE", f"{i} (USUBJID {d.loc[i, 'USUBJID']}, PARAMCD {p})", "CNSR", d.loc[i, "CNSR"],
                          "0 (event) or 1 (censored)")
    return aval.to_numpy(float), (1 - cnsr.to_numpy()).astype(np.int8)


def _stats_call(where: str, fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except StatsInputError as exc:
        raise InputError(f"{where}: {exc}") from None


def analyze_tte_parameter(d: pd.DataFrame, paramcd: str, reference: str, others: list[str], strata: list[str]) -> dict:
    """Results of one time-to-event parameter: KM per arm, (stratified) log-rank and Cox HR versus the reference."""
    t, e = _tte_rows(d, paramcd)
    arm = d["_ARM"].to_numpy()
    stratum = d["_STRATUM"].to_numpy() if strata else None
    where = f"ADTTE PARAMCD {paramcd}"
    arms = {}
    for a in [reference] + others:
        m = arm == a
        if not m.any():
            raise InputError(f"{where}: arm {a!r} has no subjects; expected every arm of ADSL represented")
        km = kaplan_meier(t[m], e[m])
        arms[a] = {"n": int(km.n), "events": int(km.events), "median": _num(km.median),
                   "median_lcl": _num(km.median_lcl), "median_ucl": _num(km.median_ucl)}
    comparisons = {}
    for a in others:
        m = (arm == a) | (arm == reference)
        x = (arm[m] == a).astype(float)
        grp = np.where(arm[m] == a, 1, 0)
        st = stratum[m] if stratum is not None else None
        lr = _stats_call(where, logrank, t[m], e[m], grp, st)
        lru = _stats_call(where, logrank, t[m], e[m], grp)
        fit = _stats_call(where, coxph, t[m], e[m], x, st, ties="efron")
        fitu = _stats_call(where, coxph, t[m], e[m], x, None, ties="efron")
        comparisons[a] = {
            "hazard_ratio": float(fit.hazard_ratio[0]), "hazard_ratio_ci": [float(fit.hr_lcl[0]), float(fit.hr_ucl[0])],
            "cox_score_p": fit.score_p, "cox_lr_p": fit.lr_p, "cox_wald_p": fit.wald_p, "cox_converged": fit.converged,
            "logrank_chisq": lr.chisq, "logrank_p": lr.p, "logrank_z": lr.z,
            "hazard_ratio_unstratified": float(fitu.hazard_ratio[0]),
            "hazard_ratio_unstratified_ci": [float(fitu.hr_lcl[0]), float(fitu.hr_ucl[0])],
            "logrank_unstratified_chisq": lru.chisq, "logrank_unstratified_p": lru.p,
        }
    out = {"kind": "tte", "reference_arm": reference, "experimental_arm": others[0] if len(others) == 1 else None,
           "arms": arms, "strata": list(strata),
           "method": "KM with log-log 95% CI, median CI by Brookmeyer-Crowley; Cox PH (Efron ties) and log-rank"
                     + (f", stratified by {' x '.join(strata)}" if strata else ", unstratified"),
           "time_unit": "days"}
    if len(others) == 1:
        out.update(comparisons[others[0]])
    else:
        lr = _stats_call(where, logrank, t, e, arm, stratum)
        out.update({"hazard_ratio": None, "hazard_ratio_ci": [None, None], "logrank_chisq": lr.chisq, "logrank_p": lr.p,
                    "logrank_df": lr.df, "comparisons": comparisons})
    return out


def analyze_tte(adsl: pd.DataFrame, adtte: pd.DataFrame, reference_arm: str | None = None,
                strata: Sequence[str] | None = None, arm_var: str = ARM_VAR) -> dict[str, dict]:
    """Time-to-event results per ADTTE parameter (schema of results.json 'parameters')."""
    cols = strata_columns(adsl, strata)
    subj = _subjects(adsl, cols, arm_var)
    reference, others = resolve_arms(subj["_ARM"].unique().tolist(), reference_arm)
    for c in ("USUBJID", "PARAMCD", "AVAL", "CNSR"):
        if c not in adtte.columns:
            raise InputError(f"ADTTE: column {c} missing; expected USUBJID, PARAMCD, AVAL, CNSR")
    out = {}
    for p in pd.unique(adtte["PARAMCD"].dropna()):
        d = _join(adtte[adtte["PARAMCD"] == p], subj, "ADTTE", p)
        res = analyze_tte_parameter(d, str(p), reference, others, cols)
        if "PARAM" in adtte.columns:
            res["param"] = str(adtte.loc[adtte["PARAMCD"] == p, "PARAM"].iloc[0])
        out[str(p)] = res
    return out


def _responders(d: pd.DataFrame, p: str) -> np.ndarray | None:
    def filled(c: str) -> pd.Series:
        v = d[c].astype(object)
        return v.where(v.notna() & (v.astype(str).str.strip() != ""), None)

    col = "RESPFL" if "RESPFL" in d.columns and filled("RESPFL").notna().any() else None
    if col is None and "AVALC" in d.columns and d["AVALC"].isin(["Y", "N"]).all():
        col = "AVALC"
    if col is None:
        return None
    v = filled(col)
    bad = ~v.isin(["Y", "N"])
    if bad.any():
        i = d.index[bad.to_numpy()][0]
        raise input_error("ADRS", f"{i} (USUBJID {d.loc[i, 'USUBJID']}, PARAMCD {p})", col, d.loc[i, col],
                          "Y (responder) or N")
    return (v == "Y").to_numpy().astype(int)


def analyze_response_parameter(d: pd.DataFrame, y: np.ndarray, paramcd: str, reference: str, others: list[str],
                               strata: list[str]) -> dict:
    """Results of one response parameter: rates with Clopper-Pearson CIs, CMH test, MH common OR, rate difference."""
    where = f"ADRS PARAMCD {paramcd}"
    arm = d["_ARM"].to_numpy()
    stratum = d["_STRATUM"].to_numpy() if strata else None
    arms = {}
    for a in [reference] + others:
        m = arm == a
        n, r = int(m.sum()), int(y[m].sum())
        if n == 0:
            raise InputError(f"{where}: arm {a!r} has no subjects; expected every arm of ADSL represented")
        lo, hi = clopper_pearson(r, n)
        arms[a] = {"n": n, "responders": r, "rate": r / n, "cp_lcl": lo, "cp_ucl": hi}
    comparisons = {}
    for a in others:
        m = (arm == a) | (arm == reference)
        st = stratum[m] if stratum is not None else None
        # R mantelhaen.test as in the reference results: reference arm in the table's first row, responders first
        rev = _stats_call(where, cmh, y[m], arm[m], st, reference=a, correct=False)
        fwd = _stats_call(where, cmh, y[m], arm[m], st, reference=reference, correct=False)
        corr = _stats_call(where, cmh, y[m], arm[m], st, reference=reference, correct=True)
        rd = _stats_call(where, rate_difference, y[m], arm[m], st, reference=reference)
        comparisons[a] = {
            "cmh_chisq": rev.chisq, "cmh_p": rev.p, "cmh_correct": False,
            "cmh_chisq_corrected": corr.chisq, "cmh_p_corrected": corr.p,
            "mh_common_odds_ratio": rev.common_odds_ratio, "mh_common_odds_ratio_ci": [rev.or_lcl, rev.or_ucl],
            "mh_common_odds_ratio_orientation": f"odds of response in {reference} relative to {a} "
                                                "(R mantelhaen.test with the reference arm first)",
            "odds_ratio_experimental_vs_reference": fwd.common_odds_ratio,
            "odds_ratio_experimental_vs_reference_ci": [fwd.or_lcl, fwd.or_ucl],
            "rate_difference": rd.difference, "rate_difference_ci": [rd.lcl, rd.ucl], "rate_difference_method": rd.method,
        }
    out = {"kind": "response", "reference_arm": reference, "experimental_arm": others[0] if len(others) == 1 else None,
           "arms": arms, "strata": list(strata)}
    if len(others) == 1:
        out.update(comparisons[others[0]])
    else:
        out.update({"cmh_chisq": None, "cmh_p": None, "mh_common_odds_ratio": None,
                    "mh_common_odds_ratio_ci": [None, None], "comparisons": comparisons})
    return out


def analyze_response(adsl: pd.DataFrame, adrs: pd.DataFrame, reference_arm: str | None = None,
                     strata: Sequence[str] | None = None, arm_var: str = ARM_VAR) -> dict[str, dict]:
    """Response results per ADRS parameter carrying a responder flag (RESPFL, or AVALC Y/N)."""
    cols = strata_columns(adsl, strata)
    subj = _subjects(adsl, cols, arm_var)
    reference, others = resolve_arms(subj["_ARM"].unique().tolist(), reference_arm)
    for c in ("USUBJID", "PARAMCD"):
        if c not in adrs.columns:
            raise InputError(f"ADRS: column {c} missing; expected USUBJID, PARAMCD, RESPFL (or AVALC Y/N)")
    rs = adrs
    if "ANL01FL" in rs.columns and (rs["ANL01FL"] == "Y").any():
        rs = rs[rs["ANL01FL"] == "Y"]
    out = {}
    for p in pd.unique(rs["PARAMCD"].dropna()):
        d = _join(rs[rs["PARAMCD"] == p], subj, "ADRS", p)
        y = _responders(d, str(p))
        if y is None:
            continue  # a per-visit or non-binary parameter: not a response rate
        res = analyze_response_parameter(d, y, str(p), reference, others, cols)
        if "PARAM" in rs.columns:
            res["param"] = str(rs.loc[rs["PARAMCD"] == p, "PARAM"].iloc[0])
        key = str(p)
        if key == "BOR" and "ORR" not in set(rs["PARAMCD"]):
            key = "ORR"  # the responder rate of best overall response is the overall response rate
            res["source_paramcd"] = "BOR"
        out[key] = res
    return out


def analyze_adam(datasets: Mapping[str, pd.DataFrame] | None = None, *, adsl: pd.DataFrame | None = None,
                 adtte: pd.DataFrame | None = None, adrs: pd.DataFrame | None = None, reference_arm: str | None = None,
                 strata: Sequence[str] | None = None, arm_var: str = ARM_VAR) -> dict:
    """All efficacy results for the given ADaM datasets: {"parameters": {...}, "reference_arm", "strata", ...}."""
    ds = {str(k).upper(): v for k, v in (datasets or {}).items()}
    adsl = adsl if adsl is not None else ds.get("ADSL")
    adtte = adtte if adtte is not None else ds.get("ADTTE")
    adrs = adrs if adrs is not None else ds.get("ADRS")
    if adsl is None:
        raise InputError("ADSL: not given; expected ADSL plus ADTTE and/or ADRS")
    if adtte is None and adrs is None:
        raise InputError("ADTTE/ADRS: neither given; expected ADSL plus ADTTE and/or ADRS")
    cols = strata_columns(adsl, strata)
    subj = _subjects(adsl, cols, arm_var)
    reference, others = resolve_arms(subj["_ARM"].unique().tolist(), reference_arm)
    params: dict[str, dict] = {}
    if adtte is not None:
        params.update(analyze_tte(adsl, adtte, reference, cols, arm_var))
    if adrs is not None:
        params.update(analyze_response(adsl, adrs, reference, cols, arm_var))
    return {"parameters": params, "reference_arm": reference, "experimental_arms": others, "arm_var": arm_var,
            "strata": cols, "time_unit": "days"}
