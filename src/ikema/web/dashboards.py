"""Home pages as dashboards, one per role, built from the store at request time, and the routes of the figures
(SVG rendered by ikema.web.figures). Site staff: visits due and overdue, forms not started, open queries with their
age, adverse events without an end date. Data manager: enrollment against the target (overall and by site), queries
by age, form completion, SDV progress, allocation positions left per stratum. Monitor: the SDV queue of their sites.
Statistician: blinded pooled PFS events over time and the planned looks with their predicted dates (`ikema predict`). Assessor: the blinded review queue.
Pooled figures and the assessor's pages name no arm."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from typing import Any, Callable

import pandas as pd
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ikema.store.models import (
    AdverseEvent, AllocationEntry, Death, DiseaseAssessment, Disposition, DrugAdministration, Randomization,
)
from ikema.web import blinding, dm, figures, review, store_glue, trial
from ikema.web.auth import Principal
from ikema.web.deps import NotFoundError, csrf_guard, current_user, get_db, now
from ikema.web.forms import PARAM_LABELS
from ikema.web.models import AssessorVerdict, SdvMark
from ikema.web.permissions import allowed, can_see_site, require, site_scope

router = APIRouter(dependencies=[Depends(csrf_guard)], include_in_schema=False)

DUE_DAYS = 7  # the site's horizon for visits due
QUERY_AGES = ((0, 7, "0-7 days"), (8, 14, "8-14 days"), (15, 30, "15-30 days"), (31, 10**6, "over 30 days"))
SITE_ROLES = ("investigator", "coordinator", "pharmacist")


def _svg(body: bytes) -> Response:
    return Response(body, media_type="image/svg+xml")


# --- what each dashboard shows ---------------------------------------------------------------------------------

def _age(today: dt.date, when: dt.datetime) -> int:
    return (today - when.date()).days


def _open_queries(db: Session, inside: set[str], today: dt.date) -> list[dict[str, Any]]:
    return [{"id": q.id, "usubjid": q.usubjid, "form": trial.FORM_SPECS[q.form].title if q.form in trial.FORM_SPECS else q.form,
             "field": q.field, "status": q.status, "text": q.text, "age": _age(today, q.opened_at)}
            for q in dm.queries_for(db) if q.usubjid in inside and q.status != "closed"]


def site_staff(db: Session, user: Principal, today: dt.date) -> dict[str, Any]:
    """Visits due within DUE_DAYS and overdue, forms not started, open queries by age, AEs without an end date."""
    patients = [s for s in trial.list_subjects(db, site_scope(user)) if s.get("randomized")]
    horizon = today + dt.timedelta(days=DUE_DAYS)
    due: list[dict[str, Any]] = []
    not_started: list[dict[str, Any]] = []
    forms = [f for f, spec in trial.FORM_SPECS.items() if allowed(user.role, spec.view_action)]
    for s in patients:
        if allowed(user.role, "assessment.view"):
            for v in trial.visits(db, s, today):
                if v["state"] == "overdue" or (v["state"] == "expected" and dt.date.fromisoformat(v["date"]) <= horizon):
                    due.append({"usubjid": s["usubjid"], "visit": v["label"], "date": v["date"], "state": v["state"]})
        if allowed(user.role, "arm.view") and allowed(user.role, "exposure.view"):
            for v in trial.treatment_visits(db, s, today)["rows"]:
                if v["state"] == "overdue" or (v["state"] == "expected" and dt.date.fromisoformat(v["date"]) <= horizon):
                    due.append({"usubjid": s["usubjid"], "visit": f"Cycle {v['cycle']} day {v['day']} dosing ({v['drugs']})",
                                "date": v["date"], "state": v["state"]})
        empty = [trial.FORM_SPECS[f].title for f in forms if not trial.records(db, s, f)]
        if empty:
            not_started.append({"usubjid": s["usubjid"], "forms": empty})
    due.sort(key=lambda r: (r["state"] != "overdue", r["date"], r["usubjid"]))
    inside = {s["usubjid"] for s in trial.list_subjects(db, site_scope(user))}
    open_aes = []
    if allowed(user.role, "ae.view") and inside:
        stmt = select(AdverseEvent).where(AdverseEvent.resolution.is_(None), AdverseEvent.usubjid.in_(sorted(inside)))
        open_aes = [{"usubjid": a.usubjid, "id": a.id, "term": a.term, "grade": a.grade, "start": a.onset.isoformat(),
                     "days": (today - a.onset).days} for a in db.scalars(stmt.order_by(AdverseEvent.onset))]
    return {"kind": "site", "patients": len(patients), "due": due, "overdue": sum(r["state"] == "overdue" for r in due),
            "not_started": not_started, "queries": _open_queries(db, inside, today) if allowed(user.role, "query.view") else [],
            "open_aes": open_aes, "horizon": horizon.isoformat()}


def enrollment_target() -> tuple[int | None, tuple[dt.date, dt.date] | None]:
    """The protocol's enrollment target and the planned accrual period (first randomization + accrual months)."""
    p = store_glue.protocol()
    start = p.dates.first_patient_randomized or p.dates.study_start
    months = getattr(p.design, "accrual_months", None) if getattr(p, "design", None) else None
    end = start + dt.timedelta(days=round(months * 30.4375)) if (start and months) else None
    return p.study.enrollment, ((start, end) if end else None)


