"""The virtual IKEMA trial: accrual, the randomized patients' courses as site records, and the analysis datasets
(SDTM -> data cut -> ADaM) the real derivations produce from them."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from ikema.response import Criteria
from ikema.simulate import params as P
from ikema.simulate.facts import TrialFacts
from ikema.simulate.outcomes import simulate_outcomes
from ikema.simulate.safety import ada_samples, adverse_events, labs, pk_samples, questionnaires


def accrual_dates(rng: np.random.Generator, n: int, first: dt.date, last: dt.date) -> list[dt.date]:
    """Sorted randomization dates of `n` patients between the first and last patient's dates: front-loaded accrual,
    the share of the period elapsed ~ Beta(1, P.ACCRUAL_BETA); first and last pinned."""
    span = (last - first).days
    days = np.round(np.sort(rng.beta(1.0, P.ACCRUAL_BETA, n)) * span).astype(int)
    days[0], days[-1] = 0, span
    return [first + dt.timedelta(days=int(d)) for d in np.sort(days)]


def simulate_records(rng: np.random.Generator, subjects: pd.DataFrame, facts: TrialFacts, criteria: Criteria) -> dict[str, pd.DataFrame]:
    """All site records of the randomized `subjects` (USUBJID, ARM, RANDDT and baseline columns) to the last cutoff."""
    s = subjects.reset_index(drop=True).copy()
    s["TRTSDT"] = pd.to_datetime(s["RANDDT"]) + pd.to_timedelta(rng.integers(*P.FIRST_DOSE_DELAY_D, len(s)), unit="D")
    rec = simulate_outcomes(rng, s, facts, criteria)
    ev = rec["events"]
    rec["adverse_events"] = adverse_events(rng, ev, rec["exposure"], facts)
    rec["labs"] = labs(rng, ev, s, facts)
    rec["pk"] = pk_samples(rng, rec["exposure"], facts)
    rec["ada"] = ada_samples(rng, ev, facts)
    rec["questionnaires"] = questionnaires(rng, ev, facts)
    rec["subjects"] = s
    return rec


def adam_from_sdtm(sdtm: dict[str, pd.DataFrame], facts: TrialFacts, cutoff: object, criteria: Criteria,
                   outcomes: bool | str = True) -> dict[str, pd.DataFrame]:
    """ADaM datasets from a data cut: ADSL, ADRS, ADTTE; with `outcomes` also ADAE, ADLB, ADEX, ADPC, ADIS,
    ADQS (`outcomes="safety"`: ADAE and ADLB only)."""
    from ikema.cdisc.adam.adrs import derive_adrs
    from ikema.cdisc.adam.adsl import derive_adsl
    from ikema.cdisc.adam.adtte import derive_adtte

    adsl = derive_adsl(sdtm)
    from ikema.cdisc.sdtm import disease_assessments

    assess = disease_assessments(sdtm).drop(columns="ADY")
    adrs = derive_adrs(adsl, assess, criteria)
    adtte = derive_adtte(adsl, adrs, max_gap_days=2 * facts.cycle_days, cutoff=cutoff)
    out = {"ADSL": adsl, "ADRS": adrs, "ADTTE": adtte}
    if outcomes:
        from ikema.cdisc.adam.adae import derive_adae
        from ikema.cdisc.adam.adex import derive_adex
        from ikema.cdisc.adam.adis import derive_adis
        from ikema.cdisc.adam.adlb import derive_adlb
        from ikema.cdisc.adam.adpc import derive_adpc
        from ikema.cdisc.adam.adqs import derive_adqs

        from ikema.cdisc.sdtm import exposure_with_planned_dose

        ex = exposure_with_planned_dose(sdtm)
        out["ADAE"] = derive_adae(sdtm["AE"], ex, adsl, window_days=facts.teae_window_days)
        out["ADLB"] = derive_adlb(sdtm["LB"], adsl)
        if outcomes == "safety":
            return out
        out["ADEX"] = derive_adex(ex, cycle_days=facts.cycle_days)
        drugs = {t.upper(): t for t in ex["EXTRT"].unique()}
        pcs = sdtm["PC"].drop_duplicates("PCTESTCD")
        analyte = {c: drugs[t.upper()] for c, t in zip(pcs["PCTESTCD"], pcs["PCTEST"]) if t.upper() in drugs}
        pc = sdtm["PC"][sdtm["PC"]["PCTESTCD"].isin(list(analyte))]
        out["ADPC"] = derive_adpc(pc, ex, analyte, adsl=adsl, cycle_days=facts.cycle_days)
        out["ADIS"] = derive_adis(sdtm["IS"], adsl)
        out["ADQS"] = derive_adqs(sdtm["QS"], adsl)
    return out
