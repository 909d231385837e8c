"""The virtual IKEMA trial: accrual and the randomized patients' courses as site records (what the sites enter;
from the store on, the virtual trial takes the path of any trial: ikema.pipeline)."""

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
