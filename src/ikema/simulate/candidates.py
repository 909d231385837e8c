"""Candidates for screening, version 1: a seeded cohort of screening records (one dict per candidate) whose fields
are the ones the protocol's eligibility rules read; a share of candidates carries a finding that one criterion
rejects (failure kinds in FAILURES, each named for the criterion wording it breaks). Engineer G's published-baseline
cohort (ikema.simulate.cohort) supersedes it for the virtual trial.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# ASSUMPTION (v1): the share of candidates with each failing finding; about 1 in 6 candidates fails screening.
FAILURES: dict[str, float] = {
    "not_measurable": 0.03,  # serum and urine M-protein below the measurable thresholds (inclusion)
    "too_many_lines": 0.02,  # more than 3 prior lines (inclusion)
    "flc_only": 0.02,  # serum free light chain measurable disease only
    "ecog_3": 0.02,  # ECOG performance status > 2
    "minor": 0.005,  # younger than 18
    "low_neutrophils": 0.02,  # inadequate biological tests
    "low_platelets": 0.02,
    "cardiac": 0.015,  # recent myocardial infarction / LVEF < 40%
    "prior_cancer": 0.01,  # other cancer not disease-free for 5 years
    "infection": 0.01,  # HIV on antiretrovirals or active hepatitis
    "carfilzomib_refractory": 0.01,  # prior carfilzomib without minor response
}


def draw_candidate(rng: np.random.Generator) -> dict[str, Any]:
    """One screening record: demographics, disease, prior therapy, labs, comorbidities (every draw from `rng`)."""
    sex = "M" if rng.random() < 0.56 else "F"
    c: dict[str, Any] = {
        "age": int(np.clip(np.round(rng.normal(64, 9)), 33, 90)),
        "sex": sex,
        "ecog": int(rng.choice([0, 1, 2], p=[0.52, 0.43, 0.05])),
        "prior_lines": int(rng.choice([1, 2, 3], p=[0.44, 0.33, 0.23])),
        "serum_mprotein_g_dl": round(float(np.exp(rng.normal(np.log(2.0), 0.7))), 2),
        "urine_mprotein_mg_24h": round(float(np.exp(rng.normal(np.log(150), 1.2))), 0),
        "flc_involved_mg_l": round(float(np.exp(rng.normal(np.log(120), 1.0))), 1),
        "riss": str(rng.choice(["I", "II", "III", "NOT CLASSIFIED"], p=[0.26, 0.59, 0.07, 0.08])),
        "prior_carfilzomib": bool(rng.random() < 0.01),
        "carfilzomib_minor_response": True,
        "days_since_last_therapy": int(rng.integers(15, 400)),
        "neutrophils_10e9_l": round(max(float(np.exp(rng.normal(np.log(3.0), 0.35))), 1.1), 2),
        "platelets_10e9_l": round(max(float(np.exp(rng.normal(np.log(190), 0.3))), 55), 0),
        "hemoglobin_g_dl": round(max(float(np.exp(rng.normal(np.log(11.0), 0.12))), 8.2), 1),
        "creatinine_clearance_ml_min": round(float(rng.uniform(25, 130)), 1),
        "bilirubin_uln": round(float(rng.uniform(0.2, 1.0)), 2),
        "ast_uln": round(float(rng.uniform(0.3, 1.5)), 2),
        "alt_uln": round(float(rng.uniform(0.3, 1.5)), 2),
        "mi_last_6_months": False,
        "lvef_percent": round(float(rng.uniform(45, 70)), 0),
        "nyha_class": int(rng.choice([0, 1, 2], p=[0.85, 0.12, 0.03])),
        "prior_cancer_disease_free_years": None,
        "hiv_on_antiretroviral": False,
        "active_hepatitis": False,
        "childbearing_potential": bool(sex == "F" and rng.random() < 0.05),
        "contraception_agreed": True,
        "weight_kg": round(float(np.exp(rng.normal(np.log(76 if sex == "M" else 66), 0.18))), 1),
        "height_cm": round(float(rng.normal(174 if sex == "M" else 162, 7)), 0),
    }
    for kind, p in FAILURES.items():
        if rng.random() < p:
            _fail(c, kind, rng)
    return c


def _fail(c: dict[str, Any], kind: str, rng: np.random.Generator) -> None:
    """Give candidate `c` a finding of failure kind `kind`."""
    if kind == "not_measurable":
        c["serum_mprotein_g_dl"] = round(float(rng.uniform(0.0, 0.4)), 2)
        c["urine_mprotein_mg_24h"] = round(float(rng.uniform(0, 150)), 0)
    elif kind == "too_many_lines":
        c["prior_lines"] = int(rng.integers(4, 7))
    elif kind == "flc_only":
        c["serum_mprotein_g_dl"], c["urine_mprotein_mg_24h"] = 0.0, 0.0
        c["flc_involved_mg_l"] = round(float(rng.uniform(150, 2000)), 1)
    elif kind == "ecog_3":
        c["ecog"] = 3
    elif kind == "minor":
        c["age"] = int(rng.integers(15, 18))
    elif kind == "low_neutrophils":
        c["neutrophils_10e9_l"] = round(float(rng.uniform(0.2, 0.9)), 2)
    elif kind == "low_platelets":
        c["platelets_10e9_l"] = round(float(rng.uniform(5, 45)), 0)
    elif kind == "cardiac":
        c["mi_last_6_months"] = True
        c["lvef_percent"] = round(float(rng.uniform(20, 38)), 0)
    elif kind == "prior_cancer":
        c["prior_cancer_disease_free_years"] = round(float(rng.uniform(0.5, 4.5)), 1)
    elif kind == "infection":
        c["hiv_on_antiretroviral"] = True
    elif kind == "carfilzomib_refractory":
        c["prior_carfilzomib"], c["carfilzomib_minor_response"] = True, False


def draw_candidates(rng: np.random.Generator, n: int) -> list[dict[str, Any]]:
    """`n` screening records drawn from `rng`."""
    return [draw_candidate(rng) for _ in range(n)]
