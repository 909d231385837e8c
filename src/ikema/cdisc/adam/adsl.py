"""ADSL from SDTM (DM, SUPPDM, DS, EX, CM, RS, SS, VS and the dated findings domains), one row per randomized subject.

Variables (ADaMIG 1.3 order and names; labels in ikema.cdisc.metadata): STUDYID, USUBJID, SUBJID, SITEID, COUNTRY,
AGE, AGEU, AGEGR1 (<65 / 65-74 / >=75), AGEGR70 (<70 / >=70), SEX, RACE, ETHNIC, ARM, ARMCD, ACTARM, ACTARMCD,
TRT01P/TRT01A (ARMCD/ACTARMCD), RANDDT (DS RANDOMIZED; DM.RANDDTC where an external DM carries it),
TRTSDT/TRTEDT (first/last EX with a dose; missing for a subject randomized but not dosed yet, who
stays in ITT and whose times to event run from RANDDT as for everyone), RANDFL/ITTFL (randomized), SAFFL (any dose), DTHFL, DTHDT, LSTALVDT (death date,
else the latest dated record of the subject: SS, LB, EX, AE, QS, DS), NEWTHDT (first CM of further anti-myeloma
therapy), PD2DT (first RS PD2), ECOG (RS ECOG101 at screening), HEIGHTBL/WEIGHTBL (VS), and the SUPPDM
qualifiers (STRAT1R, STRAT2R, ISS, RISS, HIGHRISK, GAIN1Q, PRLINES, EGFRLT60, ISOTYPE, ...).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ikema.cdisc.adam.structure import subject_rows
from ikema.cdisc.distinct import per_distinct

FURTHER_THERAPY = "FURTHER ANTI-MYELOMA THERAPY"
_DATED = {"SS": "SSDTC", "XD": "XDDTC", "EX": "EXSTDTC", "LB": "LBDTC", "AE": "AESTDTC", "QS": "QSDTC", "DS": "DSSTDTC"}


def _date(s: pd.Series) -> pd.Series:
    return per_distinct(s, lambda d: pd.to_datetime(d.astype(str).str.slice(0, 10).replace("", None), format="%Y-%m-%d",
                                                    errors="coerce"))


_NAT = np.iinfo(np.int64).min  # NaT as int64 (the least: never the latest)


class _Dated:
    """Dated records of the subjects of `ids`, per domain and date variable read once (each record's subject row among
    the distinct ids, its date as int64 nanoseconds) and reduced per subject in numpy (a groupby on the ids' text
    per date cost more; EX's records serve TRTSDT, TRTEDT and LSTALVDT)."""

    def __init__(self, ids: pd.Series) -> None:
        self.ids = ids
        self.codes, distinct = pd.factorize(ids, use_na_sentinel=False)
        self.distinct = pd.Series(np.asarray(distinct, dtype=object))
        self.read: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}

    def records(self, name: str, df: pd.DataFrame, var: str) -> tuple[np.ndarray, np.ndarray]:
        """(subject rows, dates) of the records of `df` (domain `name`) by date variable `var`."""
        if (name, var) not in self.read:
            self.read[name, var] = (subject_rows(df["USUBJID"], self.distinct),
                                    _date(df[var]).to_numpy(dtype="datetime64[ns]").view(np.int64))
        return self.read[name, var]

    def per_subject(self, parts: list[tuple[tuple[np.ndarray, np.ndarray], np.ndarray | None]], how: str) -> pd.Series:
        """The first (`how="min"`) or last (`"max"`) date per subject of `ids` over `parts` ((rows, dates), the
        records to read or None: all); NaT for a subject without one."""
        first = how == "min"
        acc = np.full(len(self.distinct) + 1, np.iinfo(np.int64).max if first else _NAT, dtype=np.int64)  # (last: no subject)
        for (rows, v), keep in parts:
            ok = v != _NAT if keep is None else keep & (v != _NAT)
            (np.minimum if first else np.maximum).at(acc, rows[ok], v[ok])
        acc = np.where(acc == np.iinfo(np.int64).max, _NAT, acc)[:-1]
        return pd.Series(acc.view("datetime64[ns]")[self.codes], index=self.ids.index)


def derive_lstalvdt(sdtm: dict[str, pd.DataFrame], ids: pd.Series, dated: _Dated | None = None) -> pd.Series:
    """Last date known alive: latest dated record of the subject across the dated domains (`dated`: the records
    derive_adsl has read already)."""
    dated = dated if dated is not None else _Dated(ids)
    parts = []  # (no concatenation of a million records)
    for dom, var in _DATED.items():
        if dom in sdtm and len(sdtm[dom]):
            d = sdtm[dom]
            parts.append((dated.records(dom, d, var), (d["DSDECOD"] != "DEATH").to_numpy(dtype=bool) if dom == "DS" else None))
    return dated.per_subject(parts, "max")


