"""What the blinded outcome assessor may see: views BUILT from an allow-list, never trial rows with fields removed.

The assessor sees, per patient: the subject id, the site and whether the patient is randomized; the
disease-assessment results the IMWG engine uses (PARAM codes below), by study day and date; the engine's
response per assessment day and best response; their own verdicts. Nothing else reaches an assessor
template or API body: no arm, randomization number, stratum, treatment, dose, drug administration,
adverse event (infusion reactions would betray isatuximab), dosing or infusion visit, premedication.

Isatuximab (an IgG-kappa antibody) can show up as a band on serum immunofixation. Sites record that as
SIFE = POSITIVE-DRUG (confirmed drug-only band, e.g. by the Hydrashift assay). That value, or any
interference flag, would reveal the experimental arm. The assessor sees instead the interference-RESOLVED
serum immunofixation: POSITIVE-DRUG is shown as NEGATIVE, the engine is run on the resolved values, and
the page says the same sentence for every patient in both arms (IFE_NOTE). Calendar: only the disease-assessment visits
(day 1 of every cycle), which are identical in both arms, never the dosing calendar.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ikema.response import CODED_PARAMS, NUMERIC_PARAMS

# The allow-lists. Adding a key here is a blinding decision: write down why in the module docstring.
SUBJECT_FIELDS: tuple[str, ...] = ("usubjid", "site", "randomized")
ASSESSMENT_FIELDS: tuple[str, ...] = ("id", "usubjid", "ady", "date", "param", "value", "unit")
ALLOWED_PARAMS: tuple[str, ...] = tuple(NUMERIC_PARAMS) + tuple(CODED_PARAMS)
RESOLVED = {"SIFE": {"POSITIVE-DRUG": "NEGATIVE"}}
IFE_NOTE = "Serum immunofixation is shown as resolved by the central laboratory, the same way for every patient."
VERDICTS: tuple[str, ...] = ("sCR", "CR", "VGPR", "PR", "MR", "SD", "PD", "NE")

PARAM_LABELS: dict[str, str] = {
    "SMPROT": "Serum M-protein", "UMPROT": "Urine M-protein (24 h)", "FLCK": "Free kappa light chain",
    "FLCL": "Free lambda light chain", "BMPC": "Bone-marrow plasma cells", "PLASMA": "Plasmacytoma SPD",
    "SIFE": "Serum immunofixation", "UIFE": "Urine immunofixation", "CLONALPC": "Clonal plasma cells (marrow)",
    "NEWLES": "New bone lesion / plasmacytoma", "MRD": "MRD (NGS, 10^-5)",
}


def subject_view(row: Mapping[str, Any]) -> dict[str, Any]:
    """A new dict with only the allowed subject fields."""
    return {k: row.get(k) for k in SUBJECT_FIELDS}


def assessment_view(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """A new dict with only allowed fields of an allowed PARAM (interference resolved); None otherwise."""
    param = row.get("param")
    if param not in ALLOWED_PARAMS:
        return None
    out = {k: row.get(k) for k in ASSESSMENT_FIELDS}
    value = out.get("value")
    if isinstance(value, str):
        out["value"] = RESOLVED.get(param, {}).get(value, value)
    return out


def assessments_view(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The allowed, resolved assessments of a patient in (day, PARAM) order."""
    views = [v for r in rows if (v := assessment_view(r)) is not None]
    return sorted(views, key=lambda v: (v["ady"], ALLOWED_PARAMS.index(v["param"])))
