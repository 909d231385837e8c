"""The one path from the store to the report (DESIGN.md): store -> data cut (date, as-of time) -> SDTM -> ADaM ->
the SAP (ikema.analysis.sap) -> the report (ikema.report renders only).

A data manager's `ikema cut` of a live trial, `ikema demo`, each `ikema twin` replicate and the web application's
export run the same functions: `trial_setup` (what the path reads from the protocol), `sdtm_from_store`,
`adam_at_cut`, `analyse_adam`, and ikema.report. The demo and the twin are "simulate, then this path".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import multiprocessing as mp
import os
from collections.abc import Collection, Iterator, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ikema.errors import InputError


@dataclass(frozen=True)
class TrialSetup:
    """What the path from the store to the report reads from the protocol file."""

    protocol: Any
    sap: Any  # ikema.analysis.sap.Sap
    criteria: Any  # ikema.response.Criteria with the protocol's measurable-disease thresholds
    studyid: str
    title: str
    cycle_days: int
    teae_window_days: int
    cutoffs: dict[str, dt.date]
    subject_columns: dict[str, str]
    arm_labels: dict[str, str]
    pk_lloq: dict[str, float] = field(default_factory=dict)
    strata_labels: dict[str, str] = field(default_factory=dict)  # STRATnR -> the factor's label

    @property
    def arms(self) -> tuple[str, str]:
        """(experimental, control) arm codes."""
        return self.sap.experimental, self.sap.control


def trial_setup(protocol: Any = None) -> TrialSetup:
    """The protocol's facts the cut, the ADaM derivations, the SAP and the report need (None = packaged protocol)."""
    from ikema.analysis.sap import sap_from_protocol
    from ikema.errors import ProtocolError
    from ikema.protocol import load_protocol
    from ikema.response import Criteria

    p = protocol if protocol is not None else load_protocol()
    window = next((int(m.days_after_last_dose) for m in p.outcome_measures if m.days_after_last_dose is not None), None)
    if window is None:
        raise ProtocolError("protocol: no outcome measure gives days_after_last_dose (the treatment-emergent window)")
    return TrialSetup(protocol=p, sap=sap_from_protocol(p), criteria=Criteria.from_protocol(p), studyid=p.study.studyid,
                      title=f"{p.acronym} ({p.study.nct_id})" if p.study.nct_id else p.acronym,
                      cycle_days=int(p.cycle_length_days), teae_window_days=window, cutoffs=p.cutoffs,
                      subject_columns=p.subject_columns(), arm_labels={a.code: a.label for a in p.arms},
                      pk_lloq={a.analyte: float(a.lloq) for a in p.pk_assays},
                      strata_labels={f"STRAT{i + 1}R": f"{f.label} stratum"
                                     for i, f in enumerate(p.randomization.stratification)})


# ------------------------------------------------------------------------------------------------ the data cut
def sdtm_from_store(session, setup: TrialSetup, as_of: dt.datetime | None = None, randomized_by: dt.date | None = None,
                    domains: tuple[str, ...] | None = None, lean: bool = False) -> dict[str, pd.DataFrame]:
    """SDTM of every randomized subject from the store: live, or as the store stood at `as_of` (audit trail);
    `domains`, `lean`: what a twin replicate builds (ikema.cdisc.sdtm.build_sdtm)."""
    from ikema.cdisc.sdtm import build_sdtm
    from ikema.cdisc.store import records_from_tables, store_tables, subjects_from_tables

    tables = store_tables(session, as_of)
    subjects = subjects_from_tables(tables, setup.subject_columns, setup.arm_labels, setup.studyid, randomized_by)
    if subjects.empty:
        raise InputError("store: no randomized subject" + (f" on or before {randomized_by}" if randomized_by else "")
                         + "; expected at least one randomized subject to cut")
    records = records_from_tables(tables, subjects, setup.cycle_days, setup.pk_lloq, questionnaire_items=not lean)
    return build_sdtm(records, setup.studyid, setup.strata_labels, setup.protocol, setup.criteria, domains, lean)


