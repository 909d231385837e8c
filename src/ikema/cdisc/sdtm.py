"""SDTM domains (SDTMIG 3.4) from the trial's site records, a data cut on the domains' dates, and writing them as
SAS transport (XPT, labels and formats from the metadata table `ikema.cdisc.metadata`) and CSV.

Site records (`records`, a dict of DataFrames keyed by table) are what data entry holds: `subjects`,
`events`, `assessments`, `exposure`, `adverse_events`, `labs`, `pk`, `ada`, `questionnaires`, optionally
`criteria_not_met` (USUBJID, CRITERION: the screening verdicts "fail" of the subjects, for IE) (column
conventions in ikema.simulate.outcomes / ikema.simulate.safety and `records_from_store`).

Domains: trial design (TS, TA, TE, TV, TI from the protocol file: ikema.cdisc.trial_design), IE, DM + SUPPDM (QORIG),
SE, SV, EX, LB (haematology and the IMWG disease assessments: M-protein, free light chains, immunofixation, marrow
plasma cells, MRD; LBCAT DISEASE ASSESSMENT, LBTESTCD = the response engine's PARAM codes), RS (ECOG at
screening; the IMWG 2016 overall response per assessment date, RSEVAL INDEPENDENT ASSESSOR, derived by
ikema.response from the LB records it links to through RELREC; investigator-reported second progression PD2),
VS (height, weight), MH (the primary diagnosis), CM (prior and further anti-myeloma therapy), PR (prior
transplant, bone marrow aspirations), AE (MedDRA names, every seriousness criterion), QS, PC, IS, DS (one death
record per death, dated as DM.DTHDTC), SS (survival status), RELREC.
VISITNUM: cycle x 100 + day (CYCLE 3 DAY 15 = 315), SCREENING 1, END OF TREATMENT 8000, FOLLOW-UP DAY n 9000 + n.
EPOCH: SCREENING before the first dose, TREATMENT up to the last dose, FOLLOW-UP after it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ikema.cdisc.distinct import held, per_distinct

FURTHER_THERAPY = "FURTHER ANTI-MYELOMA THERAPY"
PRIOR_THERAPY = "PRIOR ANTI-MYELOMA THERAPY"
DISEASE = "DISEASE ASSESSMENT"
IMWG = "IMWG 2016"
DATE_VARS = {
    "DM": None, "SUPPDM": None, "SUPPEX": None, "EX": "EXSTDTC", "LB": "LBDTC", "RS": "RSDTC", "AE": "AESTDTC", "VS": "VSDTC",
    "QS": "QSDTC", "PC": "PCDTC", "IS": "ISDTC", "DS": "DSSTDTC", "SS": "SSDTC", "CM": "CMSTDTC", "PR": "PRSTDTC",
    "SE": "SESTDTC", "SV": "SVSTDTC", "MH": None, "RELREC": None, "TS": None, "TA": None, "TE": None, "TV": None,
    "TI": None, "IE": "IEDTC",
}
# the response engine's disease-assessment codes as LB tests: name, specimen, unit
DISEASE_TESTS = {
    "SMPROT": ("M-Protein, Serum", "SERUM", "g/dL"), "UMPROT": ("M-Protein, Urine 24h", "URINE", "mg/24h"),
    "FLCK": ("Kappa Light Chain, Free", "SERUM", "mg/L"), "FLCL": ("Lambda Light Chain, Free", "SERUM", "mg/L"),
    "SIFE": ("Immunofixation, Serum", "SERUM", ""), "UIFE": ("Immunofixation, Urine", "URINE", ""),
    "BMPC": ("Plasma Cells, Bone Marrow", "BONE MARROW", "%"), "CLONALPC": ("Clonal Plasma Cells", "BONE MARROW", ""),
    "MRD": ("Minimal Residual Disease by NGS", "BONE MARROW", ""),
}
HEMATOLOGY = {"NEUT": "Neutrophils", "PLAT": "Platelets", "HGB": "Hemoglobin", "LYM": "Lymphocytes"}
EOT_VISITNUM, FOLLOW_UP_VISITNUM = 8000, 9000


def _iso(dates) -> pd.Series:
    s = pd.to_datetime(pd.Series(dates), errors="coerce")
    return s.dt.strftime("%Y-%m-%d").fillna("")


def _day_to_iso(trtsdt: pd.Series, ady) -> pd.Series:
    d = pd.to_datetime(trtsdt.to_numpy()) + pd.to_timedelta(np.asarray(ady, dtype=float) - 1, unit="D")
    return per_distinct(pd.Series(d), lambda u: u.dt.strftime("%Y-%m-%d"))


def _yn(values: pd.Series) -> np.ndarray:
    """Y / N of a flag column; blank where the site entered nothing."""
    return np.where(values.isna(), "", np.where(values.fillna(False).astype(bool), "Y", "N"))


def _txt(values: pd.Series) -> pd.Series:
    """Text of a column; blank where the site entered nothing."""
    return values.astype(str).where(values.notna(), "")


def _seq(df: pd.DataFrame, prefix: str) -> pd.DataFrame:
    df = df.reset_index(drop=True)
    df.insert(3, f"{prefix}SEQ", df.groupby("USUBJID").cumcount() + 1)
    return df


def _ymd(dtc) -> pd.Series:
    """The dates of ISO date(-time) texts (NaT where not a date), each distinct text parsed once."""
    return per_distinct(pd.Series(held(dtc)),
                        lambda u: pd.to_datetime(u.astype(str).str.slice(0, 10), format="%Y-%m-%d", errors="coerce"))


def study_day(dtc: pd.Series, rfstdtc: pd.Series) -> np.ndarray:
    """SDTM study day of ISO dates against the reference start dates (no day 0; missing where either is)."""
    d = _ymd(dtc)
    r = _ymd(rfstdtc)
    delta = (d.to_numpy() - r.to_numpy()) / np.timedelta64(1, "D")
    return np.where(delta >= 0, delta + 1, delta)


def visitnum(visit: pd.Series) -> np.ndarray:
    """VISITNUM of visit names: CYCLE c DAY d = 100c + d, SCREENING 1, END OF TREATMENT 8000, FOLLOW-UP DAY n 9000 + n."""
    codes, names = pd.factorize(pd.Series(visit).astype(str), use_na_sentinel=False)
    return _visitnum(pd.Series(names))[codes]


def _visitnum(visit: pd.Series) -> np.ndarray:
    v = visit.str.upper()
    cyc = v.str.extract(r"CYCLE (\d+) DAY (\d+)").astype(float)
    fu = v.str.extract(r"FOLLOW-UP DAY (\d+)")[0].astype(float)
    out = cyc[0] * 100 + cyc[1]
    out = out.fillna(FOLLOW_UP_VISITNUM + fu)
    out = out.where(v != "END OF TREATMENT", EOT_VISITNUM).where(v != "SCREENING", 1.0)
    return out.to_numpy(float)


def visit_of_day(ady, cycle_days: int) -> tuple[np.ndarray, np.ndarray]:
    """(VISIT, VISITNUM) of study days on the cycle calendar: CYCLE c DAY d from the first dose; SCREENING before."""
    a = np.asarray(ady, dtype=float)
    c = (a - 1) // cycle_days + 1
    d = (a - 1) % cycle_days + 1
    days, where = np.unique(a, return_inverse=True)  # each distinct day's name written once
    uc, ud = (days - 1) // cycle_days + 1, (days - 1) % cycle_days + 1
    names = np.array([f"CYCLE {int(x)} DAY {int(y)}" if z >= 1 else "SCREENING" for x, y, z in zip(uc, ud, days)], dtype=object)
    return names[where.reshape(-1)] if len(a) else names, np.where(a >= 1, c * 100 + d, 1.0)


def build_sdtm(records: dict[str, pd.DataFrame], studyid: str, strata_labels: Mapping[str, str] | None = None,
               protocol=None, criteria=None, domains: Collection[str] | None = None,
               lean: bool = False) -> dict[str, pd.DataFrame]:
    """SDTM domains from site records (see module docstring); `strata_labels`: SUPPDM QLABEL of each STRATnR (the
    protocol's factor labels); `protocol` (default: the IKEMA protocol file) gives the trial design domains and the
    cycle calendar, `criteria` the IMWG criteria of RS (default: the engine's). A twin replicate builds what its
    ADaM reads: `domains`, only these (None: every domain; DM then lacks RFPENDTC, the latest date of every domain);
    `lean`, QS as USUBJID and QSDTC of each subject's questionnaire dates once and RS without the per-assessment IMWG
    responses (ADaM reads of them the last date known alive, ECOG and second progression; ADRS derives responses
    from LB), which leaves SV's visits unknown (not with SV)."""
    strata_labels = dict(strata_labels or {})
    want = (lambda _name: True) if domains is None else set(domains).__contains__
    if lean and want("SV"):
        raise ValueError("build_sdtm: lean leaves QS and RS without the visits SV reads; expected domains without SV")
    from ikema.cdisc.trial_design import trial_design
    from ikema.protocol import load_protocol

    protocol = protocol if protocol is not None else load_protocol()
    cycle_days = int(protocol.cycle_length_days)
    subj = records["subjects"].copy()
    ev = records["events"].set_index("USUBJID")
    trt = subj["USUBJID"].map(pd.to_datetime(ev["TRTSDT"]))
    start = dict(zip(subj["USUBJID"], trt))
    first_dose = subj["USUBJID"].map(pd.to_datetime(ev["TRTSDT"]))
    last_dose = subj["USUBJID"].map(pd.to_datetime(ev["TRTEDT"]))
    first_by = dict(zip(subj["USUBJID"], first_dose))
    last_by = dict(zip(subj["USUBJID"], last_dose))

    def day_iso(ids: pd.Series, ady) -> np.ndarray:
        return _day_to_iso(per_distinct(ids, lambda u: u.map(start)), ady).to_numpy()

    def head(domain: str, ids) -> dict:
        return {"STUDYID": studyid, "DOMAIN": domain, "USUBJID": held(ids)}

    def epoch(ids, dtc) -> np.ndarray:
        # each subject and each date parsed once (QS: half a million rows), then compared as numpy arrays
        subj_codes, subj_uniq = pd.factorize(held(ids), use_na_sentinel=False)
        day = pd.Series(held(dtc)).astype(str).str.slice(0, 10)
        day_codes, day_uniq = pd.factorize(day, use_na_sentinel=False)
        d = pd.to_datetime(pd.Series(day_uniq), format="%Y-%m-%d", errors="coerce").to_numpy()[day_codes]
        who = pd.Series(subj_uniq)
        f = pd.to_datetime(who.map(first_by)).to_numpy()[subj_codes]
        last = pd.to_datetime(who.map(last_by)).to_numpy()[subj_codes]
        out = np.where(d < f, "SCREENING", np.where(d <= last, "TREATMENT", "FOLLOW-UP"))
        out = np.where(np.isnat(f), "SCREENING", out)
        return np.where(np.isnat(d), "", out)

    ids = subj["USUBJID"]
    rfst = _iso(ids.map(ev["TRTSDT"])).to_numpy()
    rfst_by = dict(zip(ids, rfst))

    def dy(ids_, dtc) -> np.ndarray:
        return study_day(pd.Series(held(dtc)), per_distinct(pd.Series(held(ids_)), lambda u: u.map(rfst_by)))

    def with_visit(df: pd.DataFrame, prefix: str, ady, visit=None) -> pd.DataFrame:
        if visit is None:
            name, num = visit_of_day(ady, cycle_days)
        else:
            name, num = held(visit) if isinstance(visit, pd.Series) else np.asarray(visit, dtype=object), visitnum(pd.Series(held(visit)))
        df.insert(df.columns.get_loc(f"{prefix}DTC"), "VISITNUM", num)
        df.insert(df.columns.get_loc(f"{prefix}DTC"), "VISIT", name)
        df.insert(df.columns.get_loc(f"{prefix}DTC"), "EPOCH", epoch(df["USUBJID"], df[f"{prefix}DTC"]))
        return df

    dth = _iso(ids.map(ev["DTHDT"])).to_numpy()
    country = subj["COUNTRY"].to_numpy() if "COUNTRY" in subj else np.full(len(subj), "")
    dm = pd.DataFrame({
        **head("DM", ids), "SUBJID": subj["SUBJID"].to_numpy(), "RFSTDTC": rfst,
        "RFENDTC": _iso(ids.map(ev["TRTEDT"])).to_numpy(), "RFXSTDTC": rfst,
        "RFXENDTC": _iso(ids.map(ev["TRTEDT"])).to_numpy(), "RFICDTC": _iso(subj["ICDT"]).to_numpy(),
        "RFPENDTC": "", "DTHDTC": dth, "DTHFL": np.where(dth != "", "Y", ""),
        "SITEID": subj["SITEID"].to_numpy(), "AGE": subj["AGE"].to_numpy(int) if subj["AGE"].notna().all() else subj["AGE"].astype("Int64").to_numpy(), "AGEU": "YEARS", "SEX": subj["SEX"].to_numpy(),
        "RACE": subj["RACE"].to_numpy() if "RACE" in subj else "NOT REPORTED",
        "ETHNIC": subj["ETHNIC"].to_numpy() if "ETHNIC" in subj else "NOT REPORTED",
        "ARMCD": subj["ARM"].to_numpy(), "ARM": subj["ARMLABEL"].to_numpy(),
        "ACTARMCD": np.where(pd.notna(first_dose), subj["ARM"].to_numpy(), "NOTTRT"),
        "ACTARM": np.where(pd.notna(first_dose), subj["ARMLABEL"].to_numpy(), "Not Treated"),
        "COUNTRY": country,
    })
    yn = lambda col: _yn(subj[col])  # noqa: E731
    quals = {
        **{c: (strata_labels.get(c, f"Stratification factor {c[5:-1]}")[:40], _txt(subj[c]), "Assigned")
           for c in subj.columns if re.fullmatch(r"STRAT\d+R", str(c))},  # the IRT's stratum
        "ISS": ("ISS Stage at Study Entry", _txt(subj["ISS"]), "Collected"),
        "RISS": ("R-ISS Stage at Study Entry", subj["RISS"], "Derived"),
        "HIGHRISK": ("High-Risk Cytogenetics", yn("HIGHRISK"), "Collected"),
        "CYTOMISS": ("Cytogenetics Not Evaluable", yn("CYTOMISS"), "Collected"),
        "GAIN1Q": ("Gain(1q21)", yn("GAIN1Q"), "Collected"),
        "PRLINES": ("Number of Prior Lines", _txt(subj["PRIOR_LINES"]), "Collected"),
        "PRLEN": ("Prior Lenalidomide", yn("PRIOR_LENALIDOMIDE"), "Collected"),
        "PRBTZ": ("Prior Bortezomib", yn("PRIOR_BORTEZOMIB"), "Collected"),
        "LENREF": ("Refractory to Lenalidomide", yn("LEN_REFRACTORY"), "Collected"),
        "EGFRLT60": ("eGFR < 60 mL/min/1.73m2", _yn(pd.to_numeric(subj["CRCL"], errors="coerce").lt(60).where(subj["CRCL"].notna())),
                     "Derived"),
        "ISOTYPE": ("Myeloma Isotype", (subj["ISOTYPE"] + "-" + subj["LIGHT_CHAIN"]).to_numpy(), "Collected"),
    }
    suppdm = pd.concat([pd.DataFrame({"STUDYID": studyid, "RDOMAIN": "DM", "USUBJID": ids.to_numpy(), "IDVAR": "", "IDVARVAL": "",
                                      "QNAM": q, "QLABEL": lab, "QVAL": np.asarray(v, dtype=object), "QORIG": orig,
                                      "QEVAL": "" if orig == "Collected" else "SPONSOR" if orig == "Derived" else ""})
                        for q, (lab, v, orig) in quals.items()],
                       ignore_index=True).sort_values(["USUBJID", "QNAM"], kind="stable").reset_index(drop=True)
    scr = _iso(subj["ICDT"]).to_numpy()
    vs = pd.concat([pd.DataFrame({**head("VS", ids), "VSTESTCD": code, "VSTEST": name, "VSORRES": v.map(lambda x: f"{x:g}").to_numpy(),
                                  "VSORRESU": unit, "VSSTRESC": v.map(lambda x: f"{x:g}").to_numpy(), "VSSTRESN": v.to_numpy(float),
                                  "VSSTRESU": unit, "VSLOBXFL": "Y", "VSDTC": scr})
                    for code, name, unit, v in (("HEIGHT", "Height", "cm", subj["HEIGHT_CM"]), ("WEIGHT", "Weight", "kg", subj["WEIGHT_KG"]))],
                   ignore_index=True).sort_values(["USUBJID", "VSTESTCD"], kind="stable")
    vs = _seq(vs, "VS")
    vs = with_visit(vs, "VS", np.zeros(len(vs)), visit=np.full(len(vs), "SCREENING", dtype=object))
    vs["VSDY"] = dy(vs["USUBJID"], vs["VSDTC"])
    mh = _seq(pd.DataFrame({**head("MH", ids), "MHTERM": "MULTIPLE MYELOMA", "MHDECOD": "Plasma cell myeloma",
                            "MHCAT": "PRIMARY DIAGNOSIS", "MHPRESP": "Y", "MHOCCUR": "Y", "MHENRTPT": "ONGOING",
                            "MHENTPT": scr}), "MH")
    ex = records["exposure"]
    exdtc = day_iso(ex["USUBJID"], ex["ADY"])
    exdtm = held(pd.Series(exdtc, dtype="str") + "T09:00")  # (text joined as held, not per record in Python)
    exd = _seq(pd.DataFrame({
        **head("EX", ex["USUBJID"]), "EXTRT": held(ex["DRUG"].str.upper()), "EXDOSE": ex["DOSE_MG"].to_numpy(float),
        "EXDOSU": "mg", "EXROUTE": held(ex["ROUTE"].str.upper()),
        "EXADJ": np.where(ex["DOSE_MG"].to_numpy(float) == ex["PLANNED_MG"].to_numpy(float), "", "DOSE REDUCED"),
        "EXSTDTC": exdtm, "EXENDTC": exdtm.copy(), "EXSTDY": ex["ADY"].to_numpy(int),
    }), "EX")
    exvisit = [f"CYCLE {c} DAY {d}" for c, d in zip(ex["CYCLE"], ex["DAY"])]
    exd.insert(exd.columns.get_loc("EXSTDTC"), "VISITNUM", visitnum(pd.Series(exvisit)))
    exd.insert(exd.columns.get_loc("EXSTDTC"), "VISIT", exvisit)
    exd.insert(exd.columns.get_loc("EXSTDTC"), "EPOCH", epoch(exd["USUBJID"], exd["EXSTDTC"]))
    planned = ex["PLANNED_MG"].to_numpy(float)
    adj = planned != exd["EXDOSE"].to_numpy(float)
    suppex = pd.DataFrame({"STUDYID": studyid, "RDOMAIN": "EX", "USUBJID": exd.loc[adj, "USUBJID"].to_numpy(), "IDVAR": "EXSEQ",
                           "IDVARVAL": exd.loc[adj, "EXSEQ"].astype(str).to_numpy(), "QNAM": "EXPLDOS", "QLABEL": "Planned Dose",
                           "QVAL": [f"{x:g}" for x in planned[adj]], "QORIG": "Derived", "QEVAL": ""})
    lb = records["labs"]
    lbtxt = lb["VALUE"].map(lambda x: f"{x:g}").to_numpy()
    hem = pd.DataFrame({
        "USUBJID": lb["USUBJID"].to_numpy(), "LBTESTCD": lb["LBTESTCD"].to_numpy(), "LBTEST": lb["LBTESTCD"].map(HEMATOLOGY).fillna(lb["LBTEST"]).to_numpy(),
        "LBCAT": "HEMATOLOGY", "LBSPEC": "BLOOD", "LBORRES": lbtxt, "LBORRESU": lb["UNIT"].to_numpy(),
        "LBSTRESC": lbtxt.copy(), "LBSTRESN": lb["VALUE"].to_numpy(float),
        "LBSTRESU": lb["UNIT"].to_numpy(), "LBSTNRLO": lb["LLN"].to_numpy(float), "LBLNKID": "",
        "ADY": lb["ADY"].to_numpy(int),
    })
    a = records["assessments"]
    known = a["PARAM"].isin(list(DISEASE_TESTS))
    if not known.all():
        from ikema.errors import input_error

        i = int(np.flatnonzero(~known.to_numpy())[0])
        raise input_error("assessments", i + 1, "PARAM", a["PARAM"].iloc[i], f"one of {sorted(DISEASE_TESTS)}")
    txt = np.where(a["AVALC"].fillna("") != "", a["AVALC"].fillna(""),
                   per_distinct(a["AVAL"], lambda u: u.map(lambda v: "" if pd.isna(v) else f"{v:g}")))
    adtc = day_iso(a["USUBJID"], a["ADY"])
    dis = pd.DataFrame({
        "USUBJID": a["USUBJID"].to_numpy(), "LBTESTCD": a["PARAM"].to_numpy(), "LBTEST": a["PARAM"].map({p: t[0] for p, t in DISEASE_TESTS.items()}).to_numpy(),
        "LBCAT": DISEASE, "LBSPEC": a["PARAM"].map({p: t[1] for p, t in DISEASE_TESTS.items()}).to_numpy(), "LBORRES": txt,
        "LBORRESU": a["PARAM"].map({p: t[2] for p, t in DISEASE_TESTS.items()}).to_numpy(), "LBSTRESC": txt, "LBSTRESN": a["AVAL"].to_numpy(float),
        "LBSTRESU": a["PARAM"].map({p: t[2] for p, t in DISEASE_TESTS.items()}).to_numpy(), "LBSTNRLO": np.nan,
        "LBLNKID": [f"IMWG {d}" for d in adtc], "ADY": a["ADY"].to_numpy(int),
    })
    lball = pd.concat([hem, dis], ignore_index=True).sort_values(["USUBJID", "ADY", "LBCAT", "LBTESTCD"], kind="stable")
    lbd = _seq(pd.DataFrame({**head("LB", lball["USUBJID"]), **{c: held(lball[c]) for c in lball.columns if c not in ("USUBJID", "ADY")},
                             "LBDTC": day_iso(lball["USUBJID"], lball["ADY"])}), "LB")
    lbd = with_visit(lbd, "LB", lball["ADY"].to_numpy())
    lbd["LBDY"] = lball["ADY"].to_numpy(int)
    ae = records["adverse_events"]
    ser = ae["AESER"].to_numpy() == "Y"
    fatal = ae["AESDTH"].to_numpy() == "Y"
    grade = ae["AETOXGR"].astype(int).to_numpy()
    crit = lambda m: np.where(ser, np.where(m, "Y", "N"), "")  # noqa: E731  (criteria asked of serious events only)
    aestdtc = day_iso(ae["USUBJID"], ae["AESTDY"])
    aeendtc = np.where(ae["AEOUT"] == "NOT RECOVERED/NOT RESOLVED", "", day_iso(ae["USUBJID"], ae["AEENDY"]))
    aed = _seq(pd.DataFrame({
        **head("AE", ae["USUBJID"]), "AETERM": ae["AETERM"].to_numpy(), "AELLT": ae["AEDECOD"].to_numpy(),
        "AEDECOD": ae["AEDECOD"].to_numpy(), "AEHLT": "", "AEHLGT": "",  # MedDRA codes and HLT/HLGT: licensed, not carried
        **{c: np.nan for c in ("AELLTCD", "AEPTCD", "AEHLTCD", "AEHLGTCD", "AEBDSYCD", "AESOCCD")},
        "AEBODSYS": ae["AEBODSYS"].to_numpy(), "AESOC": ae["AEBODSYS"].to_numpy(),
        "AESER": ae["AESER"].to_numpy(), "AEACN": ae["AEACN"].to_numpy(), "AEREL": ae["AEREL"].to_numpy(),
        "AEOUT": ae["AEOUT"].to_numpy(), "AESCAN": crit(False), "AESCONG": crit(False), "AESDISAB": crit(False),
        "AESDTH": np.where(ser | fatal, np.where(fatal, "Y", "N"), ""), "AESHOSP": crit(~fatal & (grade < 4)),
        "AESLIFE": crit(~fatal & (grade == 4)), "AESMIE": crit(False),
        "AETOXGR": ae["AETOXGR"].astype(int).astype(str).to_numpy(),
        "EPOCH": epoch(ae["USUBJID"], aestdtc), "AESTDTC": aestdtc, "AEENDTC": aeendtc,
        "AESTDY": ae["AESTDY"].to_numpy(int),
    }), "AE")
    aed["AEENDY"] = dy(aed["USUBJID"], aed["AEENDTC"])
    q = records["questionnaires"]
    if lean:  # the subjects' questionnaire dates, each once (what ADSL's last date known alive reads)
        q = q[["USUBJID", "ADY"]].drop_duplicates()
        qs = pd.DataFrame({**head("QS", q["USUBJID"]), "QSDTC": day_iso(q["USUBJID"], q["ADY"])})
    else:
        qdtc = day_iso(q["USUBJID"], q["ADY"])
        qs = _seq(pd.DataFrame({
            **head("QS", q["USUBJID"]), "QSTESTCD": held(q["QSTESTCD"]), "QSTEST": held(q["QSTESTCD"].map({c: _qs_test(c) for c in q["QSTESTCD"].unique()})),
            "QSCAT": held(q["QSCAT"]), "QSORRES": held(q["QSORRES"]), "QSSTRESC": held(q["QSORRES"]),
            "QSSTRESN": per_distinct(q["QSORRES"], lambda u: pd.to_numeric(u, errors="coerce").astype(float)).to_numpy(float), "QSDTC": qdtc,
        }), "QS")
        qs = with_visit(qs, "QS", None, visit=q["VISIT"])
        qs["QSDY"] = q["ADY"].to_numpy(int)
    pc = is_ = None
    if want("PC") or want("IS") or want("SV"):
        pk = records["pk"].sort_values(["USUBJID", "ANALYTE", "ADY", "HOUR"], kind="stable").reset_index(drop=True)
        pdate = day_iso(pk["USUBJID"], pk["ADY"])
        hours = pk["HOUR"].to_numpy(float)
        conc = np.where(pk["VALUE"] > 0, pk["VALUE"].map(lambda x: f"{x:g}"), "BLQ")
        nom = pk["NOMDY"].to_numpy(int)
        pc = _seq(pd.DataFrame({
            **head("PC", pk["USUBJID"]), "PCTESTCD": pk["ANALYTE"].str.slice(0, 8).to_numpy(), "PCTEST": pk["ANALYTE"].str.title().to_numpy(),
            "PCSPEC": "PLASMA", "PCORRES": conc, "PCORRESU": pk["UNIT"].to_numpy(),
            "PCSTRESC": conc, "PCSTRESN": np.where(pk["VALUE"] > 0, pk["VALUE"], np.nan),
            "PCSTRESU": pk["UNIT"].to_numpy(), "PCLLOQ": pk["LLOQ"].to_numpy(float),
            "PCDTC": [f"{d}T{int(h):02d}:{int(round((h % 1) * 60)) % 60:02d}" for d, h in zip(pdate, hours)],
        }), "PC")
        pvis, pnum = visit_of_day(nom, cycle_days)
        pc.insert(pc.columns.get_loc("PCDTC"), "VISITNUM", pnum)
        pc.insert(pc.columns.get_loc("PCDTC"), "VISIT", pvis)
        pc.insert(pc.columns.get_loc("PCDTC"), "VISITDY", nom)
        pc.insert(pc.columns.get_loc("PCDTC"), "EPOCH", epoch(pc["USUBJID"], pc["PCDTC"]))
        pc["PCDY"] = pk["ADY"].to_numpy(int)
        pc["PCTPT"] = pk["TPT"].to_numpy()
        pc["PCTPTNUM"] = np.where(pk["TPT"].str.contains("PRE"), -1, 1)
        ada = records["ada"].sort_values(["USUBJID", "ADY"], kind="stable").reset_index(drop=True)
        is_ = _seq(pd.DataFrame({
            **head("IS", ada["USUBJID"]), "ISTESTCD": "ADA_BAB", "ISTEST": "Anti-isatuximab antibodies",
            "ISORRES": ada["RESULT"].to_numpy(), "ISSTRESC": ada["RESULT"].to_numpy(), "ISSTRESN": ada["TITER"].to_numpy(float),
            "ISDTC": day_iso(ada["USUBJID"], ada["ADY"]),
        }), "IS")
        is_ = with_visit(is_, "IS", None, visit=ada["VISIT"].to_numpy())
        is_["ISDY"] = ada["ADY"].to_numpy(int)
    e = records["events"]
    ds_rows = [
        pd.DataFrame({**head("DS", subj["USUBJID"]), "DSTERM": "RANDOMIZED", "DSDECOD": "RANDOMIZED", "DSCAT": "PROTOCOL MILESTONE",
                      "DSSTDTC": _iso(subj["RANDDT"]).to_numpy()}),
    ]
    done = e[e["EOTREAS"] != "ONGOING"]
    died_on = done["EOTREAS"] == "DEATH"
    # a death ending treatment is the subject's one death record, dated the death (DM.DTHDTC)
    ds_rows.append(pd.DataFrame({**head("DS", done["USUBJID"]), "DSTERM": np.where(died_on, done["DTHCAUS"].replace("", "DEATH"), done["EOTREAS"]),
                                 "DSDECOD": done["EOTREAS"].to_numpy(), "DSCAT": "DISPOSITION EVENT", "DSSCAT": "END OF TREATMENT",
                                 "DSSTDTC": np.where(died_on, _iso(done["DTHDT"]).to_numpy(), _iso(done["TRTEDT"]).to_numpy())}))
    dead = e[e["DTHDT"].notna() & ~e["USUBJID"].isin(done.loc[died_on, "USUBJID"])]
    ds_rows.append(pd.DataFrame({**head("DS", dead["USUBJID"]), "DSTERM": dead["DTHCAUS"].replace("", "DEATH").to_numpy(), "DSDECOD": "DEATH",
                                 "DSCAT": "DISPOSITION EVENT", "DSSCAT": "END OF STUDY", "DSSTDTC": _iso(dead["DTHDT"]).to_numpy()}))
    wd = e[e["WITHDRAWN"] & e["DTHDT"].isna()]
    ds_rows.append(pd.DataFrame({**head("DS", wd["USUBJID"]), "DSTERM": "WITHDRAWAL BY SUBJECT", "DSDECOD": "WITHDRAWAL BY SUBJECT",
                                 "DSCAT": "DISPOSITION EVENT", "DSSCAT": "END OF STUDY", "DSSTDTC": _iso(wd["WDDT"]).to_numpy()}))
    ds = _seq(pd.concat(ds_rows, ignore_index=True).fillna("").sort_values(["USUBJID", "DSSTDTC"], kind="stable"), "DS")
    ds.insert(ds.columns.get_loc("DSSTDTC"), "EPOCH", epoch(ds["USUBJID"], ds["DSSTDTC"]))
    ds["DSSTDY"] = dy(ds["USUBJID"], ds["DSSTDTC"])
    alive = e[e["DTHDT"].isna()]
    # survival status: ALIVE at each follow-up contact after treatment and at the last contact of the living
    seen = [pd.DataFrame({"USUBJID": alive["USUBJID"].to_numpy(), "DT": _iso(alive["LSTALVDT"]).to_numpy()})]
    if "CONTACTDT" in e:
        fu = e[["USUBJID", "CONTACTDT"]].explode("CONTACTDT").dropna(subset=["CONTACTDT"])
        seen.append(pd.DataFrame({"USUBJID": fu["USUBJID"].to_numpy(), "DT": _iso(fu["CONTACTDT"].to_numpy()).to_numpy()}))
    seen_df = pd.concat(seen, ignore_index=True).drop_duplicates().sort_values(["USUBJID", "DT"], kind="stable")
    ss = _seq(pd.DataFrame({**head("SS", seen_df["USUBJID"]), "SSTESTCD": "SURVSTAT", "SSTEST": "Survival Status",
                            "SSORRES": "ALIVE", "SSSTRESC": "ALIVE", "SSDTC": seen_df["DT"].to_numpy()}), "SS")
    ss.insert(ss.columns.get_loc("SSDTC"), "EPOCH", epoch(ss["USUBJID"], ss["SSDTC"]))
    ss["SSDY"] = dy(ss["USUBJID"], ss["SSDTC"])
    nt = e[e["NEWTHDT"].notna()]
    prior = [pd.DataFrame({**head("CM", subj.loc[subj[col].fillna(False).astype(bool), "USUBJID"]), "CMTRT": trt_, "CMCAT": PRIOR_THERAPY, "CMENRF": "BEFORE",
                           "CMSTDTC": ""}) for col, trt_ in (("PRIOR_LENALIDOMIDE", "LENALIDOMIDE"), ("PRIOR_BORTEZOMIB", "BORTEZOMIB"))
             if col in subj]
    cm = pd.concat([*prior, pd.DataFrame({**head("CM", nt["USUBJID"]), "CMTRT": "FURTHER ANTI-MYELOMA REGIMEN", "CMCAT": FURTHER_THERAPY,
                                          "CMENRF": "", "CMSTDTC": _iso(nt["NEWTHDT"]).to_numpy()})], ignore_index=True)
    cm = _seq(cm.sort_values(["USUBJID", "CMSTDTC"], kind="stable"), "CM")
    cm.insert(cm.columns.get_loc("CMSTDTC"), "EPOCH", epoch(cm["USUBJID"], cm["CMSTDTC"]))
    cm["CMSTDY"] = dy(cm["USUBJID"], cm["CMSTDTC"])
    pr = None
    if want("PR"):
        bm = lbd[lbd["LBTESTCD"] == "BMPC"]
        asct = subj[subj["PRIOR_ASCT"].fillna(False).astype(bool)] if "PRIOR_ASCT" in subj else subj.iloc[:0]
        pr = pd.concat([
            pd.DataFrame({**head("PR", asct["USUBJID"]), "PRTRT": "AUTOLOGOUS STEM CELL TRANSPLANT", "PRCAT": PRIOR_THERAPY, "PRENRF": "BEFORE",
                          "PRSTDTC": ""}),
            pd.DataFrame({**head("PR", bm["USUBJID"]), "PRTRT": "BONE MARROW ASPIRATION", "PRCAT": DISEASE, "PRENRF": "",
                          "PRSTDTC": bm["LBDTC"].to_numpy()}),
        ], ignore_index=True)
        pr = _seq(pr.sort_values(["USUBJID", "PRSTDTC"], kind="stable"), "PR")
        pr.insert(pr.columns.get_loc("PRSTDTC"), "EPOCH", epoch(pr["USUBJID"], pr["PRSTDTC"]))
        pr["PRSTDY"] = dy(pr["USUBJID"], pr["PRSTDTC"])
    rs = _rs(records, subj, e, studyid, day_iso, criteria, scr, responses=not lean)
    rs = with_visit(rs, "RS", rs.pop("_ADY").to_numpy())
    rs["RSDY"] = dy(rs["USUBJID"], rs["RSDTC"])
    relrec = pd.DataFrame({"STUDYID": studyid, "RDOMAIN": ["RS", "LB"], "USUBJID": "", "IDVAR": ["RSLNKID", "LBLNKID"], "IDVARVAL": "",
                           "RELTYPE": ["ONE", "MANY"], "RELID": "IMWG"})
    out = {"DM": dm, "SUPPDM": suppdm}
    if domains is None or any(map(want, ("TS", "TA", "TE", "TV", "TI"))):
        out.update(trial_design(protocol, studyid, [c for c in dm["COUNTRY"].astype(str) if c]))
    out.update({"SE": None, "SV": None, "EX": exd, "SUPPEX": suppex, "LB": lbd, "RS": rs, "VS": vs, "MH": mh, "CM": cm, "PR": pr, "AE": aed, "QS": qs,
                "PC": pc, "IS": is_, "DS": ds, "SS": ss, "RELREC": relrec})
    from ikema.cdisc.trial_design import inclusion_exclusion, subject_elements, subject_visits

    if want("IE"):
        out["IE"] = inclusion_exclusion(records.get("criteria_not_met", pd.DataFrame(columns=["USUBJID", "CRITERION"])), dm, protocol, studyid)
    if want("SE"):
        out["SE"] = subject_elements(dm, ds, ss, studyid)
    if want("SV"):
        out["SV"] = subject_visits({k: out[k] for k in ("EX", "LB", "QS", "PC", "IS", "VS", "RS")}, dm, studyid)
    if domains is None:
        dm["RFPENDTC"] = _end_of_participation(out)
    else:
        del dm["RFPENDTC"]
    # a domain without records (nothing entered yet) keeps its variables as text columns
    return {k: (v.astype(object) if v.empty else v) for k, v in out.items() if want(k)}


def _end_of_participation(sdtm: dict[str, pd.DataFrame]) -> np.ndarray:
    """RFPENDTC: the subject's latest dated record (death, withdrawal, last contact, last assessment)."""
    latest = []  # each domain's latest date per subject, then the latest of those (no concatenation of every record)
    for k, v in DATE_VARS.items():
        if v and k in sdtm and v in sdtm[k]:
            d = sdtm[k][v].astype(str).str.slice(0, 10)
            dated = d != ""
            latest.append(d[dated].groupby(sdtm[k]["USUBJID"][dated]).max())
    last = pd.concat(latest).groupby(level=0).max()
    return sdtm["DM"]["USUBJID"].map(last).fillna("").to_numpy()


def _qs_test(code: str) -> str:
    """QSTEST of an EORTC / EQ-5D-5L item code (EOR0101 -> EORTC QLQ-C30 Item 01)."""
    m = re.fullmatch(r"EOR(01|19)(\d\d)", str(code))
    if m:
        return f"EORTC {'QLQ-C30' if m.group(1) == '01' else 'QLQ-MY20'} Item {m.group(2)}"
    dims = {"EQ5D0201": "Mobility", "EQ5D0202": "Self-Care", "EQ5D0203": "Usual Activities", "EQ5D0204": "Pain/Discomfort",
            "EQ5D0205": "Anxiety/Depression", "EQ5D0206": "EQ VAS Score"}
    return f"EQ-5D-5L {dims.get(str(code), str(code))}"


def _rs(records, subj, e, studyid, day_iso, criteria, scr, responses: bool = True) -> pd.DataFrame:
    """RS: ECOG at screening, the IMWG overall response per assessment date (ikema.response; not without
    `responses`), investigator PD2."""
    from ikema.response import evaluate

    a = records["assessments"]
    ev = e.set_index("USUBJID")
    start = pd.to_datetime(ev["TRTSDT"])

    def day(col: str) -> pd.Series:
        d = (pd.to_datetime(ev[col]) - start).dt.days
        return d.where(d < 0, d + 1)

    days = pd.DataFrame({"USUBJID": ev.index, "NEWTHDY": day("NEWTHDT").to_numpy(), "DTHDY": day("DTHDT").to_numpy()})
    head = lambda ids: {"STUDYID": studyid, "DOMAIN": "RS", "USUBJID": np.asarray(ids)}  # noqa: E731
    ecog = pd.DataFrame({**head(subj["USUBJID"]), "RSTESTCD": "ECOG101", "RSTEST": "ECOG1-Performance Status", "RSCAT": "ECOG",
                         "RSORRES": subj["ECOG"].astype(str).to_numpy(), "RSSTRESC": subj["ECOG"].astype(str).to_numpy(),
                         "RSEVAL": "INVESTIGATOR", "RSLNKID": "", "RSDTC": scr, "_ADY": 0})
    parts = [ecog]
    if responses:
        res = evaluate(a[["USUBJID", "ADY", "PARAM", "AVAL", "AVALC"]], criteria, subjects=days, interference="assessed").responses
        rdtc = day_iso(res["USUBJID"], res["ADY"])
        parts.append(pd.DataFrame({**head(res["USUBJID"]), "RSTESTCD": "OVRLRESP", "RSTEST": "Overall Response", "RSCAT": IMWG,
                                   "RSORRES": res["RESP"].to_numpy(), "RSSTRESC": res["RESP"].to_numpy(), "RSEVAL": "INDEPENDENT ASSESSOR",
                                   "RSLNKID": [f"IMWG {d}" for d in rdtc], "RSDTC": rdtc, "_ADY": res["ADY"].to_numpy()}))
    p2 = e[e["PD2DT"].notna()]
    p2dtc = _iso(p2["PD2DT"]).to_numpy()
    pd2 = pd.DataFrame({**head(p2["USUBJID"]), "RSTESTCD": "PD2", "RSTEST": "Progression on Next Line of Therapy",
                        "RSCAT": "INVESTIGATOR", "RSORRES": "Y", "RSSTRESC": "Y", "RSEVAL": "INVESTIGATOR", "RSLNKID": "", "RSDTC": p2dtc,
                        "_ADY": study_day(pd.Series(p2dtc), _iso(p2["USUBJID"].map(ev["TRTSDT"]))) if len(p2) else []})
    rs = pd.concat([*parts, pd2], ignore_index=True).sort_values(["USUBJID", "RSDTC", "RSCAT"], kind="stable")
    return _seq(rs, "RS")


def exposure_with_planned_dose(sdtm: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """EX with EXPLDOS, the planned dose of each administration: SUPPEX EXPLDOS where the dose was adjusted, else EXDOSE."""
    ex = sdtm["EX"]
    supp = sdtm.get("SUPPEX")
    planned = pd.Series(np.nan, index=ex.index)
    if supp is not None and len(supp):
        q = supp[supp["QNAM"] == "EXPLDOS"]
        key = pd.Series(q["QVAL"].astype(float).to_numpy(), index=pd.MultiIndex.from_arrays([q["USUBJID"], q["IDVARVAL"].astype(int)]))
        planned = pd.Series(key.reindex(pd.MultiIndex.from_arrays([ex["USUBJID"], ex["EXSEQ"].astype(int)])).to_numpy(), index=ex.index)
    return ex.assign(EXPLDOS=planned.fillna(ex["EXDOSE"].astype(float)))


def disease_assessments(sdtm: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The IMWG engine's input from SDTM LB (LBCAT DISEASE ASSESSMENT): USUBJID, ADT, ADY, PARAM, AVAL, AVALC."""
    lb = sdtm["LB"]
    d = lb[["USUBJID", "LBDTC", "LBDY", "LBTESTCD", "LBSTRESN", "LBSTRESC"]][lb["LBCAT"] == DISEASE]  # columns used first
    return pd.DataFrame({"USUBJID": held(d["USUBJID"]), "ADT": held(d["LBDTC"]), "ADY": d["LBDY"].to_numpy(),
                         "PARAM": held(d["LBTESTCD"]), "AVAL": d["LBSTRESN"].to_numpy(float),
                         "AVALC": np.where(pd.isna(d["LBSTRESN"]), d["LBSTRESC"], "")})


def data_cut(sdtm: dict[str, pd.DataFrame], cutoff: object) -> dict[str, pd.DataFrame]:
    """The domains as a data cut at `cutoff` would hold them: records dated after it are removed (undated ones,
    e.g. prior therapy, kept), end dates after it become blank (ongoing), DM's reference end, last-treatment, death
    and end-of-participation dates are those known at the cut."""
    cut = pd.Timestamp(cutoff).strftime("%Y-%m-%d")
    out: dict[str, pd.DataFrame] = {}
    for name, df in sdtm.items():
        var = DATE_VARS.get(name, next((c for c in (f"{name}DTC", f"{name}STDTC") if c in df.columns), None))
        d = df
        if var is not None and var in d.columns:
            kept = d[var].astype(str).str.slice(0, 10) <= cut
            d = d if kept.all() else d[kept]  # a domain wholly before the cut is not copied
        ends = [c for c in d.columns if c.endswith("ENDTC") or c == "DTHDTC"]
        if ends:
            d = d.copy()
            for col in ends:
                after = d[col].astype(str).str.slice(0, 10) > cut
                d.loc[after, col] = ""
                if f"{col[:-3]}DY" in d.columns:  # AEENDTC -> AEENDY
                    d.loc[after, f"{col[:-3]}DY"] = np.nan
        out[name] = d.reset_index(drop=True)
    if "DM" in out:
        d = out["DM"] if out["DM"] is not sdtm["DM"] else out["DM"].copy()
        d["DTHFL"] = np.where(d["DTHDTC"] != "", "Y", "")
        ex = sdtm["EX"][["USUBJID", "EXSTDTC"]]  # the columns read, before selecting records
        last_ex = ex[ex["EXSTDTC"].str.slice(0, 10) <= cut].groupby("USUBJID")["EXSTDTC"].max().str.slice(0, 10)
        d["RFENDTC"] = pd.Series(last_ex.reindex(d["USUBJID"].to_numpy()).to_numpy(), index=d.index).astype(object).fillna("")
        if "RFXENDTC" in d:
            d["RFXENDTC"] = d["RFENDTC"]
        out["DM"] = d
        if "RFPENDTC" in d:
            d["RFPENDTC"] = _end_of_participation(out)
    if "TS" in out:
        ts = out["TS"] = out["TS"].copy()
        ts.loc[ts["TSPARMCD"] == "DCUTDTC", ["TSVAL", "TSVALNF"]] = [cut, ""]
    if "SE" in out and len(out["SE"]):
        se = out["SE"]
        last = se.groupby("USUBJID").cumcount(ascending=False) == 0
        se.loc[last & (se["SEENDTC"] == ""), "SEENDTC"] = cut  # the element in progress at the cut ends there
        se["SEENDY"] = study_day(se["SEENDTC"], se["USUBJID"].map(out["DM"].set_index("USUBJID")["RFSTDTC"]))
    return out


def write_domains(domains: dict[str, pd.DataFrame], out_dir: Path, formats: tuple[str, ...] = ("csv", "xpt"),
                  define: bool = False) -> list[Path]:
    """Write each dataset as lower-case NAME.xpt (SAS transport v5, labels, formats and lengths from the metadata
    table) and NAME.csv (the same variables); with `define`, also define.xml. Returns the paths written."""
    from ikema.cdisc.io import conform, write_xpt

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, df in domains.items():
        x = conform(df, name)
        if "csv" in formats:
            p = out_dir / f"{name.lower()}.csv"
            x.to_csv(p, index=False, lineterminator="\n")
            written.append(p)
        if "xpt" in formats:
            written.append(write_xpt(x, out_dir / f"{name.lower()}.xpt", name, conformed=True))
    if define:
        from ikema.cdisc.define import write_define

        written.append(write_define(domains, out_dir))
    return written
