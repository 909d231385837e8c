"""Withdrawal of consent in the virtual trial: nobody withdraws after dying, and a withdrawal followed by a death
that became known is entered (before, the simulator drew withdrawal dates after death, and data entry dropped every
withdrawal of a patient who died, real ones included)."""

from __future__ import annotations

import numpy as np

from ikema.simulate.demo import _facts
from ikema.simulate.enroll import enroll
from ikema.simulate.entry import WITHDRAWAL, store_rows
from ikema.simulate.facts import response_criteria, screen_candidate, screening_fields
from ikema.simulate.virtual import simulate_records
from ikema.store import init_db, session_factory


def test_withdrawals_precede_death_and_reach_the_store_rows():
    facts = _facts(None)
    rng = np.random.default_rng(20171025)  # the demo's seed: 19 withdrawals, 3 of them by patients who died later
    engine = init_db("sqlite://")
    with session_factory(engine)() as session:
        subjects, _ = enroll(session, rng, facts, screening_fields, lambda c: screen_candidate(c, facts),
                             per_stratum=facts.enrollment)
    engine.dispose()
    records = simulate_records(rng, subjects, facts, response_criteria(facts))
    ev = records["events"]
    withdrawn = ev[ev["WITHDRAWN"]]
    died_later = withdrawn[withdrawn["DTHDT"].notna()]
    assert (died_later["WDDT"] < died_later["DTHDT"]).all()
    assert len(died_later) >= 1 and len(withdrawn) > len(died_later)
    entered = {(r["usubjid"], r["date"]) for r in store_rows(records)["dispositions"] if r["event"] == WITHDRAWAL}
    assert entered == set(zip(withdrawn["USUBJID"], withdrawn["WDDT"]))
