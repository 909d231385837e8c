"""Results of one analysis cut of the virtual trial in the schema of `ikema analyze` (results.json), plus the
safety summary the published comparison needs."""

from __future__ import annotations

import numpy as np
import pandas as pd

RESPONSE_PARAMS = ("RSP", "VGPRRSP", "CRRSP", "CRRSPADJ", "MRDNEG", "MRDNEGCR")
TTE_PARAMS = ("PFS", "OS", "PFS2", "TTNT", "TTP", "DOR")


POOLED = "POOLED"


def pool_sparse_strata(adsl: pd.DataFrame, strata: tuple[str, ...], arm_var: str = "TRT01P") -> tuple[pd.DataFrame, list[str]]:
    """ADSL with STRATAR = the combination of the stratification factors, where strata that do not hold every arm
    are pooled into one stratum (SAP rule for sparse strata; the pool joins the largest stratum if it still lacks
    an arm). Returns the ADSL and the pooled strata labels."""
    d = adsl.copy()
    label = d[list(strata)].astype(str).agg(" / ".join, axis=1)
    arms = d[arm_var].nunique()
    complete = d.groupby(label)[arm_var].nunique()
    sparse = sorted(complete[complete < arms].index)
    label = label.where(~label.isin(sparse), POOLED)
    if sparse and d.loc[label == POOLED, arm_var].nunique() < arms:
        largest = label[label != POOLED].value_counts().idxmax()
        label = label.where(label != POOLED, largest)
    d["STRATAR"] = label
    return d, sparse


def efficacy(adam: dict[str, pd.DataFrame], exp: str, ctl: str, strata: tuple[str, ...] = ("STRAT1R", "STRAT2R")) -> dict:
    """Efficacy results (schema of `ikema analyze`, via ikema.analysis.efficacy) plus time to first and to best
    response among responders (TTFR_R, TTBR_R: IKEMA summarised responders only; days)."""
    from ikema.analysis.efficacy import analyze_adam

    tte = adam["ADTTE"][adam["ADTTE"]["PARAMCD"].isin(TTE_PARAMS)]
    rs = adam["ADRS"][adam["ADRS"]["PARAMCD"].isin(RESPONSE_PARAMS)]
    res: dict = {"parameters": {}, "strata": list(strata), "strata_pooled": {}}
    # each parameter on the subjects it holds (DOR: responders only), sparse strata pooled within them
    for kind, data, params in (("adtte", tte, TTE_PARAMS), ("adrs", rs, RESPONSE_PARAMS)):
        for p in params:
            d = data[data["PARAMCD"] == p]
            if d.empty:
                continue
            adsl, pooled = pool_sparse_strata(adam["ADSL"][adam["ADSL"]["USUBJID"].isin(d["USUBJID"])], strata)
            one = analyze_adam(adsl=adsl, reference_arm=ctl, strata=["STRATAR"], **{kind: d})
            res["parameters"].update(one["parameters"])
            res["reference_arm"] = one["reference_arm"]
            if pooled:
                res["strata_pooled"][p] = pooled
    t = adam["ADTTE"]
    for code, key, label in (("TTFR", "TTFR_R", "Time to first response"), ("TTBR", "TTBR_R", "Time to best response")):
        ev = t[(t["PARAMCD"] == code) & (t["CNSR"] == 0)]
        arms = {}
        for a in (exp, ctl):
            v = ev.loc[ev["TRT01P"] == a, "AVAL"].astype(float)
            arms[a] = {"n": int(len(v)), "median": float(v.median()) if len(v) else None,
                       "min": float(v.min()) if len(v) else None, "max": float(v.max()) if len(v) else None}
        res["parameters"][key] = {"kind": "summary", "label": f"{label} (days, responders)", "arms": arms}
    res["follow_up_median_days"] = follow_up_median(t)
    return res


def follow_up_median(adtte: pd.DataFrame) -> float | None:
    """Median follow-up in days by the reverse Kaplan-Meier method on OS (death censors, censoring is the event)."""
    from ikema.stats import kaplan_meier

    os_ = adtte[adtte["PARAMCD"] == "OS"]
    if os_.empty:
        return None
    return kaplan_meier(os_["AVAL"].to_numpy(float), (os_["CNSR"] == 1).astype(int).to_numpy()).median