def randomized_by_site(db: Session, site: str | None = None) -> dict[str, list[dt.date]]:
    """Site -> randomization dates (all sites, or one)."""
    out: dict[str, list[dt.date]] = defaultdict(list)
    for s in trial.list_subjects(db, site):
        if s.get("randdt"):
            out[s["site"]].append(dt.date.fromisoformat(s["randdt"]))
    return dict(out)


def _field_counts(db: Session, inside: set[str] | None) -> dict[str, int]:
    """USUBJID -> number of fields of saved capture records (records x form columns)."""
    out: Counter[str] = Counter()
    for form, model in store_glue.FORM_MODELS.items():
        stmt = select(model.usubjid, func.count()).group_by(model.usubjid)
        for u, n in db.execute(stmt):
            if inside is None or u in inside:
                out[u] += n * len(trial.FORM_SPECS[form].columns)
    return dict(out)


def _verified(db: Session, inside: set[str] | None) -> dict[str, int]:
    """USUBJID -> fields whose SDV mark still matches the current value."""
    marks = [m for m in db.scalars(select(SdvMark).order_by(SdvMark.id)) if inside is None or m.usubjid in inside]
    out: Counter[str] = Counter()
    by_patient: dict[str, list[SdvMark]] = defaultdict(list)
    for m in marks:
        by_patient[m.usubjid].append(m)
    for u, ms in by_patient.items():
        s = trial.get_subject(db, u)
        if s is None:
            continue
        current = {}
        for form in {m.form for m in ms}:
            for r in trial.records(db, s, form):
                for f in trial.FORM_SPECS[form].columns:
                    current[(form, r["id"], f.name)] = trial.text(r.get(f.name))
        out[u] = len(dm.sdv_state(db, u, current))
    return dict(out)


def data_manager(db: Session, today: dt.date) -> dict[str, Any]:
    """Enrollment overall and by site, queries by age, form completion, SDV progress, allocation positions left."""
    subjects = trial.list_subjects(db)
    randomized = [s for s in subjects if s.get("randomized")]
    by_site: dict[str, dict[str, Any]] = {}
    for s in subjects:
        row = by_site.setdefault(s["site"], {"site": s["site"], "screened": 0, "failed": 0, "randomized": 0, "last": ""})
        row["screened"] += 1
        row["failed"] += s["status"] == "screen-failed"
        if s.get("randdt"):
            row["randomized"] += 1
            row["last"] = max(row["last"], s["randdt"])
    target, period = enrollment_target()
    queries = _open_queries(db, {s["usubjid"] for s in subjects}, today)
    ages = [{"label": label, "open": sum(lo <= q["age"] <= hi and q["status"] == "open" for q in queries),
             "answered": sum(lo <= q["age"] <= hi and q["status"] == "answered" for q in queries)} for lo, hi, label in QUERY_AGES]
    completion = []
    for form, model in store_glue.FORM_MODELS.items():
        started = db.scalar(select(func.count(func.distinct(model.usubjid))).where(model.usubjid.in_(select(Randomization.usubjid))))
        completion.append({"form": trial.FORM_SPECS[form].title, "started": started or 0, "of": len(randomized)})
    fields, verified = _field_counts(db, None), _verified(db, None)
    total_fields, total_verified = sum(fields.values()), sum(verified.values())
    strata: dict[str, dict[str, int]] = {}
    for stratum, used, n in db.execute(select(AllocationEntry.stratum, AllocationEntry.used_by.is_not(None), func.count())
                                       .group_by(AllocationEntry.stratum, AllocationEntry.used_by.is_not(None))):
        row = strata.setdefault(stratum, {"used": 0, "left": 0})
        row["used" if used else "left"] += n
    expected_by_today = None
    if target and period and period[1] > period[0]:
        share = min(1.0, max(0.0, (today - period[0]).days / (period[1] - period[0]).days))
        expected_by_today = round(target * share)
    return {"kind": "data_manager", "randomized": len(randomized), "screened": len(subjects), "target": target,
            "period": [d.isoformat() for d in period] if period else None, "expected_by_today": expected_by_today,
            "sites": sorted(by_site.values(), key=lambda r: (-r["randomized"], r["site"])), "query_ages": ages,
            "open_queries": len(queries), "completion": completion,
            "sdv": {"fields": total_fields, "verified": total_verified,
                    "percent": round(100 * total_verified / total_fields, 1) if total_fields else 0.0},
            "strata": [{"stratum": k, **v} for k, v in sorted(strata.items())]}


