"""Parameters of the virtual IKEMA patient: every number sourced from ../shared/reference/ikema_published.md ([n]
as cited there) or marked ASSUMPTION (not published; chosen to be clinically plausible and/or calibrated so
that the real analysis pipeline reproduces the published results, see `ikema twin`).

Trial facts (doses, schedules, strata, dates, cycle length) are NOT here: they come from the protocol file.
Rates below are per patient unless stated; times in days.
"""

from __future__ import annotations

from types import MappingProxyType

# ---------------------------------------------------------------- conduct as published (accrual window and cutoffs
# are protocol-file facts; the screening counts are only compared with)
SCREENED, SCREEN_FAILURES = 341, 39  # [1]
# Accrual is front-loaded: the published median follow-up at the three cuts (20.7, 44.0, 56.6 months [1][3][14])
# puts the median randomization in mid-May 2018, about 37 % into the accrual period. Beta(1, 1.65) (median 34 %)
# reproduces all three reverse-KM medians once the cuts censor OS at the last survival contact (twin: 20.6, 43.4,
# 56.7 months; Beta(1, 1.5) gave 20.1, 43.0, 56.3).
ACCRUAL_BETA = 1.65
N_SITES = 69  # centres [1][2]
# ASSUMPTION: sites spread over 16 countries [1] (ISO 3166-1 alpha-3; which countries and how many sites each is
# not in the record); site k is in SITE_COUNTRIES[k % 16]
SITE_COUNTRIES = ("FRA", "ESP", "ITA", "DEU", "GBR", "BEL", "CZE", "GRC", "POL", "RUS", "TUR", "USA", "CAN", "JPN",
                  "KOR", "AUS")
# ASSUMPTION: race and ethnicity shares (not in the record; roughly the published baseline table's majority white,
# about a fifth Asian): drawn from their own child stream so the trial's other draws are unchanged
RACE_P = MappingProxyType({"WHITE": 0.73, "ASIAN": 0.19, "BLACK OR AFRICAN AMERICAN": 0.03, "NOT REPORTED": 0.05})
HISPANIC_P = 0.03

# ---------------------------------------------------------------- baseline (pooled over arms: the published
# by-arm differences are chance under randomization, and candidates exist before their arm is known;
# pooled = (179 * IKd + 123 * Kd) / 302 of the published percentages [11])
N_IKD, N_KD = 179, 123  # randomized per arm [2][3]
_W = N_IKD / (N_IKD + N_KD)


def pooled(ikd: float, kd: float) -> float:
    """Randomization-weighted pooled share of a published by-arm percentage (as a fraction)."""
    return (_W * ikd + (1 - _W) * kd) / 100.0


