"""Screening: a candidate's record judged against every eligibility criterion of the protocol, and its stratum.

`screen(candidate, protocol)` evaluates each criterion's `pass_if` rule (ikema.protocol.rules: pass / fail /
missing); a field absent or empty is reported missing, never assumed, and the candidate is eligible only when every
criterion passes. Values pass the protocol's plausibility checks first (ikema.conduct.edit_checks: a value
outside a hard range is refused, one outside a soft range comes back in `findings`). Values are coerced to the protocol's `screening_fields` types (numeric strings, yes/no booleans);
a value that cannot be read raises InputError naming the record, field and value. `ikema screen FILE` screens a JSON
object, a JSON list or a CSV file of candidates (each with an `id` field).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ikema.conduct.edit_checks import check_screening
from ikema.errors import InputError, ProtocolError
from ikema.protocol.models import Protocol
from ikema.protocol.rules import MISSING, PASS, evaluate

ID_FIELDS = ("id", "usubjid", "subject", "subjid")
_TRUE = {"true", "yes", "y", "1", "t"}
_FALSE = {"false", "no", "n", "0", "f"}


@dataclass(frozen=True)
class Verdict:
    """One criterion's verdict: pass | fail | missing, with the field values and thresholds that decided it."""

    criterion: str
    kind: str
    verdict: str
    reason: str
    text: str = ""

    @property
    def id(self) -> str:
        """The criterion id (alias of `criterion`)."""
        return self.criterion


@dataclass(frozen=True)
class ScreeningResult:
    """Eligibility, per-criterion verdicts and the stratum (factor id -> level code, None when not determinable)."""

    eligible: bool
    verdicts: list[Verdict]
    stratum: Optional[dict[str, str]]
    stratum_levels: dict[str, Optional[str]] = field(default_factory=dict)
    stratum_reasons: dict[str, str] = field(default_factory=dict)
    findings: list[Any] = field(default_factory=list)  # soft edit-check findings (ikema.conduct.edit_checks.Finding)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {"eligible": self.eligible, "stratum": self.stratum, "stratum_levels": self.stratum_levels,
                "verdicts": [{"criterion": v.criterion, "kind": v.kind, "verdict": v.verdict, "reason": v.reason}
                             for v in self.verdicts]}


def _coerce(value: Any, kind: str, record: Any, name: str, where: str) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return None
    bad = InputError(f"{where}: record {record}, field {name}: got {value!r}, expected {kind}")
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise bad
    if kind in ("int", "float"):
        if isinstance(value, bool):
            raise bad
        try:
            num = float(value)
        except (TypeError, ValueError):
            raise bad from None
        if not math.isfinite(num):
            raise bad
        if kind == "int":
            if num != int(num):
                raise bad
            return int(num)
        return num
    return str(value)


def normalize(candidate: Mapping[str, Any], protocol: Protocol, record: Any = "-", where: str = "screening") -> dict[str, Any]:
    """The candidate's protocol fields coerced to their declared types (absent fields stay absent)."""
    out = dict(candidate)
    for name, spec in protocol.screening_fields.items():
        if name in candidate:
            out[name] = _coerce(candidate[name], spec.type, record, name, where)
    return out


def screen(candidate: Mapping[str, Any], protocol: Protocol | None = None, record: Any = None,
           where: str = "screening") -> ScreeningResult:
    """Judge `candidate` against every eligibility criterion; eligible only if each passes (missing never passes)."""
    if protocol is None:
        from ikema.protocol import load_protocol

        protocol = load_protocol()
    if not isinstance(candidate, Mapping):
        raise InputError(f"{where}: record {record or '-'}: got {type(candidate).__name__}, expected a mapping of fields")
    rec = record if record is not None else next((candidate[k] for k in ID_FIELDS if k in candidate), "-")
    checked, findings = check_screening(candidate, protocol, rec, where)  # plausibility first: refused values stop here
    values = normalize(checked, protocol, rec, where)
    verdicts = []
    for c in protocol.eligibility:
        out = evaluate(c.pass_if, values)
        verdicts.append(Verdict(c.id, c.kind, out.verdict, "; ".join(out.reasons), c.text))
    levels: dict[str, Optional[str]] = {}
    reasons: dict[str, str] = {}
    for f in protocol.randomization.stratification:
        results = [(lv.code, evaluate(lv.rule, values)) for lv in f.levels]
        hits = [code for code, o in results if o.verdict == PASS]
        if len(hits) > 1:
            raise ProtocolError(f"protocol: randomization.stratification {f.id}: levels {hits} all match record {rec}")
        levels[f.id] = hits[0] if hits else None
        if hits:
            reasons[f.id] = "; ".join(next(o.reasons for code, o in results if code == hits[0]))
        else:
            why = [o for _, o in results if o.verdict == MISSING]
            reasons[f.id] = "; ".join(why[0].reasons) if why else "no level matches " + "; ".join(
                x for _, o in results for x in o.reasons)
    stratum = {k: v for k, v in levels.items() if v is not None} if all(v is not None for v in levels.values()) else None
    eligible = all(v.verdict == PASS for v in verdicts)
    return ScreeningResult(eligible, verdicts, stratum, levels, reasons, findings)