def monitor(db: Session, user: Principal) -> dict[str, Any]:
    """The SDV queue of the monitor's sites: per patient, fields saved and verified, most unverified first."""
    subjects = {s["usubjid"]: s for s in trial.list_subjects(db, site_scope(user)) if s.get("randomized")}
    fields, verified = _field_counts(db, set(subjects)), _verified(db, set(subjects))
    queue = [{"usubjid": u, "site": subjects[u]["site"], "fields": n, "verified": verified.get(u, 0), "left": n - verified.get(u, 0)}
             for u, n in fields.items() if n - verified.get(u, 0) > 0]
    queue.sort(key=lambda r: (-r["left"], r["usubjid"]))
    total, done = sum(fields.values()), sum(verified.values())
    return {"kind": "monitor", "queue": queue, "fields": total, "verified": done,
            "percent": round(100 * done / total, 1) if total else 0.0, "site": site_scope(user)}


def planned_looks() -> list[tuple[str, int]]:
    """(name, PFS events) of each planned analysis: the protocol's maximum events times each information rate."""
    from ikema.design.scenario import look_events

    d = store_glue.protocol().design
    counts = look_events(d.information_rates, d.planned_pfs_events)
    return [("Final analysis" if i == len(counts) - 1 else f"Interim analysis {i + 1}" if len(counts) > 2 else "Interim analysis", n)
            for i, n in enumerate(counts)]


def pfs_event_dates(db: Session, today: dt.date) -> list[dt.date]:
    """Date of each PFS event as known on `today`, pooled and blinded: the ADTTE PFS of a data cut at `today` (IMWG
    progression or death, with the SAP's censoring rules), read by ikema.design's `pfs_known_at`, the same reading
    the event prediction uses."""
    from ikema.design.predict_commands import pfs_known_at

    def read() -> list[dt.date]:
        pfs = pfs_known_at(db, today, store_glue.protocol())
        return sorted(pd.to_datetime(pfs.loc[pfs["CNSR"] == 0, "ADT"]).dt.date)

    return _per_store_state(db, ("pfs_event_dates", today.isoformat()), read)


PREDICTION_SEED = 20171025  # fixed: the same store state draws the same page
STORE_STATE_CACHE_SIZE = 16
_by_store_state: dict[tuple, Any] = {}


def _per_store_state(db: Session, key: tuple, compute: Callable[[], Any]) -> Any:
    """`compute()` once per store state: the store's URL and its latest audit id (every write is audited, so a page
    view after no write costs a lookup), plus `key`. The read-only transaction is ended after computing (SQLite holds
    a lock while one is open). The oldest of STORE_STATE_CACHE_SIZE entries goes first."""
    from ikema.store.models import AuditEntry

    full = (db.get_bind().url.render_as_string(hide_password=False), db.scalar(select(func.max(AuditEntry.id))) or 0, *key)
    if full not in _by_store_state:
        try:
            value = compute()
        finally:
            db.rollback()
        while len(_by_store_state) >= STORE_STATE_CACHE_SIZE:
            _by_store_state.pop(next(iter(_by_store_state)))
        _by_store_state[full] = value
    return _by_store_state[full]