AGE_BANDS = ((33, 64), (65, 74), (75, 90))  # range 33-90 [11]
AGE_BAND_P = (pooled(49, 54), pooled(41, 38), pooled(9, 8))  # <65 / 65-74 / >=75 [11]
ECOG2_P = pooled(6, 4)  # ECOG 2 [11]
ECOG0_OF_01 = 0.55  # ASSUMPTION: share of ECOG 0 among ECOG 0-1 (not published in [11])
ISS_P = (pooled(50, 58), pooled(35, 25), pooled(15, 16))  # ISS I/II/III [11]
HIGH_RISK_P = pooled(23, 25)  # del17p, t(4;14), t(14;16) [11]
CYTO_MISSING_P = 0.07  # ASSUMPTION: cytogenetics not evaluable -> R-ISS not classified
GAIN1Q_P = pooled(42, 42)  # [11]
HIGH_LDH_P = 0.12  # ASSUMPTION: LDH > ULN (enters R-ISS)
EGFR_LT60_P = pooled(24, 15)  # eGFR < 60 [11]
PRIOR_LINES_P = (pooled(44, 45), 0.35, 0.19, 0.01)  # 1 [11]; 2/3/4 ASSUMPTION with median 2, range 1-4 [11]
PRIOR_PI_P = pooled(93, 85)  # [11]
PRIOR_BORTEZOMIB_OF_PI = pooled(91, 83) / pooled(93, 85)  # bortezomib among PI-exposed [11]
PRIOR_IMID_P = pooled(76, 81)  # [11]
PRIOR_LEN_OF_IMID = pooled(40, 48) / pooled(76, 81)  # [11]
LEN_REFRACTORY_OF_LEN = pooled(32, 34) / pooled(40, 48)  # refractory among lenalidomide-exposed [11]
PRIOR_ASCT_P = pooled(65, 56)  # [11]
MALE_P = 0.56  # ASSUMPTION (sex not in the reference file)
# Isotype: ASSUMPTION (typical RRMM series): heavy chain IgG / IgA / light chain only; kappa share.
ISOTYPE_P = MappingProxyType({"IgG": 0.64, "IgA": 0.22, "LC": 0.14})
KAPPA_P = 0.66
WEIGHT_MEDIAN_KG, WEIGHT_SDLOG = 74.0, 0.19  # ASSUMPTION
HEIGHT_CM = MappingProxyType({"M": (175.0, 7.0), "F": (162.0, 6.5)})  # ASSUMPTION
# Disease burden at screening, ASSUMPTION: serum M-protein lognormal (g/dL), urine M-protein (mg/24 h).
SERUM_M0_MEDIAN, SERUM_M0_SDLOG = 2.0, 0.75
SERUM_M0_MAX = 20.0  # g/dL: the lognormal's tail cut where the protocol's plausibility check refuses (edit_checks)
URINE_M0_MEDIAN, URINE_M0_SDLOG = 700.0, 0.9
URINE_ALSO_P = 0.18  # ASSUMPTION: heavy-chain patients with measurable urine M-protein as well
INVOLVED_FLC_MEDIAN, INVOLVED_FLC_SDLOG = 180.0, 1.0  # mg/L, ASSUMPTION
UNINVOLVED_FLC_MEDIAN, UNINVOLVED_FLC_SDLOG = 9.0, 0.35  # mg/L, ASSUMPTION (normal range 3.3-26 / 5.7-26)
BMPC0_MEDIAN, BMPC0_SDLOG = 25.0, 0.6  # % plasma cells in marrow, ASSUMPTION

# Screening failures: 39 of 341 screened [1] = 11.4 %. Each candidate carries, with these ASSUMPTION
# probabilities, a finding that one eligibility criterion of the protocol rejects (calibrated to ~11 %).
SCREEN_FAIL_P = MappingProxyType(
    {
        "not_measurable": 0.006,  # M-protein below the measurable-disease thresholds
        "low_neutrophils": 0.02,
        "low_platelets": 0.02,
        "low_hemoglobin": 0.01,
        "low_crcl": 0.01,
        "ecog_3": 0.008,
        "too_many_lines": 0.004,
        "high_bilirubin": 0.005,
    }
)

