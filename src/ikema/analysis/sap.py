"""The statistical analysis plan applied to one data cut's ADaM, read from the protocol file ([sap], [design]):
which parameters are analysed, the strata and the pooling of sparse strata, the subgroups of the forest plot,
the group-sequential look of the primary parameter, and the summaries (follow-up, treatment status, safety
shares, CONSORT counts) the report shows. Results follow the `ikema analyze` schema (results.json)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ikema.errors import InputError, ProtocolError

POOLED = "POOLED"


@dataclass(frozen=True)
class GroupSequentialPlan:
    """The SAP's group-sequential plan: parameter, the cuts that are its looks, planned events, spending."""

    parameter: str
    looks: tuple[str, ...]
    planned_events: int
    alpha: float
    spending: str


@dataclass(frozen=True)
class Sap:
    """What the SAP analyses at a data cut (read from the protocol by `sap_from_protocol`)."""

    tte_parameters: tuple[str, ...]
    response_parameters: tuple[str, ...]
    strata: tuple[str, ...]
    pool_sparse: bool = True
    subgroups: tuple[tuple[str, str], ...] = ()
    forest_parameter: str = "PFS"
    main_cut: str | None = None
    group_sequential: GroupSequentialPlan | None = None
    experimental: str | None = None
    control: str | None = None
    arm_labels: Mapping[str, str] = field(default_factory=dict)
    studyid: str | None = None


def sap_from_protocol(protocol: Any = None) -> Sap:
    """The SAP of a protocol file (None = the packaged protocol): its [sap] table with the [design] plan."""
    from ikema.protocol import load_protocol

    p = protocol if protocol is not None else load_protocol()
    if p.sap is None:
        raise ProtocolError("protocol: no [sap] table (parameters, strata and subgroups the analysis needs)")
    s = p.sap
    plan = None
    if s.group_sequential is not None:
        if p.design is None:
            raise ProtocolError("protocol: sap.group_sequential needs the [design] table (planned events, alpha, spending)")
        plan = GroupSequentialPlan(parameter=s.group_sequential.parameter, looks=tuple(s.group_sequential.looks),
                                   planned_events=int(p.design.planned_pfs_events), alpha=float(p.design.alpha_one_sided),
                                   spending=str(p.design.spending))
    roles = {a.role: a.code for a in p.arms}
    return Sap(tte_parameters=tuple(s.tte_parameters), response_parameters=tuple(s.response_parameters),
               strata=tuple(s.strata), pool_sparse=s.sparse_strata == "pool",
               subgroups=tuple((g.variable, g.label) for g in s.subgroups), forest_parameter=s.forest_parameter,
               main_cut=s.main_cut, group_sequential=plan, experimental=roles.get("experimental"),
               control=roles.get("control"), arm_labels={a.code: a.label for a in p.arms}, studyid=p.study.studyid)


def pool_sparse_strata(adsl: pd.DataFrame, strata: tuple[str, ...], arm_var: str = "TRT01P") -> tuple[pd.DataFrame, list[str]]:
    """ADSL with STRATAR = the combination of the stratification factors, where strata that do not hold every arm
    are pooled into one stratum (SAP rule for sparse strata; the pool joins the largest stratum if it still lacks
    an arm). Returns the ADSL and the pooled strata labels."""
    from ikema.analysis.efficacy import stratum_label

    d = adsl.copy()
    label = stratum_label(d, list(strata))
    arms = d[arm_var].nunique()
    complete = d.groupby(label)[arm_var].nunique()
    sparse = sorted(complete[complete < arms].index)
    label = label.where(~label.isin(sparse), POOLED)
    if sparse and d.loc[label == POOLED, arm_var].nunique() < arms:
        largest = label[label != POOLED].value_counts().idxmax()
        label = label.where(label != POOLED, largest)
    d["STRATAR"] = label
    return d, sparse


