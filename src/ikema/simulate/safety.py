"""Safety, PK, immunogenicity and questionnaire records of virtual patients (site records, not yet stored).

All tables are keyed by USUBJID with study days (ADY, day 1 = first dose) and calendar dates:
  adverse_events  USUBJID, AETERM, AEDECOD, AEBODSYS, AETOXGR, AESER, AEREL, AEACN, AEOUT, AESTDY, AEENDY
  labs            USUBJID, LBTESTCD, LBTEST, ADY, VALUE, UNIT, LLN
  pk              USUBJID, ANALYTE, DRUG, ADY, HOUR (clock hour of the sample), VALUE, UNIT, LLOQ, TPT
  ada             USUBJID, ADY, VISIT, RESULT, TITER
  questionnaires  USUBJID, ADY, VISIT, QSCAT, QSTESTCD, QSORRES
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ikema.protocol.questionnaires import C30, EQ5D, EQ5D_DIMENSIONS, EQ5D_VAS, MY20, item_code
from ikema.simulate import params as P
from ikema.simulate.facts import TrialFacts, text_at

DOSE_HOUR = 9.0
# analyte -> (drug name fragment, PK parameters, mg/L -> reported unit factor, reported unit)
PK_ANALYTES = {"ISATUXIMAB": ("isatuximab", P.ISA_PK, 1.0, "ug/mL"), "CARFILZOMIB": ("carfilzomib", P.CFZ_PK, 1000.0, "ng/mL")}


def pk_lloq() -> dict[str, float]:
    """Lower limit of quantification per analyte in its reported unit."""
    return {a: v[1]["lloq"] * v[2] for a, v in PK_ANALYTES.items()}  # clock hour administrations start (ASSUMPTION; PK sample times are relative to it)


def adverse_events(rng: np.random.Generator, events: pd.DataFrame, exposure: pd.DataFrame, facts: TrialFacts) -> pd.DataFrame:
    """Adverse events at the published per-arm rates, onset during treatment (+30 days), graded by CTCAE v4.03."""
    arms = events["ARM"].to_numpy()
    n = len(events)
    ids = events["USUBJID"].to_numpy()
    dur = events["TRTEDY"].to_numpy(float)
    out = []
    for term, soc, ia, i3, ka, k3, ser3 in P.AE_TERMS:
        p_any = np.where(arms == facts.experimental, ia, ka) / 100.0
        p3 = np.where(arms == facts.experimental, i3, k3) / 100.0
        has = rng.random(n) < p_any
        g3 = rng.random(n) < np.divide(p3, p_any, out=np.zeros(n), where=p_any > 0)
        grade = np.where(g3, np.where(rng.random(n) < 0.15, 4, 3), np.where(rng.random(n) < 0.5, 1, 2))
        onset = 1 + np.floor((dur + 29) * rng.beta(0.6, 2.5, n)).astype(int)  # ASSUMPTION: front-loaded onset
        length = np.ceil(np.exp(rng.normal(np.log(10.0), 0.8, n))).astype(int)
        serious = np.where(g3, rng.random(n) < ser3, rng.random(n) < P.SERIOUS_LOW_GRADE_P * (ser3 > 0))
        m = has
        out.append(pd.DataFrame({
            "USUBJID": ids[m], "AEDECOD": term, "AEBODSYS": soc, "AETOXGR": grade[m], "AESER": np.where(serious[m], "Y", "N"),
            "AESTDY": onset[m], "AEENDY": onset[m] + length[m],
        }))
    # infusion reactions, mostly at the first infusion of the drug that carries them
    roles = np.where(arms == facts.experimental, "experimental", "control")
    irr_any = np.array([P.IRR[a][0] for a in roles]) / 100.0
    irr3 = np.array([P.IRR[a][1] for a in roles]) / 100.0
    has = rng.random(n) < irr_any
    g3 = rng.random(n) < np.divide(irr3, irr_any, out=np.zeros(n), where=irr_any > 0)
    grade = np.where(g3, 3, np.where(rng.random(n) < 0.35, 1, 2))
    first = rng.random(n) < P.IRR_FIRST_INFUSION_SHARE
    onset = np.where(first, 1, 8)
    out.append(pd.DataFrame({"USUBJID": ids[has], "AEDECOD": P.IRR_TERM, "AEBODSYS": P.IRR_SOC, "AETOXGR": grade[has],
                             "AESER": np.where(g3[has], "Y", "N"), "AESTDY": onset[has], "AEENDY": onset[has] + 1}))
    ae = pd.concat(out, ignore_index=True)
    ae["AEREL"] = np.where(rng.random(len(ae)) < 0.55, "RELATED", "NOT RELATED")
    ae.loc[ae["AEDECOD"] == P.IRR_TERM, "AEREL"] = "RELATED"
    ae["AEACN"] = "DOSE NOT CHANGED"
    ae["AEOUT"] = "RECOVERED/RESOLVED"
    ae["AESDTH"] = "N"
    # the event that led to permanent discontinuation, at the end of treatment: a grade 3 event whose term is drawn
    # in proportion to the term's grade >= 3 rate in the patient's arm (ASSUMPTION)
    stop = events[events["EOTREAS"] == "ADVERSE EVENT"]
    if len(stop):
        g3_rates = np.array([[t[3] for t in P.AE_TERMS], [t[5] for t in P.AE_TERMS]], dtype=float)
        weights = g3_rates / g3_rates.sum(axis=1, keepdims=True)
        row = np.where(stop["ARM"].to_numpy() == facts.experimental, 0, 1)
        cum = np.cumsum(weights[row], axis=1)
        pick = np.minimum((cum < rng.random(len(stop))[:, None]).sum(axis=1), len(P.AE_TERMS) - 1)
        extra = pd.DataFrame({
            "USUBJID": stop["USUBJID"].to_numpy(), "AEDECOD": [P.AE_TERMS[j][0] for j in pick],
            "AEBODSYS": [P.AE_TERMS[j][1] for j in pick], "AETOXGR": 3, "AESER": "Y",
            "AESTDY": np.maximum(stop["TRTEDY"].to_numpy(int) - 2, 1), "AEENDY": stop["TRTEDY"].to_numpy(int) + 20,
            "AEREL": "RELATED", "AEACN": "DRUG WITHDRAWN", "AEOUT": "RECOVERED/RESOLVED", "AESDTH": "N"})
        ae = pd.concat([ae, extra], ignore_index=True)
    # fatal adverse events for deaths not due to progression
    fatal = events[events["DTHCAUS"] == "ADVERSE EVENT"]
    if len(fatal):
        trt = pd.to_datetime(fatal["TRTSDT"])
        dday = ((pd.to_datetime(fatal["DTHDT"]) - trt).dt.days + 1).to_numpy(int)
        causes = ("Pneumonia", "Sepsis", "Cardiac failure")
        socs = {t[0]: t[1] for t in P.AE_TERMS}
        pick = [causes[j] for j in rng.integers(0, len(causes), len(fatal))]
        ae = pd.concat([ae, pd.DataFrame({
            "USUBJID": fatal["USUBJID"].to_numpy(), "AEDECOD": pick, "AEBODSYS": [socs[t] for t in pick], "AETOXGR": 5,
            "AESER": "Y", "AESTDY": np.maximum(dday - 5, 1), "AEENDY": dday, "AEREL": "NOT RELATED",
            "AEACN": "NOT APPLICABLE", "AEOUT": "FATAL", "AESDTH": "Y"})], ignore_index=True)
    ae["AETERM"] = ae["AEDECOD"].str.upper()
    # nothing is reported after death or after the end of follow-up for the patient
    last = ae["USUBJID"].map(_last_day(events)).to_numpy()
    keep = ae["AESTDY"].to_numpy() <= last
    ae, last = ae[keep].copy(), last[keep]
    open_ = ae["AEENDY"].to_numpy() >= last
    ae["AEENDY"] = np.minimum(ae["AEENDY"].to_numpy(), last)
    ae["AEOUT"] = np.where(open_ & (ae["AESDTH"] != "Y"), "NOT RECOVERED/NOT RESOLVED", ae["AEOUT"])
    return ae.sort_values(["USUBJID", "AESTDY", "AEDECOD"], kind="stable").reset_index(drop=True)


def _last_day(events: pd.DataFrame) -> dict:
    trt = pd.to_datetime(events["TRTSDT"])
    last = (pd.to_datetime(events["LSTALVDT"]) - trt).dt.days + 1
    return dict(zip(events["USUBJID"], last))


def lab_days(trtedy: int, cycle_days: int) -> np.ndarray:
    """Haematology days: C1 days 1, 8, 15, 22, then days 1 and 15 of each cycle, to 30 days after the last dose."""
    first = np.array([1, 8, 15, 22])
    later = np.concatenate([[c * cycle_days + 1, c * cycle_days + 15] for c in range(1, trtedy // cycle_days + 2)])
    days = np.concatenate([first, later])
    return days[days <= trtedy + 30]


def labs(rng: np.random.Generator, events: pd.DataFrame, baseline: pd.DataFrame, facts: TrialFacts) -> pd.DataFrame:
    """Neutrophils, platelets, haemoglobin and lymphocytes at the haematology visits (CTCAE grades derive later)."""
    base_cols = {"NEUT": "ANC", "PLAT": "PLATELETS", "HGB": "HGB"}
    arms = np.where(events["ARM"].to_numpy() == facts.experimental, "experimental", "control")
    last = _last_day(events)
    rows = []
    for i, e in enumerate(events.itertuples(index=False)):
        days = lab_days(int(e.TRTEDY), facts.cycle_days)
        days = days[days <= last[e.USUBJID]]
        rows.append((e.USUBJID, days))
    pid = np.concatenate([np.full(len(d), i) for i, (_, d) in enumerate(rows)])
    ady = np.concatenate([d for _, d in rows])
    ids = events["USUBJID"].to_numpy()[pid]
    trtedy = events["TRTEDY"].to_numpy()[pid]
    on = (ady > 1) & (ady <= trtedy)
    out = []
    n = len(events)
    for code, (name, unit, lln, bmed, bsd, drop_med, drop_sd, noise_sd) in P.LABS.items():
        if code in base_cols:
            base = baseline[base_cols[code]].to_numpy(float)
        else:
            base = bmed * np.exp(rng.normal(0.0, bsd, n))
        drop = np.array([drop_med[a] for a in arms]) + drop_sd * rng.standard_normal(n)
        v = np.log(base[pid]) - np.where(on, np.maximum(drop[pid], 0.0), 0.0) + noise_sd * rng.standard_normal(len(pid))
        v = np.where(ady == 1, np.log(base[pid]), v)
        val = np.round(np.exp(v), 0 if code in ("PLAT", "HGB") else 2)
        out.append(pd.DataFrame({"USUBJID": ids, "LBTESTCD": code, "LBTEST": name, "ADY": ady, "VALUE": val,
                                 "UNIT": unit, "LLN": lln}))
    return pd.concat(out, ignore_index=True).sort_values(["USUBJID", "ADY", "LBTESTCD"], kind="stable").reset_index(drop=True)


def _one_compartment(dose_t: np.ndarray, dose_mg: np.ndarray, tinf: float, cl: float, v: float, t: float) -> float:
    """Concentration (mg/L) at time t (h) after infusions starting at dose_t (h): superposition, linear PK."""
    k = cl / v
    c = 0.0
    for t0, d in zip(dose_t, dose_mg):
        dt_ = t - t0
        if dt_ <= 0:
            continue
        rate = d / tinf
        if dt_ <= tinf:
            c += rate / cl * (1 - np.exp(-k * dt_))
        else:
            c += rate / cl * (1 - np.exp(-k * tinf)) * np.exp(-k * (dt_ - tinf))
    return c


def _visits(facts: TrialFacts, schedule: str) -> list[tuple[int, int]]:
    """(cycle, day) visits listed by a protocol schedule (empty when the protocol has no such schedule)."""
    sc = facts.schedules.get(schedule) or {}
    return [(int(v["cycle"]), int(v["day"])) for v in sc.get("visits") or []]


def pk_samples(rng: np.random.Generator, exposure: pd.DataFrame, facts: TrialFacts) -> pd.DataFrame:
    """Isatuximab (ug/mL, pre-dose and end of infusion) and carfilzomib (ng/mL, end of infusion and 1 h after it, in
    a subset of patients) concentrations at the visits of the protocol's PK schedules."""
    cd = facts.cycle_days
    isa_times = [(v, tpt, after) for v in _visits(facts, P.PK_SCHEDULES["ISATUXIMAB"]) for tpt, after in (("PRE-DOSE", 0.0), ("EOI", None))]
    cfz_times = [(v, tpt, after) for v in _visits(facts, P.PK_SCHEDULES["CARFILZOMIB"]) for tpt, after in (("EOI", None), ("1H POST-EOI", 1.0))]
    ids = np.array(sorted(exposure["USUBJID"].unique()))
    cfz_subset = set(rng.choice(ids, size=min(P.PK_CFZ_SUBSET, len(ids)), replace=False)) if len(ids) else set()
    drug_lower = exposure["DRUG"].astype(str).str.lower()
    out = []
    for (analyte, (key, pk, scale, unit)), times in zip(PK_ANALYTES.items(), (isa_times, cfz_times)):
        ex = exposure[drug_lower.str.contains(key)]
        if analyte == "CARFILZOMIB":
            ex = ex[ex["USUBJID"].isin(cfz_subset)]
        for uid, g in ex.groupby("USUBJID", sort=True):
            dose_t = (g["ADY"].to_numpy(float) - 1) * 24 + DOSE_HOUR
            dose = g["DOSE_MG"].to_numpy(float)
            eta = np.exp(rng.normal(0.0, 0.25, 2))
            cl, v = pk["CL"] * eta[0], pk["V"] * eta[1]
            drug = g["DRUG"].iloc[0]
            first_ady: dict[tuple, float] = {}  # (cycle, day) -> study day of its first administration row
            for key_cd, a in zip(zip(g["CYCLE"].tolist(), g["DAY"].tolist()), g["ADY"].tolist()):
                first_ady.setdefault(key_cd, a)
            for (cyc, day), tpt, after in times:
                nominal = (cyc - 1) * cd + day
                if (cyc, day) not in first_ady:
                    continue
                ady = int(first_ady[(cyc, day)])
                start = (ady - 1) * 24 + DOSE_HOUR
                t = start - 0.25 if tpt == "PRE-DOSE" else start + pk["infusion_h"] + (after or 0.0)
                c = _one_compartment(dose_t, dose, pk["infusion_h"], cl, v, t) * np.exp(rng.normal(0.0, pk["cv"] / 2))
                c = c * scale
                lloq = pk["lloq"] * scale
                out.append((uid, analyte, drug, ady, t - (ady - 1) * 24, round(c, 4) if c >= lloq else 0.0, unit, lloq,
                            f"C{cyc}D{day} {tpt}", nominal))
    return pd.DataFrame(out, columns=["USUBJID", "ANALYTE", "DRUG", "ADY", "HOUR", "VALUE", "UNIT", "LLOQ", "TPT", "NOMDY"])


