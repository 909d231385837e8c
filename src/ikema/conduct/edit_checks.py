"""Plausibility checks (edit checks) that every write of trial data passes: the web forms, the JSON API, the
command line and the simulator alike, because ikema.conduct.screening and ikema.conduct.capture call them.

The ranges are protocol data (`[edit_checks]` in the protocol file, validated by ikema.protocol.models.EditChecks):
a value outside a `hard` range is refused with an InputError naming the record, field, value and the range; a value
outside a `soft` range is accepted and returned as a `Finding`, which the caller turns into an automatic query for
the site (the web app does: ikema.web.dm.open_automatic_queries). Numbers are read from ASCII text only (full-width
and other Unicode digits are refused, as are NaN and infinity) and whole-number fields must fit the store's
32-bit integer columns. The decisions on dates and doses are written beside the ranges in the protocol file.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ikema.errors import InputError, input_error

# ASCII only: str.isdigit and float() accept full-width and other Unicode digits, which no site means to type.
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
MAX_INT = 2**31 - 1  # the store's Integer columns (PostgreSQL integer, the portable bound)


@dataclass(frozen=True)
class Finding:
    """A value stored although outside its soft range: the site is asked, by an automatic query, to confirm it."""

    table: str
    record: str
    field: str
    value: Any
    expected: str
    usubjid: str | None = None
    record_id: int | None = None

    @property
    def text(self) -> str:
        """The automatic query's wording."""
        return (f"Automatic edit check: {self.field} = {self.value!r} is outside the expected {self.expected}. "
                "Please confirm the value against the source document or correct it.")


def number(table: str, record: object, field: str, value: Any, integer: bool = False) -> float | int:
    """`value` as a finite number (int for whole-number fields); InputError for text that is not ASCII digits,
    for NaN or infinity, booleans, fractions in a whole-number field, or a whole number beyond 32 bits."""
    if isinstance(value, bool):
        raise input_error(table, record, field, value, "a number")
    if isinstance(value, str):
        s = value.strip()
        if not _NUMBER.fullmatch(s):
            raise input_error(table, record, field, value, "a number written with the digits 0-9 (e.g. 12.5)")
        value = s
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        raise input_error(table, record, field, value, "a number") from None
    if not math.isfinite(x):
        raise input_error(table, record, field, value, "a finite number (not NaN or infinity)")
    if integer:
        if x != int(x):
            raise input_error(table, record, field, value, "a whole number")
        if abs(x) > MAX_INT:
            raise input_error(table, record, field, value, f"a whole number between -{MAX_INT} and {MAX_INT}")
        return int(x)
    return x


def _span(lo: float, hi: float, unit: str) -> str:
    return f"[{lo:g}, {hi:g}]{' ' + unit if unit else ''}"


def in_range(table: str, record: object, field: str, x: float, rng: Any, usubjid: str | None = None) -> Finding | None:
    """Refuse `x` outside the range's hard bounds (InputError); a Finding when outside its soft bounds; else None."""
    if rng is None:
        return None
    lo, hi = rng.hard
    if not lo <= x <= hi:
        raise input_error(table, record, field, x, f"a value in {_span(lo, hi, rng.unit)} (plausibility range)")
    if rng.soft is not None:
        slo, shi = rng.soft
        if not slo <= x <= shi:
            return Finding(table, str(record), field, x, f"range {_span(slo, shi, rng.unit)}", usubjid)
    return None


def check_screening_field(name: str, value: Any, protocol: Any, record: object = "-", where: str = "screening",
                          usubjid: str | None = None) -> tuple[Any, Finding | None]:
    """One screening field checked for plausibility (see check_screening); InputError when refused."""
    spec = protocol.screening_fields.get(name) or protocol.baseline_fields[name]
    if spec.type in ("int", "float"):
        x = number(where, record, name, value, integer=spec.type == "int")
        ranges = protocol.edit_checks.screening if getattr(protocol, "edit_checks", None) is not None else {}
        return x, in_range(where, record, name, x, ranges.get(name), usubjid)
    if spec.type == "str" and spec.codes is not None:
        s = str(value).strip()
        if s not in spec.codes:
            raise InputError(f"{where}: record {record}, field {name}: got {value!r}, expected one of {' | '.join(spec.codes)}")
        return s, None
    return value, None


def check_screening(candidate: Mapping[str, Any], protocol: Any, record: object = "-",
                    where: str = "screening") -> tuple[dict[str, Any], list[Finding]]:
    """The candidate's protocol fields checked for plausibility: numbers read strictly (ASCII, finite, whole where
    the field is int), ranges of `[edit_checks.screening]`, `codes` of text fields. Returns the values (numbers
    as int/float, everything else as given) and the soft findings; InputError for the first refused value."""
    out = dict(candidate)
    findings: list[Finding] = []
    usubjid = str(record) if record not in (None, "-") else None
    for name in [*protocol.screening_fields, *getattr(protocol, "baseline_fields", {})]:
        v = candidate.get(name)
        if v is None or (isinstance(v, str) and not v.strip()):
            continue  # missing: the criterion that reads it says so (NaN is refused, never taken as missing)
        out[name], f = check_screening_field(name, v, protocol, record, where, usubjid)
        if f is not None:
            findings.append(f)
    return out, findings