def adam_at_cut(sdtm: Mapping[str, pd.DataFrame], setup: TrialSetup, cutoff: dt.date,
                outcomes: bool | str = True, **leave_out: bool) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """(SDTM as a cut at `cutoff` holds it, ADaM derived from it); `leave_out`: ikema.cdisc.derive.derive_adam's
    `lab` and `adjusted` (a twin replicate's cut)."""
    from ikema.cdisc.derive import derive_adam
    from ikema.cdisc.sdtm import data_cut

    cut = data_cut(dict(sdtm), cutoff)
    return cut, derive_adam(cut, cutoff, setup.criteria, setup.cycle_days, setup.teae_window_days, outcomes=outcomes,
                            **leave_out)


def analyse_adam(adam: Mapping[str, pd.DataFrame], setup: TrialSetup, ds: pd.DataFrame | None = None,
                 outcomes: bool | str = True, parameters: Collection[str] | None = None) -> dict:
    """The SAP's results of one cut's ADaM (efficacy, and with `outcomes` the safety summary); `parameters`: only
    these of the SAP's (None: all; a twin replicate's cut analyses those its published quantities read)."""
    from dataclasses import replace

    from ikema.analysis.sap import analyse_cut

    exp, ctl = setup.arms
    sap = setup.sap if parameters is None else replace(
        setup.sap, tte_parameters=tuple(p for p in setup.sap.tte_parameters if p in parameters),
        response_parameters=tuple(p for p in setup.sap.response_parameters if p in parameters))
    return analyse_cut(adam, sap, exp, ctl, ds=ds, outcomes=outcomes)


def check_cut_date(text: str, first_randomization: dt.date | None, today: dt.date | None = None) -> dt.date:
    """The cut date of `--date`: a real calendar date (YYYY-MM-DD), not after today, not before the first randomization."""
    today = today or dt.date.today()
    try:
        date = dt.date.fromisoformat(str(text).strip())
    except ValueError:
        raise InputError(f"--date: got {text!r}; expected a calendar date YYYY-MM-DD") from None
    if date > today:
        raise InputError(f"--date: got {date}, after today ({today}); expected a date on which data were known")
    if first_randomization is None:
        raise InputError("store: no randomized subject; expected at least one randomized subject to cut")
    if date < first_randomization:
        raise InputError(f"--date: got {date}, before the first randomization ({first_randomization}); "
                         "expected a date on or after it")
    return date


def parse_as_of(text: str | None) -> dt.datetime | None:
    """The `--as-of` moment: ISO 8601 date or date-time; a time without zone is UTC."""
    if text is None:
        return None
    try:
        when = dt.datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"--as-of: got {text!r}; expected an ISO 8601 time, e.g. 2022-01-20T12:00:00Z") from None
    if len(str(text).strip()) == 10:  # a date alone: the end of that day
        when = when + dt.timedelta(days=1) - dt.timedelta(microseconds=1)
    return when.replace(tzinfo=dt.timezone.utc) if when.tzinfo is None else when.astimezone(dt.timezone.utc)


