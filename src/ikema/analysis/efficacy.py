"""Efficacy analyses on any ADaM data: time to event (KM, RMST, landmarks, stratified log-rank, joint stratified Cox
over k arms) and response (Clopper-Pearson, CMH, MH odds ratio, rate difference), in an efficacy population.

Results follow the `ikema analyze` results.json schema: {"parameters": {PARAMCD: {...}}, ...}; other
analyses (safety, PK, QoL, simulation summaries) add their own top-level sections to the same dict.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from ikema.errors import InputError
from ikema.errors import input_error as _input_error
from ikema.stats import clopper_pearson, cmh, coxph, kaplan_meier, logrank, rate_difference
from ikema.stats._checks import StatsInputError
from ikema.stats.landmark import landmarks as km_landmarks
from ikema.stats.rmst import default_tau, rmst_difference, rmst_km

ARM_VAR = "TRT01P"
STRATA_PATTERN = re.compile(r"^STRAT\d+R$")
# arm names that mark a comparator when the reference arm is not given (no trial fact: generic trial vocabulary)
CONTROL_MARKERS = ("control", "placebo", "standard", "observation", "reference", "comparator", "standard of care", "soc")
# efficacy population flags tried in turn when none is given (CDISC ADSL names: intent-to-treat, full analysis, safety)
EFFICACY_FLAGS = ("ITTFL", "FASFL", "SAFFL")


class SkipParameter(Exception):
    """A parameter that cannot be analysed (no events, one record per visit, ...): listed under `skipped`."""


class NotResponder(SkipParameter):
    """An ADRS parameter without a responder flag (per-visit response, best response category)."""


def population(adsl: pd.DataFrame, flag: str | None = None, arm_var: str = ARM_VAR) -> tuple[pd.DataFrame, dict, list[str]]:
    """ADSL rows of the analysis population (FLAG = "Y"), its description, and notes on arms left without subjects.

    flag None: the first of ITTFL, FASFL, SAFFL that ADSL has; "none": every ADSL subject with an arm."""
    if flag is not None and flag.strip().lower() == "none":
        chosen, rule = None, "every ADSL subject (no population flag applied, --population none)"
    elif flag is not None:
        chosen = flag.strip().upper()
        if chosen not in adsl.columns:
            flags = [c for c in adsl.columns if str(c).endswith("FL")]
            raise InputError(f"ADSL: population flag {chosen} not found; ADSL has the flags {flags}")
        rule = f"{chosen} = 'Y' (--population)"
    else:
        chosen = next((f for f in EFFICACY_FLAGS if f in adsl.columns), None)
        missing = EFFICACY_FLAGS if chosen is None else EFFICACY_FLAGS[:EFFICACY_FLAGS.index(chosen)]
        rule = ("every ADSL subject" if chosen is None else f"{chosen} = 'Y'") + \
            (f" (ADSL has no {' or '.join(missing)})" if missing else "")
    keep = pd.Series(True, index=adsl.index) if chosen is None else adsl[chosen].astype(str).str.strip().str.upper() == "Y"
    pop = adsl[keep]
    notes = []
    if arm_var in adsl.columns:
        before = pd.Series(adsl[arm_var].dropna().astype(str).unique())  # (the distinct arms: not a set of every record)
        after = set(pop[arm_var].dropna().astype(str).unique())
        for a in sorted(set(before[before.str.strip() != ""]) - after):
            notes.append(f"arm {a!r} has no subjects in the population"
                         + (f" ({chosen} = 'Y')" if chosen else "") + " and is left out")
    desc = {"flag": chosen, "rule": rule, "n": int(len(pop)), "n_adsl": int(len(adsl))}
    return pop, desc, notes


def is_in(values: pd.Series, of: Collection) -> np.ndarray:
    """`values.isin(of)` as a boolean array, each distinct value looked up once (pandas' isin on text held in Arrow
    makes a scalar of every element of `of`: subject ids per call cost more than the statistics)."""
    codes, distinct = pd.factorize(values, use_na_sentinel=False)
    hit = pd.Series(np.asarray(distinct, dtype=object), dtype=object).isin(of).to_numpy(dtype=bool, copy=True)
    missing = pd.isna(np.asarray(distinct, dtype=object))
    if missing.any():  # a missing value is in `of` when any of it is missing (None, NaN alike), as pandas has it
        hit[missing] = bool((of if isinstance(of, pd.Series) else pd.Series(list(of), dtype=object)).isna().any())
    return hit[codes] if len(codes) else np.zeros(0, dtype=bool)


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


def stratum_label(df: pd.DataFrame, cols: Sequence[str]) -> pd.Series:
    """The stratum of each row: the columns' text joined by " / " (column-wise: a row-wise join costs a Series per row)."""
    out = df[cols[0]].astype(str)
    for c in cols[1:]:
        out = out + " / " + df[c].astype(str)
    return out


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
    s["_STRATUM"] = stratum_label(s, strata) if strata else "all"
    s["_ARM"] = s[arm_var].astype(str)
    return s


