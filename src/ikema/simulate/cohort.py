"""Virtual candidates: baseline characteristics drawn from the published IKEMA margins (ikema.simulate.params).

Vectorized over candidates; every draw from the Generator passed in. A candidate is a screening record whose
fields the protocol's eligibility rules read (see `to_screening_fields`), plus the latent disease burden the
disease-course model starts from.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ikema.simulate import params as P


def _categorical(rng: np.random.Generator, n: int, probs) -> np.ndarray:
    p = np.asarray(probs, dtype=float)
    return np.searchsorted(np.cumsum(p / p.sum()), rng.random(n), side="right")


def draw_candidates(rng: np.random.Generator, n: int, start_index: int = 0) -> pd.DataFrame:
    """`n` candidates with baseline characteristics and screening findings (one row each)."""
    band = _categorical(rng, n, P.AGE_BAND_P)
    lo = np.array([b[0] for b in P.AGE_BANDS])[band]
    hi = np.array([b[1] for b in P.AGE_BANDS])[band]
    # within the youngest band ages cluster near its top (median 64 overall [11]): beta-shaped draw
    u = np.where(band == 0, rng.beta(3.0, 1.3, n), rng.random(n))
    age = np.floor(lo + u * (hi - lo + 1)).astype(int).clip(lo, hi)
    sex = np.where(rng.random(n) < P.MALE_P, "M", "F")
    ecog = np.where(rng.random(n) < P.ECOG2_P, 2, np.where(rng.random(n) < P.ECOG0_OF_01, 0, 1))
    iss = _categorical(rng, n, P.ISS_P) + 1
    cyto_missing = rng.random(n) < P.CYTO_MISSING_P
    high_risk = (rng.random(n) < P.HIGH_RISK_P) & ~cyto_missing
    gain1q = (rng.random(n) < P.GAIN1Q_P) & ~cyto_missing
    high_ldh = rng.random(n) < P.HIGH_LDH_P
    # R-ISS (Palumbo 2015): I = ISS I, standard risk, normal LDH; III = ISS III with high risk or high LDH; else II
    riss = np.where((iss == 1) & ~high_risk & ~high_ldh, "I", np.where((iss == 3) & (high_risk | high_ldh), "III", "II"))
    riss = np.where(cyto_missing, "NOT CLASSIFIED", riss)
    lines = _categorical(rng, n, P.PRIOR_LINES_P) + 1
    prior_pi = rng.random(n) < P.PRIOR_PI_P
    prior_btz = prior_pi & (rng.random(n) < P.PRIOR_BORTEZOMIB_OF_PI)
    prior_imid = rng.random(n) < P.PRIOR_IMID_P
    prior_len = prior_imid & (rng.random(n) < P.PRIOR_LEN_OF_IMID)
    len_refr = prior_len & (rng.random(n) < P.LEN_REFRACTORY_OF_LEN)
    asct = rng.random(n) < P.PRIOR_ASCT_P
    iso = np.array(list(P.ISOTYPE_P))[_categorical(rng, n, list(P.ISOTYPE_P.values()))]
    kappa = rng.random(n) < P.KAPPA_P
    weight = np.round(P.WEIGHT_MEDIAN_KG * np.exp(rng.normal(0.0, P.WEIGHT_SDLOG, n)) * np.where(sex == "M", 1.06, 0.93), 1)
    hm = np.array([P.HEIGHT_CM[s][0] for s in sex])
    hs = np.array([P.HEIGHT_CM[s][1] for s in sex])
    height = np.round(rng.normal(hm, hs), 0)
    # disease burden
    serum_m0 = np.where(iso == "LC", 0.0, np.minimum(P.SERUM_M0_MEDIAN * np.exp(rng.normal(0.0, P.SERUM_M0_SDLOG, n)), P.SERUM_M0_MAX))
    urine_pos = (iso == "LC") | (rng.random(n) < P.URINE_ALSO_P)
    urine_m0 = np.where(urine_pos, P.URINE_M0_MEDIAN * np.exp(rng.normal(0.0, P.URINE_M0_SDLOG, n)), 0.0)
    urine_m0 = np.where(iso == "LC", np.maximum(urine_m0, 250.0 + 50 * rng.random(n)), urine_m0)
    inv_flc = P.INVOLVED_FLC_MEDIAN * np.exp(rng.normal(0.0, P.INVOLVED_FLC_SDLOG, n))
    uninv_flc = P.UNINVOLVED_FLC_MEDIAN * np.exp(rng.normal(0.0, P.UNINVOLVED_FLC_SDLOG, n))
    bmpc0 = np.clip(P.BMPC0_MEDIAN * np.exp(rng.normal(0.0, P.BMPC0_SDLOG, n)), 6.0, 95.0)
    # screening labs (healthy enough by default; failures injected below)
    anc = np.round(3.2 * np.exp(rng.normal(0, 0.35, n)), 2).clip(1.05, None)
    plt_ = np.round(190 * np.exp(rng.normal(0, 0.35, n))).clip(52, None)
    hgb = np.round(108 * np.exp(rng.normal(0, 0.13, n))).clip(82, None)
    crcl = np.where(rng.random(n) < P.EGFR_LT60_P, rng.uniform(16, 59.9, n), rng.uniform(60, 130, n)).round(1)
    bili = np.round(rng.uniform(3, 18, n), 1)  # umol/L
    ast = np.round(rng.uniform(12, 45, n))
    alt = np.round(rng.uniform(10, 45, n))
    # screening failures (findings a criterion rejects)
    fail = {k: rng.random(n) < p for k, p in P.SCREEN_FAIL_P.items()}
    serum_m0 = np.where(fail["not_measurable"], rng.uniform(0.1, 0.45, n) * (iso != "LC"), serum_m0)
    urine_m0 = np.where(fail["not_measurable"], rng.uniform(0.0, 150.0, n), urine_m0)
    anc = np.where(fail["low_neutrophils"], rng.uniform(0.3, 0.95, n).round(2), anc)
    plt_ = np.where(fail["low_platelets"], rng.uniform(10, 45, n).round(), plt_)
    hgb = np.where(fail["low_hemoglobin"], rng.uniform(60, 78, n).round(), hgb)
    crcl = np.where(fail["low_crcl"], rng.uniform(5, 14.5, n).round(1), crcl)
    ecog = np.where(fail["ecog_3"], 3, ecog)
    lines = np.where(fail["too_many_lines"], 4 + rng.integers(0, 2, n), lines)
    bili = np.where(fail["high_bilirubin"], rng.uniform(40, 80, n).round(1), bili)
    idx = np.arange(start_index, start_index + n)
    return pd.DataFrame(
        {
            "CANDIDATE": [f"C{i + 1:05d}" for i in idx],
            "AGE": age, "SEX": sex, "ECOG": ecog, "ISS": iss, "RISS": riss,
            "HIGHRISK": high_risk, "CYTOMISS": cyto_missing, "GAIN1Q": gain1q, "HIGHLDH": high_ldh,
            "PRIOR_LINES": lines, "PRIOR_PI": prior_pi, "PRIOR_BORTEZOMIB": prior_btz, "PRIOR_IMID": prior_imid,
            "PRIOR_LENALIDOMIDE": prior_len, "LEN_REFRACTORY": len_refr, "PRIOR_ASCT": asct,
            "ISOTYPE": iso, "LIGHT_CHAIN": np.where(kappa, "KAPPA", "LAMBDA"),
            "WEIGHT_KG": weight, "HEIGHT_CM": height,
            "SERUM_M0": np.round(serum_m0, 2), "URINE_M0": np.round(urine_m0, 0),
            "INV_FLC0": inv_flc, "UNINV_FLC0": uninv_flc, "BMPC0": bmpc0,
            "ANC": anc, "PLATELETS": plt_, "HGB": hgb, "CRCL": crcl, "BILIRUBIN": bili, "AST": ast, "ALT": alt,
        }
    )


def draw_demography(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Race and ethnicity of `n` candidates (CDISC CT terms), from their own Generator."""
    race = np.array(list(P.RACE_P))[_categorical(rng, n, list(P.RACE_P.values()))]
    ethnic = np.where(rng.random(n) < P.HISPANIC_P, "HISPANIC OR LATINO", "NOT HISPANIC OR LATINO")
    return pd.DataFrame({"RACE": race, "ETHNIC": np.where(race == "NOT REPORTED", "NOT REPORTED", ethnic)})