def ada_samples(rng: np.random.Generator, events: pd.DataFrame, facts: TrialFacts) -> pd.DataFrame:
    """Anti-isatuximab antibodies in the experimental arm at the protocol's ADA visits (while treated) and the
    follow-up days after the last dose; a small share turn treatment-induced positive (params.ADA_P)."""
    sc = facts.schedules.get(P.ADA_SCHEDULE) or {}
    visits = _visits(facts, P.ADA_SCHEDULE)
    after = [int(x) for x in sc.get("after_treatment_days") or []]
    ex = events[events["ARM"] == facts.experimental]
    last = _last_day(events)
    rows = []
    cd = facts.cycle_days
    for e in ex.itertuples(index=False):
        positive_from = int(rng.choice(np.arange(2, len(visits) + 1))) if (rng.random() < P.ADA_P and len(visits) > 1) else 10**6
        k = 0
        for k, (c, d) in enumerate(visits, start=1):
            ady = (c - 1) * cd + d
            if ady > e.TRTEDY or ady > last[e.USUBJID]:
                break
            pos = k >= positive_from
            rows.append((e.USUBJID, ady, f"CYCLE {c} DAY {d}", "POSITIVE" if pos else "NEGATIVE", float(2 ** rng.integers(1, 6)) if pos else np.nan))
        if e.EOTREAS == "ONGOING":
            continue
        for days in after:
            ady = int(e.TRTEDY) + days
            if ady <= last[e.USUBJID]:
                pos = positive_from < 10**6
                rows.append((e.USUBJID, ady, f"FOLLOW-UP DAY {days}", "POSITIVE" if pos else "NEGATIVE", float(2 ** rng.integers(1, 6)) if pos else np.nan))
    return pd.DataFrame(rows, columns=["USUBJID", "ADY", "VISIT", "RESULT", "TITER"])