def _num(v: float | None) -> float | None:
    return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else float(v)


def _join(df: pd.DataFrame, subj: pd.DataFrame, name: str, p: str, known: pd.Series | None = None) -> pd.DataFrame:
    """Records of one parameter joined to the analysis subjects; records of ADSL subjects outside it are dropped."""
    d = df.drop(columns=[c for c in df.columns if c in subj.columns and c != "USUBJID"])
    ids = pd.Index(subj["USUBJID"])  # unique (_subjects): each record's subject found by position
    pos = ids.get_indexer(d["USUBJID"])
    unknown = pos < 0 if known is None else ~is_in(d["USUBJID"], known)
    if unknown.any():
        i = d.index[unknown][0]
        raise input_error(name, f"{i} (PARAMCD {p})", "USUBJID", d.loc[i, "USUBJID"], f"a subject of ADSL with {ARM_VAR}")
    if (pos < 0).any():  # records of ADSL subjects outside the analysis subjects (none: no copy)
        d, pos = d[pos >= 0], pos[pos >= 0]
    dup = d["USUBJID"].duplicated()
    if dup.any():
        i = d.index[dup.to_numpy()][0]
        raise SkipParameter(f"{len(d)} records for {d['USUBJID'].nunique()} subjects (e.g. record {i}, USUBJID "
                            f"{d.loc[i, 'USUBJID']}); expected one record per subject (a per-visit parameter, or filter "
                            f"ANL01FL first)")
    # the inner join on USUBJID (unique on both sides), in the records' order: the subjects' rows taken by position
    right = subj.drop(columns="USUBJID").take(pos).reset_index(drop=True)
    return pd.concat([d.reset_index(drop=True), right], axis=1)


def _arms_present(d: pd.DataFrame, reference: str, others: list[str], where: str) -> tuple[list[str], list[str]]:
    """The experimental arms with records in this parameter, and notes on those without; skip without two arms."""
    present = set(d["_ARM"].unique())
    if reference not in present:
        raise SkipParameter(f"the reference arm {reference!r} has no records")
    kept = [a for a in others if a in present]
    if not kept:
        raise SkipParameter(f"only the reference arm {reference!r} has records")
    return kept, [f"{where}: arm {a!r} has no records and is left out" for a in others if a not in present]


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


def _stats_call(fn, *args, **kwargs):
    """A stats method's result; data it cannot analyse make the parameter skipped, with the method's message."""
    try:
        return fn(*args, **kwargs)
    except StatsInputError as exc:
        raise SkipParameter(str(exc)) from None


def _pairwise_tte(t: np.ndarray, e: np.ndarray, arm: np.ndarray, stratum: np.ndarray | None,
                  reference: str, a: str) -> dict:
    """The two-arm subset fit of arm `a` against the reference: Cox HR (stratified and not) and log-rank."""
    m = (arm == a) | (arm == reference)
    x = (arm[m] == a).astype(float)
    st = stratum[m] if stratum is not None else None
    lr = _stats_call(logrank, t[m], e[m], x.astype(int), st)
    lru = _stats_call(logrank, t[m], e[m], x.astype(int))
    fit = _stats_call(coxph, t[m], e[m], x, st, ties="efron")
    fitu = _stats_call(coxph, t[m], e[m], x, None, ties="efron")
    return {
        "hazard_ratio": float(fit.hazard_ratio[0]), "hazard_ratio_ci": [float(fit.hr_lcl[0]), float(fit.hr_ucl[0])],
        "cox_score_p": fit.score_p, "cox_lr_p": fit.lr_p, "cox_wald_p": fit.wald_p, "cox_converged": fit.converged,
        "logrank_chisq": lr.chisq, "logrank_p": lr.p, "logrank_z": lr.z,
        "hazard_ratio_unstratified": float(fitu.hazard_ratio[0]),
        "hazard_ratio_unstratified_ci": [float(fitu.hr_lcl[0]), float(fitu.hr_ucl[0])],
        "logrank_unstratified_chisq": lru.chisq, "logrank_unstratified_p": lru.p,
    }