def efficacy(adam: Mapping[str, pd.DataFrame], sap: Sap, exp: str, ctl: str) -> dict:
    """Efficacy results of the SAP's parameters (schema of `ikema analyze`, via ikema.analysis.efficacy) plus time
    to first and to best response among responders (TTFR_R, TTBR_R: summarised over responders only; days)."""
    from ikema.analysis.efficacy import analyze_adam, is_in

    strata = sap.strata
    res: dict = {"parameters": {}, "strata": list(strata), "strata_pooled": {}}
    parts = []
    if "ADTTE" in adam:
        parts.append(("adtte", adam["ADTTE"][adam["ADTTE"]["PARAMCD"].isin(sap.tte_parameters)], sap.tte_parameters))
    if "ADRS" in adam:
        parts.append(("adrs", adam["ADRS"][adam["ADRS"]["PARAMCD"].isin(sap.response_parameters)], sap.response_parameters))
    # each parameter on the subjects it holds (DOR: responders only), sparse strata pooled within them; the
    # parameters held by the same subjects share that ADSL and one analysis call (a call per parameter cost more
    # than the statistics), then results are filed in the SAP's order
    todo: list[tuple[str, str, pd.DataFrame | None]] = []
    groups: dict[tuple, list[tuple[str, str, pd.DataFrame]]] = {}
    for kind, data, params in parts:
        for p in params:
            d = data[data["PARAMCD"] == p]
            if d.empty:
                continue
            if kind == "adtte" and not (pd.to_numeric(d["CNSR"], errors="coerce") == 0).any():
                todo.append((kind, p, None))
                continue
            todo.append((kind, p, d))
            # BOR alone (beside ORR it would not be filed as ORR), and response parameters with and without
            # ANL01FL records apart (analyze_response keeps only ANL01FL = "Y" records where any has it)
            flagged = kind == "adrs" and "ANL01FL" in d.columns and bool((d["ANL01FL"] == "Y").any())
            groups.setdefault((frozenset(d["USUBJID"].to_numpy(dtype=object)), p if p == "BOR" else "", flagged), []).append((kind, p, d))
    done: dict[str, tuple[dict, str, list]] = {}
    for members in groups.values():
        adsl = adam["ADSL"][is_in(adam["ADSL"]["USUBJID"], members[0][2]["USUBJID"])]
        if not strata:
            adsl, pooled = adsl, []
        else:
            adsl, pooled = pool_sparse_strata(adsl, strata) if sap.pool_sparse else _one_stratum(adsl, strata)
        frames = {kind: pd.concat([d for k, _p, d in members if k == kind]) for kind in {k for k, _p, _d in members}}
        one = analyze_adam(adsl=adsl, reference_arm=ctl, strata=["STRATAR"] if strata else [], **frames)
        for _kind, p, _d in members:
            key = "ORR" if p == "BOR" and "ORR" in one["parameters"] else p
            done[p] = ({key: one["parameters"][key]} if key in one["parameters"] else {}, one["reference_arm"], pooled)
    for _kind, p, d in todo:
        if d is None:
            res.setdefault("not_analysed", {})[p] = "no events yet: no hazard ratio or log-rank test"
            continue
        found, reference, pooled = done[p]
        res["parameters"].update(found)
        res["reference_arm"] = reference
        if pooled:
            res["strata_pooled"][p] = pooled
    t = adam.get("ADTTE")
    if t is None:
        return res
    for code, key, label in (("TTFR", "TTFR_R", "Time to first response"), ("TTBR", "TTBR_R", "Time to best response")):
        if not (t["PARAMCD"] == code).any():
            continue
        ev = t[(t["PARAMCD"] == code) & (t["CNSR"] == 0)]
        if "TRT01P" not in ev.columns:
            ev = ev.assign(TRT01P=ev["USUBJID"].map(adam["ADSL"].set_index("USUBJID")["TRT01P"]))
        arms = {}
        for a in (exp, ctl):
            v = ev.loc[ev["TRT01P"] == a, "AVAL"].astype(float)
            arms[a] = {"n": int(len(v)), "median": float(v.median()) if len(v) else None,
                       "min": float(v.min()) if len(v) else None, "max": float(v.max()) if len(v) else None}
        res["parameters"][key] = {"kind": "summary", "label": f"{label} (days, responders)", "arms": arms}
    res["follow_up_median_days"] = follow_up_median(t)
    return res


