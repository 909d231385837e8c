"""The IRT: stratified permuted-block randomization with a stored allocation list.

The ratio, the block sizes and the stratification factors come from the protocol (`scheme_from_protocol`).
The allocation list is generated up front from a seeded Generator (`generate_allocation_list`) and stored
(`store_allocation_list`); `randomize` hands out the next unused position of the subject's stratum (concurrent requests skip the
positions another open transaction holds, PostgreSQL's SKIP LOCKED, instead of queueing on one row and retrying), once per
subject (a repeat returns the original assignment), refusing unscreened and ineligible subjects with the reason.
Block ids and sizes stay in the allocation list: no function here returns them to a site.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from ikema.errors import AllocationExhaustedError, EligibilityError, IkemaError, ProtocolError, StoreError
from ikema.store.audit import bulk_insert, bulk_insert_columns, bulk_update_columns
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
    with acting(session, user, "allocation list generated"):  # the rows and audit rows the ORM insert writes
        bulk_insert(session, AllocationEntry, [dict(r) for r in rows])
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
    return _refusal(session, usubjid, None if subject is None else subject.eligible, None if subject is None else subject.stratum)


def _refusal(session: Session, usubjid: str, eligible: bool | None, stratum: str | None) -> str | None:
    """`refusal` of a subject whose eligibility and stratum were read (None, None: no such subject)."""
    if eligible is None:
        return f"{usubjid}: not screened; record screening before randomization"
    if not eligible:
        bad = session.scalars(select(ScreeningResult).where(ScreeningResult.usubjid == usubjid,
                                                            ScreeningResult.verdict != "pass")
                              .order_by(ScreeningResult.criterion_id)).all()
        why = "; ".join(f"{r.criterion_id} {r.verdict}: {r.reason}" for r in bad) or "screening verdict not eligible"
        return f"{usubjid}: not eligible ({why})"
    if not stratum:
        return f"{usubjid}: screening gave no stratum"
    return None


def _assignment(r: Any, new: bool) -> Assignment:
    """The Assignment of a stored randomization (an ORM Randomization or a row of its columns)."""
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


def _exhausted(usubjid: str, stratum: str) -> AllocationExhaustedError:
    return AllocationExhaustedError(f"{usubjid}: the allocation list of stratum {stratum!r} is exhausted or not stored; "
                                    "no position is left to randomize this patient (data management must extend the "
                                    "list)", stratum)


@dataclass(frozen=True)
class Request:
    """One randomization request of a batch: the subject, the acting user, when (and the randomization date)."""

    usubjid: str
    user: str
    when: dt.datetime | None = None  # None: the time of the write
    randdt: dt.date | None = None


def randomize_many(session: Session, requests: Sequence[Request], attempts: int = 50) -> list[Assignment | IkemaError]:
    """Randomize a batch of requests in one transaction per round (commits): per request, in its order, the result
    `randomize` gives it, an Assignment or the EligibilityError / AllocationExhaustedError it raises (returned, not
    raised: one refusal does not fail the others). Positions are handed out in request order within each stratum, with
    the same locks as `randomize` (subjects FOR UPDATE, in USUBJID order; positions FOR UPDATE SKIP LOCKED), and the
    same rows and audit rows are written, with Core statements (one per table, however many requests). A request whose
    stratum's positions are all held by concurrent transactions waits for the next round, after this one commits, which
    waits for those locks (FOR UPDATE without SKIP LOCKED, strata in order) instead of asking again at once."""
    results: list[Assignment | IkemaError | None] = [None] * len(requests)
    todo = list(range(len(requests)))
    wait = False
    for _ in range(attempts):
        if not todo:
            break
        try:
            todo = _randomize_round(session, requests, todo, results, wait)
            wait = True
        except (IntegrityError, OperationalError):
            session.rollback()  # a concurrent transaction took a position or a subject: the whole round again
            for i in todo:
                results[i] = None
    for i in todo:
        results[i] = StoreError(f"{requests[i].usubjid}: randomization did not complete after {attempts} attempts under contention")
    return results  # type: ignore[return-value]


def _randomize_round(session: Session, requests: Sequence[Request], todo: list[int],
                     results: list[Assignment | IkemaError | None], wait: bool) -> list[int]:
    """One transaction of randomize_many over the requests `todo`; fills `results`, returns the requests left over.
    `wait`: wait for positions other transactions hold rather than skip them."""
    subj, rand, alloc = Subject.__table__.c, Randomization.__table__.c, AllocationEntry.__table__.c
    wanted = sorted({requests[i].usubjid for i in todo})
    locked = {r.usubjid: r for r in session.execute(
        select(subj.usubjid, subj.status, subj.eligible, subj.stratum).where(subj.usubjid.in_(wanted))
        .order_by(subj.usubjid).with_for_update())}
    # a statement of its own, after the locks (see _randomize_once)
    done = {r.usubjid: r for r in session.execute(select(*rand).where(rand.usubjid.in_(wanted)))}
    take: dict[str, list[int]] = {}  # stratum -> the requests that need a position, in request order
    first: dict[str, int] = {}  # usubjid -> the request that randomizes it in this round (a repeat follows it)
    for i in todo:
        u = requests[i].usubjid
        if u in done:
            results[i] = _assignment(done[u], new=False)
        elif u in first:
            continue
        elif why := _refusal(session, u, *((locked[u].eligible, locked[u].stratum) if u in locked else (None, None))):
            results[i] = EligibilityError(why)
        else:
            first[u] = i
            take.setdefault(locked[u].stratum, []).append(i)
    chosen: list[tuple[int, Any]] = []  # (request, allocation-list row)
    later: list[int] = []
    for stratum in sorted(take):  # one order of locking for every transaction that waits: no deadlock
        need = take[stratum]
        rows = session.execute(select(alloc.id, alloc.stratum, alloc.arm, alloc.randno, alloc.used_at)
                               .where(alloc.stratum == stratum, alloc.used_by.is_(None))
                               .order_by(alloc.position).limit(len(need)).with_for_update(skip_locked=not wait)).all()
        chosen += zip(need, rows)
        if len(rows) < len(need):
            left = session.scalar(select(func.count()).select_from(AllocationEntry).where(
                AllocationEntry.stratum == stratum, AllocationEntry.used_by.is_(None)))
            for i in need[len(rows):]:
                if left > len(rows):
                    later.append(i)  # positions held by concurrent requests: look again once they commit
                else:
                    results[i] = _exhausted(requests[i].usubjid, stratum)
    if chosen:
        chosen.sort()
        reqs = [requests[i] for i, _ in chosen]
        users = [r.user for r in reqs]
        nows = [r.when or utcnow() for r in reqs]
        usubjids = [r.usubjid for r in reqs]
        bulk_update_columns(session, AllocationEntry, {"id": [e.id for _, e in chosen]},
                            {"used_by": [None] * len(chosen), "used_at": [e.used_at for _, e in chosen]},
                            {"used_by": usubjids, "used_at": nows}, users=users, reason=REASON)
        status = [(u, locked[u].status, who) for u, who in zip(usubjids, users) if locked[u].status != "RANDOMIZED"]
        if status:
            bulk_update_columns(session, Subject, {"usubjid": [u for u, _, _ in status]}, {"status": [s for _, s, _ in status]},
                                {"status": ["RANDOMIZED"] * len(status)}, users=[w for *_, w in status], reason=REASON)
        columns = {"usubjid": usubjids, "randno": [e.randno for _, e in chosen], "stratum": [e.stratum for _, e in chosen],
                   "arm": [e.arm for _, e in chosen], "randomized_at": nows, "randomized_by": users,
                   "randdt": [r.randdt or t.date() for r, t in zip(reqs, nows)]}
        bulk_insert_columns(session, Randomization, columns, users=users, reason=REASON)
        for k, (i, _) in enumerate(chosen):
            results[i] = Assignment(usubjids[k], columns["arm"][k], columns["randno"][k], columns["stratum"][k], nows[k],
                                    users[k], new=True, randdt=columns["randdt"][k])
    session.commit()
    for i in todo:  # a repeat of a request randomized in this round gets its assignment
        if results[i] is None and i not in later and (j := first.get(requests[i].usubjid)) is not None and j != i:
            a = results[j]
            results[i] = dataclasses.replace(a, new=False) if isinstance(a, Assignment) else a
    return [i for i in todo if results[i] is None]