def _joint_cox(t: np.ndarray, e: np.ndarray, arm: np.ndarray, stratum: np.ndarray | None,
               others: list[str]) -> dict[str, dict]:
    """One Cox model with the arm as a factor (reference = baseline, Efron ties, strata): HR, Wald CI and p per arm."""
    x = np.column_stack([(arm == a).astype(float) for a in others])
    try:
        fit = _stats_call(coxph, t, e, x, stratum, ties="efron")
    except np.linalg.LinAlgError:
        raise SkipParameter("the Cox model's information matrix is singular (too few events per arm)") from None
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2 * sps.norm.sf(np.abs(fit.coef / fit.se))
    return {a: {"hazard_ratio": float(fit.hazard_ratio[i]), "hazard_ratio_ci": [float(fit.hr_lcl[i]), float(fit.hr_ucl[i])],
                "hazard_ratio_p": float(p[i]), "cox_converged": fit.converged} for i, a in enumerate(others)}


def analyze_tte_parameter(d: pd.DataFrame, paramcd: str, reference: str, others: list[str], strata: list[str],
                          rmst_tau: float | None = None, landmark_times: Sequence[float] = (), conf_level: float = 0.95,
                          conf_type: str = "log-log") -> dict:
    """Results of one time-to-event parameter: KM, RMST and landmarks per arm, global (stratified) log-rank, the
    joint Cox model's HR of every arm against the reference, and the two-arm subset fits (`pairwise`)."""
    where = f"ADTTE PARAMCD {paramcd}"
    t, e = _tte_rows(d, paramcd)
    if e.sum() == 0:
        raise SkipParameter(f"no events among {len(e)} records")
    others, notes = _arms_present(d, reference, others, where)
    arm = d["_ARM"].to_numpy()
    stratum = d["_STRATUM"].to_numpy() if strata else None
    arm_list = [reference] + others
    tau = float(rmst_tau) if rmst_tau is not None else default_tau(t[arm == a] for a in arm_list)
    arms, fits = {}, {}
    for a in arm_list:
        m = arm == a
        km = _stats_call(kaplan_meier, t[m], e[m], conf_level=conf_level, conf_type=conf_type)
        rm = fits[a] = rmst_km(km, tau)
        arms[a] = {"n": int(km.n), "events": int(km.events), "median": _num(km.median),
                   "median_lcl": _num(km.median_lcl), "median_ucl": _num(km.median_ucl),
                   "rmst": rm.rmst, "rmst_se": rm.se, "rmst_lcl": rm.lcl, "rmst_ucl": rm.ucl,
                   "landmarks": [{"time": lm.time, "survival": lm.survival, "lcl": lm.lcl, "ucl": lm.ucl,
                                  "std_err": lm.std_err, "n_risk": lm.n_risk} for lm in km_landmarks(km, landmark_times)]}
    pairwise = {a: _pairwise_tte(t, e, arm, stratum, reference, a) for a in others}
    if len(others) == 1:  # with two arms the joint model is the pair's model (its 1-df Wald p is the HR's)
        pw = pairwise[others[0]]
        joint = {others[0]: {"hazard_ratio": pw["hazard_ratio"], "hazard_ratio_ci": pw["hazard_ratio_ci"],
                             "hazard_ratio_p": pw["cox_wald_p"], "cox_converged": pw["cox_converged"]}}
    else:
        joint = _joint_cox(t, e, arm, stratum, others)
    strat_txt = f", stratified by {' x '.join(strata)}" if strata else ", unstratified"
    cox_method = ("Cox PH, Efron ties" + strat_txt + (", the arm as a factor: one model for all arms"
                                                      if len(others) > 1 else ""))
    comparisons = {}
    for a in others:
        diff = rmst_difference(fits[a], fits[reference])
        comparisons[a] = {**joint[a], "method": cox_method,
                          "rmst_difference": diff.difference, "rmst_difference_ci": [diff.lcl, diff.ucl],
                          "rmst_difference_p": _num(diff.p),
                          "pairwise": {**pairwise[a], "method": f"Cox PH and log-rank on the two arms {reference!r} "
                                                                f"and {a!r} only{strat_txt}"}}
    lr = _stats_call(logrank, t, e, arm, stratum)
    out = {"kind": "tte", "reference_arm": reference, "experimental_arm": others[0] if len(others) == 1 else None,
           "arms": arms, "strata": list(strata),
           "method": f"KM with {conf_type} {100 * conf_level:g}% CI, median CI by Brookmeyer-Crowley; RMST to tau "
                     f"(R survfit rmean SE), difference with a normal 95% CI; {cox_method}; log-rank"
                     + (f" ({len(arm_list) - 1} df)" if len(others) > 1 else "") + strat_txt,
           "time_unit": "days", "rmst_tau": tau, "conf_level": conf_level, "conf_type": conf_type,
           "logrank_chisq": lr.chisq, "logrank_df": lr.df, "logrank_p": lr.p, "comparisons": comparisons}
    if notes:
        out["notes"] = notes
    if len(others) == 1:
        out.update({k: v for k, v in pairwise[others[0]].items() if k != "method"})
    else:
        out.update({"hazard_ratio": None, "hazard_ratio_ci": [None, None]})
    return out