def treatment_status(adsl: pd.DataFrame, ds: pd.DataFrame, exp: str, ctl: str) -> dict:
    """Per arm of the safety population at a data cut: median treatment duration in weeks (first to last dose
    before the cut, inclusive) and the share still on treatment (no end-of-treatment disposition by the cut)."""
    saf = adsl[adsl["SAFFL"] == "Y"]
    weeks = ((pd.to_datetime(saf["TRTEDT"]) - pd.to_datetime(saf["TRTSDT"])).dt.days + 1) / 7.0
    ended = set(ds.loc[ds["DSSCAT"] == "END OF TREATMENT", "USUBJID"])
    out: dict = {"treatment_weeks_median": {}, "on_treatment": {}}
    for a in (exp, ctl):
        arm = saf["TRT01A"] == a
        out["treatment_weeks_median"][a] = float(weeks[arm].median()) if arm.any() else None
        out["on_treatment"][a] = float((~saf.loc[arm, "USUBJID"].isin(ended)).mean()) if arm.any() else None
    return out


def safety_summary(adam: dict[str, pd.DataFrame], exp: str, ctl: str) -> dict:
    """Per-arm shares of the safety population: any TEAE, infusion reactions, grade >= 3, serious, AE
    discontinuation, fatal, each preferred term at any grade and at grade >= 3 (`pt`), and
    the worst on-treatment lab grade (NEUT, PLAT, LYMPH, HGB) at any grade and at grade >= 3 among the patients
    with at least one on-treatment value of the test (the published denominator [19])."""
    adsl = adam["ADSL"]
    saf = adsl[adsl["SAFFL"] == "Y"]
    n = saf.groupby("TRT01A")["USUBJID"].nunique()
    ae = adam["ADAE"]
    te = ae[ae["TRTEMFL"] == "Y"]

    def share(mask: pd.Series) -> dict:
        subj = te[mask].groupby("TRTA")["USUBJID"].nunique()
        return {a: float(subj.get(a, 0) / n.get(a, np.nan)) for a in (exp, ctl)}

    out = {
        "n": {a: int(n.get(a, 0)) for a in (exp, ctl)},
        "any": share(pd.Series(True, index=te.index)),
        "irr": share(te["AEDECOD"] == "Infusion related reaction"),
        "grade3": share(te["ATOXGRN"] >= 3),
        "serious": share(te["AESER"] == "Y"),
        "ae_disc": share(te["AEDISFL"] == "Y"),
        "fatal": share(te["AEFATFL"] == "Y"),
    }
    by_term = {k: te[m].groupby(["AEDECOD", "TRTA"])["USUBJID"].nunique()
               for k, m in (("any", pd.Series(True, index=te.index)), ("g3", te["ATOXGRN"] >= 3))}
    out["pt"] = {t: {k: {a: float(c.get((t, a), 0) / n.get(a, np.nan)) for a in (exp, ctl)} for k, c in by_term.items()}
                 for t in sorted(te["AEDECOD"].dropna().unique())}
    lb = adam["ADLB"]
    post = lb[(lb["ONTRTFL"] == "Y") & lb["USUBJID"].isin(saf["USUBJID"])]
    for key, code in (("neut", "NEUT"), ("plat", "PLAT"), ("lym", "LYMPH"), ("hgb", "HGB")):
        test = post[post["PARAMCD"] == code]
        grade = pd.to_numeric(test["ATOXGRN"], errors="coerce")
        evaluated = test.groupby("TRT01A")["USUBJID"].nunique()
        for suffix, low in (("any", 1), ("g3", 3)):
            subj = test[grade >= low].groupby("TRT01A")["USUBJID"].nunique()
            out[f"{key}_{suffix}"] = {a: float(subj.get(a, 0) / evaluated[a]) if evaluated.get(a, 0) else None
                                      for a in (exp, ctl)}
    return out
