"""ikema.stats: trial-independent statistical methods held to R (survival, stats): KM, log-rank, Cox, CMH, exact CIs."""

from ikema.stats._checks import StatsInputError
from ikema.stats.binary import CMHResult, RateDifference, clopper_pearson, cmh, cmh_tables, rate_difference, stratified_tables
from ikema.stats.cox import CoxResult, coxph, coxph_loglik
from ikema.stats.survival import KaplanMeier, LogrankResult, kaplan_meier, logrank

__all__ = [
    "CMHResult", "CoxResult", "KaplanMeier", "LogrankResult", "RateDifference", "StatsInputError",
    "clopper_pearson", "cmh", "cmh_tables", "coxph", "coxph_loglik", "kaplan_meier", "logrank",
    "rate_difference", "stratified_tables",
]
