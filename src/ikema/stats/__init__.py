"""ikema.stats: trial-independent statistical methods held to R (survival, stats): KM, log-rank, Cox, CMH, exact CIs,
RMST, landmarks.

SurvivalData indexes one data set's times once for KM, log-rank and Cox together (ikema.stats.survdata)."""

from ikema.stats._checks import StatsInputError
from ikema.stats.binary import CMHResult, RateDifference, clopper_pearson, cmh, cmh_tables, rate_difference, stratified_tables
from ikema.stats.cox import CoxResult, coxph, coxph_loglik
from ikema.stats.landmark import Landmark, landmarks
from ikema.stats.rmst import RMST, RMSTDifference, default_tau, rmst, rmst_difference, rmst_km
from ikema.stats.survdata import SurvivalData
from ikema.stats.survival import KaplanMeier, LogrankResult, kaplan_meier, logrank

__all__ = [
    "CMHResult", "CoxResult", "KaplanMeier", "Landmark", "LogrankResult", "RMST", "RMSTDifference", "RateDifference",
    "StatsInputError", "SurvivalData", "clopper_pearson", "cmh", "cmh_tables", "coxph", "coxph_loglik", "default_tau",
    "kaplan_meier", "landmarks", "logrank", "rate_difference", "rmst", "rmst_difference", "rmst_km",
    "stratified_tables",
]
