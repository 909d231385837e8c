"""A central laboratory's CSV transfer into the store, all or nothing: every row runs capture's edit checks for
laboratory results first, and one bad row means nothing is stored and every bad row is reported by line and field."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Collection

from sqlalchemy.orm import Session

from ikema.conduct import capture
from ikema.errors import IkemaError

REQUIRED = ("usubjid", "date", "test", "value", "unit")
OPTIONAL = ("low", "high", "visit")
MAX_BYTES = 20 * 1024 * 1024
_FIELD_RE = re.compile(r"field (\w+): got (.*), expected (.*)$")


class LabImportRefused(IkemaError):
    """The file was refused whole; `errors` lists {line, field, value, message} of every bad row."""

    def __init__(self, source: str, errors: list[dict]) -> None:
        n = len({e["line"] for e in errors})
        super().__init__(f"{source}: {n} bad row{'s' if n != 1 else ''}; nothing was stored")
        self.errors = errors


def _error(line: int, field: str, value: object, message: str) -> dict:
    return {"line": line, "field": field, "value": value, "message": message}


def parse(raw: bytes, source: str) -> list[tuple[int, dict[str, str | None]]]:
    """(line number, row) of each data row; LabImportRefused when the file is not a readable CSV with the columns."""
    if len(raw) > MAX_BYTES:
        raise LabImportRefused(source, [_error(1, "(file)", len(raw), f"at most {MAX_BYTES} bytes")])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LabImportRefused(source, [_error(1, "(file)", None, f"UTF-8 text (byte {exc.start} is not)")]) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise LabImportRefused(source, [_error(1, "(header)", "", "a header line " + ",".join(REQUIRED + OPTIONAL))]) from None
    except csv.Error as exc:
        raise LabImportRefused(source, [_error(1, "(header)", None, f"a CSV header line ({exc})")]) from None
    errors = [_error(1, c, None, "a column of this name") for c in REQUIRED if c not in header]
    errors += [_error(1, c, c, "one of " + ", ".join(REQUIRED + OPTIONAL)) for c in header if c not in REQUIRED + OPTIONAL]
    errors += [_error(1, c, c, "each column once") for c in sorted({c for c in header if header.count(c) > 1})]
    if errors:
        raise LabImportRefused(source, errors)
    rows: list[tuple[int, dict[str, str | None]]] = []
    try:
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue  # blank lines carry nothing
            if len(cells) != len(header):
                errors.append(_error(line, "(row)", len(cells), f"{len(header)} cells as in the header"))
                continue
            rows.append((line, {h: (c.strip() or None) for h, c in zip(header, cells, strict=True)}))
    except csv.Error as exc:
        errors.append(_error(reader.line_num, "(row)", None, f"a CSV row ({exc})"))
    if errors:
        raise LabImportRefused(source, errors)
    if not rows:
        raise LabImportRefused(source, [_error(2, "(file)", None, "at least one data row")])
    return rows


def import_csv(db: Session, raw: bytes, user: str, *, inside: Collection[str] | None, today: dt.date, source: str) -> int:
    """Check every row (site scope `inside`: the USUBJIDs the caller may write, None for all; no future dates) and store
    all of them in one audited bulk insert; LabImportRefused listing every bad row otherwise. Returns the count."""
    rows = parse(raw, source)
    errors: list[dict] = []
    for line, r in rows:
        if inside is not None and r.get("usubjid") not in inside:
            errors.append(_error(line, "usubjid", r.get("usubjid"), "a patient of your site"))
            continue
        try:
            if r.get("date") and dt.date.fromisoformat(str(r["date"])) > today:
                errors.append(_error(line, "date", r["date"], f"a date not after today ({today.isoformat()} UTC)"))
        except ValueError:
            pass  # capture's check names it
    scoped = {e["line"] for e in errors}
    todo = [(line, r) for line, r in rows if line not in scoped]
    for i, exc in capture.check_rows(db, "lab", [r for _, r in todo]):
        m = _FIELD_RE.search(str(exc))
        line = todo[i][0]
        errors.append(_error(line, m.group(1), todo[i][1].get(m.group(1)), f"expected {m.group(3)}") if m
                      else _error(line, "(row)", None, str(exc)))
    if errors:
        raise LabImportRefused(source, sorted(errors, key=lambda e: e["line"]))
    return capture.record_many(db, "lab", [r for _, r in rows], user, reason=f"central laboratory import: {source}")