def write_cut(sdtm: Mapping[str, pd.DataFrame], adam: Mapping[str, pd.DataFrame], out: Path, meta: dict) -> dict:
    """Write OUT/sdtm, OUT/adam (XPT and CSV) and OUT/cut.json (the cut's description and every file's SHA-256)."""
    from ikema.cdisc.sdtm import write_domains

    files = write_domains(dict(sdtm), out / "sdtm", define=True) + write_domains(dict(adam), out / "adam", define=True)
    for p in files:
        if p.suffix == ".xpt":
            stamp_xpt(p, meta["cut_date"])
    info = {**meta, "rows": {"sdtm": {k: int(len(v)) for k, v in sdtm.items()},
                             "adam": {k: int(len(v)) for k, v in adam.items()}},
            "sha256": {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(files)}}
    (out / "cut.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    return info


def stamp_xpt(path: Path, date: str) -> None:
    """Set the creation and modification times of a SAS transport file to `date` (YYYY-MM-DD) at midnight, so that
    the same data give the same bytes (the writer stamps the wall-clock time)."""
    months = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
    d = dt.date.fromisoformat(date)
    stamp = f"{d.day:02d}{months[d.month - 1]}{d.year % 100:02d}:00:00:00".encode("ascii")
    data = bytearray(path.read_bytes())
    # every header record that carries a date ends it at a fixed place: ddMMMyy:hh:mm:ss (16 bytes) in 80-byte records
    import re

    for m in re.finditer(rb"\d{2}(?:JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)\d{2}:\d{2}:\d{2}:\d{2}", bytes(data[:80 * 12])):
        data[m.start():m.end()] = stamp
    path.write_bytes(bytes(data))


def cut_from_session(session, date: str, out: Path, store: str, as_of: str | None = None, setup: TrialSetup | None = None,
                     today: dt.date | None = None, progress: Callable[[str], None] = lambda _s: None) -> dict:
    """A data cut of the store behind `session` into OUT (sdtm/, adam/, cut.json; `store` names the store in
    cut.json); returns cut.json. Nothing is written when the date or the as-of time is refused."""
    from sqlalchemy import func, select

    from ikema.cdisc.store import last_change
    from ikema.store import Randomization

    setup = setup or trial_setup()
    when = parse_as_of(as_of)
    first = session.scalar(select(func.min(Randomization.randdt)))
    cutoff = check_cut_date(date, first, today)
    stand = when if when is not None else last_change(session)
    progress("reading the store")
    sdtm = sdtm_from_store(session, setup, when, randomized_by=cutoff)
    progress("deriving ADaM")
    cut, adam = adam_at_cut(sdtm, setup, cutoff)
    progress("writing")
    out.mkdir(parents=True, exist_ok=True)
    meta = {"study": setup.studyid, "cut_date": str(cutoff), "as_of": None if stand is None else stand.isoformat(),
            "as_of_requested": as_of is not None, "store": store}
    return write_cut(cut, adam, out, meta)


def run_cut(date: str, out: Path, database_url: str | None = None, as_of: str | None = None,
            protocol: Any = None, today: dt.date | None = None, progress: Callable[[str], None] = lambda _s: None) -> dict:
    """`ikema cut`: SDTM and ADaM of the store at a cut date (as the data stood at `as_of`) into OUT; returns cut.json."""
    from ikema.store import make_engine, session_factory
    from ikema.store.db import database_url as resolve_url

    url = resolve_url(database_url)
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            return cut_from_session(session, date, out, store_label(url), as_of, trial_setup(protocol), today, progress)
    finally:
        engine.dispose()


def store_label(url: str) -> str:
    """The store's URL without credentials (for cut.json)."""
    head, sep, tail = url.partition("://")
    return f"{head}{sep}{tail.rsplit('@', 1)[-1]}" if sep else url


def zip_folder(folder: Path) -> bytes:
    """The files under `folder` as a zip archive, in name order with fixed times (the same files, the same bytes)."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(x for x in folder.rglob("*") if x.is_file()):
            info = zipfile.ZipInfo(str(p.relative_to(folder)), date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, p.read_bytes())
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------ the virtual trial
def compare(results_by_cut: Mapping[str, dict], exp: str, ctl: str) -> list[dict]:
    """Published beside simulated value for every published quantity whose cut was analysed."""
    from ikema.simulate.published import quantities

    rows = []
    for q in quantities(exp, ctl):
        if q.cutoff not in results_by_cut:
            continue
        rows.append({"key": q.key, "label": q.label, "cutoff": q.cutoff, "published": q.published,
                     "simulated": q.read(results_by_cut[q.cutoff]), "source": q.source})
    return rows


def jsonable(obj: Any) -> Any:
    """Nested results as strict JSON values (numpy scalars as Python numbers, NaN/inf as None, dates as ISO)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, (dt.date, pd.Timestamp)):
        return str(obj)[:10]
    return obj


_SHARED: dict = {}  # the worker's view of the trial (SDTM, setup): inherited at fork, never pickled


def _write_sdtm(where: Path, cutoff: dt.date) -> list[Path]:
    from ikema.cdisc.sdtm import data_cut, write_domains

    # the SDTM package is the cut the ADaM package comes from: deaths, dates and disposition agree across them
    return write_domains(data_cut(_SHARED["sdtm"], cutoff), where, define=True)


def _analyse_secondary(name: str) -> tuple[dict, dict]:
    setup = _SHARED["setup"]
    cut, adam = adam_at_cut(_SHARED["sdtm"], setup, setup.cutoffs[name], "safety")
    return adam, analyse_adam(adam, setup, cut["DS"], "safety")


