"""Disease course of virtual patients: latent two-population M-protein model and what the assays observe.

Latent (never stored): M(t) = M0 [pi_r exp(g_r t) + (1 - pi_r) exp(g_s t)] (Myklebust et al. 2024 style), t in
days from study day 1, with individual random effects and arm-specific treatment effects (`params.DISEASE`).
The same relative burden drives urine M-protein, the involved free light chain, marrow plasma cells and the
MRD tumour fraction. Observed: the protocol's disease assessments (every cycle, day 1) with assay noise,
quantification limits, immunofixation detection limits and the isatuximab IgG-kappa band; marrow and MRD
when the serum/urine results suggest a complete response. Response and progression are NOT decided here:
the IMWG engine (ikema.response) reads these observations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ikema.simulate import params as P

REL_CAP = 50.0  # relative burden is capped (an untreated patient would be off study long before)


@dataclass(frozen=True)
class Latent:
    """Per-patient latent disease parameters (arrays over patients)."""

    pi_r: np.ndarray
    g_s: np.ndarray
    g_r: np.ndarray
    marrow_factor: np.ndarray
    ife_lod: np.ndarray
    interference: np.ndarray


def draw_latent(rng: np.random.Generator, roles: np.ndarray, high_risk: np.ndarray | None = None) -> Latent:
    """Latent two-population parameters per patient given the arm roles (experimental/control) and
    high-risk cytogenetics."""
    arms = np.asarray(roles)
    n = len(arms)
    pi_r = np.empty(n)
    g_s = np.empty(n)
    g_r = np.empty(n)
    z = rng.standard_normal((n, 3))
    refr_u = rng.random(n)
    for arm, p in P.DISEASE.items():
        m = arms == arm
        logit = p["logit_pi_mu"] + p["logit_pi_sd"] * z[m, 0]
        pi = 1.0 / (1.0 + np.exp(-logit))
        pi_r[m] = np.where(refr_u[m] < p["refractory_p"], 1.0, pi)
        g_s[m] = p["gs_median"] * np.exp(p["gs_sdlog"] * z[m, 1])
        g_r[m] = p["gr_median"] * np.exp(p["gr_sdlog"] * z[m, 2])
    # ASSUMPTION: the marrow clears ahead of the serum M-protein (IgG half-life) and samples are patchy
    if high_risk is not None:
        hr = np.asarray(high_risk, dtype=bool)
        g_r = g_r * np.where(hr, P.HIGH_RISK_GR_FACTOR, 1.0)
        g_r = g_r * np.where(hr & (arms == "experimental"), P.HIGH_RISK_EXPERIMENTAL_GR_FACTOR, 1.0)
    marrow_factor = np.exp(rng.normal(P.MARROW_LOG_MEAN, P.MARROW_LOG_SD, n))
    ife_lod = np.exp(rng.normal(0.0, P.IFE_LOD_SDLOG, n))
    interference = rng.random(n) < P.INTERFERENCE_P
    return Latent(pi_r, g_s, g_r, marrow_factor, ife_lod, interference)


def relative_burden(lat: Latent, t: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
    """M(t)/M0 for patient rows `idx` (all if None) at days `t` (same shape as idx, or broadcast)."""
    sl = slice(None) if idx is None else idx
    t = np.maximum(np.asarray(t, dtype=float), 0.0)
    with np.errstate(over="ignore"):
        r = lat.pi_r[sl] * np.exp(np.minimum(lat.g_r[sl] * t, 10.0)) + (1 - lat.pi_r[sl]) * np.exp(lat.g_s[sl] * t)
    return np.minimum(r, REL_CAP)


def visit_days(n_visits: int, cycle_days: int) -> np.ndarray:
    """Nominal study days of the disease assessments: day 1 of cycles 1..n (day 1 of cycle 1 is baseline)."""
    return 1 + cycle_days * np.arange(n_visits)


def observe(
    rng: np.random.Generator,
    subjects: pd.DataFrame,
    lat: Latent,
    stop_day: np.ndarray,
    cycle_days: int,
    isatuximab_until: np.ndarray,
) -> pd.DataFrame:
    """Disease assessments of every patient up to `stop_day` (study day, inclusive) in the engine's long format.

    subjects: USUBJID, SERUM_M0, URINE_M0, INV_FLC0, UNINV_FLC0, BMPC0, ISOTYPE, LIGHT_CHAIN, ARM.
    isatuximab_until: last study day at which isatuximab is still detectable (-1 if never given).
    Returns USUBJID, ADY, PARAM, AVAL, AVALC.
    """
    n = len(subjects)
    max_day = int(np.max(stop_day)) if n else 1
    nv = max_day // cycle_days + 2
    nominal = visit_days(nv, cycle_days)
    jitter = rng.integers(-P.VISIT_JITTER_D, P.VISIT_JITTER_D + 1, (n, nv))
    jitter[:, 0] = 0
    day = nominal[None, :] + jitter
    missed = rng.random((n, nv)) < P.MISSED_VISIT_P
    missed[:, 0] = False
    keep = (day <= stop_day[:, None]) & ~missed
    pi, vi = np.nonzero(keep)
    ady = day[pi, vi]
    t = (ady - 1).astype(float)
    rel = relative_burden(lat, t, pi)
    m0 = subjects["SERUM_M0"].to_numpy(float)[pi]
    u0 = subjects["URINE_M0"].to_numpy(float)[pi]
    k = len(pi)
    noise = rng.standard_normal((k, 6))
    serum_true = m0 * rel
    serum = serum_true * np.exp(P.SPEP_CV * noise[:, 0])
    serum = np.minimum(np.where(serum < P.SPEP_LLOQ, 0.0, np.round(serum, 2)), P.SPEP_MAX)
    urine_true = u0 * rel
    urine = urine_true * np.exp(P.UPEP_CV * noise[:, 1])
    urine = np.minimum(np.where(urine < P.UPEP_LLOQ, 0.0, np.round(urine, 0)), P.UPEP_MAX)
    inv0 = subjects["INV_FLC0"].to_numpy(float)[pi]
    uninv = subjects["UNINV_FLC0"].to_numpy(float)[pi]
    involved = (uninv + np.maximum(inv0 - uninv, 0.0) * rel) * np.exp(P.FLC_CV * noise[:, 2])
    other = uninv * np.exp(P.FLC_CV * noise[:, 3])
    kappa = (subjects["LIGHT_CHAIN"].to_numpy() == "KAPPA")[pi]
    flck = np.minimum(np.round(np.where(kappa, involved, other), 2), P.FLC_MAX)
    flcl = np.minimum(np.round(np.where(kappa, other, involved), 2), P.FLC_MAX)
    lod = lat.ife_lod[pi]
    lc = (subjects["ISOTYPE"].to_numpy() == "LC")[pi]
    sife_pos = np.where(lc, urine_true > P.UIFE_LOD * lod, serum_true > P.SIFE_LOD * lod)
    igg_kappa = ((subjects["ISOTYPE"].to_numpy() == "IgG") & (subjects["LIGHT_CHAIN"].to_numpy() == "KAPPA"))[pi]
    drug_band = igg_kappa & lat.interference[pi] & (ady <= isatuximab_until[pi])
    sife = np.where(sife_pos, "POSITIVE", np.where(drug_band, "POSITIVE-DRUG", "NEGATIVE"))
    uife = np.where(urine_true > P.UIFE_LOD * lod, "POSITIVE", "NEGATIVE")
    ids = subjects["USUBJID"].to_numpy()[pi]
    frames = [
        _rows(ids, ady, "SMPROT", serum),
        _rows(ids, ady, "UMPROT", urine),
        _rows(ids, ady, "FLCK", flck),
        _rows(ids, ady, "FLCL", flcl),
        _rows(ids, ady, "SIFE", None, sife),
        _rows(ids, ady, "UIFE", None, uife),
    ]
    # marrow at baseline; marrow + MRD when serum and urine immunofixation are first negative (suspected CR)
    # or the M-protein is no longer quantifiable (suspected >= VGPR), then every MRD_EVERY_CYCLES visits
    base = vi == 0
    bm0 = subjects["BMPC0"].to_numpy(float)[pi]
    suspected = (~base) & (((sife != "POSITIVE") & (uife == "NEGATIVE")) | ((serum == 0) & (urine < 100) & ~lc))
    first = np.zeros(k, dtype=bool)
    if k:
        order = np.lexsort((ady, pi))
        sp, ss, sv = pi[order], suspected[order], vi[order]
        first_vi = np.full(n, -1)
        cand = np.flatnonzero(ss)
        # first suspected visit of each patient
        for j in cand[::-1]:
            first_vi[sp[j]] = sv[j]
        fv = first_vi[pi]
        first = suspected & (fv >= 0) & ((vi - fv) % P.MRD_EVERY_CYCLES == 0)
    marrow = base | first
    tumour = (bm0 / 100.0) * rel * lat.marrow_factor[pi]
    bmpc = np.round(np.clip(np.where(base, bm0, 100.0 * tumour) * np.exp(0.15 * noise[:, 4]), 0.0, 100.0), 1)
    clonal = np.where(tumour > 1e-3, "POSITIVE", "NEGATIVE")  # ASSUMPTION: IHC/flow clonality ~1e-3
    mrd = np.where(tumour * np.exp(0.3 * noise[:, 5]) < P.MRD_LOD, "NEGATIVE", "POSITIVE")
    frames.append(_rows(ids[marrow], ady[marrow], "BMPC", bmpc[marrow]))
    post = first
    frames.append(_rows(ids[post], ady[post], "CLONALPC", None, clonal[post]))
    frames.append(_rows(ids[post], ady[post], "MRD", None, mrd[post]))
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["USUBJID", "ADY", "PARAM"], kind="stable").reset_index(drop=True)


def _rows(ids, ady, param, aval=None, avalc=None) -> pd.DataFrame:
    n = len(ids)
    return pd.DataFrame(
        {
            "USUBJID": ids,
            "ADY": np.asarray(ady, dtype=np.int64),
            "PARAM": param,
            "AVAL": np.asarray(aval, dtype=float) if aval is not None else np.full(n, np.nan),
            "AVALC": np.asarray(avalc, dtype=object) if avalc is not None else np.full(n, "", dtype=object),
        }
    )
