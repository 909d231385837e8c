"""ADQS: questionnaire scores (QLQ-C30, QLQ-MY20, EQ-5D-5L) per subject and visit with baseline and change.

Rows of QS that fail validation (`validate_answers`) are never scored; they are listed in
`adqs.attrs["rejected"]`. Baseline (ABLFL = "Y"): the visit flagged QSBLFL = "Y"; without that flag, the last
assessment on or before the first dose (ADSL TRTSDT); without dates, a VISIT containing "BASELINE" or cycle 1
day 1. AVISITN is the cycle number read from VISIT ("CYCLE 3 DAY 1", "C3D1"); end of treatment is 900.

Scoring (the QS -> score derivation):
QLQ-C30 follows the EORTC scoring manual (Fayers et al. 2001) as coded in the EORTC SAS macro: raw score RS = mean
of the answered items of a scale; functional scales S = (1 - (RS - 1)/range) x 100; symptom scales and global
health status S = (RS - 1)/range x 100; a scale is scored when at least half of its items are answered; out-of-range
answers are missing. QLQ-MY20 is scored the same way (range 3; disease symptoms and side effects as symptom scales,
future perspective and body image as functional scales) with the item mapping of Cocks et al. 2007 as implemented
in the R package QoLR. EQ-5D-5L: the five dimension levels, the VAS, and the index 1 - sum of the value set's
decrements (England: Devlin et al. 2018 by default; US: Pickard et al. 2019), table `data/eq5d5l_value_sets.csv`.
Scores are not rounded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

from ikema.cdisc.adam.structure import finish_bds
from ikema.cdisc.adam.adae import iso_to_date
from ikema.cdisc.distinct import per_distinct
from ikema.errors import input_error
from ikema.protocol.questionnaires import C30, EQ5D, EQ5D_DIMENSIONS, EQ5D_VAS, MY20, item_code, item_spec  # noqa: F401

DEFAULT_VALUE_SET = "England"


@dataclass(frozen=True)
class Scale:
    """One questionnaire scale: code, label, item numbers, kind (functional|symptom|global) and item range."""

    code: str
    label: str
    items: tuple[int, ...]
    kind: str
    item_range: int


C30_SCALES = (
    Scale("QL2", "Global health status/QoL", (29, 30), "global", 6),
    Scale("PF2", "Physical functioning", (1, 2, 3, 4, 5), "functional", 3),
    Scale("RF2", "Role functioning", (6, 7), "functional", 3),
    Scale("EF", "Emotional functioning", (21, 22, 23, 24), "functional", 3),
    Scale("CF", "Cognitive functioning", (20, 25), "functional", 3),
    Scale("SF", "Social functioning", (26, 27), "functional", 3),
    Scale("FA", "Fatigue", (10, 12, 18), "symptom", 3),
    Scale("NV", "Nausea and vomiting", (14, 15), "symptom", 3),
    Scale("PA", "Pain", (9, 19), "symptom", 3),
    Scale("DY", "Dyspnoea", (8,), "symptom", 3),
    Scale("SL", "Insomnia", (11,), "symptom", 3),
    Scale("AP", "Appetite loss", (13,), "symptom", 3),
    Scale("CO", "Constipation", (16,), "symptom", 3),
    Scale("DI", "Diarrhoea", (17,), "symptom", 3),
    Scale("FI", "Financial difficulties", (28,), "symptom", 3),
)
# MY20 items numbered 31..50 as in the combined C30 + MY20 form (QSTESTCD EOR1931 .. EOR1950).
MY20_SCALES = (
    Scale("MYDS", "Disease symptoms", tuple(range(31, 37)), "symptom", 3),
    Scale("MYSE", "Side effects of treatment", tuple(range(37, 47)), "symptom", 3),
    Scale("MYBI", "Body image", (47,), "functional", 3),
    Scale("MYFP", "Future perspective", (48, 49, 50), "functional", 3),
)
# C30 summary score (Giesinger et al. 2016): mean of 13 scales with symptom scales reversed; QL2 and FI excluded.
SUMMARY_FUNCTIONAL = ("PF2", "RF2", "EF", "CF", "SF")
SUMMARY_SYMPTOM = ("FA", "NV", "PA", "DY", "SL", "AP", "CO", "DI")
LABELS = {s.code: s.label for s in (*C30_SCALES, *MY20_SCALES)} | {
    "C30SUM": "QLQ-C30 summary score", "EQ5DIDX": "EQ-5D-5L index", "EQ5DVAS": "EQ VAS",
    **{f"EQ5D{d}": f"EQ-5D-5L {d} level" for d in EQ5D_DIMENSIONS.values()}}


@lru_cache(maxsize=1)
def eq5d5l_value_sets() -> pd.DataFrame:
    """EQ-5D-5L value sets shipped with ikema (VALUE_SET, DIMENSION, LEVEL, DECREMENT, SOURCE)."""
    with resources.files("ikema.cdisc.adam").joinpath("data/eq5d5l_value_sets.csv").open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh)


def eq5d5l_index(levels: Mapping[str, int] | Sequence[int], value_set: str = DEFAULT_VALUE_SET) -> float:
    """EQ-5D-5L index of a health state (levels in MO, SC, UA, PD, AD order or by dimension); NaN if any missing."""
    vs = eq5d5l_value_sets()
    vs = vs[vs["VALUE_SET"] == value_set]
    if vs.empty:
        raise input_error("eq5d5l_value_sets.csv", value_set, "VALUE_SET", value_set,
                          f"one of {sorted(set(eq5d5l_value_sets()['VALUE_SET']))}")
    dims = ["MO", "SC", "UA", "PD", "AD"]
    lv = dict(levels) if isinstance(levels, Mapping) else dict(zip(dims, levels))
    dec = {(r.DIMENSION, int(r.LEVEL)): float(r.DECREMENT) for r in vs.itertuples()}
    total = 0.0
    for d in dims:
        v = lv.get(d)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return float("nan")
        v = int(v)
        if v not in (1, 2, 3, 4, 5):
            raise input_error("EQ-5D-5L", "(state)", d, v, "a level 1 to 5")
        total += 0.0 if v == 1 else dec[(d, v)]
    return 1.0 - total


def score_scale(answers: Mapping[int, float], scale: Scale) -> float:
    """Score (0-100) of one scale from item answers {item number: value}; NaN when fewer than half answered."""
    vals = [answers[i] for i in scale.items if i in answers and answers[i] == answers[i]]
    if 2 * len(vals) < len(scale.items):
        return float("nan")
    rs = sum(vals) / len(vals)
    if scale.kind == "functional":
        return (1.0 - (rs - 1.0) / scale.item_range) * 100.0
    return (rs - 1.0) / scale.item_range * 100.0


def c30_summary(scores: Mapping[str, float]) -> float:
    """QLQ-C30 summary score (Giesinger 2016), NaN unless all 13 component scales are present."""
    parts = [scores.get(c, float("nan")) for c in SUMMARY_FUNCTIONAL] + [
        100.0 - scores.get(c, float("nan")) for c in SUMMARY_SYMPTOM]
    return float("nan") if any(p != p for p in parts) else sum(parts) / len(parts)


@dataclass
class Rejected:
    """One rejected answer row: file, line (1 = header), field, value and what was expected."""

    file: str
    line: int
    field: str
    value: object
    expected: str

    def message(self) -> str:
        """The row as an error message line."""
        return f"{self.file}: line {self.line}, field {self.field}: got {self.value!r}, expected {self.expected}"


REQUIRED_COLUMNS = ("USUBJID", "VISIT", "QSCAT", "QSTESTCD", "QSORRES")


def validate_answers(df: pd.DataFrame, file: str = "answers") -> tuple[pd.DataFrame, list[Rejected]]:
    """Split answer rows into valid ones (numeric AVAL added) and rejected ones (every reason, by file line).

    Line numbers count the header as line 1. A row is rejected when USUBJID/VISIT is empty, QSCAT or QSTESTCD is
    unknown, QSORRES is not a number of the item's range (integers for the questionnaire items), or it repeats an
    item already answered for that subject and visit (conflicting repeats reject every copy).
    """
    for col in REQUIRED_COLUMNS:
        if col not in df.columns:
            raise input_error(file, "line 1 (header)", col, None, f"columns {', '.join(REQUIRED_COLUMNS)}")
    spec = item_spec()
    cats = sorted({c for c, _ in spec})
    # vectorised checks (a per-row loop took seconds on the demo's half a million answers); messages per failing row
    empty = {col: (df[col].isna() | df[col].astype(str).str.strip().eq("")).to_numpy() for col in ("USUBJID", "VISIT")}
    cat = df["QSCAT"].astype(str).str.strip()
    code = df["QSTESTCD"].astype(str).str.strip()
    cat_ok = cat.isin(cats).to_numpy()
    pair = pd.MultiIndex.from_arrays([cat, code])
    limits = pd.DataFrame([(lo, hi, integer) for lo, hi, integer in spec.values()], columns=["lo", "hi", "integer"],
                          index=pd.MultiIndex.from_tuples(list(spec)))
    lim = limits.reindex(pair)
    item_ok = lim["lo"].notna().to_numpy()
    x = pd.to_numeric(df["QSORRES"].astype(str).str.strip(), errors="coerce").to_numpy(float)
    lo, hi = lim["lo"].to_numpy(float), lim["hi"].to_numpy(float)
    integer = lim["integer"].fillna(False).to_numpy(bool)
    with np.errstate(invalid="ignore"):
        value_ok = (lo <= x) & (x <= hi) & ~(integer & (x != np.floor(x)))
    ok = ~empty["USUBJID"] & ~empty["VISIT"] & cat_ok & item_ok & value_ok
    aval = np.where(cat_ok & item_ok & value_ok, x, np.nan)
    rejected: list[Rejected] = []
    for pos in np.flatnonzero(~ok):
        line, r = int(pos) + 2, df.iloc[pos]
        for col in ("USUBJID", "VISIT"):
            if empty[col][pos]:
                rejected.append(Rejected(file, line, col, r[col], "a non-empty value"))
        if not cat_ok[pos]:
            rejected.append(Rejected(file, line, "QSCAT", r["QSCAT"], f"one of {', '.join(cats)}"))
        elif not item_ok[pos]:
            rejected.append(Rejected(file, line, "QSTESTCD", r["QSTESTCD"], f"an item code of {cat.iloc[pos]}"))
        elif not value_ok[pos]:
            kind = "an integer" if integer[pos] else "a number"
            rejected.append(Rejected(file, line, "QSORRES", r["QSORRES"],
                                     f"{kind} from {lo[pos]:g} to {hi[pos]:g} for {code.iloc[pos]}"))
    out = df.assign(AVAL=aval, _line=np.arange(len(df)) + 2)
    key = ["USUBJID", "VISIT", "QSCAT", "QSTESTCD"]
    valid = out[ok].copy()
    for col in key:
        valid[col] = valid[col].astype(str).str.strip()
    dup = valid.duplicated(key, keep=False)
    if dup.any():
        for _, g in valid[dup].groupby(key, sort=False):
            conflicting = g["AVAL"].nunique() > 1
            for i, (_, r) in enumerate(g.iterrows()):
                if conflicting or i > 0:
                    rejected.append(Rejected(file, int(r["_line"]), "QSTESTCD", r["QSTESTCD"],
                                             "one answer per subject, visit and item" +
                                             (" (conflicting answers: none used)" if conflicting else "")))
                    valid = valid.drop(index=r.name)
    rejected.sort(key=lambda x: x.line)
    return valid.drop(columns=["_line"]), rejected


def _scale_scores(wide: pd.DataFrame, scale: Scale) -> tuple[pd.Series, pd.Series]:
    """Vectorised `score_scale` over rows of a wide item table (columns = item numbers): (score, items answered)."""
    cols = [i for i in scale.items if i in wide.columns]
    block = wide[cols] if cols else pd.DataFrame(index=wide.index)
    n = block.notna().sum(axis=1) if cols else pd.Series(0, index=wide.index)
    rs = block.mean(axis=1) if cols else pd.Series(np.nan, index=wide.index)
    score = (1.0 - (rs - 1.0) / scale.item_range) * 100.0 if scale.kind == "functional" else (
        (rs - 1.0) / scale.item_range * 100.0)
    return score.where(2 * n >= len(scale.items)), n


def score_answers(valid: pd.DataFrame, value_set: str = DEFAULT_VALUE_SET) -> pd.DataFrame:
    """Scores per subject and visit (one row per scale: USUBJID, VISIT, QSCAT, PARAMCD, PARAM, AVAL, NITEMS)."""
    cols = ["USUBJID", "VISIT", "QSCAT", "PARAMCD", "PARAM", "AVAL", "NITEMS"]
    frames = []
    key = ["USUBJID", "VISIT", "QSCAT"]
    for cat, scales in ((C30, C30_SCALES), (MY20, MY20_SCALES)):
        sub = valid[valid["QSCAT"] == cat]
        if sub.empty:
            continue
        wide = sub.assign(_item=sub["QSTESTCD"].str[-2:].astype(int)).pivot_table(
            index=key, columns="_item", values="AVAL", aggfunc="first")
        scores = {}
        for sc in scales:
            scores[sc.code], n = _scale_scores(wide, sc)
            frames.append(pd.DataFrame({"PARAMCD": sc.code, "PARAM": sc.label, "AVAL": scores[sc.code],
                                        "NITEMS": n}).reset_index())
        if cat == C30:
            parts = [scores[c] for c in SUMMARY_FUNCTIONAL] + [100.0 - scores[c] for c in SUMMARY_SYMPTOM]
            summ = pd.concat(parts, axis=1)
            frames.append(pd.DataFrame({"PARAMCD": "C30SUM", "PARAM": LABELS["C30SUM"],
                                        "AVAL": summ.mean(axis=1).where(summ.notna().all(axis=1)),
                                        "NITEMS": wide.notna().sum(axis=1)}).reset_index())
    sub = valid[valid["QSCAT"] == EQ5D]
    if not sub.empty:
        wide = sub.pivot_table(index=key, columns="QSTESTCD", values="AVAL", aggfunc="first")
        dec = eq5d5l_value_sets()
        dec = dec[dec["VALUE_SET"] == value_set]
        if dec.empty:
            raise input_error("eq5d5l_value_sets.csv", value_set, "VALUE_SET", value_set,
                              f"one of {sorted(set(eq5d5l_value_sets()['VALUE_SET']))}")
        total = pd.Series(0.0, index=wide.index)
        n_dims = pd.Series(0, index=wide.index)
        for code, d in EQ5D_DIMENSIONS.items():
            lv = wide[code] if code in wide.columns else pd.Series(np.nan, index=wide.index)
            table = {int(r.LEVEL): float(r.DECREMENT) for r in dec[dec["DIMENSION"] == d].itertuples()} | {1: 0.0}
            total = total + lv.map(table)
            n_dims = n_dims + lv.notna().astype(int)
            frames.append(pd.DataFrame({"PARAMCD": f"EQ5D{d}", "PARAM": LABELS[f"EQ5D{d}"], "AVAL": lv,
                                        "NITEMS": lv.notna().astype(int)}).reset_index())
        frames.append(pd.DataFrame({"PARAMCD": "EQ5DIDX", "PARAM": f"EQ-5D-5L index ({value_set} value set)",
                                    "AVAL": 1.0 - total, "NITEMS": n_dims}).reset_index())
        vas = wide[EQ5D_VAS] if EQ5D_VAS in wide.columns else pd.Series(np.nan, index=wide.index)
        frames.append(pd.DataFrame({"PARAMCD": "EQ5DVAS", "PARAM": LABELS["EQ5DVAS"], "AVAL": vas,
                                    "NITEMS": vas.notna().astype(int)}).reset_index())
    if not frames:
        return pd.DataFrame(columns=cols)
    out = pd.concat(frames, ignore_index=True)[cols]
    order = {c: i for i, c in enumerate([*LABELS])}
    out["_o"] = out["PARAMCD"].map(order)
    out = out.sort_values(["USUBJID", "VISIT", "QSCAT", "_o"], kind="stable").drop(columns="_o")
    out["AVAL"] = out["AVAL"].astype(float)
    out["NITEMS"] = out["NITEMS"].astype(int)
    return out.reset_index(drop=True)


EOT_VISITN = 900


def derive_avisitn(visit: pd.Series) -> pd.Series:
    """Cycle number from VISIT; 900 for end of treatment; missing otherwise."""
    v = visit.astype("string").str.upper()
    n = pd.to_numeric(v.str.extract(r"(?:CYCLE|^C)\s*0*(\d+)")[0], errors="coerce")
    n = n.where(~v.str.contains("END OF TREATMENT|EOT").fillna(False), EOT_VISITN)
    return n.astype("Float64")


def derive_adqs(qs: pd.DataFrame, adsl: pd.DataFrame | None = None, value_set: str = "England",
                file: str = "QS") -> pd.DataFrame:
    """Build ADQS from SDTM QS (USUBJID, VISIT, QSCAT, QSTESTCD, QSORRES [QSDTC, QSBLFL]) and ADSL."""
    valid, rejected = validate_answers(qs, file)
    scores = score_answers(valid, value_set)
    if "QSDTC" in valid.columns:
        dates = valid.assign(ADT=iso_to_date(valid["QSDTC"], file, "QSDTC")).groupby(["USUBJID", "VISIT", "QSCAT"])[
            "ADT"].min().reset_index()
        scores = scores.merge(dates, on=["USUBJID", "VISIT", "QSCAT"], how="left")
    flagged = None
    if "QSBLFL" in valid.columns:
        f = valid[valid["QSBLFL"].astype("string").str.upper().eq("Y").fillna(False)]
        flagged = set(zip(f["USUBJID"], f["VISIT"], f["QSCAT"]))
    if adsl is not None:
        keep = [c for c in ("USUBJID", "TRT01A", "TRTSDT") if c in adsl.columns]
        scores = scores.merge(adsl[keep], on="USUBJID", how="left").rename(columns={"TRT01A": "TRTA"})
    # per distinct visit name (a few dozen across a hundred thousand scores)
    scores["AVISITN"] = per_distinct(scores["VISIT"], derive_avisitn)
    scores["AVISIT"] = per_distinct(scores["VISIT"], lambda u: pd.Series(
        [("End of treatment" if n == EOT_VISITN else f"Cycle {int(n)}") if pd.notna(n) else v
         for n, v in zip(derive_avisitn(u), u)]))
    scores["ABLFL"] = _baseline_flag(scores, flagged)
    base = scores[scores["ABLFL"] == "Y"].set_index(["USUBJID", "PARAMCD"])["AVAL"]
    base = base[~base.index.duplicated(keep="last")]
    scores["BASE"] = base.reindex(pd.MultiIndex.from_arrays([scores["USUBJID"], scores["PARAMCD"]])).to_numpy()
    scores["CHG"] = np.where(scores["ABLFL"] == "Y", np.nan, scores["AVAL"] - scores["BASE"])
    studyid = qs["STUDYID"].iloc[0] if "STUDYID" in qs.columns and len(qs) else None
    scores = finish_bds(scores, "ADQS", studyid)
    scores.attrs["rejected"] = rejected
    return scores


def _baseline_flag(scores: pd.DataFrame, flagged: set | None) -> pd.Series:
    """ABLFL per the module's baseline rule (one baseline visit per subject and questionnaire)."""
    flag = pd.Series("", index=scores.index)
    if flagged:
        key = zip(scores["USUBJID"], scores["VISIT"], scores["QSCAT"])
        flag[[k in flagged for k in key]] = "Y"
        return flag
    if "ADT" in scores.columns and "TRTSDT" in scores.columns:
        trtsdt = pd.to_datetime(scores["TRTSDT"])
        cand = scores[scores["ADT"].notna() & (scores["ADT"] <= trtsdt)]
        last = cand.groupby(["USUBJID", "QSCAT"])["ADT"].transform("max")
        chosen = cand[cand["ADT"] == last]
        flag[chosen.index] = "Y"
        return flag
    v = scores["VISIT"].astype("string").str.upper()
    is_base = v.str.contains("BASELINE").fillna(False) | v.str.match(r"^(CYCLE\s*0*1\s*DAY\s*0*1|C0*1D0*1)$").fillna(False)
    flag[is_base] = "Y"
    return flag
