"""`ikema demo`: the one entry point of the main job.

`ikema demo` runs the whole virtual trial (ikema.simulate.demo: screening, IRT, capture into the audited store,
SDTM, data cuts, ADaM, analyses, report). `ikema demo --enroll-only` stops after enrollment: the same seeded
candidates (ikema.simulate.enroll) are screened by the protocol's criteria and the eligible randomized by the IRT
until the protocol's enrollment is reached, exactly as the first stage of the whole run with that seed. Writes
OUT/ikema.db (replaced) and OUT/enrollment.json, and prints a CONSORT-style summary.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table


def run_demo(out: Path, seed: int) -> dict[str, Any]:
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
            summary = run_demo(out, seed)
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


def register(app: typer.Typer) -> None:
    """Add `ikema demo` to the command line."""
    app.command("demo")(demo_command)
