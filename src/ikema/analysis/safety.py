"""Safety analyses: TEAE overview, TEAEs by SOC/PT with maximum grade, lab shift tables and exposure summaries.

Population: ADSL safety flag (SAFFL = "Y" when present); denominators per arm from ADSL. Events: ADAE records with
TRTEMFL = "Y". A subject counts once per row, at the maximum grade over the events of that row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.special import gammaln
from scipy.stats import fisher_exact

from ikema.errors import input_error

GRADES = (1, 2, 3, 4, 5)
# MedDRA preferred term for isatuximab infusion reactions (CTCAE v4.03 term "Infusion related reaction").
INFUSION_REACTION_TERMS = ("INFUSION RELATED REACTION",)


def _flag(df: pd.DataFrame, col: str) -> pd.Series:
    """Boolean view of a Y/N flag column (absent column = all False)."""
    if col not in df.columns:
        return pd.Series(False, index=df.index)
    return df[col].astype("string").str.strip().str.upper().eq("Y").fillna(False)


def safety_population(adsl: pd.DataFrame, arm_var: str = "TRT01A") -> pd.DataFrame:
    """Subjects of the safety population (SAFFL = Y when the column exists) with their arm."""
    for col in ("USUBJID", arm_var):
        if col not in adsl.columns:
            raise input_error("ADSL", "(header)", col, None, f"a column {col}")
    pop = adsl[_flag(adsl, "SAFFL")] if "SAFFL" in adsl.columns else adsl
    pop = pop[pop[arm_var].notna() & (pop[arm_var].astype("string").str.strip() != "")]
    return pop[["USUBJID", arm_var]].rename(columns={arm_var: "ARM"}).drop_duplicates("USUBJID")


def treatment_emergent(adae: pd.DataFrame, pop: pd.DataFrame) -> pd.DataFrame:
    """TEAE records (TRTEMFL = Y) of population subjects, with the ADSL arm attached as ARM."""
    if "TRTEMFL" not in adae.columns:
        raise input_error("ADAE", "(header)", "TRTEMFL", None, "a treatment-emergent flag column TRTEMFL")
    te = adae[_flag(adae, "TRTEMFL")].drop(columns=["ARM"], errors="ignore")
    return te.merge(pop, on="USUBJID", how="inner")


def fisher_p(n1: int, N1: int, n2: int, N2: int) -> float | None:
    """Two-sided Fisher exact p-value of n1/N1 versus n2/N2 (None when both counts are zero)."""
    if n1 == 0 and n2 == 0:
        return None
    return float(fisher_exact([[n1, N1 - n1], [n2, N2 - n2]], alternative="two-sided")[1])


def fisher_p_rxc(counts: Sequence[int], totals: Sequence[int]) -> float | None:
    """Exact Fisher p-value of an r x 2 table (subjects with/without the event in r arms), R fisher.test convention."""
    # scipy's r x c fisher_exact is Monte Carlo (random); an r x 2 table is enumerated exactly here.
    counts = [int(c) for c in counts]
    totals = [int(t) for t in totals]
    k_total = sum(counts)
    if k_total == 0:
        return None

    def logp(ks: Sequence[int]) -> float:
        num = sum(gammaln(t + 1) - gammaln(k + 1) - gammaln(t - k + 1) for k, t in zip(ks, totals))
        return num - (gammaln(sum(totals) + 1) - gammaln(k_total + 1) - gammaln(sum(totals) - k_total + 1))

    observed = logp(counts)
    total_p = 0.0

    def walk(i: int, left: int, ks: list[int]) -> None:
        nonlocal total_p
        if i == len(totals) - 1:
            if left <= totals[i]:
                lp = logp([*ks, left])
                if lp <= observed + 1e-7:  # R's relative tolerance for ties with the observed table
                    total_p += float(np.exp(lp))
            return
        rest = sum(totals[i + 1:])
        for k in range(max(0, left - rest), min(totals[i], left) + 1):
            walk(i + 1, left - k, [*ks, k])

    walk(0, k_total, [])
    return min(1.0, total_p)


def _grade(te: pd.DataFrame) -> pd.Series:
    """Numeric grade of each TEAE record (ATOXGRN, else AETOXGR, else missing)."""
    for col in ("ATOXGRN", "ATOXGR", "AETOXGR"):
        if col in te.columns:
            return pd.to_numeric(te[col], errors="coerce")
    return pd.Series(np.nan, index=te.index)


def _cell(sub: pd.DataFrame, N: int, graded: bool) -> dict:
    """Counts of one table cell: subjects, percent, events and (when graded) subjects by maximum grade."""
    n = int(sub["USUBJID"].nunique())
    out = {"n": n, "N": int(N), "pct": (100.0 * n / N) if N else None, "events": int(len(sub))}
    if graded:
        g = sub.assign(_g=_grade(sub)).groupby("USUBJID")["_g"].max()
        out["max_grade"] = {str(k): int((g == k).sum()) for k in GRADES}
        out["grade3plus"] = int((g >= 3).sum())
    return out


def teae_overview(
    adae: pd.DataFrame,
    adsl: pd.DataFrame,
    arm_var: str = "TRT01A",
    infusion_terms: Sequence[str] = INFUSION_REACTION_TERMS,
) -> list[dict]:
    """Overview rows per arm: any TEAE, grade >= 3, grade 5, serious, fatal, leading to discontinuation, infusion reactions."""
    pop = safety_population(adsl, arm_var)
    te = treatment_emergent(adae, pop)
    te = te.assign(_g=_grade(te))
    upper_terms = {t.upper() for t in infusion_terms}
    graded = bool(te["_g"].notna().any())
    cats: list[tuple[str, pd.Series]] = [("Any TEAE", pd.Series(True, index=te.index))]
    if graded:
        cats.append(("Grade >= 3 TEAE", te["_g"] >= 3))
    cats.append(("Serious TEAE", _flag(te, "AESER")))
    fatal = _flag(te, "AEFATFL") | _flag(te, "AESDTH") | te["_g"].eq(5)
    if "AEOUT" in te.columns:
        fatal |= te["AEOUT"].astype("string").str.upper().eq("FATAL").fillna(False)
    cats.append(("TEAE with fatal outcome", fatal))
    disc = _flag(te, "AEDISFL")
    if "AEACN" in te.columns:
        disc |= te["AEACN"].astype("string").str.upper().str.strip().eq("DRUG WITHDRAWN").fillna(False)
    cats.append(("TEAE leading to discontinuation", disc))
    irr = te["AEDECOD"].astype("string").str.upper().isin(upper_terms).fillna(False)
    cats.append(("Infusion reaction", irr))
    if te["_g"].notna().any():
        cats.append(("Grade >= 3 infusion reaction", irr & (te["_g"] >= 3)))
    arms = list(pd.unique(pop["ARM"]))
    Ns = pop.groupby("ARM")["USUBJID"].nunique()
    rows = []
    for label, mask in cats:
        sel = te[mask.fillna(False).to_numpy()]
        rows.append({"category": label,
                     "arms": {a: _cell(sel[sel["ARM"] == a], int(Ns[a]), graded) for a in arms}})
    return rows


def teae_by_soc_pt(
    adae: pd.DataFrame,
    adsl: pd.DataFrame,
    arm_var: str = "TRT01A",
    arms: Sequence[str] | None = None,
    reference_arm: str | None = None,
    sort_arm: str | None = None,
    soc_order: str = "frequency",
    overall_label: str = "ANY BODY SYSTEM",
) -> list[dict]:
    """TEAE incidence by system organ class and preferred term per arm, with maximum grade and Fisher p-values.

    Rows: the overall row, then each SOC followed by its PTs. PTs sort by descending subject count in
    `sort_arm` (all arms together when None), then alphabetically; SOCs sort alphabetically (`soc_order="alpha"`)
    or like PTs (`"frequency"`). With `reference_arm`, each other arm carries a two-sided Fisher exact p-value
    versus the reference (None when both counts are zero).
    """
    if soc_order not in ("alpha", "frequency"):
        raise input_error("teae_by_soc_pt", "(argument)", "soc_order", soc_order, "'alpha' or 'frequency'")
    pop = safety_population(adsl, arm_var)
    arms = list(arms) if arms is not None else list(pd.unique(pop["ARM"]))
    for a in arms + ([reference_arm] if reference_arm else []) + ([sort_arm] if sort_arm else []):
        if a not in set(pop["ARM"]):
            raise input_error("ADSL", "(population)", arm_var, a, f"one of {sorted(set(pop['ARM']))}")
    Ns = pop.groupby("ARM")["USUBJID"].nunique()
    te = treatment_emergent(adae, pop)
    te = te[te["ARM"].isin(arms)]
    te = te.assign(AEBODSYS=te["AEBODSYS"].astype("string").str.strip(), AEDECOD=te["AEDECOD"].astype("string").str.strip())
    graded = bool(_grade(te).notna().any())

    def row(level: str, soc: str | None, pt: str | None, sub: pd.DataFrame) -> dict:
        cells = {a: _cell(sub[sub["ARM"] == a], int(Ns[a]), graded) for a in arms}
        r = {"level": level, "soc": soc, "pt": pt, "arms": cells}
        if reference_arm:
            ref = cells[reference_arm]
            r["p"] = {a: fisher_p(ref["n"], ref["N"], cells[a]["n"], cells[a]["N"]) for a in arms if a != reference_arm}
        return r

    def key_n(sub: pd.DataFrame) -> int:
        s = sub if sort_arm is None else sub[sub["ARM"] == sort_arm]
        return int(s["USUBJID"].nunique())

    rows = [row("overall", None, None, te)]
    socs = sorted(te["AEBODSYS"].dropna().unique())
    if soc_order == "frequency":
        socs = sorted(socs, key=lambda s: (-key_n(te[te["AEBODSYS"] == s]), s))
    for soc in socs:
        sub = te[te["AEBODSYS"] == soc]
        rows.append(row("soc", soc, None, sub))
        pts = sorted(sub["AEDECOD"].dropna().unique(), key=lambda p: (-key_n(sub[sub["AEDECOD"] == p]), p))
        for pt in pts:
            rows.append(row("pt", soc, pt, sub[sub["AEDECOD"] == pt]))
    return rows


def lab_shift_tables(adlb: pd.DataFrame, adsl: pd.DataFrame, arm_var: str = "TRT01A") -> dict:
    """Baseline CTCAE grade x worst post-baseline grade, per lab parameter and arm (counts of subjects).

    Baseline = the ABLFL = Y record; post-baseline = records with ADY > 1 (or ONTRTFL = Y when present) that are
    not derived (DTYPE empty). Missing grades show as "Missing".
    """
    for col in ("USUBJID", "PARAMCD", "ATOXGRN"):
        if col not in adlb.columns:
            raise input_error("ADLB", "(header)", col, None, f"a column {col} (grade with ikema.cdisc.adam.adlb)")
    pop = safety_population(adsl, arm_var)
    lb = adlb.drop(columns=["ARM"], errors="ignore").merge(pop, on="USUBJID", how="inner")
    if "DTYPE" in lb.columns:
        lb = lb[lb["DTYPE"].isna() | (lb["DTYPE"].astype("string").str.strip() == "")]
    base = _flag(lb, "ABLFL")
    if "ONTRTFL" in lb.columns:
        post = _flag(lb, "ONTRTFL") & ~base
    else:
        post = (pd.to_numeric(lb.get("ADY"), errors="coerce") > 1) & ~base
    labels = ["0", "1", "2", "3", "4", "Missing"]

    def lab(g: float) -> str:
        return "Missing" if pd.isna(g) else str(int(g))

    out: dict = {}
    for paramcd, sub in lb.groupby("PARAMCD"):
        b = sub[base.loc[sub.index]].groupby("USUBJID")["ATOXGRN"].max()
        w = sub[post.loc[sub.index]].groupby("USUBJID")["ATOXGRN"].max()
        subjects = sub[["USUBJID", "ARM"]].drop_duplicates("USUBJID")
        subjects = subjects[subjects["USUBJID"].isin(w.index)]
        per_arm = {}
        for arm, s in subjects.groupby("ARM"):
            tab = {bl: {wl: 0 for wl in labels} for bl in labels}
            for u in s["USUBJID"]:
                tab[lab(b.get(u, np.nan))][lab(w.get(u, np.nan))] += 1
            per_arm[str(arm)] = tab
        out[str(paramcd)] = per_arm
    return out


def exposure_summary(adex: pd.DataFrame, adsl: pd.DataFrame, arm_var: str = "TRT01A") -> list[dict]:
    """Per arm and drug: subjects treated, cycles started, duration (days) and relative dose intensity (median, range)."""
    for col in ("USUBJID", "EXTRT", "CYCLES", "TRTDURD"):
        if col not in adex.columns:
            raise input_error("ADEX", "(header)", col, None, f"a column {col} (derive with ikema.cdisc.adam.adex)")
    pop = safety_population(adsl, arm_var)
    ex = adex.drop(columns=["ARM"], errors="ignore").merge(pop, on="USUBJID", how="inner")

    def stats(x: pd.Series) -> dict:
        x = pd.to_numeric(x, errors="coerce").dropna()
        if x.empty:
            return {"n": 0, "median": None, "min": None, "max": None, "mean": None}
        return {"n": int(x.size), "median": float(x.median()), "min": float(x.min()), "max": float(x.max()),
                "mean": float(x.mean())}

    rows = []
    for (arm, trt), sub in ex.groupby(["ARM", "EXTRT"], sort=True):
        r = {"arm": str(arm), "drug": str(trt), "n_treated": int(sub["USUBJID"].nunique()),
             "cycles": stats(sub["CYCLES"]), "duration_days": stats(sub["TRTDURD"])}
        if "RDI" in sub.columns:
            r["rdi_pct"] = stats(100.0 * sub["RDI"])
        rows.append(r)
    return rows


def analyze_safety(
    datasets: Mapping[str, pd.DataFrame],
    arm_var: str = "TRT01A",
    reference_arm: str | None = None,
    infusion_terms: Sequence[str] = INFUSION_REACTION_TERMS,
) -> dict:
    """Run every safety analysis the datasets allow (ADSL + ADAE, ADLB, ADEX); JSON-ready results."""
    ds = {k.upper(): v for k, v in datasets.items()}
    if "ADSL" not in ds:
        raise input_error("datasets", "ADSL", "ADSL", None, "an ADSL dataset for the safety population")
    adsl = ds["ADSL"]
    pop = safety_population(adsl, arm_var)
    res: dict = {"population": {str(a): int(n) for a, n in pop.groupby("ARM")["USUBJID"].nunique().items()},
                 "arm_variable": arm_var}
    if "ADAE" in ds:
        res["overview"] = teae_overview(ds["ADAE"], adsl, arm_var, infusion_terms)
        res["soc_pt"] = teae_by_soc_pt(ds["ADAE"], adsl, arm_var, reference_arm=reference_arm, soc_order="frequency")
    if "ADLB" in ds and "ATOXGRN" in ds["ADLB"].columns:
        res["lab_shift"] = lab_shift_tables(ds["ADLB"], adsl, arm_var)
    if "ADEX" in ds and {"CYCLES", "TRTDURD", "EXTRT"} <= set(ds["ADEX"].columns):
        res["exposure"] = exposure_summary(ds["ADEX"], adsl, arm_var)
    return res
