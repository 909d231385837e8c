"""`ikema predict`: when will the planned looks' PFS event counts be reached? From the blinded, pooled data in the
store as known at a date (no arm read anywhere), by ikema.design.predict.

`predict_from_store` is the one entry point (the command line and the statistician's dashboard call it);
`pfs_known_at` is the only code that reads the store.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Callable, Optional, Sequence

import numpy as np
import pandas as pd
import typer

from ikema.design.predict import AT_RISK, DROPOUT, EVENT, PredictionError, predict_event_days

PERMANENT_CENSORING = ("new_therapy_before_progression", "event_after_missed_assessments")  # ADTTE PFS rules
DAYS_PER_MONTH = 30.4375


def parse_date(value: object, field: str) -> dt.date:
    """An ISO 8601 date (YYYY-MM-DD) or a date; anything else raises naming `field`."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise PredictionError(f"{field}: got {value!r}, expected an ISO 8601 date YYYY-MM-DD") from None


def parse_targets(text: str) -> list[int]:
    """Comma-separated whole event counts such as "103,159"."""
    try:
        return [int(x) for x in str(text).split(",") if x.strip()]
    except ValueError:
        raise PredictionError(f"events: got {text!r}, expected comma-separated whole numbers such as 103,159") from None


def pfs_known_at(session, as_of: dt.date, protocol=None) -> pd.DataFrame:
    """Per subject randomized on or before `as_of`: USUBJID, RANDDT and the PFS record as known at `as_of` (ADT,
    CNSR, RULE of the ADTTE PFS rules) with STATE 0 at risk, 1 event, 2 no longer followed for PFS (further
    therapy or an event after missed assessments before `as_of`, or withdrawn). Blinded: no arm is read.

    Records dated after `as_of` are ignored, the IMWG engine and the ADTTE PFS rules run on the rest (the ADaM
    derivations of the data cut). The result equals ADTTE PFS of the cut (ikema.pipeline.sdtm_from_store with
    randomized_by=as_of, then adam_at_cut at as_of; checked on the demo store), read in a tenth of the time: the
    cut reads every table (labs, questionnaires, PK) and the arms, this reads five tables and no arm."""
    from sqlalchemy import func, select

    from ikema.cdisc.adam.adrs import derive_adrs
    from ikema.cdisc.adam.adtte import default_max_gap_days, derive_param_pfs, subject_timeline
    from ikema.protocol import load_protocol
    from ikema.response import Criteria
    from ikema.store import Death, DiseaseAssessment, Disposition, DrugAdministration, Randomization, SubsequentTherapy

    p = protocol if protocol is not None else load_protocol()

    def frame(stmt, cols: list[str]) -> pd.DataFrame:
        return pd.DataFrame(session.execute(stmt).all(), columns=cols)

    rand = frame(select(Randomization.usubjid, Randomization.randdt).where(Randomization.randdt <= as_of)
                 .order_by(Randomization.randdt, Randomization.usubjid), ["USUBJID", "RANDDT"])
    cols = ["USUBJID", "RANDDT", "ADT", "CNSR", "RULE", "STATE"]
    if rand.empty:
        return pd.DataFrame(columns=cols)
    ids = rand["USUBJID"]

    def first(model, date_col, *where) -> pd.Series:
        stmt = select(model.usubjid, func.min(date_col)).where(date_col <= as_of, *where).group_by(model.usubjid)
        return ids.map(dict(session.execute(stmt).all()))

    adsl = pd.DataFrame({
        "USUBJID": ids, "RANDDT": rand["RANDDT"],
        "TRTSDT": first(DrugAdministration, DrugAdministration.date, DrugAdministration.dose_mg > 0),
        "DTHDT": first(Death, Death.date), "NEWTHDT": first(SubsequentTherapy, SubsequentTherapy.start_date),
    })
    withdrawn = first(Disposition, Disposition.date, Disposition.event == "WITHDRAWAL").notna().to_numpy()
    da = frame(select(DiseaseAssessment.usubjid, DiseaseAssessment.date, DiseaseAssessment.param, DiseaseAssessment.aval,
                      DiseaseAssessment.avalc).where(DiseaseAssessment.date <= as_of)
               .order_by(DiseaseAssessment.usubjid, DiseaseAssessment.date, DiseaseAssessment.param, DiseaseAssessment.id),
               ["USUBJID", "ADT", "PARAM", "AVAL", "AVALC"])
    da = da[da["USUBJID"].isin(set(ids))]
    da["AVAL"] = da["AVAL"].astype(float)
    da["AVALC"] = da["AVALC"].fillna("")
    adrs = derive_adrs(adsl, da, Criteria.from_protocol(p))
    pfs = derive_param_pfs(subject_timeline(adsl, adrs, default_max_gap_days(p), as_of))
    out = pfs[["USUBJID", "ADT", "CNSR", "RULE"]].copy()
    out.insert(1, "RANDDT", pd.to_datetime(rand["RANDDT"]).to_numpy())
    out["STATE"] = np.select([out["CNSR"].to_numpy() == 0, out["RULE"].isin(PERMANENT_CENSORING).to_numpy() | withdrawn],
                             [EVENT, DROPOUT], AT_RISK)
    return out[cols]


def _iso(as_of: dt.date, day: float | None) -> str | None:
    return None if day is None else (as_of + dt.timedelta(days=int(np.floor(day)))).isoformat()