# ---------------------------------------------------------------- disease course (two-population model,
# Myklebust et al. 2024 style): M(t) = M0 [pi_r exp(g_r t) + (1 - pi_r) exp(g_s t)], t in days from day 1.
# Arm-specific effective resistant fraction (cells resistant to the regimen) and rates; all ASSUMPTION,
# calibrated by `ikema twin` so ORR / >=VGPR / CR and PFS reproduce [3][4][9][12].
DISEASE = MappingProxyType(
    {
        "experimental": MappingProxyType(
            {
                "refractory_p": 0.05,  # primary refractory: pi_r = 1
                "logit_pi_mu": -5.4, "logit_pi_sd": 3.5,
                "gs_median": -0.070, "gs_sdlog": 0.45,  # per day: sensitive clone decays (half-life ~10 d)
                "gr_median": 0.00179, "gr_sdlog": 0.75,  # per day: resistant clone grows
            }
        ),
        "control": MappingProxyType(
            {
                "refractory_p": 0.01,
                "logit_pi_mu": -3.9, "logit_pi_sd": 3.1,
                "gs_median": -0.036, "gs_sdlog": 0.45,
                "gr_median": 0.00298, "gr_sdlog": 0.75,
            }
        ),
    }
)
# High-risk cytogenetics: resistant clone grows faster, and isatuximab's added effect is smaller (ASSUMPTION,
# reproducing the direction of the published subgroup PFS HRs: standard risk 0.440, high risk 0.724 [15]).
HIGH_RISK_GR_FACTOR = 1.5
HIGH_RISK_EXPERIMENTAL_GR_FACTOR = 1.4
# Assays, ASSUMPTION: multiplicative noise (CV) and quantification limits.
SPEP_CV, SPEP_LLOQ = 0.08, 0.1  # g/dL; below LLOQ reported as 0 (not quantifiable)
UPEP_CV, UPEP_LLOQ = 0.15, 10.0  # mg/24 h
# The assays' upper reporting limits: a result above is reported at the limit (as ">limit"), so the site never
# enters a value the protocol's plausibility check refuses (edit_checks.assessments hard bounds; tested equal).
# Without it a fast-growing relapse could exceed them (M-protein 56.3 g/dL at one twin seed) and stop the capture.
SPEP_MAX, UPEP_MAX, FLC_MAX = 40.0, 100000.0, 100000.0  # g/dL, mg/24 h, mg/L
FLC_CV = 0.10
SIFE_LOD = 0.02  # g/dL: serum immunofixation negative below this true M-protein (sd of log LOD below)
UIFE_LOD = 5.0  # mg/24 h
IFE_LOD_SDLOG = 0.5
# Isatuximab IgG-kappa interference: a patient's IFE shows the drug band when its IgG-kappa position is
# resolved from the patient's own band (ASSUMPTION, calibrated to CR as assessed, 39.7 % at the interim and
# 44.1 % at the final PFS cut [3][4], against 45.8 % adjusted [4]).
INTERFERENCE_P = 0.40
# ASSUMPTION: marrow tumour fraction vs serum burden; calibrated between the published MRD negativity and
# MRD-negative CR of the two cuts (29.6 / 33.5 % and 20.1 / 26.3 % [3][4]: the simulated responses deepen less
# between the cuts than the published ones)
MARROW_LOG_MEAN, MARROW_LOG_SD = -3.6, 1.5
MRD_LOD = 1e-5  # NGS sensitivity (tumour cells per nucleated cell) [4]
MRD_EVERY_CYCLES = 6  # ASSUMPTION: MRD re-tested every 6 cycles while in suspected CR
MISSED_VISIT_P = 0.03  # ASSUMPTION: a disease assessment visit not done
VISIT_JITTER_D = 2  # ASSUMPTION: +- days around the nominal visit

# ---------------------------------------------------------------- events other than progression (per month
# hazards; ASSUMPTION calibrated to OS HR 0.855, Kd median OS 50.6 months [14], on-treatment shares [14])
DEATH_PRE_PD = MappingProxyType({"experimental": 0.0030, "control": 0.0030})
DEATH_POST_PD = MappingProxyType({"experimental": 0.034, "control": 0.024})
DISCONTINUE_NON_PD = MappingProxyType({"experimental": 0.010, "control": 0.015})  # stop treatment without progression
# ASSUMPTION (rest: physician decision), calibrated so that AE discontinuations match 8 / 14 % [20]
AE_SHARE_OF_NON_PD_STOPS = MappingProxyType({"experimental": 0.4, "control": 0.6})
FIRST_DOSE_DELAY_D = (0, 7)  # ASSUMPTION: days from randomization to day 1 (uniform integers, upper exclusive)
WITHDRAW_CONSENT = 0.0015  # per month: leaves the study (censored)
# Further therapy starts this many days after the confirming assessment (uniform), and follows a stop without
# progression in a minority of patients (the rest are followed to progression): ASSUMPTION, calibrated so that
# time to next treatment outlasts PFS as published (44.0 vs 35.7 and 25.0 vs 19.2 months [13][14]).
NEXT_THERAPY_DELAY_D = (14, 150)
NEXT_THERAPY_AFTER_STOP_P = 0.15
PFS2_GAP_MEDIAN_MONTHS = MappingProxyType({"experimental": 36.0, "control": 20.0})  # further therapy to PD2 (lognormal)
PFS2_GAP_SDLOG = 0.9

