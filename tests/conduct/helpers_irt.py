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
