"""The demo trial's store (seed 20171025, the protocol's 302 patients) with the records PFS is derived from, built
once per test run for the event prediction tests."""

from __future__ import annotations

import numpy as np
import pytest

DEMO_SEED = 20171025
PFS_TABLES = ("disease_assessments", "drug_administrations", "deaths", "dispositions", "subsequent_therapies")


@pytest.fixture(scope="session")
def demo_pfs_store(tmp_path_factory):
    """(database URL, site records, facts, criteria) of the demo: the same seeded enrollment and patients as `make
    demo`, with the tables PFS reads entered through capture (labs, AEs, PK, questionnaires are drawn, not stored)."""
    from ikema.conduct.capture import record_many
    from ikema.simulate.demo import demo_engine, enroll_demo
    from ikema.simulate.enroll import KIND_OF_TABLE, USER
    from ikema.simulate.facts import facts_from_protocol, response_criteria
    from ikema.simulate.entry import store_rows
    from ikema.simulate.virtual import simulate_records
    from ikema.store import session_factory

    out = tmp_path_factory.mktemp("predict_demo")
    facts = facts_from_protocol()
    criteria = response_criteria(facts)
    rng = np.random.default_rng(DEMO_SEED)
    engine = demo_engine(out)
    try:
        with session_factory(engine)() as session:
            subjects, _summary = enroll_demo(session, rng, facts, out, DEMO_SEED)
            records = simulate_records(rng, subjects, facts, criteria)
            rows = store_rows(records)
            for table in PFS_TABLES:
                record_many(session, KIND_OF_TABLE[table], rows[table], USER)
            session.commit()
    finally:
        engine.dispose()
    return f"sqlite:///{out / 'ikema.db'}", records, facts, criteria