@contextmanager
def _second_core(**shared: object) -> Iterator[Executor]:
    """One worker process that sees `shared` without copying it (fork); in-process where fork is unavailable."""
    _SHARED.clear()
    _SHARED.update(shared)
    try:
        if "fork" in mp.get_all_start_methods() and (os.cpu_count() or 1) > 1:
            with ProcessPoolExecutor(1, mp_context=mp.get_context("fork")) as pool:
                yield pool
        else:
            with _InProcess() as pool:
                yield pool
    finally:
        _SHARED.clear()


class _InProcess(Executor):
    """An executor that runs each job at submit (one core, or no fork)."""

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[override]
        f: Future = Future()
        try:
            f.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the caller at result()
            f.set_exception(exc)
        return f


DEMO_STAGES = 10  # advance() calls of one demo run: 4 until the store is read, 6 in analyse_trial (3 cuts)


def analyse_trial(sdtm: dict, setup: TrialSetup, out: Path, enrollment: dict, seed: int | None = None,
                  advance: Callable[[str], None] = lambda _s: None) -> dict:
    """Every published cut of a trial's SDTM through ADaM and the SAP: OUT/sdtm and OUT/adam (main cut, each with
    define.xml),
    OUT/results.json and OUT/report.html; returns the results."""
    from ikema.analysis.outcomes import analyze_outcomes
    from ikema.analysis.sap import apply_group_sequential, consort, forest_rows
    from ikema.cdisc.sdtm import disease_assessments, write_domains
    from ikema.report.trial import render_trial

    exp, ctl = setup.arms
    cutoffs = setup.cutoffs
    main = setup.sap.main_cut if setup.sap.main_cut in cutoffs else list(cutoffs)[-1]
    by_cut, adams = {}, {}
    with _second_core(sdtm=sdtm, setup=setup) as pool:
        # the other core writes out/sdtm and analyses the secondary cuts while this one analyses the main cut
        jobs = {"SDTM written": pool.submit(_write_sdtm, out / "sdtm", cutoffs[main])}
        for name in cutoffs:
            if name != main:
                jobs[f"analysed the {name} cut"] = pool.submit(_analyse_secondary, name)
        cut, adams[main] = adam_at_cut(sdtm, setup, cutoffs[main], True)
        by_cut[main] = analyse_adam(adams[main], setup, cut["DS"], True)
        advance(f"analysed the {main} cut")
        adam = adams[main]
        outcomes_res = analyze_outcomes(adam, reference_arm=ctl)
        advance("safety, PK, ADA and QoL analysed")
        write_domains(dict(adam), out / "adam", ("csv", "xpt"), True)  # here: the other core writes the larger SDTM
        for label, job in jobs.items():
            value = job.result()
            if label.startswith("analysed the "):
                name = label[len("analysed the "):-len(" cut")]
                adams[name], by_cut[name] = value
            advance(label)
    by_cut = {name: by_cut[name] for name in cutoffs}  # protocol order in results.json
    apply_group_sequential(by_cut, setup.sap)
    comparison = compare(by_cut, exp, ctl)
    results = {
        "study": setup.protocol.acronym,
        "seed": seed,
        "cutoffs": {k: str(v) for k, v in cutoffs.items()},
        "parameters": by_cut[main]["parameters"],
        "strata": list(setup.sap.strata),
        "cuts": by_cut,
        "published_comparison": comparison,
        "consort": consort(enrollment, sdtm, setup.arms),
        "enrollment": enrollment,
        **outcomes_res,
        "main_cut": main,
        "title": setup.title,
        "arms": {"experimental": exp, "control": ctl},
        "forest": forest_rows(adam, setup.sap, exp, ctl),
        "forest_parameter": setup.sap.forest_parameter,
    }
    if "group_sequential" in by_cut[main]:
        results["group_sequential"] = by_cut[main]["group_sequential"]
    results = jsonable(results)
    (out / "results.json").write_text(json.dumps(results, indent=1, allow_nan=False), encoding="utf-8")
    assess = disease_assessments(sdtm)[["USUBJID", "ADY", "PARAM", "AVAL"]]
    render_trial(results, adams, out / "report.html", assessments=assess)
    advance("report written")
    return results


