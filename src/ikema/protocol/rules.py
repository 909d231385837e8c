"""Three-valued evaluation of protocol rules over a record: pass, fail or missing (a field absent or empty)."""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ikema.protocol.models import Rule

PASS, FAIL, MISSING = "pass", "fail", "missing"
_CMP = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq, "!=": operator.ne}


@dataclass(frozen=True)
class Outcome:
    """The verdict of a rule and the conditions that decided it (field, value, op, threshold)."""

    verdict: str
    reasons: tuple[str, ...]


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip()) or (isinstance(v, float) and v != v)


def _show(v: Any) -> str:
    return repr(v) if isinstance(v, str) else str(v)


def _unit(rule: Rule) -> str:
    return f" {rule.unit}" if rule.unit else ""


def _condition(rule: Rule, record: Mapping[str, Any]) -> Outcome:
    name = rule.field
    assert name is not None and rule.op is not None
    if name not in record:
        return Outcome(MISSING, (f"{name} missing (needed: {name} {rule.op} {_show(rule.value)}{_unit(rule)})",))
    v = record[name]
    if _blank(v):
        if rule.allow_null:
            return Outcome(PASS, (f"{name} empty: not applicable",))
        return Outcome(MISSING, (f"{name} empty (needed: {name} {rule.op} {_show(rule.value)}{_unit(rule)})",))
    if rule.op == "in":
        ok = v in rule.value  # type: ignore[operator]
    else:
        ok = _CMP[rule.op](v, rule.value)
    return Outcome(PASS if ok else FAIL, (f"{name} = {_show(v)}{_unit(rule)} ({'meets' if ok else 'fails'} "
                                          f"{rule.op} {_show(rule.value)}{_unit(rule)})",))


def evaluate(rule: Rule, record: Mapping[str, Any]) -> Outcome:
    """Evaluate `rule` on `record`: all = fail if any fails, else missing if any missing; any = pass if any passes."""
    if rule.field is not None:
        return _condition(rule, record)
    parts = [evaluate(r, record) for r in (rule.all or rule.any or [])]
    if rule.all is not None:
        for decisive in (FAIL, MISSING):
            hit = [p for p in parts if p.verdict == decisive]
            if hit:
                return Outcome(decisive, tuple(x for p in hit for x in p.reasons))
        return Outcome(PASS, tuple(x for p in parts for x in p.reasons))
    hit = [p for p in parts if p.verdict == PASS]
    if hit:
        return Outcome(PASS, hit[0].reasons)
    missing = [p for p in parts if p.verdict == MISSING]
    if missing:
        return Outcome(MISSING, tuple(x for p in parts for x in p.reasons))
    return Outcome(FAIL, tuple(x for p in parts for x in p.reasons))