def _one_stratum(adsl: pd.DataFrame, strata: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    """ADSL with STRATAR = the combination of the stratification factors, no stratum pooled."""
    from ikema.analysis.efficacy import stratum_label

    d = adsl.copy()
    d["STRATAR"] = stratum_label(d, list(strata))
    return d, []


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
    from ikema.analysis.efficacy import is_in

    saf = adsl[adsl["SAFFL"] == "Y"]
    weeks = ((pd.to_datetime(saf["TRTEDT"]) - pd.to_datetime(saf["TRTSDT"])).dt.days + 1) / 7.0
    ended = set(ds.loc[ds["DSSCAT"] == "END OF TREATMENT", "USUBJID"])
    out: dict = {"treatment_weeks_median": {}, "on_treatment": {}}
    for a in (exp, ctl):
        arm = saf["TRT01A"] == a
        out["treatment_weeks_median"][a] = float(weeks[arm].median()) if arm.any() else None
        out["on_treatment"][a] = float((~is_in(saf.loc[arm, "USUBJID"], ended)).mean()) if arm.any() else None
    return out


def safety_summary(adam: dict[str, pd.DataFrame], exp: str, ctl: str) -> dict:
    """Per-arm shares of the safety population: any TEAE, infusion reactions, grade >= 3, serious, AE
    discontinuation, fatal, each preferred term at any grade and at grade >= 3 (`pt`), and (given ADLB)
    the worst on-treatment lab grade (NEUT, PLAT, LYMPH, HGB) at any grade and at grade >= 3 among the patients
    with at least one on-treatment value of the test (the published denominator [19])."""
    from ikema.analysis.efficacy import is_in

    adsl = adam["ADSL"]
    saf = adsl[adsl["SAFFL"] == "Y"]
    n = saf.groupby("TRT01A")["USUBJID"].nunique()
    ae = adam["ADAE"]
    te = ae.loc[ae["TRTEMFL"] == "Y", ["USUBJID", "TRTA", "AEDECOD", "ATOXGRN", "AESER", "AEDISFL", "AEFATFL"]]  # the columns read
    # distinct subjects per arm (and term) counted on codes: pandas' groupby nunique per share cost more than the summary
    arms = list(dict.fromkeys((exp, ctl)))
    subj, arm = pd.factorize(te["USUBJID"])[0], pd.Index(arms).get_indexer(te["TRTA"])
    terms = sorted(te["AEDECOD"].dropna().unique())
    term = pd.Index(terms).get_indexer(te["AEDECOD"])
    g3 = (te["ATOXGRN"] >= 3).to_numpy(dtype=bool, na_value=False)

    def share(mask: np.ndarray) -> dict:
        c = _distinct_subjects(subj, arm, mask, len(arms))
        return {a: float(c[arms.index(a)] / n.get(a, np.nan)) for a in (exp, ctl)}

    every = np.ones(len(te), dtype=bool)
    out = {
        "n": {a: int(n.get(a, 0)) for a in (exp, ctl)},
        "any": share(every),
        "irr": share((te["AEDECOD"] == "Infusion related reaction").to_numpy(dtype=bool, na_value=False)),
        "grade3": share(g3),
        "serious": share((te["AESER"] == "Y").to_numpy(dtype=bool, na_value=False)),
        "ae_disc": share((te["AEDISFL"] == "Y").to_numpy(dtype=bool, na_value=False)),
        "fatal": share((te["AEFATFL"] == "Y").to_numpy(dtype=bool, na_value=False)),
    }
    by_term = {k: _distinct_subjects(subj, np.where(term >= 0, term * len(arms) + arm, -1), m & (arm >= 0),
                                     len(terms) * len(arms)).reshape(len(terms), len(arms))
               for k, m in (("any", every), ("g3", g3))}
    out["pt"] = {t: {k: {a: float(c[i, arms.index(a)] / n.get(a, np.nan)) for a in (exp, ctl)} for k, c in by_term.items()}
                 for i, t in enumerate(terms)}
    if "ADLB" not in adam:  # (a twin replicate's cut that reads no laboratory grade)
        return out
    lb = adam["ADLB"]
    post = (lb["ONTRTFL"] == "Y").to_numpy(dtype=bool, na_value=False) & is_in(lb["USUBJID"], saf["USUBJID"])
    subj, arm = pd.factorize(lb["USUBJID"])[0], pd.Index(arms).get_indexer(lb["TRT01A"])
    grade = pd.to_numeric(lb["ATOXGRN"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    for key, code in (("neut", "NEUT"), ("plat", "PLAT"), ("lym", "LYMPH"), ("hgb", "HGB")):
        test = post & (lb["PARAMCD"] == code).to_numpy(dtype=bool, na_value=False)
        evaluated = _distinct_subjects(subj, arm, test, len(arms))
        for suffix, low in (("any", 1), ("g3", 3)):
            c = _distinct_subjects(subj, arm, test & (grade >= low), len(arms))
            out[f"{key}_{suffix}"] = {a: float(c[arms.index(a)] / evaluated[arms.index(a)]) if evaluated[arms.index(a)] else None
                                      for a in (exp, ctl)}
    return out


def _distinct_subjects(subj: np.ndarray, group: np.ndarray, mask: np.ndarray, groups: int) -> np.ndarray:
    """The number of distinct subjects (codes; -1 missing) per group (codes 0..groups-1; -1 none) among `mask`."""
    m = mask & (subj >= 0) & (group >= 0)
    pairs = np.unique(group[m].astype(np.int64) * (int(subj.max(initial=0)) + 1) + subj[m])
    return np.bincount(pairs // (int(subj.max(initial=0)) + 1), minlength=groups)[:groups]


def forest_rows(adam: Mapping[str, pd.DataFrame], sap: Sap, exp: str, ctl: str) -> list[dict]:
    """Hazard ratio of the SAP's forest parameter overall and within each level of its subgroups (unstratified Cox)."""
    from ikema.stats import coxph

    adsl = adam["ADSL"]
    tte = adam["ADTTE"]
    rows: list[dict] = []
    d0 = tte[tte["PARAMCD"] == sap.forest_parameter][["USUBJID", "AVAL", "CNSR"]].merge(adsl, on="USUBJID")
    d0 = d0[d0["TRT01P"].isin([exp, ctl])]

    def hr(d: pd.DataFrame, label: str) -> None:
        ok = d["TRT01P"].nunique() == 2 and (d["CNSR"] == 0).sum() >= 3
        r = {"label": label, "n": int(len(d)), "hr": None, "lcl": None, "ucl": None}
        if ok:
            fit = coxph(d["AVAL"].to_numpy(float), (d["CNSR"] == 0).astype(int).to_numpy(),
                        (d["TRT01P"] == exp).to_numpy(float)[:, None])
            r.update(hr=float(fit.hazard_ratio[0]), lcl=float(fit.hr_lcl[0]), ucl=float(fit.hr_ucl[0]))
        rows.append(r)

    hr(d0, "All patients")
    for col, name in sap.subgroups:
        if col not in d0.columns:
            continue
        for level in sorted(d0[col].dropna().astype(str).unique()):
            hr(d0[d0[col].astype(str) == level], f"{name}: {level}")
    return rows


def consort(enrollment: Mapping[str, Any], sdtm: Mapping[str, pd.DataFrame], arms: Sequence[str]) -> dict:
    """CONSORT counts: screened, failures by criterion, randomized, treated and end-of-treatment reasons per arm."""
    dm = sdtm["DM"]
    ds = sdtm["DS"]
    eot = ds[ds.get("DSSCAT", pd.Series("", index=ds.index)) == "END OF TREATMENT"]
    out = {}
    for arm in arms:
        ids = set(dm.loc[dm["ARMCD"] == arm, "USUBJID"])
        treated = set(sdtm["EX"].loc[sdtm["EX"]["USUBJID"].isin(ids), "USUBJID"])
        reasons = eot[eot["USUBJID"].isin(ids)]["DSDECOD"].value_counts().to_dict()
        reasons["ONGOING"] = len(treated) - int(sum(reasons.values()))
        out[arm] = {"randomized": len(ids), "treated": len(treated), "eot": {k: int(v) for k, v in reasons.items()}}
    return {"screened": enrollment.get("screened"), "screen_failures": enrollment.get("screen_failures"),
            "failures_by_criterion": enrollment.get("failures_by_criterion", {}), "randomized": int(len(dm)), "arms": out}


def look_statistics(results: Mapping[str, Any], parameter: str) -> tuple[int, float] | None:
    """(events, z) of a time-to-event parameter's results: all events, and the stratified log-rank statistic oriented
    so that benefit of the experimental arm is positive; None when the parameter was not analysed."""
    r = results.get("parameters", {}).get(parameter)
    if not r or r.get("kind") != "tte" or r.get("logrank_z") is None:
        return None
    return int(sum(a["events"] for a in r["arms"].values())), -float(r["logrank_z"])


def group_sequential(plan: GroupSequentialPlan, events: int, z: float, earlier: Sequence[tuple[int, float]] = (),
                     final: bool | None = None) -> dict:
    """The SAP's group-sequential test at one look: the Lan-DeMets boundary recomputed at the observed information
    fractions (events / planned events of this and the `earlier` looks; rpact asOF for 'obf'), the decision, and
    whether the look is still a formal test (not after a look that crossed). `final`: the plan's last look, whose
    boundary spends the remaining alpha at full information (default: the look number is the plan's last or the
    events reach the planned number)."""
    from scipy.stats import norm

    from ikema.stats.groupseq import efficacy_boundaries

    looks = [*earlier, (events, z)]
    k = len(looks)
    fractions = [e / plan.planned_events for e, _z in looks]
    if final is None:
        final = k >= len(plan.looks) or fractions[-1] >= 1.0
    if any(b <= a for a, b in zip(fractions, fractions[1:])):
        raise InputError(f"group-sequential looks: events {[e for e, _ in looks]}; expected more events at each look")
    rates = fractions[:-1] + [1.0] if final else fractions + [1.0]
    if rates[-2:-1] and rates[-2] >= 1.0:
        raise InputError(f"group-sequential looks: an earlier look had {looks[-2][0]} events, at or beyond the "
                         f"{plan.planned_events} planned; expected the earlier looks before full information")
    b = efficacy_boundaries(rates, alpha=plan.alpha, spending=plan.spending)
    crossed_before = any(zz >= b.efficacy_z[i] for i, (_e, zz) in enumerate(looks[:-1]))
    boundary = float(b.efficacy_z[k - 1])
    return {
        "parameter": plan.parameter, "look": k, "events": int(events), "planned_events": plan.planned_events,
        "information_fraction": fractions[-1], "information_rates": list(b.information_rates[:k]),
        "spending": plan.spending, "alpha": plan.alpha,
        "boundary_z": boundary, "boundary_p": float(norm.sf(boundary)),
        "alpha_spent": float(b.cumulative_alpha_spent[k - 1]),
        "z": float(z), "p_one_sided": float(norm.sf(z)), "crossed": bool(z >= boundary),
        "formal_test": not crossed_before,
        "earlier_looks": [{"events": int(e), "z": float(zz), "boundary_z": float(b.efficacy_z[i]),
                           "crossed": bool(zz >= b.efficacy_z[i])} for i, (e, zz) in enumerate(looks[:-1])],
    }


def analyse_cut(adam: Mapping[str, pd.DataFrame], sap: Sap, exp: str, ctl: str, ds: pd.DataFrame | None = None,
                outcomes: bool | str = True) -> dict:
    """The SAP's results of one data cut's ADaM: efficacy in the `ikema analyze` schema, with `outcomes` also the
    safety summary (given ADAE; its laboratory part given ADLB) and, given the cut's SDTM DS, the treatment status."""
    res = efficacy(adam, sap, exp, ctl)
    if outcomes and "ADAE" in adam:
        res["safety_summary"] = safety_summary(adam, exp, ctl)
        if ds is not None:
            res["safety_summary"].update(treatment_status(adam["ADSL"], ds, exp, ctl))
    return res


def apply_group_sequential(by_cut: Mapping[str, dict], sap: Sap) -> None:
    """Add `group_sequential` to the results of each cut that is a look of the SAP's plan, in the plan's order."""
    plan = sap.group_sequential
    if plan is None:
        return
    earlier: list[tuple[int, float]] = []
    for k, name in enumerate(plan.looks):
        if name not in by_cut:
            continue
        stats = look_statistics(by_cut[name], plan.parameter)
        if stats is None:
            continue
        by_cut[name]["group_sequential"] = group_sequential(plan, *stats, earlier=earlier, final=k == len(plan.looks) - 1)
        earlier.append(stats)


def parse_earlier_looks(text: str | None) -> list[tuple[int, float]]:
    """`--earlier-looks EVENTS:Z[,EVENTS:Z]`: the events and oriented z of the plan's earlier looks, in order."""
    out: list[tuple[int, float]] = []
    for part in [p.strip() for p in (text or "").split(",") if p.strip()]:
        try:
            e, z = part.split(":")
            out.append((int(e), float(z)))
        except ValueError:
            raise InputError(f"--earlier-looks: got {part!r}; expected EVENTS:Z, e.g. 103:3.2") from None
    return out


def analyze_with_sap(ds: Mapping[str, pd.DataFrame], sap: Sap | None = None, reference_arm: str | None = None,
                     strata: Sequence[str] | None = None, earlier_looks: Sequence[tuple[int, float]] = ()) -> dict | None:
    """The SAP on a folder's ADaM of the protocol's trial (`ikema analyze`): its parameters with pooled strata, the
    forest rows and the group-sequential look (this look follows `earlier_looks`). None when the ADaM is not the
    trial's (neither ADSL's STUDYID nor its arms are the protocol's) or holds none of the SAP's parameters:
    third-party data get the generic analyses of ikema.analysis.efficacy."""
    from ikema.analysis.efficacy import ARM_VAR, resolve_arms

    sap = sap or sap_from_protocol()
    held = set()
    for name in ("ADTTE", "ADRS"):
        if name in ds and "PARAMCD" in ds[name].columns:
            held |= set(ds[name]["PARAMCD"].dropna().astype(str))
    if "ADSL" not in ds or not held & set(sap.tte_parameters + sap.response_parameters) or ARM_VAR not in ds["ADSL"]:
        return None
    adsl = ds["ADSL"]
    arms = sorted(adsl[ARM_VAR].dropna().astype(str).unique())
    ours = "STUDYID" in adsl.columns and set(adsl["STUDYID"].dropna().astype(str)) == {sap.studyid}
    if not ours and set(arms) != {sap.experimental, sap.control}:
        return None
    if strata is not None:
        from dataclasses import replace

        sap = replace(sap, strata=tuple(strata))
    missing = [c for c in sap.strata if c not in adsl.columns]
    if missing:
        raise InputError(f"ADSL: stratification column(s) {missing} of the SAP not found; expected them or --strata")
    if reference_arm is None and {sap.experimental, sap.control} == set(arms):
        ctl, exp = sap.control, sap.experimental
    else:
        ctl, others = resolve_arms(arms, reference_arm)
        if len(others) != 1:
            raise InputError(f"ADSL: {ARM_VAR} has arms {arms}; the SAP compares one experimental arm with the reference")
        exp = others[0]
    res = efficacy(ds, sap, exp, ctl)
    res.update(experimental_arms=[exp], arm_var=ARM_VAR, time_unit="days", arms={"experimental": exp, "control": ctl})
    if "ADTTE" in ds and sap.forest_parameter in held:
        res["forest"] = forest_rows(ds, sap, exp, ctl)
        res["forest_parameter"] = sap.forest_parameter
    plan = sap.group_sequential
    stats = look_statistics(res, plan.parameter) if plan is not None else None
    if stats is not None:
        res["group_sequential"] = group_sequential(plan, *stats, earlier=list(earlier_looks))
    return res
