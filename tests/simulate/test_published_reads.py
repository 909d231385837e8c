"""Each published quantity names what of a cut's results it reads (Quantity.reads): a twin replicate derives and
analyses at each cut only what its quantities name, so a reader must find its value in exactly that part."""

from __future__ import annotations

from ikema.simulate.published import PUBLISHED_AE, PUBLISHED_LAB, quantities

EXP, CTL = "IKd", "Kd"
AE_KEYS = ("any", "irr", "grade3", "serious", "ae_disc", "fatal", "pt")
TREATMENT_KEYS = ("treatment_weeks_median", "on_treatment")
LAB_KEYS = tuple(f"{key}_{g}" for key, *_ in PUBLISHED_LAB for g in ("any", "g3"))


def _results() -> dict:
    """A cut's results holding every part any quantity reads (distinct numbers per part)."""
    qs = quantities(EXP, CTL)
    params = {q.reads for q in qs} - {"", "safety", "lab", "treatment"}
    arm = {"median": 400.0, "events": 10, "rate": 0.5}
    parameters = {p: {"arms": {EXP: dict(arm), CTL: dict(arm)}, "hazard_ratio": 0.6,
                      "odds_ratio_experimental_vs_reference": 2.0} for p in params | {"TTFR_R"}}
    by_arm = {EXP: 0.25, CTL: 0.125}
    summary = {k: dict(by_arm) for k in AE_KEYS + TREATMENT_KEYS + LAB_KEYS if k != "pt"}
    summary["pt"] = {t: {"any": dict(by_arm), "g3": dict(by_arm)} for t, *_ in PUBLISHED_AE}
    return {"parameters": parameters, "safety_summary": summary, "follow_up_median_days": 600.0}


def _only(results: dict, what: str) -> dict:
    """The parts of `results` every cut's analysis gives, and the part `what` names."""
    keys = {"safety": AE_KEYS, "lab": LAB_KEYS, "treatment": TREATMENT_KEYS}.get(what, ())
    return {"parameters": {p: v for p, v in results["parameters"].items() if p in (what, "TTFR_R")},
            "safety_summary": {k: v for k, v in results["safety_summary"].items() if k in keys},
            "follow_up_median_days": results["follow_up_median_days"]}


def test_every_quantity_finds_its_value_in_what_it_reads_and_not_without_it():
    full = _results()
    qs = quantities(EXP, CTL)
    assert {q.reads for q in qs} >= {"", "safety", "lab", "treatment", "PFS", "OS", "CRRSPADJ", "TTNT"}
    for q in qs:
        value = q.read(full)
        assert value is not None, q.key
        assert q.read(_only(full, q.reads)) == value, q.key
        if q.reads:  # without the part it names, the reader finds nothing
            assert q.read(_only(full, "")) is None, q.key
