"""The outcome analyses a set of ADaM datasets allows (safety, PK, immunogenicity, QoL), in the results.json
sections "safety", "pk", "immunogenicity" and "qol" (ikema.report renders them)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

OUTCOME_KEYS = ("safety", "pk", "immunogenicity", "qol")


def json_ready(obj: object) -> object:
    """Copy of nested results with numpy scalars as Python numbers and NaN/inf as None (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return None if not math.isfinite(float(obj)) else float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    try:
        if pd.isna(obj):
            return None
    except (TypeError, ValueError):
        pass
    return str(obj)


def analyze_outcomes(datasets: Mapping[str, pd.DataFrame], reference_arm: str | None = None, arm_var: str = "TRT01A",
                     ada_titer_scale: str = "linear") -> dict:
    """Run the safety, PK, immunogenicity and QoL analyses the datasets allow; strict-JSON-ready results.

    Keys of `datasets` are ADaM names (any case): ADSL with ADAE/ADLB/ADEX -> "safety"; ADPC/ADPP -> "pk";
    ADIS -> "immunogenicity"; ADQS -> "qol"."""
    from ikema.analysis.immunogenicity import analyze_immunogenicity
    from ikema.analysis.pk import analyze_pk
    from ikema.analysis.qol import analyze_qol
    from ikema.analysis.safety import analyze_safety

    ds = {str(k).upper(): v for k, v in datasets.items()}
    results: dict = {}
    if "ADSL" in ds and any(k in ds for k in ("ADAE", "ADLB", "ADEX")):
        results["safety"] = analyze_safety(ds, arm_var=arm_var, reference_arm=reference_arm)
    if "ADPC" in ds or "ADPP" in ds:
        results["pk"] = analyze_pk(ds)
    if "ADIS" in ds:
        adis = ds["ADIS"]
        if "TRTA" not in adis.columns and "ADSL" in ds and arm_var in ds["ADSL"].columns:
            adis = adis.merge(ds["ADSL"][["USUBJID", arm_var]].rename(columns={arm_var: "TRTA"}), on="USUBJID",
                              how="left")
        results["immunogenicity"] = analyze_immunogenicity({"ADIS": adis}, titer_scale=ada_titer_scale)
    if "ADQS" in ds:
        results["qol"] = analyze_qol(ds)
    return json_ready(results)
