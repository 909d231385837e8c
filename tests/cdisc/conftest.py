"""A small virtual IKEMA trial's SDTM and ADaM packages (written as the demo writes them) for the conformance tests.

The store round trip is left out (tests/simulate covers it): the seeded site records go straight to SDTM, the data
cut, ADaM and the writers, which are what these tests check."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

N_SUBJECTS = 40


def small_subjects(rng: np.random.Generator, facts, n: int) -> pd.DataFrame:
    """`n` measurable-disease candidates with the columns enrollment gives them (arms alternating)."""
    from ikema.simulate import params as P
    from ikema.simulate.cohort import draw_candidates, draw_demography
    from ikema.simulate.virtual import accrual_dates

    c = draw_candidates(rng, 4 * n)
    c = c[(c["SERUM_M0"] >= 0.5) | (c["URINE_M0"] >= 200)].head(n).reset_index(drop=True)
    c[["RACE", "ETHNIC"]] = draw_demography(rng, len(c)).to_numpy()
    c["SITEID"] = [f"{1 + i % 5:03d}" for i in range(len(c))]
    c["USUBJID"] = [f"{facts.studyid}-{s}-{i:04d}" for i, s in enumerate(c["SITEID"])]
    c["SUBJID"] = c["USUBJID"].str.slice(len(facts.studyid) + 1)
    c["COUNTRY"] = [P.SITE_COUNTRIES[int(s) - 1] for s in c["SITEID"]]
    arms = list(facts.arms)
    c["ARM"] = [arms[i % len(arms)] for i in range(len(c))]
    c["ARMLABEL"] = c["ARM"].map(facts.arm_labels)
    c["RANDDT"] = accrual_dates(rng, len(c), facts.first_patient, facts.first_patient + dt.timedelta(days=300))
    c["ICDT"] = pd.to_datetime(c["RANDDT"]) - pd.Timedelta(days=10)
    c["STRAT1R"] = np.where(c["PRIOR_LINES"] == 1, "1", ">1")
    c["STRAT2R"] = np.where(c["RISS"] == "III", "III", np.where(c["RISS"] == "NOT CLASSIFIED", "NOT CLASSIFIED", "I or II"))
    return c


@pytest.fixture(scope="session")
def small_records() -> tuple[dict, object, object]:
    """(site records, facts, criteria) of the small trial."""
    from ikema.simulate.facts import facts_from_protocol, response_criteria
    from ikema.simulate.virtual import simulate_records

    facts = facts_from_protocol()
    criteria = response_criteria(facts)
    rng = np.random.default_rng(20240601)
    records = simulate_records(rng, small_subjects(rng, facts, N_SUBJECTS), facts, criteria)
    # a subject randomized under a waiver of one inclusion and one exclusion criterion (the store's "fail" verdicts), and
    # one that is not a subject of DM (a screen failure): IE holds the first two only
    first = next(c.id for c in facts.protocol.eligibility if c.kind == "inclusion")
    excl = next(c.id for c in facts.protocol.eligibility if c.kind == "exclusion")
    u0 = records["subjects"]["USUBJID"].iloc[0]
    records["criteria_not_met"] = pd.DataFrame({"USUBJID": [u0, u0, "NOT-RANDOMIZED"], "CRITERION": [excl, first, first]})
    return records, facts, criteria


@pytest.fixture(scope="session")
def package(tmp_path_factory, small_records) -> dict:
    """{"dir", "sdtm", "adam", "facts", "criteria", "cutoff"}: the small trial written to DIR/sdtm and DIR/adam."""
    from ikema.cdisc.derive import derive_adam
    from ikema.cdisc.sdtm import build_sdtm, data_cut, write_domains

    records, facts, criteria = small_records
    sdtm = build_sdtm(records, facts.studyid, protocol=facts.protocol, criteria=criteria)
    cutoff = facts.cutoffs["final"]
    cut = data_cut(sdtm, cutoff)
    adam = derive_adam(cut, cutoff, criteria, facts.cycle_days, facts.teae_window_days)
    out: Path = tmp_path_factory.mktemp("package")
    write_domains(cut, out / "sdtm", define=True)
    write_domains(adam, out / "adam", define=True)
    return {"dir": out, "sdtm": cut, "adam": adam, "facts": facts, "criteria": criteria, "cutoff": cutoff}