def questionnaires(rng: np.random.Generator, events: pd.DataFrame, facts: TrialFacts) -> pd.DataFrame:
    """QLQ-C30, QLQ-MY20 and EQ-5D-5L answers at the protocol's QoL visits (recurring cycle day while treated, end
    of treatment = 30 days after the last dose (ASSUMPTION), and the follow-up days after the last dose)."""
    sc = facts.schedules.get(P.QOL_SCHEDULE) or {}
    cd = facts.cycle_days
    ids, ady, visit = [], [], []
    if sc.get("every_n_cycles"):
        first, every, day = int(sc["first_cycle"]), int(sc["every_n_cycles"]), int(sc["day"])
        after = [int(x) for x in sc.get("after_treatment_days") or []]
        for e in events.itertuples(index=False):
            c = first
            while (c - 1) * cd + day <= e.TRTEDY:
                ids.append(e.USUBJID)
                ady.append((c - 1) * cd + day)
                visit.append(f"CYCLE {c} DAY {day}")
                c += every
            if e.EOTREAS != "ONGOING":
                ids.append(e.USUBJID)
                ady.append(int(e.TRTEDY) + P.EOT_VISIT_DAYS)
                visit.append("END OF TREATMENT")
                for days in after:
                    ids.append(e.USUBJID)
                    ady.append(int(e.TRTEDY) + days)
                    visit.append(f"FOLLOW-UP DAY {days}")
    ids = np.array(ids, dtype=object)
    ady = np.array(ady, dtype=int)
    last = pd.Series(ids).map(_last_day(events)).to_numpy()
    keep = ady <= last
    ids, ady, visit = ids[keep], ady[keep], np.array(visit)[keep]
    k = len(ids)
    person = {u: rng.normal(0.0, P.QOL_LATENT_SD) for u in events["USUBJID"]}
    eot = np.char.startswith(visit.astype(str), "END")
    # well-being: improves a little on response (ASSUMPTION), worse at end of treatment (progression, toxicity)
    latent = np.array([person[u] for u in ids]) + np.where(ady > 1, 0.15, 0.0) - np.where(eot, 0.4, 0.0)

    def ordinal(worse_is_high: bool, lo: int, hi: int, size: int, lat: np.ndarray) -> np.ndarray:
        x = (lo + hi) / 2 + (-1 if worse_is_high else 1) * lat * (hi - lo) / 3 + rng.normal(0.0, P.QOL_ITEM_NOISE, size)
        if worse_is_high:
            x = x - (hi - lo) * 0.2
        return np.clip(np.rint(x), lo, hi).astype(int)

    items, answers = [], []  # per item (QSCAT, QSTESTCD) and its answers, one per visit
    for item in range(1, 31):
        items.append((C30, item_code(C30, item)))
        answers.append(ordinal(False, 1, 7, k, latent) if item >= 29 else ordinal(True, 1, 4, k, latent))
    for item in range(31, 51):
        items.append((MY20, item_code(MY20, item)))
        answers.append(ordinal(item < 47, 1, 4, k, latent))
    for code in EQ5D_DIMENSIONS:
        items.append((EQ5D, code))
        answers.append(ordinal(True, 1, 5, k, latent))
    items.append((EQ5D, EQ5D_VAS))
    answers.append(np.clip(np.rint(70 + 12 * latent + rng.normal(0, 8, k)), 0, 100).astype(int))
    # one row per visit and item, in the order a stable sort by USUBJID, ADY, QSCAT, QSTESTCD of the items' rows
    # (item by item) gives: one lexsort of integer keys instead of sorting half a million rows of text
    m = len(items)
    _, subject_rank = np.unique(ids, return_inverse=True)
    item_rank = np.empty(m, dtype=int)
    item_rank[sorted(range(m), key=items.__getitem__)] = np.arange(m)
    order = np.lexsort((np.repeat(item_rank, k), np.tile(ady, m), np.tile(subject_rank, m)))
    visit_of, item_of = order % k, order // k
    values = np.concatenate(answers)[order]
    text = [str(v) for v in range(values.max(initial=0) + 1)]  # answers are 0..100
    return pd.DataFrame({"USUBJID": text_at(ids, visit_of), "ADY": ady[visit_of], "VISIT": text_at(visit, visit_of),
                         "QSCAT": text_at([c for c, _ in items], item_of),
                         "QSTESTCD": text_at([t for _, t in items], item_of), "QSORRES": text_at(text, values)})