def _select(present: Sequence[str], params: Sequence[str] | None) -> list[str]:
    return list(present) if params is None else [p for p in present if p in params]


def analyze_tte(adsl: pd.DataFrame, adtte: pd.DataFrame, reference_arm: str | None = None,
                strata: Sequence[str] | None = None, arm_var: str = ARM_VAR, params: Sequence[str] | None = None,
                skipped: list | None = None, known: pd.Series | None = None, subjects: pd.DataFrame | None = None,
                **options) -> dict[str, dict]:
    """Time-to-event results per ADTTE parameter (schema of results.json 'parameters'); parameters that cannot be
    analysed are appended to `skipped` ({"paramcd", "dataset", "reason"}) when given, else raise. `subjects`: the
    analysis subjects analyze_adam built from `adsl` and `strata` (not built again)."""
    cols = strata_columns(adsl, strata)
    subj = _subjects(adsl, cols, arm_var) if subjects is None else subjects
    reference, others = resolve_arms(subj["_ARM"].unique().tolist(), reference_arm)
    for c in ("USUBJID", "PARAMCD", "AVAL", "CNSR"):
        if c not in adtte.columns:
            raise InputError(f"ADTTE: column {c} missing; expected USUBJID, PARAMCD, AVAL, CNSR")
    out = {}
    for p in _select([str(v) for v in pd.unique(adtte["PARAMCD"].dropna())], params):
        rows = adtte[adtte["PARAMCD"].astype(str) == p]
        try:
            d = _join(rows, subj, "ADTTE", p, known)
            res = analyze_tte_parameter(d, p, reference, others, cols, **options)
        except SkipParameter as exc:
            _skip(skipped, p, "ADTTE", exc)
            continue
        if "PARAM" in adtte.columns:
            res["param"] = str(rows["PARAM"].iloc[0])
        out[p] = res
    return out


def _skip(skipped: list | None, paramcd: str, dataset: str, exc: Exception) -> None:
    if skipped is None:
        raise InputError(f"{dataset} PARAMCD {paramcd}: {exc}") from None
    skipped.append({"paramcd": paramcd, "dataset": dataset, "reason": str(exc)})


def _responders(d: pd.DataFrame, p: str) -> np.ndarray:
    def filled(c: str) -> pd.Series:
        v = d[c].astype(object)
        return v.where(v.notna() & (v.astype(str).str.strip() != ""), None)

    col = "RESPFL" if "RESPFL" in d.columns and filled("RESPFL").notna().any() else None
    if col is None and "AVALC" in d.columns and d["AVALC"].isin(["Y", "N"]).all():
        col = "AVALC"
    if col is None:
        seen = sorted(map(str, pd.unique(d["AVALC"].dropna())))[:8] if "AVALC" in d.columns else []
        raise NotResponder(f"not a responder parameter: no RESPFL and AVALC is not Y/N (values {seen})")
    v = filled(col)
    bad = ~v.isin(["Y", "N"])
    if bad.any():
        i = d.index[bad.to_numpy()][0]
        raise input_error("ADRS", f"{i} (USUBJID {d.loc[i, 'USUBJID']}, PARAMCD {p})", col, d.loc[i, col],
                          "Y (responder) or N")
    return (v == "Y").to_numpy().astype(int)


