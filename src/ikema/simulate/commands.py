"""`ikema twin`: the calibration study of the virtual trial against the published IKEMA results."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table


def twin(
    replicates: int = typer.Option(200, "--replicates", min=1, help="number of virtual trials"),
    workers: int = typer.Option(max(1, (os.cpu_count() or 2)), "--workers", min=1, help="parallel processes"),
    seed: int = typer.Option(20171025, "--seed", help="seed of the first replicate (replicate k uses seed + k)"),
    out: Path = typer.Option(Path("out/twin"), "--out", help="folder for twin.csv, replicates.csv, twin.json"),
    scheduler: Optional[str] = typer.Option(None, "--scheduler",
                                            help="run the replicates on this Dask scheduler, e.g. tcp://HOST:8786"),
    enrollment: Optional[int] = typer.Option(None, "--enrollment", min=2,
                                             help="randomize this many per replicate instead of the protocol's enrollment"),
) -> None:
    """Simulate many virtual IKEMA trials and compare each published quantity with the replicates' 95% range."""
    from functools import partial

    from ikema.pipeline import import_replicate_modules, replicate
    from ikema.simulate.facts import facts_from_protocol
    from ikema.simulate.twin import run_replicates, summarize

    facts = facts_from_protocol()
    out.mkdir(parents=True, exist_ok=True)
    if scheduler is None and workers > 1:
        import_replicate_modules()  # once here, not once per forked worker
    with Progress(TextColumn("twin"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()) as bar:
        task = bar.add_task("replicates", total=replicates)
        one = replicate if enrollment is None else partial(replicate, enrollment=enrollment)
        table = run_replicates(one, range(seed, seed + replicates), workers, lambda: bar.advance(task), scheduler)
    table.to_csv(out / "replicates.csv", index_label="seed")
    summary = summarize(table, facts.experimental, facts.control)
    summary.to_csv(out / "twin.csv", index=False)
    (out / "twin.json").write_text(json.dumps(summary.to_dict(orient="records"), indent=1), encoding="utf-8")
    t = Table(title=f"{replicates} virtual IKEMA trials vs published")
    for col in ("quantity", "cut", "published", "mean", "2.5%", "97.5%", "inside"):
        t.add_column(col)
    for r in summary.to_dict(orient="records"):
        t.add_row(r["quantity"], r["cutoff"], f"{r['published']:g}", f"{r['mean']:.3f}", f"{r['p2.5']:.3f}", f"{r['p97.5']:.3f}",
                  "yes" if r["inside"] else "NO")
    Console().print(t)
    Console().print(f"{int(summary['inside'].sum())} of {len(summary)} published values inside the replicates' central 95%")


def register(app: typer.Typer) -> None:
    """Add `ikema twin` to the CLI."""
    app.command("twin")(twin)