# ---------------------------------------------------------------- treatment
DOSE_OMIT_P = 0.04  # ASSUMPTION: a planned administration not given
DOSE_SHIFT_P = 0.05  # ASSUMPTION: an administration delayed 1-3 days
CFZ_REDUCTION_P_PER_CYCLE = 0.03  # ASSUMPTION: carfilzomib reduced one level in a cycle (56 -> 45 -> 36 mg/m2)
CFZ_REDUCTION_FACTORS = (1.0, 45.0 / 56.0, 36.0 / 56.0)  # Kyprolis label dose-reduction levels (ASSUMPTION)

# ---------------------------------------------------------------- adverse events: (PT, SOC, any-grade %, grade>=3 %)
# per arm from [19][20]; rows marked A are ASSUMPTION fill-ins so that the overall grade >= 3 and serious TEAE
# shares approach 84.2/73.0 % [21] and 70.1/59.8 % [13].
AE_TERMS = (
    # PT, SOC, IKd any, IKd g3, Kd any, Kd g3, serious share of g>=3
    ("Upper respiratory tract infection", "Infections and infestations", 66.7, 9.0, 57.0, 7.0, 0.5),
    ("Pneumonia", "Infections and infestations", 36.2, 22.0, 30.0, 18.0, 1.0),
    ("Bronchitis", "Infections and infestations", 23.7, 2.3, 13.0, 0.8, 0.5),
    ("Fatigue", "General disorders and administration site conditions", 41.8, 5.0, 32.0, 3.3, 0.1),
    ("Hypertension", "Vascular disorders", 37.3, 21.0, 32.0, 20.0, 0.1),
    ("Diarrhoea", "Gastrointestinal disorders", 36.2, 2.8, 29.0, 2.5, 0.3),
    ("Dyspnoea", "Respiratory, thoracic and mediastinal disorders", 28.8, 5.0, 24.0, 0.8, 0.5),
    ("Cough", "Respiratory, thoracic and mediastinal disorders", 23.0, 0.0, 15.0, 0.0, 0.0),
    ("Vomiting", "Gastrointestinal disorders", 15.0, 1.1, 9.0, 0.8, 0.3),
    ("Insomnia", "Psychiatric disorders", 24.0, 1.5, 23.0, 1.0, 0.0),  # A
    ("Cardiac failure", "Cardiac disorders", 7.0, 4.0, 7.0, 4.0, 1.0),  # A
    ("Acute kidney injury", "Renal and urinary disorders", 8.0, 4.0, 9.0, 5.0, 1.0),  # A
    ("Sepsis", "Infections and infestations", 5.0, 5.0, 4.0, 4.0, 1.0),  # A
    ("Hyperglycaemia", "Metabolism and nutrition disorders", 12.0, 2.0, 10.0, 2.0, 0.0),  # A
    ("Neutropenia", "Blood and lymphatic system disorders", 19.0, 14.0, 8.0, 3.0, 0.1),  # A
    ("Thrombocytopenia", "Blood and lymphatic system disorders", 22.0, 12.0, 18.0, 8.0, 0.1),  # A
    ("Anaemia", "Blood and lymphatic system disorders", 20.0, 7.0, 20.0, 7.0, 0.1),  # A
    ("Lymphopenia", "Blood and lymphatic system disorders", 17.0, 13.0, 12.0, 7.0, 0.0),  # A
    ("Pyrexia", "General disorders and administration site conditions", 20.0, 2.0, 16.0, 1.0, 0.8),  # A
    ("Back pain", "Musculoskeletal and connective tissue disorders", 22.0, 2.0, 20.0, 2.0, 0.2),  # A
)
# Serious events below grade 3 (hospitalisation for grade 2 infections etc.), ASSUMPTION: per AE episode.
SERIOUS_LOW_GRADE_P = 0.12
# Infusion reactions: any grade 45.8 % vs 3.3 %, grade >= 3 0.6 % vs 0 [19]; mostly at the first infusion.
IRR = MappingProxyType({"experimental": (45.8, 0.6), "control": (3.3, 0.0)})
IRR_FIRST_INFUSION_SHARE = 0.95  # ASSUMPTION
IRR_TERM, IRR_SOC = "Infusion related reaction", "Injury, poisoning and procedural complications"
AE_DISCONTINUE_P = MappingProxyType({"experimental": 0.08, "control": 0.14})  # permanent discontinuation for AEs [20]
FATAL_AE_P = MappingProxyType({"experimental": 0.034, "control": 0.033})  # ASSUMPTION (fatal TEAEs ~3 % per arm)

