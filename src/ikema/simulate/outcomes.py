"""Everything that happens to randomized virtual patients after day 1, as site records (not yet stored).

`simulate_outcomes` returns a dict of record tables in the shape site data entry produces:
  assessments  USUBJID, ADY, ADT, PARAM, AVAL, AVALC          (disease assessments, IMWG inputs)
  exposure     USUBJID, DRUG, ROUTE, CYCLE, DAY, ADT, DOSE_MG, PLANNED_MG
  events       USUBJID, TRTSDT, TRTEDT, EOTREAS, DTHDT, DTHCAUS, NEWTHDT, PD2DT, LSTALVDT, CONTACTDT (survival
               follow-up contact dates), DSDECOD, DSDT
plus safety records from ikema.simulate.safety. Progression used for the patient's management (stop of
treatment, further therapy, the post-progression death hazard) is what the site sees: the IMWG engine run on
the observed assessments, never a drawn label. The site learns of a progression at the assessment that confirms
it (IMWG: two consecutive assessments), so study treatment runs to that assessment and further therapy starts
after it; the progression date itself (PFS) stays the first of the two.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from ikema.response import Criteria, evaluate
from ikema.simulate import params as P
from ikema.simulate.course import Latent, draw_latent, observe
from ikema.simulate.facts import TrialFacts, per_subject

MONTH = 30.4375


def _exp_days(rng: np.random.Generator, rate_per_month: np.ndarray | float, n: int) -> np.ndarray:
    rate = np.broadcast_to(np.asarray(rate_per_month, dtype=float), (n,))
    with np.errstate(divide="ignore"):
        return np.where(rate > 0, rng.exponential(1.0, n) / np.maximum(rate, 1e-300) * MONTH, np.inf)


def _dates(base: pd.Series, ady: np.ndarray) -> pd.Series:
    """Calendar date of study day `ady` (day 1 = base)."""
    return pd.to_datetime(base.to_numpy()) + pd.to_timedelta(np.asarray(ady, dtype=float) - 1, unit="D")


def simulate_outcomes(
    rng: np.random.Generator, subjects: pd.DataFrame, facts: TrialFacts, criteria: Criteria
) -> dict[str, pd.DataFrame]:
    """Disease course, treatment, deaths, further therapy and follow-up of randomized `subjects`.

    subjects: USUBJID, ARM, TRTSDT (date of day 1) and the baseline columns of ikema.simulate.cohort.
    """
    n = len(subjects)
    arms = subjects["ARM"].to_numpy()
    roles = np.where(arms == facts.experimental, "experimental", "control")
    lat = draw_latent(rng, roles, subjects["HIGHRISK"].to_numpy(bool))
    trtsdt = pd.to_datetime(subjects["TRTSDT"])
    end_day = ((pd.Timestamp(facts.end_of_data) - trtsdt).dt.days + 1).to_numpy()
    pre_pd_death_rate = np.array([P.DEATH_PRE_PD[a] for a in roles])
    death_pre = 1 + _exp_days(rng, pre_pd_death_rate, n)
    withdraw = 1 + _exp_days(rng, P.WITHDRAW_CONSENT, n)
    stop_rate = np.array([P.DISCONTINUE_NON_PD[a] for a in roles])
    trt_stop = 1 + _exp_days(rng, stop_rate, n)
    nt_after_stop = np.where(rng.random(n) < P.NEXT_THERAPY_AFTER_STOP_P, trt_stop + rng.uniform(14, 120, n), np.inf)
    obs_stop = np.floor(np.minimum.reduce([death_pre, withdraw, nt_after_stop, end_day.astype(float)])).astype(int)
    obs_stop = np.maximum(obs_stop, 1)
    isa_until = np.where(arms == facts.experimental, np.minimum(trt_stop, obs_stop) + 60, -1).astype(int)
    a = observe(rng, subjects, lat, obs_stop, facts.cycle_days, isa_until)
    ev = evaluate(a, criteria, interference="assessed")
    pd_dy = subjects["USUBJID"].map(ev.summary.set_index("USUBJID")["PD_DY"]).astype(float).to_numpy()
    has_pd = np.isfinite(pd_dy)
    # the assessment that confirms progression (the first after PD_DY): treatment stops there, assessments too
    day_after = a[["USUBJID", "ADY"]].drop_duplicates()
    pdmap = dict(zip(subjects["USUBJID"], pd_dy))
    pdd = day_after["USUBJID"].map(pdmap)
    conf = day_after[day_after["ADY"] > pdd].groupby("USUBJID")["ADY"].min()
    last_keep = subjects["USUBJID"].map(conf).astype(float).to_numpy()
    last_keep = np.where(has_pd, np.where(np.isfinite(last_keep), last_keep, pd_dy), np.inf)
    a = a[a["ADY"].to_numpy() <= a["USUBJID"].map(dict(zip(subjects["USUBJID"], last_keep))).to_numpy()]
    # after progression: further therapy, second progression, death
    post_rate = np.array([P.DEATH_POST_PD[x] for x in roles])
    death_post = np.where(has_pd, pd_dy + _exp_days(rng, post_rate, n), np.inf)
    death = np.floor(np.minimum(death_pre, death_post))
    nt = np.where(has_pd, last_keep + rng.uniform(*P.NEXT_THERAPY_DELAY_D, n), nt_after_stop)
    nt = np.where(has_pd & (nt_after_stop < pd_dy), nt_after_stop, nt)
    nt = np.floor(np.where((nt < death) & (nt < withdraw), nt, np.inf))
    gap_med = np.array([P.PFS2_GAP_MEDIAN_MONTHS[x] for x in roles]) * MONTH
    pd2 = np.floor(nt + gap_med * np.exp(rng.normal(0.0, P.PFS2_GAP_SDLOG, n)))
    pd2 = np.where(np.isfinite(nt) & (pd2 < death) & (pd2 < withdraw), pd2, np.inf)
    trt_end = np.floor(np.minimum.reduce([np.where(has_pd, last_keep, np.inf), trt_stop, death, withdraw, nt]))
    on_trt_at_end = trt_end > end_day
    trt_end = np.minimum(trt_end, end_day)
    eot_reason = np.select(
        [on_trt_at_end, has_pd & (trt_end >= pd_dy), death <= trt_end, withdraw <= trt_end],
        ["ONGOING", "PROGRESSIVE DISEASE", "DEATH", "WITHDRAWAL BY SUBJECT"],
        "ADVERSE EVENT",
    )
    # a share of non-PD stops are for other reasons than adverse events
    ae_share = np.array([P.AE_SHARE_OF_NON_PD_STOPS[x] for x in roles])
    other = (eot_reason == "ADVERSE EVENT") & (rng.random(n) >= ae_share)
    eot_reason = np.where(other, "PHYSICIAN DECISION", eot_reason)
    alive_end = np.minimum(withdraw, end_day)
    lstalv = np.where(np.isfinite(death) & (death <= end_day), death, alive_end)
    # survival follow-up contacts after the end of treatment (the protocol's schedule), before death or withdrawal
    every = (facts.schedules.get(P.SURVIVAL_SCHEDULE) or {}).get("every_days_after_treatment")
    contacts = [[(start + pd.Timedelta(days=int(d) - 1)).date() for d in np.arange(te + every, min(de, al), every)]
                if every else [] for start, te, de, al in zip(trtsdt, trt_end, np.minimum(death, end_day + 1), alive_end)]
    # assessments carry dates
    a = a.reset_index(drop=True)
    a["ADT"] = _dates(a["USUBJID"].map(dict(zip(subjects["USUBJID"], trtsdt))), a["ADY"].to_numpy()).date
    exposure = _administrations(rng, subjects, facts, trt_end)
    last_dose = exposure.groupby("USUBJID")["ADY"].max()
    trtedy = subjects["USUBJID"].map(last_dose).fillna(1).to_numpy()

    def as_date(day: np.ndarray, keep: np.ndarray) -> list:
        out = _dates(pd.Series(trtsdt.to_numpy()), np.where(keep, day, 1))
        return [d.date() if k else None for d, k in zip(out, keep)]

    dead = np.isfinite(death) & (death <= end_day)
    withdrawn = (withdraw <= end_day) & ~(dead & (death <= withdraw))  # nobody withdraws after dying
    events = pd.DataFrame(
        {
            "USUBJID": subjects["USUBJID"].to_numpy(),
            "ARM": arms,
            "TRTSDT": trtsdt.dt.date.to_numpy(),
            "TRTEDT": as_date(trtedy, np.ones(n, bool)),
            "TRTEDY": trtedy.astype(int),
            "EOTREAS": eot_reason,
            "DTHDT": as_date(death, dead),
            "DTHCAUS": np.where(dead, np.where(has_pd & (death >= pd_dy), "DISEASE PROGRESSION", "ADVERSE EVENT"), ""),
            "NEWTHDT": as_date(nt, np.isfinite(nt) & (nt <= end_day)),
            "PD2DT": as_date(pd2, np.isfinite(pd2) & (pd2 <= end_day)),
            "LSTALVDT": as_date(lstalv, np.ones(n, bool)),
            "CONTACTDT": contacts,
            "WITHDRAWN": withdrawn,
            "WDDT": as_date(withdraw, withdrawn),
            "PDDY_SITE": pd_dy,
        }
    )
    return {"assessments": a, "exposure": exposure, "events": events, "latent": _latent_frame(subjects, lat)}


def _latent_frame(subjects: pd.DataFrame, lat: Latent) -> pd.DataFrame:
    return pd.DataFrame({"USUBJID": subjects["USUBJID"].to_numpy(), "PI_R": lat.pi_r, "G_S": lat.g_s, "G_R": lat.g_r})


def _administrations(rng: np.random.Generator, subjects: pd.DataFrame, facts: TrialFacts, trt_end: np.ndarray) -> pd.DataFrame:
    """Administrations per the dosing calendar up to each patient's end of treatment, with omissions,
    short delays and carfilzomib dose reductions."""
    cd = facts.cycle_days
    cycles = np.maximum(1, np.ceil(np.asarray(trt_end, dtype=float) / cd)).astype(int)
    ex = facts.calendar_frame(subjects, cycles)
    ex["ADY"] = (ex["cycle"].astype(int) - 1) * cd + ex["day"].astype(int)
    end = per_subject(ex["USUBJID"], subjects["USUBJID"], trt_end)
    ex = ex[ex["ADY"].to_numpy() <= end].reset_index(drop=True)
    k = len(ex)
    omit = rng.random(k) < P.DOSE_OMIT_P
    omit &= ex["ADY"].to_numpy() > 1  # the first administration is always given
    ex = ex[~omit].reset_index(drop=True)
    k = len(ex)
    shift = np.where((rng.random(k) < P.DOSE_SHIFT_P) & (ex["ADY"].to_numpy() > 1), rng.integers(1, 4, k), 0)
    ex["ADY"] = ex["ADY"] + shift
    # carfilzomib dose level per patient and cycle: a reduction is permanent (random walk down the levels)
    is_cfz = ex["drug"].astype(str).str.lower().str.contains("carfilzomib").to_numpy()
    levels = len(P.CFZ_REDUCTION_FACTORS)
    ncyc = int(ex["cycle"].max()) if k else 1
    steps = (rng.random((len(subjects), ncyc + 1)) < P.CFZ_REDUCTION_P_PER_CYCLE).cumsum(axis=1).clip(0, levels - 1)
    idx = per_subject(ex["USUBJID"], subjects["USUBJID"], np.arange(len(subjects)))
    level = steps[idx, ex["cycle"].to_numpy(int)]
    factor = np.where(is_cfz, np.asarray(P.CFZ_REDUCTION_FACTORS)[level], 1.0)
    ex["PLANNED_MG"] = ex["dose_mg"].astype(float)
    ex["DOSE_MG"] = np.round(ex["PLANNED_MG"] * factor, 1)
    ex = ex.rename(columns={"drug": "DRUG", "route": "ROUTE", "cycle": "CYCLE", "day": "DAY"})
    ex["ADT"] = _dates(pd.Series(per_subject(ex["USUBJID"], subjects["USUBJID"], pd.to_datetime(subjects["TRTSDT"]).to_numpy())),
                       ex["ADY"].to_numpy()).date
    return ex[["USUBJID", "DRUG", "ROUTE", "CYCLE", "DAY", "ADY", "ADT", "DOSE_MG", "PLANNED_MG"]].sort_values(
        ["USUBJID", "ADY", "DRUG"], kind="stable").reset_index(drop=True)

