"""Anti-drug antibody incidence: treatment-induced and treatment-boosted ADA per arm.

Definitions (decided here; they follow the usual AAPS/FDA terminology and admiral's ADAB template):
- evaluable: at least one post-baseline sample with a result;
- treatment-induced: baseline negative or missing, and at least one post-baseline positive sample;
- treatment-boosted: baseline positive, and a post-baseline titre at least `fold` (default 4) times the baseline
  titre (titres on a log10 scale: a difference of at least log10(fold));
- ADA incidence (treatment-emergent ADA) = induced + boosted, as a percentage of evaluable subjects.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from ikema.errors import input_error

TITER_SCALES = ("linear", "log10")


def ada_subject_status(adis: pd.DataFrame, fold: float = 4.0, titer_scale: str = "linear") -> pd.DataFrame:
    """One row per subject: BASESTAT, EVALFL, POSTPOS, INDUCED, BOOSTED, TEADA (booleans) and TRTA when present."""
    for col in ("USUBJID", "AVALC", "ABLFL", "POSTFL"):
        if col not in adis.columns:
            raise input_error("ADIS", "(header)", col, None, f"a column {col} (derive with ikema.cdisc.adam.adis)")
    if titer_scale not in TITER_SCALES:
        raise input_error("analyze_immunogenicity", "(argument)", "titer_scale", titer_scale, " or ".join(TITER_SCALES))
    rows = []
    for u, g in adis.groupby("USUBJID", sort=True):
        base = g[g["ABLFL"] == "Y"]
        post = g[(g["POSTFL"] == "Y") & g["AVALC"].notna()]
        bstat = base["AVALC"].dropna().iloc[-1] if base["AVALC"].notna().any() else "MISSING"
        post_pos = bool((post["AVALC"] == "POSITIVE").any())
        induced = bstat in ("NEGATIVE", "MISSING") and post_pos
        boosted = False
        if bstat == "POSITIVE" and post_pos:
            bt = pd.to_numeric(base["AVAL"], errors="coerce").dropna()
            pt = pd.to_numeric(post.loc[post["AVALC"] == "POSITIVE", "AVAL"], errors="coerce").dropna()
            if not bt.empty and not pt.empty:
                b, p = float(bt.iloc[-1]), float(pt.max())
                # tolerance 1e-9 so that an exact 4-fold rise on a rounded log scale still counts
                boosted = (p - b >= math.log10(fold) - 1e-9) if titer_scale == "log10" else (p >= fold * b * (1 - 1e-12))
        r = {"USUBJID": u, "BASESTAT": bstat, "EVALFL": not post.empty, "POSTPOS": post_pos,
             "INDUCED": induced, "BOOSTED": boosted, "TEADA": induced or boosted}
        if "TRTA" in g.columns:
            r["TRTA"] = g["TRTA"].iloc[0]
        rows.append(r)
    return pd.DataFrame(rows)


def ada_incidence(status: pd.DataFrame) -> list[dict]:
    """Counts and percentages (of evaluable subjects) per arm: baseline positive, induced, boosted, TE-ADA."""
    groups = status.groupby("TRTA", sort=True) if "TRTA" in status.columns else [("All", status)]
    out = []
    for arm, g in groups:
        ev = g[g["EVALFL"]]
        n = int(len(ev))

        def cell(mask: pd.Series) -> dict:
            k = int(mask.sum())
            return {"n": k, "pct": (100.0 * k / n) if n else None}
        out.append({"arm": str(arm), "subjects": int(len(g)), "evaluable": n,
                    "baseline_positive": cell(ev["BASESTAT"] == "POSITIVE"), "induced": cell(ev["INDUCED"]),
                    "boosted": cell(ev["BOOSTED"]), "treatment_emergent": cell(ev["TEADA"]),
                    "post_baseline_positive": cell(ev["POSTPOS"])})
    return out


def analyze_immunogenicity(datasets: Mapping[str, pd.DataFrame], fold: float = 4.0,
                           titer_scale: str = "linear") -> dict:
    """ADA incidence per arm from ADIS (treatment-induced, treatment-boosted, treatment-emergent)."""
    ds = {k.upper(): v for k, v in datasets.items()}
    if "ADIS" not in ds:
        raise input_error("datasets", "ADIS", "ADIS", None, "an ADIS dataset")
    status = ada_subject_status(ds["ADIS"], fold, titer_scale)
    return {"definitions": {"boost_fold": fold, "titer_scale": titer_scale,
                            "induced": "baseline negative/missing and >= 1 post-baseline positive",
                            "boosted": f"baseline positive and post-baseline titre >= {fold:g}-fold baseline"},
            "incidence": ada_incidence(status)}
