"""Layout of the capture forms (labels, units, choices). The edit checks themselves live in the store's
capture functions; this module only says what a page shows and which fields a change may touch."""

from __future__ import annotations

from dataclasses import dataclass, field

from ikema.conduct.capture import AE_ACTIONS, AE_OUTCOMES
from ikema.errors import IkemaError
from ikema.response import CODED_PARAMS, NUMERIC_PARAMS


class FieldErrors(IkemaError):
    """Field-level messages of a refused form; nothing was saved."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Field:
    """One input of a form."""

    name: str
    label: str
    type: str = "text"
    unit: str = ""
    choices: tuple[str, ...] = ()
    required: bool = False


@dataclass(frozen=True)
class FormSpec:
    """A capture form: its permissions, table columns and editable fields."""

    title: str
    entry_title: str
    view_action: str
    enter_action: str
    columns: tuple[Field, ...]
    editable: tuple[str, ...] = field(default_factory=tuple)


PARAM_LABELS = {
    "SMPROT": "Serum M-protein", "UMPROT": "Urine M-protein (24 h)", "FLCK": "Free kappa LC", "FLCL": "Free lambda LC",
    "BMPC": "Marrow plasma cells", "PLASMA": "Plasmacytoma SPD", "SIFE": "Serum IFE", "UIFE": "Urine IFE",
    "CLONALPC": "Clonal plasma cells", "NEWLES": "New lesion", "MRD": "MRD (NGS 10^-5)",
}


def param_fields() -> list[Field]:
    """One input per IMWG PARAM, with its unit or its coded values."""
    out = [Field(p, PARAM_LABELS[p], "number", unit) for p, (_, _, unit) in NUMERIC_PARAMS.items()]
    out += [Field(p, PARAM_LABELS[p], "choice", "", tuple(values)) for p, values in CODED_PARAMS.items()]
    return out


FORM_SPECS: dict[str, FormSpec] = {
    "assessment": FormSpec(
        "Disease assessments", "Enter an assessment visit (leave a parameter empty if not measured)",
        "assessment.view", "assessment.enter",
        (Field("date", "Date", "date"), Field("ady", "Study day"), Field("param", "Parameter"), Field("value", "Value"), Field("unit", "Unit")),
        ("date", "value"),
    ),
    "ae": FormSpec(
        "Adverse events", "Report an adverse event", "ae.view", "ae.enter",
        (
            Field("term", "Verbatim term", required=True), Field("start", "Start date", "date", required=True),
            Field("end", "End date", "date"), Field("grade", "CTCAE grade", "choice", "", ("1", "2", "3", "4", "5"), True),
            Field("serious", "Serious", "choice", "", ("N", "Y"), True),
            Field("related", "Related to study treatment", "choice", "", ("N", "Y"), True),
            Field("outcome", "Outcome", "choice", "", AE_OUTCOMES, True),
            Field("action_taken", "Action taken", "choice", "", AE_ACTIONS, True),
        ),
        ("term", "start", "end", "grade", "serious", "related", "outcome", "action_taken"),
    ),
    "exposure": FormSpec(
        "Drug administrations", "Record a drug administration", "exposure.view", "exposure.enter",
        (
            Field("drug", "Drug", required=True), Field("date", "Date", "date", required=True), Field("cycle", "Cycle", "number", required=True),
            Field("day", "Day", "number", required=True), Field("dose_mg", "Dose", "number", "mg", required=True),
        ),
        ("date", "dose_mg"),
    ),
}


def text(value: object) -> str:
    """A value as the text shown, compared for SDV and hashed for signatures."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