def analyze_response_parameter(d: pd.DataFrame, y: np.ndarray, paramcd: str, reference: str, others: list[str],
                               strata: list[str]) -> dict:
    """Results of one response parameter: rates with Clopper-Pearson CIs, CMH test (R mantelhaen.test, with and
    without continuity correction; null when degenerate), MH common OR, rate difference; per non-reference arm."""
    where = f"ADRS PARAMCD {paramcd}"
    others, notes = _arms_present(d, reference, others, where)
    arm = d["_ARM"].to_numpy()
    stratum = d["_STRATUM"].to_numpy() if strata else None
    arms = {}
    for a in [reference] + others:
        m = arm == a
        n, r = int(m.sum()), int(y[m].sum())
        lo, hi = clopper_pearson(r, n)
        arms[a] = {"n": n, "responders": r, "rate": r / n, "cp_lcl": lo, "cp_ucl": hi}
    comparisons = {}
    for a in others:
        m = (arm == a) | (arm == reference)
        st = stratum[m] if stratum is not None else None
        # R mantelhaen.test as in the reference results: reference arm in the table's first row, responders first
        rev = _stats_call(cmh, y[m], arm[m], st, reference=a, correct=False)
        fwd = _stats_call(cmh, y[m], arm[m], st, reference=reference, correct=False)
        corr = _stats_call(cmh, y[m], arm[m], st, reference=reference, correct=True)
        rd = _stats_call(rate_difference, y[m], arm[m], st, reference=reference)
        comparisons[a] = {
            "cmh_chisq": _num(rev.chisq), "cmh_p": _num(rev.p), "cmh_correct": False,
            "cmh_chisq_corrected": _num(corr.chisq), "cmh_p_corrected": _num(corr.p),
            "mh_common_odds_ratio": _num(rev.common_odds_ratio), "mh_common_odds_ratio_ci": [_num(rev.or_lcl), _num(rev.or_ucl)],
            "mh_common_odds_ratio_orientation": f"odds of response in {reference} relative to {a} "
                                                "(R mantelhaen.test with the reference arm first)",
            "odds_ratio_experimental_vs_reference": _num(fwd.common_odds_ratio),
            "odds_ratio_experimental_vs_reference_ci": [_num(fwd.or_lcl), _num(fwd.or_ucl)],
            "rate_difference": _num(rd.difference), "rate_difference_ci": [_num(rd.lcl), _num(rd.ucl)],
            "rate_difference_method": rd.method,
            "method": f"CMH on the two arms {reference!r} and {a!r}"
                      + (f", stratified by {' x '.join(strata)}" if strata else ", unstratified"),
        }
    out = {"kind": "response", "reference_arm": reference, "experimental_arm": others[0] if len(others) == 1 else None,
           "arms": arms, "strata": list(strata), "comparisons": comparisons}
    if notes:
        out["notes"] = notes
    if len(others) == 1:
        out.update({k: v for k, v in comparisons[others[0]].items() if k != "method"})
    else:
        out.update({"cmh_chisq": None, "cmh_p": None, "mh_common_odds_ratio": None,
                    "mh_common_odds_ratio_ci": [None, None]})
    return out


def _response_rows(adrs: pd.DataFrame) -> pd.DataFrame:
    if "ANL01FL" in adrs.columns and (adrs["ANL01FL"] == "Y").any():
        return adrs[adrs["ANL01FL"] == "Y"]
    return adrs


def analyze_response(adsl: pd.DataFrame, adrs: pd.DataFrame, reference_arm: str | None = None,
                     strata: Sequence[str] | None = None, arm_var: str = ARM_VAR, params: Sequence[str] | None = None,
                     skipped: list | None = None, known: pd.Series | None = None,
                     subjects: pd.DataFrame | None = None) -> dict[str, dict]:
    """Response results per ADRS parameter carrying a responder flag (RESPFL, or AVALC Y/N); other parameters are
    appended to `skipped` when given (silently passed over otherwise). `subjects`: as in analyze_tte."""
    cols = strata_columns(adsl, strata)
    subj = _subjects(adsl, cols, arm_var) if subjects is None else subjects
    reference, others = resolve_arms(subj["_ARM"].unique().tolist(), reference_arm)
    for c in ("USUBJID", "PARAMCD"):
        if c not in adrs.columns:
            raise InputError(f"ADRS: column {c} missing; expected USUBJID, PARAMCD, RESPFL (or AVALC Y/N)")
    rs = _response_rows(adrs)
    codes = set(rs["PARAMCD"].astype(str))
    out = {}
    for p in [str(v) for v in pd.unique(rs["PARAMCD"].dropna())]:
        key = "ORR" if p == "BOR" and "ORR" not in codes else p
        if params is not None and p not in params and key not in params:
            continue
        rows = rs[rs["PARAMCD"].astype(str) == p]
        try:
            d = _join(rows, subj, "ADRS", p, known)
            y = _responders(d, p)
            res = analyze_response_parameter(d, y, p, reference, others, cols)
        except SkipParameter as exc:
            if skipped is not None or not isinstance(exc, NotResponder):
                _skip(skipped, p, "ADRS", exc)
            continue
        if "PARAM" in rs.columns:
            res["param"] = str(rows["PARAM"].iloc[0])
        if key != p:  # the responder rate of best overall response is the overall response rate
            res["source_paramcd"] = p
        out[key] = res
    return out


