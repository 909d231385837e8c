"""ikema.response: the IMWG 2016 response engine (per-assessment response, confirmation, progression).

Public API:
    evaluate(assessments, criteria=None, *, subjects=None, interference="assessed") -> Evaluation
        Evaluation(responses, summary); responses: USUBJID, ADY, RESP, CONFIRMED, PDSRC;
        summary: USUBJID, BOR, FIRST_RESP_DY, BEST_RESP_DY, PD_DY, MRDNEG, MEASDIS.
    confirm_labels(responses, subjects=None) -> (responses, summary)   # from unconfirmed labels
    read_assessments(path) / validate_assessments(df)                  # the input contract
    Criteria, IMWG_THRESHOLDS, default_criteria()                      # the one threshold table
"""

from ikema.response.confirm import RESPONSE_ORDER, confirm_labels
from ikema.response.contract import CODED_PARAMS, NUMERIC_PARAMS, PARAMS, read_assessments, validate_assessments
from ikema.response.criteria import IMWG_THRESHOLDS, Criteria, Threshold
from ikema.response.engine import Evaluation, default_criteria, evaluate

__all__ = [
    "CODED_PARAMS",
    "IMWG_THRESHOLDS",
    "NUMERIC_PARAMS",
    "PARAMS",
    "RESPONSE_ORDER",
    "Criteria",
    "Evaluation",
    "Threshold",
    "confirm_labels",
    "default_criteria",
    "evaluate",
    "read_assessments",
    "validate_assessments",
]