def _lookup(ids: pd.Series, by_subject: pd.Series) -> pd.Series:
    """by_subject's value for each id (NaT where absent; pandas' map fails on an empty datetime Series)."""
    return pd.Series(pd.to_datetime(by_subject.reindex(ids.to_numpy()).to_numpy()), index=ids.index)


def _randomized(ds: pd.DataFrame | None) -> pd.Series:
    """Randomization date per subject: DSSTDTC of the DS RANDOMIZED milestone."""
    if ds is None or not len(ds):
        return pd.Series(dtype="datetime64[ns]")
    r = ds[ds["DSDECOD"] == "RANDOMIZED"]
    return _date(r["DSSTDTC"]).groupby(r["USUBJID"].to_numpy()).min()


def derive_adsl(sdtm: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """ADSL from the SDTM domains (see module docstring)."""
    dm = sdtm["DM"]
    ids = dm["USUBJID"]
    out = pd.DataFrame({
        "STUDYID": dm["STUDYID"], "USUBJID": ids, "SUBJID": dm["SUBJID"], "SITEID": dm["SITEID"],
        "AGE": dm["AGE"].astype(int), "SEX": dm["SEX"], "TRT01P": dm["ARMCD"], "TRT01A": dm["ACTARMCD"],
        "RANDDT": _date(dm["RANDDTC"]) if "RANDDTC" in dm else _lookup(ids, _randomized(sdtm.get("DS"))),
    })
    for col in ("COUNTRY", "AGEU", "RACE", "ETHNIC", "ARM", "ARMCD", "ACTARM", "ACTARMCD", "DTHFL"):
        if col in dm:
            out[col] = dm[col].to_numpy()
    out["RANDFL"] = np.where(out["RANDDT"].notna(), "Y", "N")
    out["AGEGR1"] = np.select([out["AGE"] < 65, out["AGE"] < 75], ["<65", "65-74"], ">=75")
    out["AGEGR70"] = np.where(out["AGE"] < 70, "<70", ">=70")
    rs = sdtm.get("RS")
    if rs is not None and len(rs) and "ECOG101" in set(rs["RSTESTCD"]):
        out["ECOG"] = ids.map(rs[rs["RSTESTCD"] == "ECOG101"].groupby("USUBJID")["RSSTRESC"].first()).to_numpy()
    vs = sdtm.get("VS")
    if vs is not None and len(vs):
        base = vs[vs.get("VSLOBXFL", pd.Series("Y", index=vs.index)) == "Y"]
        for test, col in (("HEIGHT", "HEIGHTBL"), ("WEIGHT", "WEIGHTBL")):
            out[col] = ids.map(base[base["VSTESTCD"] == test].groupby("USUBJID")["VSSTRESN"].first()).to_numpy()
    supp = sdtm["SUPPDM"].pivot(index="USUBJID", columns="QNAM", values="QVAL")
    wide = supp.reindex(ids.to_numpy())  # every qualifier's subjects looked up at once
    for q in supp.columns:
        out[q] = wide[q].to_numpy()
    dated = _Dated(ids)
    ex = sdtm["EX"]
    given = (ex["EXDOSE"] > 0).to_numpy(dtype=bool)  # a randomized subject not dosed yet keeps TRTSDT/TRTEDT missing (SAFFL N, ITTFL Y)
    out["TRTSDT"] = dated.per_subject([(dated.records("EX", ex, "EXSTDTC"), given)], "min")
    out["TRTEDT"] = dated.per_subject([(dated.records("EX", ex, "EXSTDTC"), given)], "max")
    out["DTHDT"] = _date(dm["DTHDTC"])
    cm = sdtm.get("CM")
    cm = cm if cm is not None and len(cm) else pd.DataFrame({"USUBJID": [], "CMSTDTC": [], "CMCAT": []})
    out["NEWTHDT"] = dated.per_subject([(dated.records("CM", cm, "CMSTDTC"), (cm["CMCAT"] == FURTHER_THERAPY).to_numpy(dtype=bool))], "min")
    rs = sdtm.get("RS")
    rs = rs if rs is not None and len(rs) else pd.DataFrame({"USUBJID": [], "RSDTC": [], "RSTESTCD": []})
    out["PD2DT"] = dated.per_subject([(dated.records("RS", rs, "RSDTC"), (rs["RSTESTCD"] == "PD2").to_numpy(dtype=bool))], "min")
    out["LSTALVDT"] = out["DTHDT"].fillna(derive_lstalvdt(sdtm, ids, dated))
    out["ITTFL"] = "Y"
    out["SAFFL"] = np.where(out["TRTSDT"].notna(), "Y", "N")
    for c in ("TRTSDT", "TRTEDT", "DTHDT", "NEWTHDT", "PD2DT", "LSTALVDT", "RANDDT"):
        out[c] = pd.to_datetime(out[c]).astype("datetime64[ns]")
    return out