def parameter_codes(adtte: pd.DataFrame | None, adrs: pd.DataFrame | None) -> list[str]:
    """The PARAMCDs of ADTTE and ADRS (analysis records), in file order."""
    out: list[str] = []
    for df in (adtte, adrs if adrs is None else _response_rows(adrs)):
        if df is not None and "PARAMCD" in df.columns:
            out += [str(v) for v in pd.unique(df["PARAMCD"].dropna()) if str(v) not in out]
    return out


def analyze_adam(datasets: Mapping[str, pd.DataFrame] | None = None, *, adsl: pd.DataFrame | None = None,
                 adtte: pd.DataFrame | None = None, adrs: pd.DataFrame | None = None, reference_arm: str | None = None,
                 strata: Sequence[str] | None = None, arm_var: str = ARM_VAR, population_flag: str | None = None,
                 params: Sequence[str] | None = None, rmst_tau: float | None = None,
                 landmarks: Sequence[float] = (), conf_level: float = 0.95, conf_type: str = "log-log") -> dict:
    """All efficacy results for the given ADaM datasets: {"parameters": {...}, "reference_arm", "strata",
    "population", "skipped", ...}; the population is ADSL's FLAG = "Y" (default ITTFL, else FASFL, else SAFFL)."""
    ds = {str(k).upper(): v for k, v in (datasets or {}).items()}
    adsl = adsl if adsl is not None else ds.get("ADSL")
    adtte = adtte if adtte is not None else ds.get("ADTTE")
    adrs = adrs if adrs is not None else ds.get("ADRS")
    if adsl is None:
        raise InputError("ADSL: not given; expected ADSL plus ADTTE and/or ADRS")
    if adtte is None and adrs is None:
        raise InputError("ADTTE/ADRS: neither given; expected ADSL plus ADTTE and/or ADRS")
    if conf_type not in ("log-log", "log", "plain"):
        raise InputError(f"--conf-type: got {conf_type!r}, expected log-log, log or plain")
    if not 0 < conf_level < 1:
        raise InputError(f"--conf-level: got {conf_level!r}, expected a number between 0 and 1 (e.g. 0.95)")
    if rmst_tau is not None and not (math.isfinite(rmst_tau) and rmst_tau > 0):
        raise InputError(f"--rmst-tau: got {rmst_tau!r}, expected a positive time (AVAL units)")
    bad = [t for t in landmarks if not (math.isfinite(t) and t >= 0)]
    if bad:
        raise InputError(f"--landmarks: got {bad}, expected times >= 0 (AVAL units)")
    if params is not None:
        present = parameter_codes(adtte, adrs)
        unknown = [p for p in params if p not in present and not (p == "ORR" and "BOR" in present)]
        if unknown:
            raise InputError(f"--params: {unknown} not found; the data have PARAMCD {present}")
    known = adsl["USUBJID"] if "USUBJID" in adsl.columns else None
    pop, pop_desc, notes = population(adsl, population_flag, arm_var)
    cols = strata_columns(pop, strata)
    subj = _subjects(pop, cols, arm_var)
    reference, others = resolve_arms(subj["_ARM"].unique().tolist(), reference_arm)
    params_out: dict[str, dict] = {}
    skipped: list[dict] = []
    if adtte is not None:
        params_out.update(analyze_tte(pop, adtte, reference, cols, arm_var, params=params, skipped=skipped, known=known,
                                      subjects=subj, rmst_tau=rmst_tau, landmark_times=tuple(landmarks), conf_level=conf_level,
                                      conf_type=conf_type))
    if adrs is not None:
        params_out.update(analyze_response(pop, adrs, reference, cols, arm_var, params=params, skipped=skipped,
                                           known=known, subjects=subj))
    for r in params_out.values():
        notes += r.get("notes", [])
    return {"parameters": params_out, "reference_arm": reference, "experimental_arms": others, "arm_var": arm_var,
            "strata": cols, "time_unit": "days", "population": pop_desc, "skipped": skipped, "notes": notes,
            "conf_level": conf_level, "conf_type": conf_type}