def predict_from_store(
    source: Any = None, as_of: object = None, targets: Optional[Sequence[int]] = None, seed: Optional[int] = None,
    replicates: int = 4000, level: float = 0.90, progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Predicted dates of `targets` PFS events (default: the protocol's looks) from the store as known at `as_of`.

    `source`: an open SQLAlchemy session, a database URL, or None ($IKEMA_DATABASE_URL, else out/ikema.db). Returns a
    JSON-ready dict: per target the median date and the `level` interval, the events observed, the models used and
    why, and the observed event dates (for a chart). The same seed gives the same dict."""
    from ikema.design.scenario import look_events
    from ikema.protocol import load_protocol

    day = parse_date(as_of, "as_of")
    p = load_protocol()
    if targets is None:
        targets = list(look_events(p.design.information_rates, p.design.planned_pfs_events))
    seed = int(np.random.SeedSequence().entropy % 2**63) if seed is None else int(seed)
    if hasattr(source, "execute"):
        return _predict(source, day, targets, seed, replicates, level, progress, p)
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from ikema.store import session_factory
    from ikema.store.db import database_url, make_engine

    url = make_url(database_url(source))
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") and not Path(url.database).exists():
        raise PredictionError(f"database_url: got {url.render_as_string(hide_password=True)}, expected an existing store "
                              "(make demo writes out/ikema.db)")
    engine = make_engine(source)
    try:
        with session_factory(engine)() as session:
            return _predict(session, day, targets, seed, replicates, level, progress, p)
    finally:
        engine.dispose()


def _predict(session, as_of: dt.date, targets, seed, replicates, level, progress, p) -> dict:
    from sqlalchemy import func, select

    from ikema.store import Randomization

    first = session.execute(select(func.min(Randomization.randdt))).scalar()
    if first is None:
        raise PredictionError("as_of: the store has no randomized subject; expected at least one randomization before it")
    if as_of < first:
        raise PredictionError(f"as_of: got {as_of.isoformat()}, expected a date on or after the first randomization "
                              f"({first.isoformat()})")
    known = pfs_known_at(session, as_of, p)
    rand = pd.to_datetime(known["RANDDT"])
    entry = (rand - pd.Timestamp(as_of)).dt.days.to_numpy(float)
    # days between dates + 1/2: an event or censoring on a day is taken at its middle (no zero times)
    time = (pd.to_datetime(known["ADT"]) - rand).dt.days.to_numpy(float) + 0.5
    pred = predict_event_days(entry, time, known["STATE"].to_numpy(), planned=int(p.study.enrollment), targets=targets,
                              rng=np.random.default_rng(seed), replicates=replicates, level=level, progress=progress)
    res = pred.as_dict()
    for t in res["targets"]:
        t.update(median_date=_iso(as_of, t["median_day"]), lower_date=_iso(as_of, t["lower_day"]),
                 upper_date=_iso(as_of, t["upper_day"]))
    events = known[known["STATE"] == EVENT]
    return {
        "as_of": as_of.isoformat(), "seed": seed, "endpoint": "PFS", "blinded": True,
        "randomized": int(len(known)), "planned": int(p.study.enrollment), "first_randomization": first.isoformat(),
        **res, "observed_event_dates": sorted(pd.to_datetime(events["ADT"]).dt.strftime("%Y-%m-%d")),
        "method": "cause-specific hazards for PFS events and dropouts (exponential, Weibull, piecewise-exponential; AIC), "
                  "Poisson accrual to the planned enrollment, simulated with parameter uncertainty (see README)",
    }


def predict_command(
    as_of: str = typer.Option(..., "--as-of", help="the date the data are known at (YYYY-MM-DD)"),
    events: Optional[str] = typer.Option(None, "--events", help="target PFS event counts, e.g. 103,159 "
                                                                 "(default: the protocol's looks)"),
    database_url: Optional[str] = typer.Option(None, "--database-url",
                                               help="the store (default: $IKEMA_DATABASE_URL, else out/ikema.db)"),
    seed: Optional[int] = typer.Option(None, "--seed", help="seed of the simulation (default: fresh entropy, printed)"),
    replicates: int = typer.Option(4000, "--replicates", help="simulated continuations of the trial"),
    as_json: bool = typer.Option(False, "--json", help="print the prediction as JSON"),
) -> None:
    """Predict the dates of the PFS event counts of the planned analyses from the blinded data known at a date."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    day = parse_date(as_of, "--as-of")
    targets = parse_targets(events) if events is not None else None
    err = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err,
                  transient=True) as bar:  # transient: a run under a second leaves nothing on the screen
        task = bar.add_task("reading the store, fitting the models", total=None)

        def tick(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description="simulating the rest of the trial")

        res = predict_from_store(database_url, day, targets, seed, replicates=replicates, progress=tick)
    if as_json:
        typer.echo(json.dumps(res))
        return
    con = Console()
    ev, do, ac = res["event_model"], res["dropout_model"], res["accrual_model"]
    con.print(f"As of {res['as_of']}: {res['randomized']} of {res['planned']} randomized, {res['observed_events']} PFS events, "
              f"{res['at_risk']} at risk, {res['dropouts']} no longer followed (blinded, pooled; seed {res['seed']})",
              highlight=False)
    t = Table(title=f"Predicted dates ({res['replicates']} simulations, {res['level']:.0%} interval)")
    for col in ("events", "median date", "lower", "upper", "reached"):
        t.add_column(col, justify="right")
    for x in res["targets"]:
        t.add_row(str(x["events"]), x["median_date"] or "not reached", x["lower_date"] or "-", x["upper_date"] or "-",
                  f"{np.floor(x['share_reached'] * 1000) / 10:.1f}%")  # floored: 99.95% is not all
    con.print(t)
    for name, m in (("events", ev), ("dropouts", do)):
        est = m["estimate"]
        med = f", median {est['median'] / DAYS_PER_MONTH:.1f} months" if est else ""
        con.print(f"{name} model: {m['model']}{med} - {m['reason']}", highlight=False)
    con.print(f"accrual model: {ac['model']} - {ac['reason']}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add `ikema predict`."""
    app.command("predict")(predict_command)