def run_demo(out: Path, seed: int, database_url: str | None = None, advance: Callable[[str], None] = lambda _s: None,
             enrollment: int | None = None) -> dict:
    """The virtual trial: simulate into the store (ikema.simulate.demo), then the path from the store to the report.
    `enrollment` overrides the protocol's target (a smaller trial for tests); None = the protocol's."""
    from ikema.simulate.demo import simulate_into_store
    from ikema.store import session_factory

    out.mkdir(parents=True, exist_ok=True)
    setup = trial_setup()
    engine, summary = simulate_into_store(out, seed, database_url, advance, enrollment)
    try:
        with session_factory(engine)() as session:
            sdtm = sdtm_from_store(session, setup)
    finally:
        engine.dispose()
    advance("SDTM built from the store")
    return analyse_trial(sdtm, setup, out, summary, seed, advance)


def replicate(seed: int, enrollment: int | None = None) -> dict[str, float | None]:
    """One virtual trial of `ikema twin` from `seed`: the simulated value of every published quantity.

    The replicate runs the demo's path into a temporary SQLite store in memory (ikema.simulate.demo.
    simulate_into_store: screening and randomization through ikema.conduct, every later record through
    ikema.conduct.capture, audited) and reads SDTM back from it (`sdtm_from_store`), then takes the path's cut,
    ADaM and SAP functions: the demo's published comparison at the same seed. Every record is captured, PK, ADA
    and questionnaires included: no published quantity is their analysis, but the questionnaire dates count as
    "last known alive" (ADSL LSTALVDT, which censors PFS2), and they are drawn after the rest. Left out: the PK,
    ADA and QoL analyses, the files and the report, and what no published quantity reads: the SDTM domains the
    safety ADaM does not read (ikema.cdisc.derive.SAFETY_DOMAINS, lean QS and RS), and at each cut the datasets,
    parameters and analyses its quantities do not read (Quantity.reads). `enrollment` overrides the protocol's
    target (a smaller trial)."""
    import tempfile

    from ikema.cdisc.adam.adrs import ADJUSTED
    from ikema.cdisc.derive import SAFETY_DOMAINS
    from ikema.simulate.demo import simulate_into_store
    from ikema.simulate.published import quantities
    from ikema.store import session_factory

    setup = trial_setup()
    with tempfile.TemporaryDirectory(prefix="ikema-twin-") as tmp:
        engine, _summary = simulate_into_store(Path(tmp), seed, "sqlite://", enrollment=enrollment)  # store in memory
        try:
            with session_factory(engine)() as session:
                sdtm = sdtm_from_store(session, setup, domains=SAFETY_DOMAINS, lean=True)  # what the cuts' ADaM reads
        finally:
            engine.dispose()
    exp, ctl = setup.arms
    wanted = quantities(exp, ctl)
    by_cut = {}
    for name, date in setup.cutoffs.items():
        # what this cut's published quantities read: the derivations and analyses no quantity reads are left out
        reads = {q.reads for q in wanted if q.cutoff == name}
        cut, adam = adam_at_cut(sdtm, setup, date, "safety", lab="lab" in reads, adjusted=bool(reads & set(ADJUSTED)))
        by_cut[name] = analyse_adam(adam, setup, cut["DS"], "safety", parameters=reads)
    return {q.key: q.read(by_cut[q.cutoff]) if q.cutoff in by_cut else None for q in wanted}


# what replicate() imports on its first call (tests/simulate/test_twin.py checks that nothing is left)
REPLICATE_MODULES = ("ikema.simulate.demo", "ikema.simulate.enroll", "ikema.simulate.virtual", "ikema.simulate.published",
                     "ikema.conduct.capture", "ikema.conduct.batch", "ikema.conduct.randomization",
                     "ikema.conduct.screening", "ikema.conduct.calendar", "ikema.cdisc.metadata", "ikema.cdisc.trial_design",
                     "ikema.cdisc.store", "ikema.cdisc.sdtm", "ikema.cdisc.derive",
                     "ikema.cdisc.adam.adae", "ikema.cdisc.adam.adex", "ikema.cdisc.adam.adis", "ikema.cdisc.adam.adlb",
                     "ikema.cdisc.adam.adpc", "ikema.cdisc.adam.adqs", "ikema.cdisc.adam.adrs", "ikema.cdisc.adam.adsl",
                     "ikema.cdisc.adam.adtte", "ikema.analysis.sap", "ikema.analysis.efficacy", "alembic.command",
                     "alembic.config", "sqlalchemy.dialects.sqlite", "sqlite3", "pyarrow.dataset", "pyarrow.acero",
                     "pandas.core.reshape.reshape")


