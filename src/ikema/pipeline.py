"""`ikema demo`: the one entry point of the main job.

`ikema demo` runs the whole virtual trial (ikema.simulate.demo: screening, IRT, capture into the audited store,
SDTM, data cuts, ADaM, analyses, report). `ikema demo --enroll-only` stops after enrollment, as below.

Enrollment only (issue #2): a seeded cohort of candidates (ikema.simulate.candidates) is screened by the protocol's
criteria (ikema.conduct.screening), every screening is recorded, and the eligible are randomized by the IRT
(ikema.conduct.randomization) until the protocol's enrollment is reached. Everything goes through conduct/ into
the store (with audit rows). Writes OUT/ikema.db (replaced) and OUT/enrollment.json, and prints a
CONSORT-style summary.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ikema.errors import ProtocolError

USER = "demo-site"  # the acting user of every demo write (audit trail)
N_SITES = 10  # ASSUMPTION (v1): candidates come from this many demo sites, in turn
SCREENING_WINDOW_DAYS = (1, 22)  # ASSUMPTION (v1): screening happens 1-21 days before randomization


def _facts(protocol: Any) -> dict[str, Any]:
    """Enrollment, study id and the randomization period (first to last patient randomized) from the protocol."""
    d = protocol.dates
    first, last = d.first_patient_randomized, d.last_patient_randomized
    if (first is None or last is None) and protocol.design is not None:  # the study start plus the planned accrual
        first = d.study_start
        last = first + dt.timedelta(days=round(protocol.design.accrual_months * 30.4375))
    if first is None or last is None:
        raise ProtocolError("protocol: the demo needs dates.first_patient_randomized and dates.last_patient_randomized "
                            "(or design.accrual_months)")
    return {"enrollment": protocol.study.enrollment, "first": first, "span_days": (last - first).days,
            "studyid": protocol.study.studyid}


def _criterion_failures(result: Any) -> list[str]:
    out = []
    for v in result.verdicts:
        if isinstance(v, (tuple, list)):
            cid, verdict = v[0], v[1]
        elif isinstance(v, Mapping):
            cid, verdict = v.get("criterion") or v.get("id"), v.get("verdict")
        else:
            cid = getattr(v, "criterion", None) or getattr(v, "id", None) or getattr(v, "criterion_id", None)
            verdict = getattr(v, "verdict", None)
        if str(getattr(verdict, "value", verdict)).lower() != "pass":
            out.append(str(cid))
    return out


def run_demo(out: Path, seed: int, progress: Callable[[int, int], None] = lambda done, total: None) -> dict[str, Any]:
    """Screen and randomize a seeded cohort into OUT/ikema.db until enrollment is reached; return the summary."""
    from ikema.conduct.capture import record_screening
    from ikema.conduct.randomization import generate_allocation_list, randomize, scheme_from_protocol, store_allocation_list
    from ikema.conduct.screening import screen
    from ikema.protocol import load_protocol
    from ikema.simulate.candidates import draw_candidate
    from ikema.store import Site, init_db, session_factory
    from ikema.store.db import acting

    protocol = load_protocol()
    facts = _facts(protocol)
    scheme = scheme_from_protocol(protocol)
    out.mkdir(parents=True, exist_ok=True)
    db = out / "ikema.db"
    for p in (db, db.with_name(db.name + "-journal")):
        p.unlink(missing_ok=True)
    engine = init_db(f"sqlite:///{db}")
    irt_rng, cand_rng, date_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    target = facts["enrollment"]
    sites = [f"{k + 1:03d}" for k in range(N_SITES)]
    failures: Counter[str] = Counter()
    by_arm: Counter[str] = Counter()
    by_stratum: dict[str, Counter[str]] = defaultdict(Counter)
    screened = failed = 0
    with session_factory(engine)() as s:
        store_allocation_list(s, generate_allocation_list(scheme, irt_rng, target), USER)
        with acting(s, USER):
            s.add_all(Site(site_id=x, name=f"Demo site {x}") for x in sites)
            s.commit()
        while sum(by_arm.values()) < target:
            k = sum(by_arm.values())
            randdt = facts["first"] + dt.timedelta(days=round(k * facts["span_days"] / max(target - 1, 1)))
            screen_day = randdt - dt.timedelta(days=int(date_rng.integers(*SCREENING_WINDOW_DAYS)))
            candidate = draw_candidate(cand_rng)
            site = sites[screened % len(sites)]
            screened += 1
            usubjid = f"{facts['studyid']}-{site}-{screened:04d}"
            result = screen(candidate, protocol)
            record_screening(s, usubjid, candidate, result, USER, site_id=site,
                             when=dt.datetime.combine(screen_day, dt.time(9), tzinfo=dt.timezone.utc))
            s.commit()
            if not result.eligible:
                failed += 1
                failures.update(_criterion_failures(result))
                continue
            a = randomize(s, usubjid, USER, when=dt.datetime.combine(randdt, dt.time(12), tzinfo=dt.timezone.utc),
                          randdt=randdt)
            by_arm[a.arm] += 1
            by_stratum[a.stratum][a.arm] += 1
            progress(sum(by_arm.values()), target)
    engine.dispose()
    summary = {
        "seed": seed,
        "screened": screened,
        "screen_failures": failed,
        "failures_by_criterion": dict(sorted(failures.items())),
        "randomized": sum(by_arm.values()),
        "by_arm": {arm: by_arm.get(arm, 0) for arm in scheme.ratio},
        "by_stratum": {st: {arm: by_stratum[st].get(arm, 0) for arm in scheme.ratio} for st in scheme.strata},
        "database": str(db),
    }
    (out / "enrollment.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


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
        with Progress(TextColumn("randomizing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=True) as bar:
            task = bar.add_task("randomizing", total=None)
            summary = run_demo(out, seed, lambda done, total: bar.update(task, completed=done, total=total))
        print_consort(summary, console)
        console.print(f"wrote {summary['database']} and {out / 'enrollment.json'}")
        return
    from ikema.simulate.demo import DEMO_STAGES, run_demo as run_virtual_trial

    with Progress(TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("simulating the virtual trial", total=DEMO_STAGES)
        results = run_virtual_trial(out, seed, advance=lambda stage: bar.update(task, advance=1, description=stage),
                                    enrollment=enrollment)
    print_consort(json.loads((out / "enrollment.json").read_text(encoding="utf-8")), console)
    print_headline(results, console)
    console.print(f"wrote {out / 'report.html'}, {out / 'results.json'}, {out / 'sdtm'}/, {out / 'adam'}/ and {out / 'ikema.db'}")


def print_headline(results: Mapping[str, Any], console: Console) -> None:
    """Print the published-versus-simulated table of the demo's results."""
    t = Table(title="Published versus simulated")
    for col in ("quantity", "published", "simulated"):
        t.add_column(col, justify="left" if col == "quantity" else "right")
    for row in results.get("published_comparison", []):
        sim = row.get("simulated")
        t.add_row(str(row["label"]), f"{row['published']:g}", "NA" if sim is None else f"{sim:.3g}")
    console.print(t)


def register(app: typer.Typer) -> None:
    """Add `ikema demo` to the command line."""
    app.command("demo")(demo_command)
