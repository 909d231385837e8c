"""Enrollment and data entry of the virtual trial through the site operations code (ikema.conduct):
candidates are screened by the protocol's criteria, eligible ones randomized by the IRT, and every later record
is entered with `ikema.conduct.capture` (edit checks + audit trail). Nothing here writes a table directly."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any, Callable

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from ikema.simulate import params as P
from ikema.simulate.cohort import draw_candidates, draw_demography
from ikema.simulate.facts import TrialFacts
from ikema.simulate.entry import store_rows
from ikema.simulate.virtual import accrual_dates

USER = "simulator"
KIND_OF_TABLE = {
    "disease_assessments": "assessment", "drug_administrations": "administration", "adverse_events": "adverse_event",
    "lab_results": "lab", "pk_samples": "pk_sample", "ada_samples": "ada", "questionnaires": "questionnaire",
    "deaths": "death", "dispositions": "disposition", "subsequent_therapies": "subsequent_therapy",
}
BATCH = 500  # candidates drawn at a time until the enrollment target is met


def _stratum_columns(stratum: Any) -> dict[str, str]:
    """STRAT1R/STRAT2R from the screening stratum (factor -> level mapping or 'F=L; F=L' label), in protocol order."""
    if isinstance(stratum, str):
        levels = [part.split("=", 1)[1].strip() for part in stratum.split(";") if "=" in part]
    elif isinstance(stratum, dict):
        levels = [str(v) for v in stratum.values()]
    else:
        levels = []
    return {f"STRAT{i + 1}R": lv for i, lv in enumerate(levels)}


def enroll(
    session: Session, rng: np.random.Generator, facts: TrialFacts, screening_fields: Callable[[pd.Series], dict],
    screen: Callable[[dict], Any], per_stratum: int,
) -> tuple[pd.DataFrame, dict]:
    """Screen candidates and randomize the eligible through the IRT until the protocol's enrollment is reached.

    Returns the randomized subjects (baseline columns, USUBJID, ARM, RANDDT, STRAT1R, STRAT2R) and the
    enrollment summary (screened, screen failures by criterion, randomized per arm and stratum)."""
    from ikema.conduct.capture import record_screenings
    from ikema.conduct.randomization import (
        Request, generate_allocation_list, randomize_many, scheme_from_protocol, store_allocation_list,
    )

    from ikema.store import Site
    from ikema.store.db import acting

    scheme = scheme_from_protocol(facts.protocol)
    store_allocation_list(session, generate_allocation_list(scheme, rng, per_stratum), USER)
    sites = [f"{k + 1:03d}" for k in range(P.N_SITES)]
    with acting(session, USER, "site set-up"):
        session.add_all(Site(site_id=x, name=f"Virtual site {x}") for x in sites)
        session.commit()
    target = facts.enrollment
    dates = accrual_dates(rng, target, facts.first_patient, facts.last_patient)
    chosen: list[dict] = []
    screenings: list[dict] = []  # entered in order after the draws (nothing drawn depends on the store's answers)
    requests: list[tuple] = []
    failures: Counter = Counter()
    screened = 0
    drawn = 0
    demo_rng = rng.spawn(1)[0]  # race and ethnicity from a child stream: the trial's own draws stay as they were
    while len(chosen) < target:
        batch = draw_candidates(rng, BATCH, start_index=drawn)
        batch[["RACE", "ETHNIC"]] = draw_demography(demo_rng, len(batch)).set_axis(batch.index).to_numpy()
        drawn += BATCH
        for _, cand in batch.iterrows():
            if len(chosen) >= target:
                break
            randdt = dates[len(chosen)]
            screened += 1
            site = sites[int(rng.integers(len(sites)))]
            usubjid = f"{facts.studyid}-{site}-{screened:04d}"
            fields = {**screening_fields(cand), "country": P.SITE_COUNTRIES[(int(site) - 1) % len(P.SITE_COUNTRIES)]}
            result = screen(fields)
            when = dt.datetime.combine(randdt - dt.timedelta(days=int(rng.integers(3, 28))), dt.time(10), tzinfo=dt.timezone.utc)
            screenings.append(dict(usubjid=usubjid, candidate=fields, result=result, site_id=site, when=when))
            if not result.eligible:
                for v in result.verdicts:
                    cid, verdict = (v[0], v[1]) if isinstance(v, (tuple, list)) else (getattr(v, "criterion", None) or getattr(v, "id", None), getattr(v, "verdict", None))
                    if str(getattr(verdict, "value", verdict)).lower() != "pass":
                        failures[str(cid)] += 1
                continue
            requests.append(Request(usubjid, USER, dt.datetime.combine(randdt, dt.time(12), tzinfo=dt.timezone.utc), randdt))
            row = cand.to_dict()
            row.update(USUBJID=usubjid, SUBJID=f"{site}-{screened:04d}", SITEID=site, COUNTRY=fields["country"], ARM=None,
                       ARMLABEL=None, RANDDT=randdt, ICDT=when.date(), STRATUM=None)
            chosen.append(row)
    record_screenings(session, screenings, USER)
    session.commit()
    for row, a in zip(chosen, randomize_many(session, requests), strict=True):
        if isinstance(a, Exception):
            raise a  # (an eligible subject and a list long enough for the enrollment: not expected)
        row.update(ARM=a.arm, ARMLABEL=facts.arm_labels.get(a.arm, a.arm), STRATUM=a.stratum, **_stratum_columns(a.stratum))
    subjects = pd.DataFrame(chosen)
    arms = list(scheme.ratio)
    by_stratum = {st: {arm: int(((subjects["STRATUM"] == st) & (subjects["ARM"] == arm)).sum()) for arm in arms}
                  for st in scheme.strata}
    summary = {
        "screened": screened, "screen_failures": screened - len(subjects),
        "failures_by_criterion": dict(sorted(failures.items())),
        "randomized": len(subjects), "by_arm": {arm: int((subjects["ARM"] == arm).sum()) for arm in arms},
        "by_stratum": by_stratum,
        "published": {"screened": P.SCREENED, "screen_failures": P.SCREEN_FAILURES},
    }
    return subjects, summary


def capture_records(session: Session, records: dict[str, pd.DataFrame], progress: Callable[[str], None] = lambda _s: None) -> dict[str, int]:
    """Enter every site record through the capture bulk path (edit checks, audited); returns counts per kind."""
    from ikema.conduct.capture import record_many

    counts = {}
    for table, rows in store_rows(records).items():
        kind = KIND_OF_TABLE[table]
        counts[kind] = record_many(session, kind, rows, USER)
        progress(kind)
    session.commit()
    return counts
