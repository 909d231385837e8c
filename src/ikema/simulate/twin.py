"""Calibration study: many virtual IKEMA trials with different seeds, each analysed like the demo, summarised
against the published values (mean and 2.5-97.5 percentiles of the replicates per published quantity).

A replicate (ikema.pipeline.replicate) runs the same code as `make demo` from candidates to results: screening and
randomization through ikema.conduct into its own temporary SQLite store (the IRT needs its stored allocation list),
then the path's cut, ADaM and SAP functions. It skips only the capture of the later records into the store and
their read-back (about 20 s per trial), the file writing and the report: the store returns exactly the records it
was given (tests/simulate: SDTM from the store == SDTM from the records), so no number changes. PK, ADA and QoL
datasets are not derived (no published quantity).
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from ikema.simulate.published import quantities


def run_replicates(replicate: Callable[[int], dict], seeds: Iterable[int], workers: int,
                   progress: Callable[[], None] = lambda: None) -> pd.DataFrame:
    """`replicate(seed)` (ikema.pipeline.replicate: one virtual trial's published quantities) in `workers` processes;
    one row per seed, one column per published quantity."""
    seeds = list(seeds)
    rows = {}
    if workers <= 1:
        for s in seeds:
            rows[s] = replicate(s)
            progress()
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
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
