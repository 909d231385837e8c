"""Results of one analysis cut of the virtual trial in the schema of `ikema analyze` (results.json), plus the
safety summary the published comparison needs.

Efficacy uses `ikema.analysis.efficacy.analyze_adam` (the project's statistical analysis) when it is installed;
otherwise the same quantities from statsmodels (PHReg Efron stratified Cox, survdiff stratified log-rank,
SurvfuncRight medians with log-log CIs, StratifiedTable CMH, beta Clopper-Pearson).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

RESPONSE_PARAMS = ("RSP", "VGPRRSP", "CRRSP", "CRRSPADJ", "MRDNEG", "MRDNEGCR")
TTE_PARAMS = ("PFS", "OS", "PFS2", "TTP", "DOR")


def _strata(adsl: pd.DataFrame, strata: tuple[str, ...]) -> pd.Series:
    return adsl[list(strata)].astype(str).agg("/".join, axis=1) if strata else pd.Series("ALL", index=adsl.index)


def _tte_statsmodels(d: pd.DataFrame, exp: str, ctl: str) -> dict:
    from statsmodels.duration.hazard_regression import PHReg
    from statsmodels.duration.survfunc import SurvfuncRight, survdiff

    arms = {}
    for arm in (exp, ctl):
        x = d[d["TRT01P"] == arm]
        ev = (x["CNSR"] == 0).astype(int).to_numpy()
        entry = {"n": int(len(x)), "events": int(ev.sum()), "median": None, "median_lcl": None, "median_ucl": None}
        if len(x) and ev.sum():
            sf = SurvfuncRight(x["AVAL"].to_numpy(float), ev)
            med = sf.quantile(0.5)
            entry["median"] = None if not np.isfinite(med) else float(med)
            try:
                lo, hi = sf.quantile_ci(0.5, method="cloglog")
                entry["median_lcl"] = None if not np.isfinite(lo) else float(lo)
                entry["median_ucl"] = None if not np.isfinite(hi) else float(hi)
            except (ValueError, IndexError, ZeroDivisionError):
                pass
        arms[arm] = entry
    out: dict = {"kind": "tte", "arms": arms, "hazard_ratio": None, "hazard_ratio_ci": [None, None],
                 "logrank_chisq": None, "logrank_p": None}
    if d["CNSR"].eq(0).sum() and d["TRT01P"].nunique() == 2:
        t = d["AVAL"].to_numpy(float)
        e = (d["CNSR"] == 0).astype(int).to_numpy()
        g = (d["TRT01P"] == exp).astype(float).to_numpy()
        st = d["STRATUM"].to_numpy()
        fit = PHReg(t, g[:, None], status=e, strata=st, ties="efron").fit(disp=False)
        b, se = float(fit.params[0]), float(fit.bse[0])
        out["hazard_ratio"] = float(np.exp(b))
        out["hazard_ratio_ci"] = [float(np.exp(b - 1.959963984540054 * se)), float(np.exp(b + 1.959963984540054 * se))]
        chi, p = survdiff(t, e, d["TRT01P"].to_numpy(), strata=st)
        out["logrank_chisq"], out["logrank_p"] = float(chi), float(p)
    return out


def _response_statsmodels(d: pd.DataFrame, exp: str, ctl: str) -> dict:
    from statsmodels.stats.contingency_tables import StratifiedTable
    from statsmodels.stats.proportion import proportion_confint

    arms = {}
    for arm in (exp, ctl):
        x = d[d["TRT01P"] == arm]
        r = int((x["AVALC"] == "Y").sum())
        n = int(len(x))
        lo, hi = proportion_confint(r, n, method="beta") if n else (np.nan, np.nan)
        arms[arm] = {"n": n, "responders": r, "rate": r / n if n else None, "cp_lcl": float(lo), "cp_ucl": float(hi)}
    tables = []
    for _, g in d.groupby("STRATUM"):
        tab = np.array([[((g["TRT01P"] == a) & (g["AVALC"] == y)).sum() for y in ("Y", "N")] for a in (exp, ctl)], float)
        if tab.sum(axis=1).min() > 0:
            tables.append(tab)
    out = {"kind": "response", "arms": arms, "cmh_chisq": None, "cmh_p": None, "mh_common_odds_ratio": None,
           "mh_common_odds_ratio_ci": [None, None]}
    if tables:
        st = StratifiedTable(tables)
        test = st.test_null_odds(correction=False)
        out["cmh_chisq"], out["cmh_p"] = float(test.statistic), float(test.pvalue)
        out["mh_common_odds_ratio"] = float(st.oddsratio_pooled)
        lo, hi = st.oddsratio_pooled_confint()
        out["mh_common_odds_ratio_ci"] = [float(lo), float(hi)]
    return out


def efficacy(adam: dict[str, pd.DataFrame], exp: str, ctl: str, strata: tuple[str, ...] = ("STRAT1R", "STRAT2R")) -> dict:
    """Efficacy results (schema of `ikema analyze`) for the time-to-event and response parameters."""
    try:
        from ikema.analysis.efficacy import analyze_adam  # the project's SAP implementation
    except ImportError:
        analyze_adam = None
    adsl = adam["ADSL"].copy()
    adsl["STRATUM"] = _strata(adsl, strata)
    if analyze_adam is not None:
        res = analyze_adam(adsl=adam["ADSL"], adtte=adam["ADTTE"], adrs=_response_frame(adam["ADRS"]),
                           reference_arm=ctl, strata=list(strata))
    else:
        res = {"parameters": {}, "strata": list(strata)}
        tte = adam["ADTTE"].merge(adsl[["USUBJID", "STRATUM"]], on="USUBJID")
        for p in TTE_PARAMS:
            d = tte[tte["PARAMCD"] == p]
            if len(d):
                res["parameters"][p] = _tte_statsmodels(d, exp, ctl) | {"strata": list(strata)}
        rs = adam["ADRS"].merge(adsl[["USUBJID", "STRATUM"]], on="USUBJID")
        for p in RESPONSE_PARAMS:
            d = rs[rs["PARAMCD"] == p]
            if len(d):
                res["parameters"][p] = _response_statsmodels(d, exp, ctl) | {"strata": list(strata)}
    # time to first response among responders (IKEMA summarised responders only)
    t = adam["ADTTE"]
    ttfr = t[(t["PARAMCD"] == "TTFR") & (t["CNSR"] == 0)]
    res["parameters"]["TTFR_R"] = {
        "kind": "summary", "arms": {a: {"n": int((ttfr["TRT01P"] == a).sum()),
                                        "median": float(ttfr.loc[ttfr["TRT01P"] == a, "AVAL"].median()) if (ttfr["TRT01P"] == a).any() else None}
                                    for a in (exp, ctl)}}
    return res


def _response_frame(adrs: pd.DataFrame) -> pd.DataFrame:
    return adrs[adrs["PARAMCD"].isin(RESPONSE_PARAMS)]


def safety_summary(adam: dict[str, pd.DataFrame], exp: str, ctl: str) -> dict:
    """Per-arm shares of the safety population: infusion reactions, grade >= 3, serious, AE discontinuation,
    grade >= 3 pneumonia, and worst post-baseline lab grade >= 3 (NEUT, PLAT, LYMPH, HGB)."""
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
        "pneumonia_g3": share((te["AEDECOD"] == "Pneumonia") & (te["ATOXGRN"] >= 3)),
        "fatal": share(te["AEFATFL"] == "Y"),
    }
    lb = adam["ADLB"]
    post = lb[(lb["ONTRTFL"] == "Y")]
    for key, code in (("neut_g3", "NEUT"), ("plat_g3", "PLAT"), ("lym_g3", "LYMPH"), ("hgb_g3", "HGB")):
        x = post[(post["PARAMCD"] == code) & (pd.to_numeric(post["ATOXGRN"], errors="coerce") >= 3)]
        subj = x.groupby("TRT01A")["USUBJID"].nunique()
        out[key] = {a: float(subj.get(a, 0) / n.get(a, np.nan)) for a in (exp, ctl)}
    return out
