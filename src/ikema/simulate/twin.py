"""Calibration study: many virtual IKEMA trials with different seeds, each analysed like the demo, summarised
against the published values (mean and 2.5-97.5 percentiles of the replicates per published quantity).

A replicate (ikema.pipeline.replicate) runs the same code as `make demo` from candidates to results: screening and
randomization through ikema.conduct, every later record captured through ikema.conduct.capture into its own
temporary SQLite store in memory (audited), SDTM read back from the store, then the path's cut, ADaM and SAP
functions. It leaves out the file writing, the report and what no published quantity reads (PK, ADA and QoL
analyses; see ikema.pipeline.replicate). Replicates run in local worker processes (forked after the caller has
imported what a replicate needs) or on a Dask cluster; the same seeds give the same table either way.
"""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from ikema.simulate.published import quantities


def run_replicates(replicate: Callable[[int], dict], seeds: Iterable[int], workers: int,
                   progress: Callable[[], None] = lambda: None, scheduler: str | None = None) -> pd.DataFrame:
    """`replicate(seed)` (ikema.pipeline.replicate: one virtual trial's published quantities) in `workers` processes
    or on the Dask cluster at `scheduler`; one row per seed, one column per published quantity."""
    seeds = list(seeds)
    rows = {}
    if scheduler is not None:
        from ikema.cluster import map_on_cluster

        def done(i: int, result: dict) -> None:
            rows[seeds[i]] = result
            progress()

        map_on_cluster(scheduler, replicate, seeds, done)
    elif workers <= 1:
        for s in seeds:
            rows[s] = replicate(s)
            progress()
    else:
        # fork where the platform has it: workers start with the caller's imports (ikema.pipeline.import_replicate_modules)
        context = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            for s, r in zip(seeds, pool.map(replicate, seeds)):
                rows[s] = r
                progress()
    return pd.DataFrame.from_dict(rows, orient="index").sort_index()


def summarize(table: pd.DataFrame, exp: str, ctl: str) -> pd.DataFrame:
    """Published value beside the replicates' mean and 2.5/97.5 percentiles; INSIDE = published in that interval."""
    out = []
    for q in quantities(exp, ctl):
        if q.key not in table.columns:
            continue
        v = pd.to_numeric(table[q.key], errors="coerce").dropna().to_numpy(float)
        lo, hi = (np.percentile(v, [2.5, 97.5]) if len(v) else (np.nan, np.nan))
        out.append({"key": q.key, "quantity": q.label, "cutoff": q.cutoff, "published": q.published,
                    "mean": float(v.mean()) if len(v) else np.nan, "p2.5": float(lo), "p97.5": float(hi),
                    "n": int(len(v)), "inside": bool(lo <= q.published <= hi) if len(v) else False, "source": q.source})
    return pd.DataFrame(out)
