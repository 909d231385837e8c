"""SDTM trial design domains from the protocol file (TS, TA, TE, TV, TI), the subject-level design domains built
from the collected data (SE, SV) and IE (the criteria a subject of DM did not meet at screening). The protocol file is the single source of trial facts: nothing here names IKEMA.

Elements: SCRN (screening, informed consent to first dose), one treatment element per arm (ETCD = the arm code in
capitals), FU (follow-up after the last dose). Planned visits (TV): SCREENING, every dosing day of every cycle
that fits between the first randomization and the last data cut, END OF TREATMENT and the follow-up days of the
protocol's schedules.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import pandas as pd

VALUE_MAX = 200  # SAS transport v5 character variables hold at most 200 characters


def ascii_text(text: object) -> str:
    """Text as 7-bit ASCII (SAS transport files carry no encoding): accents dropped, (R) for the registered sign."""
    s = str(text).replace("\u00ae", "(R)").replace("\u2265", ">=").replace("\u2264", "<=")
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode("ascii")


def _split(text: str) -> tuple[str, str]:
    """(first <= 200 characters ending at a word, the rest) of a long value (SDTMIG: TSVAL then TSVAL1)."""
    t = ascii_text(text)
    if len(t) <= VALUE_MAX:
        return t, ""
    cut = t.rfind(" ", 0, VALUE_MAX)
    cut = cut if cut > 0 else VALUE_MAX
    rest = t[cut:].strip()
    return t[:cut], rest[:VALUE_MAX]


def trial_summary(protocol, studyid: str, countries: list[str] | tuple[str, ...] = ()) -> pd.DataFrame:
    """TS: the registry record's facts as trial summary parameters (FDA's TS list where the protocol holds them);
    `countries`: the sites' countries (FCNTRY, ISO 3166-1 alpha-3). DCUTDTC stays null (NA) until `data_cut` sets it."""
    st, d = protocol.study, protocol.dates
    rows: list[tuple[str, str, object]] = [
        ("ADDON", "Added on to Existing Treatments", "Y"),
        ("AGEMIN", "Planned Minimum Age of Subjects", f"P{st.minimum_age_years}Y" if st.minimum_age_years else ""),
        ("AGEMAX", "Planned Maximum Age of Subjects", ""),
        ("TITLE", "Trial Title", st.official_title),
        ("REGID", "Registry Identifier", st.nct_id),
        *([("REGID", "Registry Identifier", st.eudract_number)] if st.eudract_number else []),
        ("SPONSOR", "Clinical Study Sponsor", st.sponsor or ""),
        ("TPHASE", "Trial Phase Classification", {"Phase 3": "PHASE III TRIAL", "Phase 2": "PHASE II TRIAL",
                                                  "Phase 1": "PHASE I TRIAL"}.get(st.phase, st.phase.upper())),
        ("STYPE", "Study Type", "INTERVENTIONAL" if st.study_type.lower().startswith("interventional") else st.study_type.upper()),
        ("INTMODEL", "Intervention Model", "PARALLEL" if "parallel" in st.intervention_model.lower() else st.intervention_model.upper()),
        ("INTTYPE", "Intervention Type", "DRUG"),
        ("RANDOM", "Trial is Randomized", "Y" if st.allocation.lower() == "randomized" else "N"),
        ("TBLIND", "Trial Blinding Schema", "OPEN LABEL" if not st.masking.lower().startswith(("double", "triple", "quadruple")) else "DOUBLE BLIND"),
        ("TCNTRL", "Control Type", "ACTIVE"),
        ("TINDTP", "Trial Intent Type", st.primary_purpose.upper()),
        ("TDIGRP", "Diagnosis Group", st.condition or ""),
        ("INDIC", "Trial Disease/Condition Indication", st.condition or ""),
        ("HLTSUBJI", "Healthy Subject Indicator", "Y" if st.healthy_volunteers else "N"),
        ("SEXPOP", "Sex of Participants", "BOTH" if (st.sexes or "All").lower() == "all" else st.sexes.upper()),
        ("NARMS", "Planned Number of Arms", str(len(protocol.arms))),
        ("PLANSUB", "Planned Number of Subjects", str(st.enrollment)),
        ("ACTSUB", "Actual Number of Subjects", str(st.enrollment) if (st.enrollment_type or "").lower() == "actual" else ""),
        ("RANDQT", "Randomization Quotient", _quotient(protocol)),
        ("SSTDTC", "Study Start Date", str(d.study_start)),
        ("SENDTC", "Study End Date", str(d.study_completion_estimated or "")),
        ("STRATFCT", "Stratification Factor", "; ".join(f.label for f in protocol.randomization.stratification)),
        ("OBJPRIM", "Trial Primary Objective", protocol.objectives.primary),
        *[("OBJSEC", "Trial Secondary Objective", o) for o in protocol.objectives.secondary],
        *[("OUTMSPRI" if m.kind == "primary" else "OUTMSSEC", "Primary Outcome Measure" if m.kind == "primary"
           else "Secondary Outcome Measure", m.title) for m in protocol.outcome_measures],
        *[("TRT", "Investigational Therapy or Treatment", drug.name.upper())
          for drug in next(a for a in protocol.arms if a.role == "experimental").drugs
          if all(drug.name != c.name for c in next(a for a in protocol.arms if a.role == "control").drugs)],
        *[("COMPTRT", "Comparative Treatment Name", drug.name.upper())
          for drug in next(a for a in protocol.arms if a.role == "control").drugs],
        ("SDTIGVER", "SDTM IG Version", "3.4"),
        ("SDTMVER", "SDTM Version", "2.0"),
        ("THERAREA", "Therapeutic Area", "ONCOLOGY"),
        ("PCLAS", "Pharmacologic Class", (st.pharmacologic_class or "").upper()),
        ("LENGTH", "Trial Length", st.planned_participation or ""),
        *[("FCNTRY", "Planned Country of Investigational Sites", c) for c in sorted(set(countries))],
        ("DCUTDTC", "Data Cutoff Date", ""),
    ]
    out = []
    for parmcd, parm, val in rows:
        v, more = _split(str(val))
        out.append({"TSPARMCD": parmcd, "TSPARM": parm, "TSVAL": v, "TSVAL1": more, "TSVALNF": "" if v else "PINF" if parmcd == "AGEMAX" else "NA"})
    ts = pd.DataFrame(out)
    ts.insert(0, "STUDYID", studyid)
    ts.insert(1, "DOMAIN", "TS")
    ts.insert(2, "TSSEQ", ts.groupby("TSPARMCD").cumcount() + 1)
    ts.insert(3, "TSGRPID", "")
    return ts


