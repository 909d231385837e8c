"""`make demo`: the whole pipeline on the virtual IKEMA trial.

simulate (seeded) -> enrollment through screening and the IRT -> every record through capture into the audited
store -> records read back from the store -> SDTM (out/sdtm) -> data cuts (interim, final PFS, final OS) ->
ADaM (out/adam, final PFS cut) -> analyses -> out/results.json and out/report.html (+ out/enrollment.json).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
from sqlalchemy import event

DEMO_STAGES = 10  # advance() calls of one run: 4 here, 6 in report_run.write_outputs (3 cuts)


def demo_engine(out: Path, database_url: str | None = None):
    """A fresh demo store: OUT/ikema.db (replaced: the demo database is rebuilt from the seed every run) unless
    `database_url` names another."""
    from ikema.store import init_db

    url = database_url or f"sqlite:///{(out / 'ikema.db').resolve()}"
    if url.startswith("sqlite:///"):
        db = Path(url[len("sqlite:///"):])
        for p in (db, db.with_name(db.name + "-journal")):
            p.unlink(missing_ok=True)
    engine = init_db(url)
    if engine.dialect.name == "sqlite":
        # a throwaway database rebuilt from the seed: no fsync per commit (a crash loses nothing a rerun can't make)
        engine.dispose()
        event.listen(engine, "connect", lambda conn, _record: conn.execute("PRAGMA synchronous=OFF"))
    return engine


def enroll_demo(session, rng: np.random.Generator, facts, out: Path, seed: int):
    """Screening and randomization of the seeded candidates until the enrollment is reached (the first stage of
    the demo, and all of `ikema demo --enroll-only`); writes OUT/enrollment.json. Returns (subjects, summary)."""
    from ikema.simulate.enroll import enroll
    from ikema.simulate.facts import screen_candidate, screening_fields

    subjects, summary = enroll(session, rng, facts, screening_fields, lambda c: screen_candidate(c, facts),
                               per_stratum=facts.enrollment)
    (out / "enrollment.json").write_text(json.dumps({"seed": seed, **summary}, indent=1, default=str) + "\n",
                                         encoding="utf-8")
    return subjects, summary


def run_demo(out: Path, seed: int, database_url: str | None = None, advance: Callable[[str], None] = lambda _s: None,
             enrollment: int | None = None) -> dict:
    """Run the virtual trial end to end into `out`; returns the results written to out/results.json.

    `enrollment` overrides the protocol's target (a smaller trial for tests); None = the protocol's."""
    import dataclasses

    from ikema.cdisc.sdtm import build_sdtm
    from ikema.store import session_factory
    from ikema.simulate.enroll import capture_records
    from ikema.simulate.facts import facts_from_protocol, response_criteria
    from ikema.simulate.report_run import write_outputs
    from ikema.simulate.storeio import records_from_store
    from ikema.simulate.virtual import simulate_records

    out.mkdir(parents=True, exist_ok=True)
    facts = facts_from_protocol()
    if enrollment is not None:
        facts = dataclasses.replace(facts, enrollment=int(enrollment))
    criteria = response_criteria(facts)
    rng = np.random.default_rng(seed)
    engine = demo_engine(out, database_url)
    session = session_factory(engine)()
    try:
        subjects, summary = enroll_demo(session, rng, facts, out, seed)
        advance("screened and randomized")
        records = simulate_records(rng, subjects, facts, criteria)
        advance("patients simulated")
        capture_records(session, records)
        advance("records captured")
        stored = records_from_store(session, subjects, facts.cycle_days)
    finally:
        session.close()
        engine.dispose()
    sdtm = build_sdtm(stored, facts.studyid, facts.protocol, criteria)
    advance("SDTM built from the store")
    return write_outputs(sdtm, facts, criteria, out, seed, summary, advance)