def data_date(db: Session, today: dt.date) -> dt.date | None:
    """The date of the store's latest dated trial record (randomization, assessment, dosing, disposition, death), not
    after `today`: the date the data are known at (about today for a running trial; the data's end for a finished one
    such as the demo, whose store ends years before the clock)."""
    dates = [db.scalar(select(func.max(col)).where(col <= today)) for col in (
        Randomization.randdt, DiseaseAssessment.date, DrugAdministration.date, Disposition.date, Death.date)]
    dates = [d.date() if isinstance(d, dt.datetime) else d for d in dates if d is not None]
    return max(dates) if dates else None


def predicted_looks(db: Session, today: dt.date, targets: list[int]) -> dict[str, Any] | None:
    """`ikema predict` (ikema.design.predict_commands.predict_from_store) of the looks in `targets` (those not yet
    reached), blinded and pooled, as known at `data_date`, with PREDICTION_SEED; None when nothing is left to predict.
    Cached per store state (the store's URL, its latest audit id, the date, the targets): every write is audited, so
    a page view after no write costs a lookup, not a simulation. A store the prediction cannot fit (say, no event
    yet) gives {"error": the reason}."""
    from ikema.design.predict import PredictionError
    from ikema.design.predict_commands import predict_from_store

    as_of = data_date(db, today)
    if not targets or as_of is None:
        return None

    def predict() -> dict[str, Any]:
        try:
            return predict_from_store(db, as_of, targets, seed=PREDICTION_SEED)
        except PredictionError as exc:
            return {"error": str(exc), "as_of": as_of.isoformat(), "seed": PREDICTION_SEED}

    return _per_store_state(db, ("predicted_looks", as_of.isoformat(), tuple(targets)), predict)


def statistician(db: Session, today: dt.date) -> dict[str, Any]:
    """Blinded pooled PFS events to date and each planned look: its target, whether and when it was reached, and for
    a look not yet reached the predicted date (median and 90% interval, from `predicted_looks`)."""
    events = pfs_event_dates(db, today)
    looks = [{"name": name, "events": n, "observed": len(events), "remaining": max(0, n - len(events)),
              "reached": next((d.isoformat() for i, d in enumerate(events, 1) if i == n), None)} for name, n in planned_looks()]
    deaths = db.scalar(select(func.count()).select_from(Death).where(Death.date <= today)) or 0
    randomized = db.scalar(select(func.count()).select_from(Randomization)) or 0
    prediction = predicted_looks(db, today, [look["events"] for look in looks if look["reached"] is None])
    by_target = {t["events"]: t for t in (prediction or {}).get("targets", [])}
    for look in looks:
        look["predicted"] = by_target.get(look["events"])
    return {"kind": "statistician", "events": len(events), "deaths": deaths, "looks": looks, "randomized": randomized,
            "last_event": events[-1].isoformat() if events else None, "prediction": prediction}


def assessor(db: Session) -> dict[str, Any]:
    """The blinded review queue: randomized patients with assessment days that have no independent verdict yet."""
    days: dict[str, set[int]] = defaultdict(set)
    last: dict[str, dt.date] = {}
    rand = {u: d for u, d in db.execute(select(Randomization.usubjid, Randomization.randdt))}
    for u, d, sd in db.execute(select(DiseaseAssessment.usubjid, DiseaseAssessment.date, DiseaseAssessment.study_day)
                               .where(DiseaseAssessment.param.in_(blinding.ALLOWED_PARAMS))):
        if u not in rand:
            continue
        days[u].add(sd if sd is not None else (d - rand[u]).days + ((d >= rand[u]) and 1))
        last[u] = max(last.get(u, d), d)
    judged: dict[str, set[int]] = defaultdict(set)
    for u, ady in db.execute(select(AssessorVerdict.usubjid, AssessorVerdict.ady)):
        judged[u].add(ady)
    sites = {s["usubjid"]: s for s in trial.list_subjects(db) if s.get("randomized")}
    queue = []
    for u, ds in days.items():
        pending = sorted(ds - judged[u])
        if pending and u in sites:
            view = blinding.subject_view(sites[u])
            view.update(pending=len(pending), first_pending=pending[0], last_assessment=last[u].isoformat())
            queue.append(view)
    queue.sort(key=lambda r: (r["last_assessment"], r["usubjid"]))
    return {"kind": "assessor", "queue": queue, "patients": len(sites), "pending_days": sum(r["pending"] for r in queue)}


def for_user(db: Session, user: Principal, today: dt.date) -> dict[str, Any] | None:
    """The dashboard of the user's role (None for roles whose home is the menu alone)."""
    if user.role in SITE_ROLES:
        return site_staff(db, user, today)
    if user.role == "data_manager":
        return data_manager(db, today)
    if user.role == "monitor":
        return monitor(db, user)
    if user.role == "statistician":
        return statistician(db, today)
    if user.role == "assessor":
        return assessor(db)
    return None


