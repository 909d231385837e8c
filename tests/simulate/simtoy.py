"""The toy trial's stand-in for enrollment, importable by the simulator tests (a module of its own: `from conftest
import ...` picks up whichever conftest pytest imported first when several test folders run in one invocation)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ikema.simulate.cohort import draw_candidates
from ikema.simulate.facts import TrialFacts
from ikema.simulate.virtual import accrual_dates


def toy_subjects(rng: np.random.Generator, facts: TrialFacts, n: int) -> pd.DataFrame:
    """Measurable-disease candidates given alternating arms and accrual dates (stands in for enrollment)."""
    c = draw_candidates(rng, 3 * n)
    c = c[(c["SERUM_M0"] >= 0.5) | (c["URINE_M0"] >= 200)].head(n).reset_index(drop=True)
    c["USUBJID"] = [f"TOY-{i:03d}" for i in range(len(c))]
    c["SUBJID"] = c["USUBJID"]
    c["SITEID"] = "01"
    c["ARM"] = np.where(np.arange(len(c)) % 2 == 0, facts.experimental, facts.control)
    c["ARMLABEL"] = c["ARM"]
    c["RANDDT"] = accrual_dates(rng, len(c), facts.first_patient, facts.last_patient)
    c["ICDT"] = pd.to_datetime(c["RANDDT"]) - pd.Timedelta(days=10)
    c["STRAT1R"] = np.where(c["PRIOR_LINES"] == 1, "1", ">1")
    c["STRAT2R"] = np.where(c["RISS"] == "III", "III", "I/II/NC")
    return c
