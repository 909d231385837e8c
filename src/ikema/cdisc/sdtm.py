"""SDTM domains from the trial's site records (DM, SUPPDM, EX, LB, XD, RS, AE, QS, PC, IS, DS, SS, CM), a data cut
on the domains' dates, and writing them as SAS transport (XPT) and CSV.

Site records (`records`, a dict of DataFrames keyed by table) are what data entry holds: `subjects`,
`events`, `assessments`, `exposure`, `adverse_events`, `labs`, `pk`, `ada`, `questionnaires` (column
conventions in ikema.simulate.outcomes / ikema.simulate.safety and `records_from_store`).

Disease assessments (the IMWG inputs) go to the sponsor-defined findings domain XD (SDTMIG reserves X*
domain codes for sponsors): XDTESTCD = the response engine's PARAM codes, XDSTRESN / XDSTRESC its AVAL /
AVALC, XDDTC the sample date. Investigator-reported second progression is RS (RSTESTCD PD2); further
anti-myeloma therapy is CM (CMCAT FURTHER ANTI-MYELOMA THERAPY); last known alive is SS (SURVSTAT).
Stratification factors and baseline disease characteristics are SUPPDM qualifiers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ikema.errors import input_error

DATE_VARS = {
    "DM": None, "SUPPDM": None, "EX": "EXSTDTC", "LB": "LBDTC", "XD": "XDDTC", "RS": "RSDTC", "AE": "AESTDTC",
    "QS": "QSDTC", "PC": "PCDTC", "IS": "ISDTC", "DS": "DSSTDTC", "SS": "SSDTC", "CM": "CMSTDTC",
}
FURTHER_THERAPY = "FURTHER ANTI-MYELOMA THERAPY"


def _iso(dates) -> pd.Series:
    s = pd.to_datetime(pd.Series(dates), errors="coerce")
    return s.dt.strftime("%Y-%m-%d").fillna("")


def _day_to_iso(trtsdt: pd.Series, ady) -> pd.Series:
    d = pd.to_datetime(trtsdt.to_numpy()) + pd.to_timedelta(np.asarray(ady, dtype=float) - 1, unit="D")
    return pd.Series(d).dt.strftime("%Y-%m-%d")


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


def build_sdtm(records: dict[str, pd.DataFrame], studyid: str,
               strata_labels: Mapping[str, str] | None = None) -> dict[str, pd.DataFrame]:
    """SDTM domains from site records (see module docstring); `strata_labels`: SUPPDM QLABEL of each STRATnR
    (one per stratification factor of the subjects, the protocol's factor labels)."""
    strata_labels = dict(strata_labels or {})
    subj = records["subjects"].copy()
    ev = records["events"].set_index("USUBJID")
    trt = subj["USUBJID"].map(pd.to_datetime(ev["TRTSDT"]))
    start = dict(zip(subj["USUBJID"], trt))

    def day_iso(ids: pd.Series, ady) -> pd.Series:
        return _day_to_iso(ids.map(start), ady).to_numpy()

    def head(domain: str, ids) -> dict:
        return {"STUDYID": studyid, "DOMAIN": domain, "USUBJID": np.asarray(ids)}

    ids = subj["USUBJID"]
    dm = pd.DataFrame({
        **head("DM", ids), "SUBJID": subj["SUBJID"].to_numpy(), "SITEID": subj["SITEID"].to_numpy(),
        "RFICDTC": _iso(subj["ICDT"]).to_numpy(), "RFSTDTC": _iso(ids.map(ev["TRTSDT"])).to_numpy(),
        "RFENDTC": _iso(ids.map(ev["TRTEDT"])).to_numpy(), "RANDDTC": _iso(subj["RANDDT"]).to_numpy(),
        "DTHDTC": _iso(ids.map(ev["DTHDT"])).to_numpy(),
        "AGE": subj["AGE"].to_numpy(int) if subj["AGE"].notna().all() else subj["AGE"].astype("Int64").to_numpy(), "AGEU": "YEARS", "SEX": subj["SEX"].to_numpy(),
        "ARMCD": subj["ARM"].to_numpy(), "ARM": subj["ARMLABEL"].to_numpy(),
        "ACTARMCD": subj["ARM"].to_numpy(), "ACTARM": subj["ARMLABEL"].to_numpy(),
    })
    dm["DTHFL"] = np.where(dm["DTHDTC"] != "", "Y", "")
    quals = {
        **{c: (strata_labels.get(c, f"Stratification factor {c[5:-1]}"), _txt(subj[c]))
           for c in subj.columns if re.fullmatch(r"STRAT\d+R", str(c))},
        "ECOG": ("ECOG performance status", _txt(subj["ECOG"])), "ISS": ("ISS stage", _txt(subj["ISS"])),
        "RISS": ("R-ISS stage", subj["RISS"]), "HIGHRISK": ("High-risk cytogenetics", _yn(subj["HIGHRISK"])),
        "CYTOMISS": ("Cytogenetics not evaluable", _yn(subj["CYTOMISS"])),
        "GAIN1Q": ("Gain(1q21)", _yn(subj["GAIN1Q"])),
        "PRLINES": ("Number of prior lines", _txt(subj["PRIOR_LINES"])),
        "PRLEN": ("Prior lenalidomide", _yn(subj["PRIOR_LENALIDOMIDE"])),
        "PRBTZ": ("Prior bortezomib", _yn(subj["PRIOR_BORTEZOMIB"])),
        "LENREF": ("Refractory to lenalidomide", _yn(subj["LEN_REFRACTORY"])),
        "EGFRLT60": ("eGFR < 60 mL/min/1.73m2", _yn(pd.to_numeric(subj["CRCL"], errors="coerce").lt(60).where(subj["CRCL"].notna()))),
        "ISOTYPE": ("Myeloma isotype", (subj["ISOTYPE"] + "-" + subj["LIGHT_CHAIN"]).to_numpy()),
        "WEIGHT": ("Weight (kg)", _txt(subj["WEIGHT_KG"])), "HEIGHT": ("Height (cm)", _txt(subj["HEIGHT_CM"])),
    }
    suppdm = pd.concat([pd.DataFrame({"STUDYID": studyid, "RDOMAIN": "DM", "USUBJID": ids.to_numpy(), "IDVAR": "", "IDVARVAL": "",
                                      "QNAM": q, "QLABEL": lab, "QVAL": np.asarray(v, dtype=object)}) for q, (lab, v) in quals.items()],
                       ignore_index=True).sort_values(["USUBJID", "QNAM"], kind="stable").reset_index(drop=True)
    ex = records["exposure"]
    exdtc = day_iso(ex["USUBJID"], ex["ADY"])
    exd = _seq(pd.DataFrame({
        **head("EX", ex["USUBJID"]), "EXTRT": ex["DRUG"].str.upper().to_numpy(), "EXDOSE": ex["DOSE_MG"].to_numpy(float),
        "EXDOSU": "mg", "EXROUTE": ex["ROUTE"].str.upper().to_numpy(), "EXSTDTC": [f"{d}T09:00" for d in exdtc],
        "EXENDTC": [f"{d}T09:00" for d in exdtc], "EXSTDY": ex["ADY"].to_numpy(int),
        "VISIT": [f"CYCLE {c} DAY {d}" for c, d in zip(ex["CYCLE"], ex["DAY"])],
        "EXPLDOS": ex["PLANNED_MG"].to_numpy(float),
    }), "EX")
    lb = records["labs"]
    lbd = _seq(pd.DataFrame({
        **head("LB", lb["USUBJID"]), "LBTESTCD": lb["LBTESTCD"].to_numpy(), "LBTEST": lb["LBTEST"].to_numpy(),
        "LBCAT": "HEMATOLOGY", "LBSTRESN": lb["VALUE"].to_numpy(float), "LBSTRESC": lb["VALUE"].astype(str).to_numpy(),
        "LBSTRESU": lb["UNIT"].to_numpy(), "LBSTNRLO": lb["LLN"].to_numpy(float),
        "LBDTC": day_iso(lb["USUBJID"], lb["ADY"]), "LBDY": lb["ADY"].to_numpy(int),
    }), "LB")
    a = records["assessments"]
    xd = _seq(pd.DataFrame({
        **head("XD", a["USUBJID"]), "XDTESTCD": a["PARAM"].to_numpy(), "XDCAT": "IMWG DISEASE ASSESSMENT",
        "XDSTRESN": a["AVAL"].to_numpy(float), "XDSTRESC": np.where(a["AVALC"].fillna("") != "", a["AVALC"].fillna(""),
                                                                    a["AVAL"].map(lambda v: "" if pd.isna(v) else f"{v:g}")),
        "XDDTC": day_iso(a["USUBJID"], a["ADY"]), "XDDY": a["ADY"].to_numpy(int),
    }), "XD")
    ae = records["adverse_events"]
    aed = _seq(pd.DataFrame({
        **head("AE", ae["USUBJID"]), "AETERM": ae["AETERM"].to_numpy(), "AEDECOD": ae["AEDECOD"].to_numpy(),
        "AEBODSYS": ae["AEBODSYS"].to_numpy(), "AETOXGR": ae["AETOXGR"].astype(int).astype(str).to_numpy(),
        "AESER": ae["AESER"].to_numpy(), "AEREL": ae["AEREL"].to_numpy(), "AEACN": ae["AEACN"].to_numpy(),
        "AEOUT": ae["AEOUT"].to_numpy(), "AESDTH": ae["AESDTH"].to_numpy(),
        "AESTDTC": day_iso(ae["USUBJID"], ae["AESTDY"]),
        "AEENDTC": np.where(ae["AEOUT"] == "NOT RECOVERED/NOT RESOLVED", "", day_iso(ae["USUBJID"], ae["AEENDY"])),
        "AESTDY": ae["AESTDY"].to_numpy(int),
    }), "AE")
    q = records["questionnaires"]
    qs = _seq(pd.DataFrame({
        **head("QS", q["USUBJID"]), "QSCAT": q["QSCAT"].to_numpy(), "QSTESTCD": q["QSTESTCD"].to_numpy(),
        "QSORRES": q["QSORRES"].to_numpy(), "QSSTRESC": q["QSORRES"].to_numpy(), "VISIT": q["VISIT"].to_numpy(),
        "QSDTC": day_iso(q["USUBJID"], q["ADY"]), "QSDY": q["ADY"].to_numpy(int),
    }), "QS")
    pk = records["pk"].sort_values(["USUBJID", "ANALYTE", "ADY", "HOUR"], kind="stable").reset_index(drop=True)
    pdate = day_iso(pk["USUBJID"], pk["ADY"])
    hours = pk["HOUR"].to_numpy(float)
    pc = _seq(pd.DataFrame({
        **head("PC", pk["USUBJID"]), "PCTESTCD": pk["ANALYTE"].to_numpy(), "PCTEST": pk["ANALYTE"].str.title().to_numpy(),
        "PCSTRESN": np.where(pk["VALUE"] > 0, pk["VALUE"], np.nan), "PCSTRESC": np.where(pk["VALUE"] > 0, pk["VALUE"].astype(str), "BLQ"),
        "PCSTRESU": pk["UNIT"].to_numpy(), "PCLLOQ": pk["LLOQ"].to_numpy(float),
        "PCDTC": [f"{d}T{int(h):02d}:{int(round((h % 1) * 60)) % 60:02d}" for d, h in zip(pdate, hours)],
        "PCTPT": pk["TPT"].to_numpy(), "PCTPTNUM": np.where(pk["TPT"].str.contains("PRE"), -1, 1),
        "VISITDY": pk["NOMDY"].to_numpy(int),
    }), "PC")
    ada = records["ada"].sort_values(["USUBJID", "ADY"], kind="stable").reset_index(drop=True)
    is_ = _seq(pd.DataFrame({
        **head("IS", ada["USUBJID"]), "ISTESTCD": "ADA_BAB", "ISTEST": "Anti-isatuximab antibodies",
        "ISSTRESC": ada["RESULT"].to_numpy(), "ISSTRESN": ada["TITER"].to_numpy(float), "VISIT": ada["VISIT"].to_numpy(),
        "ISDTC": day_iso(ada["USUBJID"], ada["ADY"]),
    }), "IS")
    e = records["events"]
    ds_rows = [
        pd.DataFrame({**head("DS", subj["USUBJID"]), "DSCAT": "PROTOCOL MILESTONE", "DSDECOD": "RANDOMIZED",
                      "DSTERM": "RANDOMIZED", "DSSTDTC": _iso(subj["RANDDT"]).to_numpy()}),
    ]
    done = e[e["EOTREAS"] != "ONGOING"]
    ds_rows.append(pd.DataFrame({**head("DS", done["USUBJID"]), "DSCAT": "DISPOSITION EVENT", "DSSCAT": "END OF TREATMENT",
                                 "DSDECOD": done["EOTREAS"].to_numpy(), "DSTERM": done["EOTREAS"].to_numpy(),
                                 "DSSTDTC": _iso(done["TRTEDT"]).to_numpy()}))
    dead = e[e["DTHDT"].notna()]
    ds_rows.append(pd.DataFrame({**head("DS", dead["USUBJID"]), "DSCAT": "DISPOSITION EVENT", "DSSCAT": "END OF STUDY",
                                 "DSDECOD": "DEATH", "DSTERM": dead["DTHCAUS"].to_numpy(), "DSSTDTC": _iso(dead["DTHDT"]).to_numpy()}))
    wd = e[e["WITHDRAWN"] & e["DTHDT"].isna()]
    ds_rows.append(pd.DataFrame({**head("DS", wd["USUBJID"]), "DSCAT": "DISPOSITION EVENT", "DSSCAT": "END OF STUDY",
                                 "DSDECOD": "WITHDRAWAL BY SUBJECT", "DSTERM": "WITHDRAWAL BY SUBJECT",
                                 "DSSTDTC": _iso(wd["WDDT"]).to_numpy()}))
    ds = _seq(pd.concat(ds_rows, ignore_index=True).fillna("").sort_values(["USUBJID", "DSSTDTC"], kind="stable"), "DS")
    alive = e[e["DTHDT"].isna()]
    # survival status: ALIVE at each follow-up contact after treatment and at the last contact of the living
    seen = [pd.DataFrame({"USUBJID": alive["USUBJID"].to_numpy(), "DT": _iso(alive["LSTALVDT"]).to_numpy()})]
    if "CONTACTDT" in e:
        fu = e[["USUBJID", "CONTACTDT"]].explode("CONTACTDT").dropna(subset=["CONTACTDT"])
        seen.append(pd.DataFrame({"USUBJID": fu["USUBJID"].to_numpy(), "DT": _iso(fu["CONTACTDT"].to_numpy()).to_numpy()}))
    seen_df = pd.concat(seen, ignore_index=True).drop_duplicates().sort_values(["USUBJID", "DT"], kind="stable")
    ss = _seq(pd.DataFrame({**head("SS", seen_df["USUBJID"]), "SSTESTCD": "SURVSTAT", "SSTEST": "Survival Status",
                            "SSSTRESC": "ALIVE", "SSDTC": seen_df["DT"].to_numpy()}), "SS")
    nt = e[e["NEWTHDT"].notna()]
    cm = _seq(pd.DataFrame({**head("CM", nt["USUBJID"]), "CMTRT": "FURTHER ANTI-MYELOMA REGIMEN", "CMCAT": FURTHER_THERAPY,
                            "CMSTDTC": _iso(nt["NEWTHDT"]).to_numpy()}), "CM")
    p2 = e[e["PD2DT"].notna()]
    rs = _seq(pd.DataFrame({**head("RS", p2["USUBJID"]), "RSTESTCD": "PD2", "RSTEST": "Progression on Next Line of Therapy",
                            "RSCAT": "INVESTIGATOR", "RSSTRESC": "Y", "RSDTC": _iso(p2["PD2DT"]).to_numpy()}), "RS")
    domains = {"DM": dm, "SUPPDM": suppdm, "EX": exd, "LB": lbd, "XD": xd, "RS": rs, "AE": aed, "QS": qs, "PC": pc,
               "IS": is_, "DS": ds, "SS": ss, "CM": cm}
    # a domain without records (nothing entered yet) keeps its variables as text columns
    return {k: (v.astype(object) if v.empty else v) for k, v in domains.items()}


def data_cut(sdtm: dict[str, pd.DataFrame], cutoff: object) -> dict[str, pd.DataFrame]:
    """The domains as a data cut at `cutoff` would hold them: records dated after it are removed, end dates
    after it become blank (ongoing), and DM's reference end/death dates after it are blanked."""
    cut = pd.Timestamp(cutoff).strftime("%Y-%m-%d")
    out: dict[str, pd.DataFrame] = {}
    for name, df in sdtm.items():
        var = DATE_VARS.get(name)
        d = df.copy()
        if var is not None:
            keep = d[var].astype(str).str.slice(0, 10) <= cut
            d = d[keep & (d[var].astype(str) != "")].copy()
        for col in [c for c in d.columns if c.endswith("ENDTC") or c in ("DTHDTC",)]:
            after = d[col].astype(str).str.slice(0, 10) > cut
            d.loc[after, col] = ""
        if name == "DM":
            d["DTHFL"] = np.where(d["DTHDTC"] != "", "Y", "")
            last_ex = sdtm["EX"][sdtm["EX"]["EXSTDTC"].str.slice(0, 10) <= cut].groupby("USUBJID")["EXSTDTC"].max().str.slice(0, 10)
            d["RFENDTC"] = d["USUBJID"].map(last_ex).astype(object).fillna("")
        out[name] = d.reset_index(drop=True)
    return out


def write_domains(domains: dict[str, pd.DataFrame], out_dir: Path, formats: tuple[str, ...] = ("csv", "xpt")) -> list[Path]:
    """Write each domain as lower-case NAME.csv and NAME.xpt (SAS transport v5 via pyreadstat)."""
    import pyreadstat

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, df in domains.items():
        if "csv" in formats:
            p = out_dir / f"{name.lower()}.csv"
            df.to_csv(p, index=False, lineterminator="\n")
            written.append(p)
        if "xpt" in formats:
            p = out_dir / f"{name.lower()}.xpt"
            x = df.copy()
            for c in x.columns:
                kind = str(x[c].dtype)
                if kind == "bool":
                    x[c] = np.where(x[c], "Y", "N")
                elif kind.startswith("timedelta"):
                    x[c] = x[c].dt.days.astype(float)
                elif kind in ("Int64", "Float64", "Int32", "boolean"):
                    x[c] = x[c].astype(float)
                elif kind.startswith("datetime"):
                    x[c] = x[c].dt.tz_localize(None) if getattr(x[c].dt, "tz", None) else x[c]
                elif not (kind.startswith("int") or kind.startswith("float")):
                    x[c] = x[c].astype(object).where(x[c].notna(), "").astype(str)
            # SDTM names fit version 5 (8 characters); ADaM derivations may carry longer names: version 8
            version = 5 if all(len(str(c)) <= 8 for c in x.columns) else 8
            try:
                pyreadstat.write_xport(x, str(p), table_name=name[:8], file_format_version=version)
            except Exception as exc:  # pyreadstat reports unsupported columns here
                raise input_error(name, "(dataset)", "xpt", str(exc), "columns writable as SAS transport v5") from exc
            written.append(p)
    return written
