"""The blinded assessor's review: allow-listed response data, the IMWG engine's verdicts, independent verdicts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from ikema.response import evaluate
from ikema.web import blinding, store_glue
from ikema.web.auth import Principal
from ikema.web.forms import FieldErrors
from ikema.web.models import AssessorVerdict
from ikema.web.permissions import require


def engine_verdicts(rows: Iterable[Mapping[str, Any]]) -> tuple[dict[int, str], str | None]:
    """IMWG response per post-baseline day and best response, computed on the allow-listed resolved values."""
    recs = []
    for r in rows:
        v = r["value"]
        numeric = r["param"] in blinding.ALLOWED_PARAMS[:6]
        recs.append({"USUBJID": r["usubjid"], "ADY": int(r["ady"]), "PARAM": r["param"],
                     "AVAL": float(v) if numeric else None, "AVALC": "" if numeric else str(v)})
    if not recs:
        return {}, None
    ev = evaluate(pd.DataFrame.from_records(recs), store_glue.response_criteria(), interference="assessed")
    resp = {int(d): str(x) for d, x in zip(ev.responses["ADY"], ev.responses["RESP"], strict=True)}
    bor = str(ev.summary["BOR"].iloc[0]) if len(ev.summary) else None
    return resp, bor


def days_table(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str | None]:
    """One row per assessment day with each PARAM's value and the engine's response."""
    resp, bor = engine_verdicts(rows)
    days: dict[int, dict[str, Any]] = {}
    for r in rows:
        d = days.setdefault(int(r["ady"]), {"ady": int(r["ady"]), "date": r.get("date"), "values": {}, "resp": None})
        d["values"][r["param"]] = r["value"]
    for ady, d in days.items():
        d["resp"] = resp.get(ady)
    return [days[k] for k in sorted(days)], bor


def verdicts(db: Session, usubjid: str) -> list[AssessorVerdict]:
    """The independent verdicts recorded for a patient, oldest first."""
    return list(db.scalars(select(AssessorVerdict).where(AssessorVerdict.usubjid == usubjid).order_by(AssessorVerdict.id)))


def record_verdict(
    db: Session, user: Principal, usubjid: str, rows: list[dict[str, Any]], ady: str, verdict: str, reason: str, now: datetime
) -> AssessorVerdict:
    """Store the assessor's verdict for one assessment day (checked: day exists, verdict known, reason given)."""
    require(user, "verdict.enter")
    errors: dict[str, str] = {}
    days, _ = days_table(rows)
    by_day = {d["ady"]: d for d in days}
    try:
        day = int(ady)
    except ValueError:
        day = None
    if day not in by_day:
        errors["ady"] = f"assessment day {ady!r}: expected one of {', '.join(str(d) for d in by_day) or '(none yet)'}"
    if verdict not in blinding.VERDICTS:
        errors["verdict"] = f"verdict {verdict!r}: expected one of {', '.join(blinding.VERDICTS)}"
    if not reason.strip():
        errors["reason"] = "a reason is required"
    if errors:
        raise FieldErrors(errors)
    with store_glue.acting(db, user.username, f"independent response verdict: {reason.strip()}"):
        v = AssessorVerdict(usubjid=usubjid, ady=day, verdict=verdict, agrees=verdict == by_day[day]["resp"],
                            reason=reason.strip(), by=user.username, at=now)
        db.add(v)
        db.flush()
    return v
