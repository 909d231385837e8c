"""The virtual trial's sites at work for `make demo` and `ikema twin`: seeded candidates screened and randomized
through ikema.conduct, every later record entered through ikema.conduct.capture into the audited store. From the
store on, the virtual trial takes the path of any trial (ikema.pipeline: cut, ADaM, SAP, report).
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import numpy as np
from sqlalchemy import event


def demo_engine(out: Path, database_url: str | None = None):
    """A fresh demo store: OUT/ikema.db (replaced: the demo database is rebuilt from the seed every run) unless
    `database_url` names another ("sqlite://": in memory, as a twin replicate's)."""
    from ikema.store import init_db

    url = database_url or f"sqlite:///{(out / 'ikema.db').resolve()}"
    if url.startswith("sqlite:///"):
        db = Path(url[len("sqlite:///"):])
        for p in (db, db.with_name(db.name + "-journal")):
            p.unlink(missing_ok=True)
    engine = init_db(url)
    if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):  # (disposing drops a memory store)
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


def simulate_into_store(out: Path, seed: int, database_url: str | None = None,
                        advance: Callable[[str], None] = lambda _s: None, enrollment: int | None = None):
    """The virtual trial's sites at work: screening and randomization of the seeded candidates, then every later
    record through ikema.conduct.capture into a fresh store (OUT/ikema.db unless `database_url`). Returns the
    engine of the store and the enrollment summary (also in OUT/enrollment.json). `enrollment` overrides the
    protocol's target (a smaller trial for tests)."""
    from ikema.simulate.enroll import capture_records
    from ikema.simulate.facts import response_criteria
    from ikema.simulate.virtual import simulate_records
    from ikema.store import session_factory
    from ikema.store.db import bulk_load

    facts = _facts(enrollment)
    rng = np.random.default_rng(seed)
    engine = demo_engine(out, database_url)
    session = session_factory(engine)()
    try:
        subjects, summary = enroll_demo(session, rng, facts, out, seed)
        advance("screened and randomized")
        records = simulate_records(rng, subjects, facts, response_criteria(facts))
        advance("patients simulated")
        with bulk_load(session), _collector_paused():
            capture_records(session, records)
        session.commit()
        advance("records captured")
    finally:
        session.close()
    return engine, summary


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused for the block: the capture of a trial makes hundreds of thousands of lists, tuples
    and dicts and no reference cycles, which every collection on the way would only traverse (a tenth of a second)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _facts(enrollment: int | None):
    import dataclasses

    from ikema.simulate.facts import facts_from_protocol

    facts = facts_from_protocol()
    return facts if enrollment is None else dataclasses.replace(facts, enrollment=int(enrollment))