# --- figures --------------------------------------------------------------------------------------------------

@router.get("/figures/enrollment.svg")
def enrollment_figure(user: Principal = Depends(current_user), db: Session = Depends(get_db)) -> Response:
    """Cumulative randomizations, overall and by site, against the target (site roles: their own site)."""
    require(user, "subjects.view")
    target, period = enrollment_target()
    scope = site_scope(user)
    return _svg(figures.enrollment(randomized_by_site(db, scope), None if scope else target, None if scope else period))


@router.get("/figures/pfs-events.svg")
def pfs_events_figure(request: Request, user: Principal = Depends(current_user), db: Session = Depends(get_db)) -> Response:
    """Blinded, pooled cumulative PFS events with the planned looks (statistician, data manager)."""
    require(user, "export")
    today = now(request).date()
    events = pfs_event_dates(db, today)
    looks = planned_looks()
    prediction = predicted_looks(db, today, [n for _, n in looks if n > len(events)]) or {}
    day = lambda s: dt.date.fromisoformat(s) if s else None  # noqa: E731
    marks = [(t["events"], day(t["median_date"]), day(t["lower_date"]), day(t["upper_date"]))
             for t in prediction.get("targets", []) if t["median_date"]]
    return _svg(figures.events_over_time(events, looks, marks))


def _unit_labels() -> dict[str, str]:
    from ikema.response import NUMERIC_PARAMS

    return {p: f"{PARAM_LABELS[p]} ({NUMERIC_PARAMS[p][2]})" if p in NUMERIC_PARAMS else PARAM_LABELS[p] for p in PARAM_LABELS}


@router.get("/subjects/{usubjid}/figures/mprotein.svg")
def mprotein_figure(usubjid: str, user: Principal = Depends(current_user), db: Session = Depends(get_db)) -> Response:
    """The patient's M-protein and free light chains with the IMWG response of each assessment day."""
    require(user, "assessment.view")
    s = trial.get_subject(db, usubjid)
    if s is None or not can_see_site(user, s["site"]):
        raise NotFoundError(usubjid)
    rows = trial.assessments_long(db, s)
    responses, _ = review.engine_verdicts(rows) if s.get("randomized") else ({}, None)
    return _svg(figures.mprotein(rows, responses, _unit_labels()))


@router.get("/review/{usubjid}/figures/mprotein.svg")
def review_mprotein_figure(usubjid: str, user: Principal = Depends(current_user), db: Session = Depends(get_db)) -> Response:
    """The assessor's copy: drawn from the blinding allow-list (interference resolved), labels without units."""
    require(user, "review.view")
    s = trial.get_subject(db, usubjid)
    if s is None or not s.get("randomized"):
        raise NotFoundError(usubjid)
    rows = blinding.assessments_view(store_glue.assessments(db, usubjid))
    responses, _ = review.engine_verdicts(rows)
    return _svg(figures.mprotein(rows, responses, blinding.PARAM_LABELS))


@router.get("/subjects/{usubjid}/figures/timeline.svg")
def timeline_figure(usubjid: str, user: Principal = Depends(current_user), db: Session = Depends(get_db)) -> Response:
    """The patient's treatment timeline: administrations per drug, adverse events by grade, disposition and death."""
    require(user, "exposure.view")
    require(user, "arm.view")
    s = trial.get_subject(db, usubjid)
    if s is None or not can_see_site(user, s["site"]):
        raise NotFoundError(usubjid)
    if not s.get("randdt"):
        raise NotFoundError(usubjid)
    exposures = [{"drug": x.drug, "date": x.date.isoformat()}
                 for x in db.scalars(select(DrugAdministration).where(DrugAdministration.usubjid == usubjid))]
    aes = trial.records(db, s, "ae") if allowed(user.role, "ae.view") else []
    events = [(d.date, d.event.replace("_", " ").lower()) for d in db.scalars(select(Disposition).where(Disposition.usubjid == usubjid))
              if d.event != "FOLLOW_UP_CONTACT"]
    death = db.get(Death, usubjid)
    if death is not None:
        events.append((death.date, "death"))
    return _svg(figures.timeline(dt.date.fromisoformat(s["randdt"]), exposures, aes, events))
