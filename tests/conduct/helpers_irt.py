"""Test helpers: a randomization scheme like IKEMA's, and screened subjects in a store."""

from __future__ import annotations

import datetime as dt

from ikema.conduct.capture import record_screening
from ikema.conduct.randomization import Scheme

CONSENT = dt.datetime(2018, 2, 1, 9, 0, tzinfo=dt.timezone.utc)  # before every record the tests enter (edit checks)
SCHEME = Scheme(ratio={"IKd": 3, "Kd": 2}, block_sizes=(5, 10),
                factors=(("PRIOR_LINES", ("1", ">1")), ("RISS", ("I or II", "III", "NOT CLASSIFIED"))))


def screen_ok(session, usubjid: str, stratum: str, user: str = "site1") -> None:
    """Store a passing screening for `usubjid` in `stratum`."""
    record_screening(session, usubjid, {"AGE": 60}, {"eligible": True, "stratum": stratum,
                                                      "verdicts": [("I01", "pass", "measurable"), ("E01", "pass", "ok")]}, user, when=CONSENT)


def screen_fail(session, usubjid: str, user: str = "site1") -> None:
    """Store a failed screening (E03: ECOG 3) for `usubjid`."""
    record_screening(session, usubjid, {"AGE": 60, "ECOG": 3}, {"eligible": False, "stratum": None, "verdicts": [
        ("I01", "pass", "measurable"), ("E03", "fail", "ECOG performance status 3 > 2")]}, user, when=CONSENT)


def store_with_randomized(path, when: dt.datetime, usubjid: str = "P-1", also_screened: tuple[str, ...] = ()):
    """A fresh SQLite store at `path` with an allocation list, `usubjid` screened and randomized at `when`, and the
    subjects of `also_screened` screened only; returns its engine."""
    import numpy as np

    from ikema.conduct.randomization import generate_allocation_list, randomize, store_allocation_list
    from ikema.store import init_db, session_factory, session_scope

    eng = init_db(f"sqlite:///{path}")
    with session_factory(eng)() as s:
        store_allocation_list(s, generate_allocation_list(SCHEME, np.random.default_rng(1), 10), "irt")
    with session_scope(eng, "site1") as s:
        for u in (usubjid, *also_screened):
            screen_ok(s, u, SCHEME.strata[0])
    with session_factory(eng)() as s:
        randomize(s, usubjid, "site1", when=when)
    return eng
