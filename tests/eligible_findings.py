"""Screening findings that pass every criterion of the packaged protocol, as a site types them (form field names):
one patient for the web tests and the web-to-report pipeline test (tests/ is on sys.path through tests/conftest.py)."""

from __future__ import annotations


def eligible_findings() -> dict[str, str]:
    """The protocol's screening fields with values that pass every criterion."""
    return {
        "age": "64", "sex": "F", "ecog": "1", "prior_lines": "2",
        "serum_mprotein_g_dl": "2.4", "urine_mprotein_mg_24h": "150", "flc_involved_mg_l": "60", "riss": "II",
        "prior_carfilzomib": "N", "carfilzomib_minor_response": "N", "days_since_last_therapy": "40",
        "neutrophils_10e9_l": "2.1", "platelets_10e9_l": "180", "hemoglobin_g_dl": "11.2",
        "creatinine_clearance_ml_min": "72", "bilirubin_uln": "0.8", "ast_uln": "1.1", "alt_uln": "0.9",
        "mi_last_6_months": "N", "lvef_percent": "58", "nyha_class": "0", "prior_cancer_disease_free_years": "",
        "hiv_on_antiretroviral": "N", "active_hepatitis": "N", "childbearing_potential": "N", "contraception_agreed": "Y",
        "weight_kg": "68", "height_cm": "165",
    }