# --- reading candidate files ------------------------------------------------------------------------------------

def read_candidates(path: str | Path) -> list[tuple[str, dict[str, Any]]]:
    """(id, record) of every candidate in a JSON object, JSON list or CSV file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"{p}: cannot read ({exc.strerror or exc})") from None
    records: list[Any]
    if p.suffix.lower() == ".csv":
        records = list(csv.DictReader(text.splitlines()))
        if not records:
            raise InputError(f"{p}: record -, field -: got no rows, expected a header line and one row per candidate")
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{p}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
                             "expected a JSON object, a JSON list or a .csv file") from None
        records = [data] if isinstance(data, dict) else data if isinstance(data, list) else [None]
        if not records:
            raise InputError(f"{p}: record -, field -: got an empty list, expected at least one candidate")
    out = []
    seen: set[str] = set()
    for i, r in enumerate(records, start=1):
        if not isinstance(r, dict):
            raise InputError(f"{p}: record {i}, field -: got {type(r).__name__}, expected a JSON object of fields")
        low = {str(k).lower(): k for k in r}
        key = next((low[k] for k in ID_FIELDS if k in low and str(r[low[k]]).strip()), None)
        if key is None:
            raise InputError(f"{p}: record {i}, field id: got none, expected one of {', '.join(ID_FIELDS)}")
        cid = str(r[key]).strip()
        if cid in seen:
            raise InputError(f"{p}: record {i}, field {key}: got {cid!r} again, expected a unique id")
        seen.add(cid)
        out.append((cid, dict(r)))
    return out


def screen_file(path: str | Path, protocol: Protocol | None = None) -> list[tuple[str, ScreeningResult]]:
    """Screen every candidate of a file; (id, result) in file order."""
    if protocol is None:
        from ikema.protocol import load_protocol

        protocol = load_protocol()
    return [(cid, screen(r, protocol, record=cid, where=str(path))) for cid, r in read_candidates(path)]


def screen_command(
    file: Path,
    as_json: bool = False,
    protocol_file: Optional[Path] = None,
) -> None:
    """Screen candidates from FILE (JSON object/list or CSV, each with an id) against the protocol's criteria."""
    import typer
    from rich.console import Console
    from rich.table import Table

    from ikema.protocol import load_protocol

    protocol = load_protocol(protocol_file)
    results = screen_file(file, protocol)
    if as_json:
        typer.echo(json.dumps([{"id": cid, **r.as_dict()} for cid, r in results], indent=2))
        return
    console = Console()
    colour = {"pass": "green", "fail": "red", "missing": "yellow"}
    for cid, r in results:
        st = "; ".join(f"{k}={v}" for k, v in r.stratum.items()) if r.stratum else "not determinable"
        t = Table(title=f"{cid}: {'ELIGIBLE' if r.eligible else 'NOT ELIGIBLE'} (stratum: {st})", title_justify="left")
        for c in ("criterion", "kind", "verdict", "reason"):
            t.add_column(c, overflow="fold")
        for v in r.verdicts:
            t.add_row(v.criterion, v.kind, f"[{colour[v.verdict]}]{v.verdict}[/]", v.reason)
        console.print(t)
    n = sum(r.eligible for _, r in results)
    console.print(f"{n} of {len(results)} candidate(s) eligible")


def register_screen(app: Any) -> None:
    """Add `ikema screen FILE [--json] [--protocol PATH]` to the command line."""
    import typer

    def screen_cmd(
        file: Path = typer.Argument(..., help="candidates: a JSON object, a JSON list or a CSV file, each with an id"),
        as_json: bool = typer.Option(False, "--json", help="print machine-readable verdicts"),
        protocol_file: Optional[Path] = typer.Option(None, "--protocol", help="protocol TOML (default: IKEMA)"),
    ) -> None:
        """Screen candidates against the protocol's eligibility criteria (pass / fail / missing per criterion)."""
        screen_command(file, as_json, protocol_file)

    app.command("screen")(screen_cmd)
