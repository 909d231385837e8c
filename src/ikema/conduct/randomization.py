"""The IRT: stratified permuted-block randomization with a stored allocation list.

The ratio, the block sizes and the stratification factors come from the protocol (`scheme_from_protocol`).
The allocation list is generated up front from a seeded Generator (`generate_allocation_list`) and stored
(`store_allocation_list`); `randomize` hands out the next unused position of the subject's stratum (concurrent requests skip the
positions another open transaction holds, PostgreSQL's SKIP LOCKED, instead of queueing on one row and retrying), once per
subject (a repeat returns the original assignment), refusing unscreened and ineligible subjects with the reason.
Block ids and sizes stay in the allocation list: no function here returns them to a site.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from ikema.errors import AllocationExhaustedError, EligibilityError, ProtocolError, StoreError
from ikema.store.db import acting
from ikema.store.models import AllocationEntry, Randomization, ScreeningResult, Subject, utcnow

REASON = "randomization"


@dataclass(frozen=True)
class Scheme:
    """What the IRT needs from the protocol: arm ratio, block sizes, stratification factors and their levels."""

    ratio: dict[str, int]
    block_sizes: tuple[int, ...]
    factors: tuple[tuple[str, tuple[str, ...]], ...]

    @property
    def strata(self) -> list[str]:
        """Every stratum label (the product of the factors' levels, in protocol order)."""
        names = [f for f, _ in self.factors]
        return [stratum_label(dict(zip(names, combo))) for combo in itertools.product(*(lv for _, lv in self.factors))]


@dataclass(frozen=True)
class Assignment:
    """A subject's randomization as a site may see it (no list position, block id or block size)."""

    usubjid: str
    arm: str
    randno: int
    stratum: str
    randomized_at: dt.datetime
    randomized_by: str
    new: bool  # False when the request repeated an earlier randomization
    randdt: dt.date | None = None  # the randomization date (RANDDT)


def stratum_label(levels: Mapping[str, Any] | str) -> str:
    """The canonical stratum label `FACTOR=LEVEL; FACTOR=LEVEL` of a factor->level mapping (a label passes through)."""
    if isinstance(levels, str):
        return levels
    return "; ".join(f"{k}={v}" for k, v in levels.items())


def _get(obj: Any, *names: str) -> Any:
    for n in names:
        if isinstance(obj, Mapping) and n in obj:
            return obj[n]
        if hasattr(obj, n):
            return getattr(obj, n)
    return None


def scheme_from_protocol(protocol: Any) -> Scheme:
    """The randomization scheme (ratio, block sizes, strata) the protocol defines."""
    r = _get(protocol, "randomization")
    ratio = _get(r, "ratio") if r is not None else None
    sizes = _get(r, "block_sizes") if r is not None else None
    factors = _get(r, "stratification", "factors", "strata", "stratification_factors") if r is not None else None
    if not ratio or not sizes or not factors:
        raise ProtocolError("protocol: randomization needs `ratio`, `block_sizes` and stratification factors")
    ratio = {str(k): int(v) for k, v in dict(ratio).items()}
    out = []
    for f in factors:
        name = _get(f, "id", "code", "name")
        levels = _get(f, "levels")
        if not name or not levels:
            raise ProtocolError(f"protocol: randomization stratification factor {f!r} needs an id and levels")
        codes = tuple(str(lv) if isinstance(lv, (str, int)) else str(_get(lv, "code", "id", "label", "name")) for lv in levels)
        out.append((str(name), codes))
    total = sum(ratio.values())
    for b in sizes:
        if int(b) % total:
            raise ProtocolError(f"protocol: randomization block size {b} is not a multiple of the ratio total {total}")
    return Scheme(ratio=ratio, block_sizes=tuple(int(b) for b in sizes), factors=tuple(out))


def generate_allocation_list(scheme: Scheme, rng: np.random.Generator, per_stratum: int) -> list[dict[str, Any]]:
    """Permuted blocks (sizes drawn at random from the scheme) covering at least `per_stratum` positions per stratum."""
    total = sum(scheme.ratio.values())
    rows: list[dict[str, Any]] = []
    block_id = 0
    for stratum in scheme.strata:
        position = 0
        while position < per_stratum:
            size = int(rng.choice(scheme.block_sizes))
            block = np.array([arm for arm, k in scheme.ratio.items() for _ in range(k * size // total)], dtype=object)
            block_id += 1
            for arm in rng.permutation(block):
                position += 1
                rows.append(dict(stratum=stratum, position=position, block_id=block_id, block_size=size, arm=str(arm)))
    numbers = rng.choice(np.arange(100000, 1000000), size=len(rows), replace=False)
    for row, n in zip(rows, numbers, strict=True):
        row["randno"] = int(n)
    return rows


def store_allocation_list(session: Session, rows: Sequence[Mapping[str, Any]], user: str) -> int:
    """Store a generated allocation list (refused when one exists); returns the number of positions stored."""
    if session.scalar(select(func.count()).select_from(AllocationEntry)):
        raise StoreError("allocation_list: a list is already stored; it is generated once, before the first randomization")
    with acting(session, user, "allocation list generated"):
        session.execute(insert(AllocationEntry), [dict(r) for r in rows])
    session.commit()
    return len(rows)


def positions(session: Session) -> dict[str, tuple[int, int]]:
    """Stratum label -> (positions used, positions in the stored allocation list); no arm is revealed."""
    q = (select(AllocationEntry.stratum, func.count(), func.count(AllocationEntry.used_by))
         .group_by(AllocationEntry.stratum).order_by(AllocationEntry.stratum))
    return {st: (int(used), int(total)) for st, total, used in session.execute(q)}


def refusal(session: Session, usubjid: str) -> str | None:
    """Why `usubjid` cannot be randomized (not screened, ineligible with the failed criteria), or None."""
    subject = session.get(Subject, usubjid)
    if subject is None or subject.eligible is None:
        return f"{usubjid}: not screened; record screening before randomization"
    if not subject.eligible:
        bad = session.scalars(select(ScreeningResult).where(ScreeningResult.usubjid == usubjid,
                                                            ScreeningResult.verdict != "pass")
                              .order_by(ScreeningResult.criterion_id)).all()
        why = "; ".join(f"{r.criterion_id} {r.verdict}: {r.reason}" for r in bad) or "screening verdict not eligible"
        return f"{usubjid}: not eligible ({why})"
    if not subject.stratum:
        return f"{usubjid}: screening gave no stratum"
    return None


def _assignment(r: Randomization, new: bool) -> Assignment:
    return Assignment(r.usubjid, r.arm, r.randno, r.stratum, r.randomized_at, r.randomized_by, new=new, randdt=r.randdt)


def randomize(session: Session, usubjid: str, user: str, when: dt.datetime | None = None,
              randdt: dt.date | None = None, attempts: int = 50) -> Assignment:
    """Randomize `usubjid` (commits); a repeat returns the original assignment; refusals raise EligibilityError."""
    for _ in range(attempts):
        try:
            return _randomize_once(session, usubjid, user, when, randdt)
        except (IntegrityError, OperationalError, _Retry):
            session.rollback()  # a concurrent request took the position (or the subject): look again
    raise StoreError(f"{usubjid}: randomization did not complete after {attempts} attempts under contention")


class _Retry(Exception):
    pass


def _exhausted(usubjid: str, stratum: str) -> AllocationExhaustedError:
    return AllocationExhaustedError(f"{usubjid}: the allocation list of stratum {stratum!r} is exhausted or not stored; "
                                    "no position is left to randomize this patient (data management must extend the "
                                    "list)", stratum)


def randomize_many(session: Session, requests: Sequence[tuple[str, dt.datetime | None, dt.date | None]],
                   user: str) -> list[Assignment]:
    """Randomize subjects one after the other as `randomize` would (usubjid, when, randdt each; the same positions,
    rows and audit rows), in one transaction and one flush (commits); a repeat returns the original assignment.
    All or nothing: a refusal (EligibilityError, AllocationExhaustedError) rolls the whole batch back."""
    ids = list(dict.fromkeys(u for u, _, _ in requests))
    subjects: dict[str, Subject] = {}
    done: dict[str, Randomization] = {}
    for chunk in (ids[i:i + 900] for i in range(0, len(ids), 900)):
        subjects.update((x.usubjid, x) for x in session.scalars(
            select(Subject).where(Subject.usubjid.in_(chunk)).with_for_update().execution_options(populate_existing=True)))
        done.update((r.usubjid, r) for r in session.scalars(select(Randomization).where(Randomization.usubjid.in_(chunk))))
    free: dict[str, list[AllocationEntry]] = {}
    out: list[Assignment] = []
    try:
        with acting(session, user, REASON), session.no_autoflush:
            for usubjid, when, randdt in requests:
                if usubjid in done:
                    out.append(_assignment(done[usubjid], new=False))
                    continue
                why = refusal(session, usubjid)
                if why:
                    raise EligibilityError(why)
                subject = subjects[usubjid]
                if subject.stratum not in free:
                    free[subject.stratum] = list(session.scalars(
                        select(AllocationEntry).where(AllocationEntry.stratum == subject.stratum,
                                                      AllocationEntry.used_by.is_(None))
                        .order_by(AllocationEntry.position).with_for_update()))
                if not free[subject.stratum]:
                    raise _exhausted(usubjid, subject.stratum)  # type: ignore[arg-type]
                entry = free[subject.stratum].pop(0)
                now = when or utcnow()
                entry.used_by, entry.used_at = usubjid, now
                subject.status = "RANDOMIZED"
                r = done[usubjid] = Randomization(usubjid=usubjid, randno=entry.randno, stratum=entry.stratum, arm=entry.arm,
                                                  randomized_at=now, randomized_by=user, randdt=randdt or now.date())
                session.add(r)
                out.append(_assignment(r, new=True))
            session.flush()
    except BaseException:
        session.rollback()
        raise
    session.commit()
    return out


def _randomize_once(session: Session, usubjid: str, user: str, when: dt.datetime | None,
                    randdt: dt.date | None) -> Assignment:
    # the locked row's values replace any copy the session read before the lock (populate_existing)
    subject = session.scalars(select(Subject).where(Subject.usubjid == usubjid).with_for_update()
                              .execution_options(populate_existing=True)).one_or_none()
    # a statement of its own, after the lock: on PostgreSQL it sees a randomization committed while this request waited
    # for the lock (the same statement would not: its snapshot predates the wait), so a repeat never takes a position
    done = session.get(Randomization, usubjid)
    if done is not None:
        session.commit()
        return _assignment(done, new=False)
    why = refusal(session, usubjid)
    if why:
        session.rollback()
        raise EligibilityError(why)
    assert subject is not None
    entry = session.scalars(select(AllocationEntry)
                            .where(AllocationEntry.stratum == subject.stratum, AllocationEntry.used_by.is_(None))
                            .order_by(AllocationEntry.position).limit(1).with_for_update(skip_locked=True)).one_or_none()
    if entry is None:
        left = session.scalar(select(func.count()).select_from(AllocationEntry).where(
            AllocationEntry.stratum == subject.stratum, AllocationEntry.used_by.is_(None)))
        if left:
            raise _Retry()  # every position left is held by a concurrent request: look again once they commit
        stratum = subject.stratum
        session.rollback()
        raise _exhausted(usubjid, stratum)
    now = when or utcnow()
    with acting(session, user, REASON):
        entry.used_by, entry.used_at = usubjid, now
        subject.status = "RANDOMIZED"
        r = Randomization(usubjid=usubjid, randno=entry.randno, stratum=entry.stratum, arm=entry.arm,
                          randomized_at=now, randomized_by=user, randdt=randdt or now.date())
        session.add(r)
        session.flush()
    session.commit()
    return _assignment(r, new=True)