def _quotient(protocol) -> str:
    ratio = protocol.randomization.ratio
    exp = next(a.code for a in protocol.arms if a.role == "experimental")
    return f"{ratio[exp] / sum(ratio.values()):g}"


def _treatment_etcd(arm_code: str) -> str:
    return arm_code.upper()[:8]


def trial_design(protocol, studyid: str, countries: list[str] | tuple[str, ...] = ()) -> dict[str, pd.DataFrame]:
    """TS, TE, TA, TV, TI from the protocol file (`countries`: see trial_summary)."""
    te = pd.DataFrame(
        [{"ETCD": "SCRN", "ELEMENT": "Screening", "TESTRL": "Informed consent", "TEENRL": "First dose of study treatment", "TEDUR": ""}]
        + [{"ETCD": _treatment_etcd(a.code), "ELEMENT": ascii_text(a.label)[:40] if len(a.label) <= 40 else a.code,
            "TESTRL": f"First dose of {a.code}", "TEENRL": "Last dose (confirmed progression, toxicity or withdrawal)", "TEDUR": ""}
           for a in protocol.arms]
        + [{"ETCD": "FU", "ELEMENT": "Follow-up", "TESTRL": "Day after the last dose", "TEENRL": "Death, withdrawal or end of study",
            "TEDUR": ""}])
    te.insert(0, "STUDYID", studyid)
    te.insert(1, "DOMAIN", "TE")
    ta = []
    for a in protocol.arms:
        for order, (etcd, epoch) in enumerate((("SCRN", "SCREENING"), (_treatment_etcd(a.code), "TREATMENT"), ("FU", "FOLLOW-UP")), 1):
            ta.append({"ARMCD": a.code, "ARM": ascii_text(a.label), "TAETORD": order, "ETCD": etcd,
                       "ELEMENT": te.loc[te["ETCD"] == etcd, "ELEMENT"].iloc[0],
                       "TABRANCH": f"Randomized to {a.code}" if order == 1 else "",
                       "TATRANS": "", "EPOCH": epoch})
    ta = pd.DataFrame(ta)
    ta.insert(0, "STUDYID", studyid)
    ta.insert(1, "DOMAIN", "TA")
    cd = protocol.cycle_length_days
    d = protocol.dates
    last = d.final_os_cutoff or d.study_completion_estimated or d.primary_completion
    n_cycles = max(1, ((last - (d.first_patient_randomized or d.study_start)).days // cd) + 1) if last else 1
    days: dict[int, set[int]] = {}
    for arm in protocol.arms:
        for drug in arm.drugs:
            for dose in drug.dosing:
                for c in range(dose.first_cycle, (dose.last_cycle or n_cycles) + 1):
                    days.setdefault(c, set()).update(dose.days)
    after = sorted({int(x) for s in protocol.schedules for x in (s.after_treatment_days or [])})
    tv = [{"VISITNUM": 1.0, "VISIT": "SCREENING", "VISITDY": np.nan, "TVSTRL": "Informed consent"}]
    tv += [{"VISITNUM": float(c * 100 + day), "VISIT": f"CYCLE {c} DAY {day}", "VISITDY": float((c - 1) * cd + day),
            "TVSTRL": f"Day {day} of cycle {c}"} for c in sorted(days) for day in sorted(days[c])]
    tv += [{"VISITNUM": 8000.0, "VISIT": "END OF TREATMENT", "VISITDY": np.nan, "TVSTRL": "End of treatment visit"}]
    tv += [{"VISITNUM": 9000.0 + x, "VISIT": f"FOLLOW-UP DAY {x}", "VISITDY": np.nan, "TVSTRL": f"{x} days after the last dose"} for x in after]
    tv = pd.DataFrame(tv)
    tv.insert(0, "STUDYID", studyid)
    tv.insert(1, "DOMAIN", "TV")
    ti = []
    for c in protocol.eligibility:
        text, _rest = _split(c.text)
        ti.append({"IETESTCD": c.id, "IETEST": text, "IECAT": c.kind.upper(), "TIVERS": "1"})
    ti = pd.DataFrame(ti)
    ti.insert(0, "STUDYID", studyid)
    ti.insert(1, "DOMAIN", "TI")
    return {"TS": trial_summary(protocol, studyid, countries), "TA": ta, "TE": te, "TV": tv, "TI": ti}


def inclusion_exclusion(not_met: pd.DataFrame, dm: pd.DataFrame, protocol, studyid: str) -> pd.DataFrame:
    """IE: one record per criterion not met (USUBJID, CRITERION: the screening verdict "fail") by a subject of DM, at
    the screening visit on the consent date (DM.RFICDTC): IEORRES "N" for an inclusion, "Y" for an exclusion."""
    crit = {c.id: c for c in protocol.eligibility}
    bad = ~not_met["CRITERION"].isin(list(crit))
    if bad.any():
        from ikema.errors import input_error

        r = not_met[bad].iloc[0]
        raise input_error("screening_results", r["USUBJID"], "criterion_id", r["CRITERION"], f"one of the protocol's criteria {sorted(crit)}")
    d = not_met[not_met["USUBJID"].isin(set(dm["USUBJID"]))].reset_index(drop=True)
    exclusion = d["CRITERION"].map(lambda c: crit[c].kind.upper() == "EXCLUSION").astype(bool).to_numpy()
    res = np.where(exclusion, "Y", "N").astype(object)
    ie = pd.DataFrame({"STUDYID": studyid, "DOMAIN": "IE", "USUBJID": d["USUBJID"].to_numpy(object),
                       "IESEQ": d.groupby("USUBJID").cumcount().to_numpy() + 1, "IETESTCD": d["CRITERION"].to_numpy(object),
                       "IETEST": d["CRITERION"].map(lambda c: _split(crit[c].text)[0]).to_numpy(object),
                       "IECAT": d["CRITERION"].map(lambda c: crit[c].kind.upper()).to_numpy(object),
                       "IEORRES": res, "IESTRESC": res, "VISITNUM": 1.0, "VISIT": "SCREENING", "EPOCH": "SCREENING",
                       "IEDTC": d["USUBJID"].map(dm.set_index("USUBJID")["RFICDTC"]).astype(object).fillna("").to_numpy(object)})
    from ikema.cdisc.sdtm import study_day

    ie["IEDY"] = study_day(ie["IEDTC"], ie["USUBJID"].map(dm.set_index("USUBJID")["RFSTDTC"]))
    return ie


def subject_elements(dm: pd.DataFrame, ds: pd.DataFrame, ss: pd.DataFrame, studyid: str) -> pd.DataFrame:
    """SE: screening (consent to first dose), the arm's treatment (first to last dose), follow-up (last dose to the
    last disposition or survival contact; open while treatment goes on)."""
    last_seen = pd.concat([ds[["USUBJID", "DSSTDTC"]].rename(columns={"DSSTDTC": "D"}),
                           ss[["USUBJID", "SSDTC"]].rename(columns={"SSDTC": "D"})]).groupby("USUBJID")["D"].max()
    ended = set(ds.loc[ds.get("DSSCAT", pd.Series("", index=ds.index)) == "END OF TREATMENT", "USUBJID"])
    rows = []
    for r in dm.itertuples(index=False):
        rows.append((r.USUBJID, "SCRN", "Screening", 1, "SCREENING", r.RFICDTC, r.RFXSTDTC[:10]))
        if not r.RFXSTDTC:
            continue
        trt_end = r.RFXENDTC[:10] if r.USUBJID in ended else ""
        rows.append((r.USUBJID, _treatment_etcd(r.ACTARMCD), r.ACTARM[:40] if len(r.ACTARM) <= 40 else r.ACTARMCD, 2, "TREATMENT",
                     r.RFXSTDTC[:10], trt_end))
        if trt_end:
            end = str(last_seen.get(r.USUBJID, ""))[:10]
            rows.append((r.USUBJID, "FU", "Follow-up", 3, "FOLLOW-UP", trt_end, end if end > trt_end else ""))
    se = pd.DataFrame(rows, columns=["USUBJID", "ETCD", "ELEMENT", "TAETORD", "EPOCH", "SESTDTC", "SEENDTC"])
    from ikema.cdisc.sdtm import study_day

    rf = se["USUBJID"].map(dm.set_index("USUBJID")["RFSTDTC"])
    se["SESTDY"] = study_day(se["SESTDTC"], rf)
    se["SEENDY"] = study_day(se["SEENDTC"], rf)
    se.insert(0, "STUDYID", studyid)
    se.insert(1, "DOMAIN", "SE")
    se.insert(3, "SESEQ", se.groupby("USUBJID").cumcount() + 1)
    return se


def subject_visits(domains: dict[str, pd.DataFrame], dm: pd.DataFrame, studyid: str) -> pd.DataFrame:
    """SV: one record per subject and visit held by the findings and exposure domains, from its first to its last date."""
    from ikema.cdisc.distinct import held

    parts = []
    for name, d in domains.items():
        dtc = "EXSTDTC" if name == "EX" else f"{name}DTC"
        if len(d) and "VISITNUM" in d:
            part = pd.DataFrame({"USUBJID": held(d["USUBJID"]), "VISITNUM": d["VISITNUM"].to_numpy(float),
                                 "VISIT": held(d["VISIT"]), "EPOCH": held(d["EPOCH"]),
                                 "D": held(d[dtc].astype(str).str.slice(0, 10))})
            parts.append(part.drop_duplicates())  # QS: half a million rows, a few thousand visits
    allv = pd.concat(parts, ignore_index=True)
    allv = allv.drop_duplicates().sort_values(["USUBJID", "VISITNUM", "D"], kind="stable")
    first = allv.drop_duplicates(["USUBJID", "VISITNUM"], keep="first").reset_index(drop=True)
    last = allv.drop_duplicates(["USUBJID", "VISITNUM"], keep="last").reset_index(drop=True)
    sv = first.rename(columns={"D": "SVSTDTC"}).assign(SVENDTC=last["D"].to_numpy())
    from ikema.cdisc.sdtm import study_day

    rf = sv["USUBJID"].map(dm.set_index("USUBJID")["RFSTDTC"])
    sv["SVSTDY"] = study_day(sv["SVSTDTC"], rf)
    sv["SVENDY"] = study_day(sv["SVENDTC"], rf)
    sv.insert(0, "STUDYID", studyid)
    sv.insert(1, "DOMAIN", "SV")
    return sv