def import_replicate_modules() -> None:
    """Import what a replicate imports on its first call (about 1.5 s of CPU: SciPy, statsmodels, SQLAlchemy,
    Alembic, ikema's layers), so that worker processes forked afterwards share them instead of each importing them
    again (`ikema twin`'s local workers)."""
    import importlib

    for name in REPLICATE_MODULES:
        importlib.import_module(name)


# ------------------------------------------------------------------------------------------------ commands
def run_enroll_only(out: Path, seed: int) -> dict[str, Any]:
    """Screen and randomize the seeded candidates into OUT/ikema.db until enrollment is reached; return the summary."""
    from ikema.simulate.demo import demo_engine, enroll_demo
    from ikema.simulate.facts import facts_from_protocol
    from ikema.store import session_factory

    out.mkdir(parents=True, exist_ok=True)
    engine = demo_engine(out)
    try:
        with session_factory(engine)() as s:
            _subjects, enrolled = enroll_demo(s, np.random.default_rng(seed), facts_from_protocol(), out, seed)
    finally:
        engine.dispose()
    return {"seed": seed, **enrolled, "database": str(out / "ikema.db")}


def print_consort(summary: Mapping[str, Any], console: Console) -> None:
    """Print the enrollment summary as a CONSORT-style flow and a strata-by-arm table."""
    console.print(f"[bold]Assessed for eligibility[/]: {summary['screened']}")
    console.print(f"  ├─ [bold]Excluded[/] (did not meet the criteria): {summary['screen_failures']}")
    for cid, n in summary["failures_by_criterion"].items():
        console.print(f"  │    {cid}: {n}")
    console.print(f"  └─ [bold]Randomized[/]: {summary['randomized']}")
    arms = list(summary["by_arm"])
    for i, arm in enumerate(arms):
        console.print(f"       {'└' if i == len(arms) - 1 else '├'}─ allocated to {arm}: {summary['by_arm'][arm]}")
    t = Table(title="Randomized per stratum")
    t.add_column("stratum")
    for arm in arms:
        t.add_column(arm, justify="right")
    t.add_column("total", justify="right")
    for st, counts in summary["by_stratum"].items():
        t.add_row(st, *[str(counts[a]) for a in arms], str(sum(counts.values())))
    console.print(t)