# ---------------------------------------------------------------- laboratory (haematology), ASSUMPTION:
# log(value) = log(baseline) + individual on-treatment depression (arm-specific) + visit noise; calibrated to
# the worst-grade shares at any grade and at grade >= 3 [19]. (baseline median, sdlog, on-treatment log drop
# median per arm, its sd, noise sd)
LABS = MappingProxyType(
    {
        "NEUT": ("Neutrophils", "10^9/L", 1.8, 3.2, 0.35, {"experimental": 0.26, "control": 0.02}, 0.45, 0.17),
        "PLAT": ("Platelets", "10^9/L", 150.0, 190.0, 0.40, {"experimental": 0.64, "control": 0.50}, 0.48, 0.21),
        "HGB": ("Hemoglobin", "g/L", 120.0, 108.0, 0.14, {"experimental": 0.085, "control": 0.075}, 0.05, 0.06),
        "LYM": ("Lymphocytes", "10^9/L", 1.0, 1.2, 0.40, {"experimental": 0.74, "control": 0.58}, 0.40, 0.21),
    }
)  # code: (name, unit, LLN, baseline median, baseline sdlog, drop median, drop sd, visit noise sd)

# ---------------------------------------------------------------- PK, ASSUMPTION (published-ish population PK):
# isatuximab linear 2-compartment (CL 0.0096 L/h/70kg^0.7... simplified to 1-compartment with a long half-life);
# carfilzomib 1-compartment with a very short half-life. Units: dose mg, volume L, k per hour; conc ug/mL = mg/L.
ISA_PK = MappingProxyType({"V": 5.1, "CL": 0.0099, "infusion_h": 3.5, "cv": 0.30, "lloq": 0.5})
CFZ_PK = MappingProxyType({"V": 28.0, "CL": 150.0, "infusion_h": 0.5, "cv": 0.40, "lloq": 0.0005})
PK_SCHEDULES = MappingProxyType({"ISATUXIMAB": "pk_isatuximab", "CARFILZOMIB": "pk_carfilzomib"})  # protocol schedule ids
PK_CFZ_SUBSET = 12  # carfilzomib PK "in a subset of 12 patients" (protocol schedule pk_carfilzomib)
ADA_SCHEDULE, QOL_SCHEDULE = "ada", "qol"  # protocol schedule ids
SURVIVAL_SCHEDULE = "survival_follow_up"  # protocol schedule of follow-up contacts after the end of treatment
EOT_VISIT_DAYS = 30  # ASSUMPTION: the end-of-treatment visit 30 days after the last dose
ADA_P = 0.01  # ASSUMPTION: treatment-induced anti-isatuximab antibodies (~1 %)

# ---------------------------------------------------------------- questionnaires, ASSUMPTION: a latent
# well-being that dips at progression and with toxicity; answers are ordinal draws around it.
QOL_LATENT_SD = 0.6
QOL_ITEM_NOISE = 0.7