def demo_command(
    out: Path = typer.Option(Path("out"), "--out", help="output directory"),
    seed: int = typer.Option(20171025, "--seed", help="seed of every random draw (the same seed gives the same trial)"),
    enroll_only: bool = typer.Option(False, "--enroll-only",
                                     help="stop after screening and randomization (ikema.db and enrollment.json only)"),
    enrollment: int = typer.Option(None, "--enrollment", min=2,
                                   help="randomize this many instead of the protocol's enrollment (a quick look)"),
) -> None:
    """Run the virtual IKEMA trial: screening, IRT, capture into the audited store, SDTM, ADaM, analyses, report."""
    console = Console()
    if enroll_only:
        if enrollment is not None:
            raise typer.BadParameter("--enrollment applies to the whole virtual trial, not --enroll-only")
        with Progress(TextColumn("screening and randomizing"), BarColumn(), TimeElapsedColumn(),
                      console=console, transient=True) as bar:
            bar.add_task("enroll", total=None)
            summary = run_enroll_only(out, seed)
        print_consort(summary, console)
        console.print(f"wrote {summary['database']} and {out / 'enrollment.json'}")
        return
    with Progress(TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("simulating the virtual trial", total=DEMO_STAGES)
        results = run_demo(out, seed, advance=lambda stage: bar.update(task, advance=1, description=stage),
                                    enrollment=enrollment)
    print_consort(json.loads((out / "enrollment.json").read_text(encoding="utf-8")), console)
    print_headline(results, console)
    console.print(f"wrote {out / 'report.html'}, {out / 'results.json'}, {out / 'sdtm'}/, {out / 'adam'}/ and {out / 'ikema.db'}")


PER_TERM_PREFIXES = ("ae_", "ae3_", "lab_", "lab3_")  # keys of ikema.simulate.published per-term quantities


def print_headline(results: Mapping[str, Any], console: Console) -> None:
    """Print the published-versus-simulated table of the demo's results (the per-term adverse-event and laboratory
    rows are counted, not listed: they are in the report)."""
    t = Table(title="Published versus simulated")
    for col in ("quantity", "published", "simulated"):
        t.add_column(col, justify="left" if col == "quantity" else "right")
    rows = results.get("published_comparison", [])
    per_term = [r for r in rows if str(r.get("key", "")).startswith(PER_TERM_PREFIXES)]
    for row in (r for r in rows if not str(r.get("key", "")).startswith(PER_TERM_PREFIXES)):
        sim = row.get("simulated")
        t.add_row(str(row["label"]), f"{row['published']:g}", "NA" if sim is None else f"{sim:.3g}")
    console.print(t)
    if per_term:
        console.print(f"{len(per_term)} adverse-event and laboratory rates by term and grade: see the report")


def cut_command(
    date: str = typer.Option(..., "--date", help="cut date YYYY-MM-DD: data after it are not seen"),
    out: Path = typer.Option(..., "--out", help="folder for sdtm/, adam/ (XPT and CSV) and cut.json"),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="rebuild the data as they stood at this time "
                                        "(ISO 8601, UTC unless a zone is given) from the audit trail"),
    database_url: Optional[str] = typer.Option(None, "--database-url", help="store URL (default $IKEMA_DATABASE_URL, "
                                               "else out/ikema.db)"),
) -> None:
    """A data cut of the store: SDTM and ADaM at a cut date, optionally as the data stood at an earlier time."""
    console = Console()
    with Progress(TextColumn("{task.description:<20}"), BarColumn(), TimeElapsedColumn(), console=console,
                  transient=True) as bar:
        task = bar.add_task("opening the store", total=None)
        info = run_cut(date, out, database_url, as_of, progress=lambda s: bar.update(task, description=s))
    console.print(f"cut at {info['cut_date']} of {info['store']} as of {info['as_of']}: "
                  f"{info['rows']['sdtm'].get('DM', 0)} subjects, {len(info['sha256'])} files")
    console.print(f"wrote {out / 'sdtm'}/, {out / 'adam'}/ and {out / 'cut.json'}")


def run_report(results_path: Path, adam: Path, out: Path) -> Path:
    """`ikema report`: render a results.json (of `ikema analyze` or of the demo) with its ADaM into OUT/report.html."""
    from ikema.analysis.commands import load_adam
    from ikema.report.analyze import render_analysis_report
    from ikema.report.trial import render_trial

    try:
        results = json.loads(Path(results_path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{results_path}: cannot be read as results.json ({exc})") from None
    if not isinstance(results, dict) or "parameters" not in results:
        raise InputError(f"{results_path}: no 'parameters'; expected the results.json of ikema analyze or ikema demo")
    ds = load_adam(adam)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "report.html"
    if "cuts" in results and "consort" in results and "arms" in results:  # a trial's results over its cuts
        render_trial(results, {results.get("main_cut") or list(results["cutoffs"])[-1]: ds}, target)
    else:
        target.write_text(render_analysis_report(results, ds, title=results.get("title", "Efficacy analysis"),
                                                 source=str(adam)), encoding="utf-8")
    return target


def report_command(
    results: Path = typer.Option(..., "--results", help="results.json of ikema analyze or ikema demo"),
    adam: Path = typer.Option(..., "--adam", help="the ADaM folder the results come from (figures are drawn from it)"),
    out: Path = typer.Option(..., "--out", help="folder for report.html"),
) -> None:
    """Render the report of an analysis (it runs no analysis)."""
    console = Console()
    with console.status("rendering the report"):
        target = run_report(results, adam, out)
    console.print(f"wrote {target}")


def register(app: typer.Typer) -> None:
    """Add `ikema demo`, `ikema cut` and `ikema report` to the command line."""
    app.command("demo")(demo_command)
    app.command("cut")(cut_command)
    app.command("report")(report_command)
