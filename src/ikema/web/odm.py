"""CDISC ODM 1.3.2 clinical-data export and import of the store, the exchange format EDCs use.

One ODM snapshot holds: Study (GlobalVariables and a MetaDataVersion whose ItemDefs give every item's DataType),
AdminData (one Location per site) and ClinicalData: per patient (SubjectData with SiteRef) the screening event
(the subject, each screening finding, each criterion's verdict), the randomization event (arm, number, stratum,
date) and the trial event with one form per kind of site record of `ikema.conduct.capture.KINDS` (disease
assessments, labs, administrations, adverse events, death, dispositions, further therapies, PK, ADA,
questionnaires), one repeating item group per record in the store's order (a questionnaire's group holds its
instrument, visit and date and one integer item per question it holds, ItemOID IT.QUESTIONNAIRE.<QSTESTCD>). The IRT's allocation list and the web
application's own tables (users, queries, SDV, signatures) are not clinical data and are not exported.

Import adds new patients only (an ODM TransactionType "Insert"): every record passes capture's edit checks
(record_screening, record_many), all or nothing; a patient already in the store, an unknown OID or a bad value
is refused with an InputError naming it. Randomizations are written as recorded by the source system (no IRT draw).
"""

from __future__ import annotations

import datetime as dt
import io
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any
from xml.sax.saxutils import quoteattr  # ClinicalData is streamed as text: odmlib's objects cost ~25 us per ItemData (the demo has ~5 million)

import odmlib.odm_1_3_2.model as M
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ikema.conduct import capture
from ikema.errors import InputError
from ikema.store import acting
from ikema.store.models import Randomization, ScreeningResult, Site, Subject

NS = "http://www.cdisc.org/ns/odm/v1.3"
MDV = "MDV.1"
_Q = "{" + NS + "}"
SUBJECT_ITEMS = {"STATUS": "text", "ELIGIBLE": "boolean", "STRATUM": "text", "SCREENED_AT": "datetime"}
SCRRES_ITEMS = {"CRITERION": "text", "VERDICT": "text", "REASON": "text"}
ANSWERS = "answers"  # the questionnaire column that ODM carries as one item per questionnaire item
RAND_ITEMS = {"RANDNO": "integer", "ARM": "text", "STRATUM": "text", "RANDDT": "date", "RANDOMIZED_AT": "datetime",
              "RANDOMIZED_BY": "text"}


def _datatype(python_type: type) -> str:
    if issubclass(python_type, bool):
        return "boolean"
    if issubclass(python_type, dt.datetime):
        return "datetime"
    if issubclass(python_type, dt.date):
        return "date"
    return {int: "integer", float: "float"}.get(python_type, "text")


def kind_columns() -> dict[str, dict[str, str]]:
    """capture kind -> {store column: ODM DataType} (all columns but the record id and USUBJID; a questionnaire's
    answers are one integer item per questionnaire item code instead of its `answers` column)."""
    out = {}
    for kind, (model, _) in capture.KINDS.items():
        out[kind] = {c.name: _datatype(c.type.python_type) for c in model.__table__.columns
                     if c.name not in ("id", "usubjid", ANSWERS)}
        if ANSWERS in model.__table__.columns:
            out[kind].update((code, "integer") for code in dict.fromkeys(code for _, code in capture.QS_ITEMS))
    return out


def _fields(kind: str, record: Any, cols: dict[str, str]) -> dict[str, Any]:
    """A stored record's ODM items: its columns, and a questionnaire's answers (only the items it holds)."""
    prefix = f"IT.{_oid(kind)}."
    items = {prefix + c.upper(): getattr(record, c) for c in cols if hasattr(record, c)}
    items.update((prefix + code, v) for code, v in (getattr(record, ANSWERS, None) or {}).items())
    return items


def _screening_types(findings: list[dict[str, Any]]) -> dict[str, str]:
    types: dict[str, str] = {}
    for f in findings:
        for k, v in f.items():
            if v is None:
                types.setdefault(k, "text")
                continue
            t = _datatype(type(v))
            old = types.get(k)
            types[k] = "float" if {old, t} == {"integer", "float"} else (t if old in (None, "text") else old)
    return types


def _oid(kind: str) -> str:
    return kind.upper()


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _metadata(study_oid: str, name: str, sites: list[Site], screening: dict[str, str]) -> str:
    """Study and AdminData built with odmlib, as XML text (without the ODM root)."""
    groups: dict[str, tuple[str, bool, dict[str, str]]] = {  # IG OID -> (form, repeating, items)
        "IG.SUBJECT": ("F.SCREENING", False, {f"IT.SUBJECT.{k}": t for k, t in SUBJECT_ITEMS.items()}),
        "IG.SCREENING": ("F.SCREENING", False, {f"IT.SCR.{k}": t for k, t in screening.items()}),
        "IG.SCRRES": ("F.SCREENING", True, {f"IT.SCRRES.{k}": t for k, t in SCRRES_ITEMS.items()}),
        "IG.RAND": ("F.RANDOMIZATION", False, {f"IT.RAND.{k}": t for k, t in RAND_ITEMS.items()}),
    }
    for kind, cols in kind_columns().items():
        groups[f"IG.{_oid(kind)}"] = (f"F.{_oid(kind)}", True, {f"IT.{_oid(kind)}.{c.upper()}": t for c, t in cols.items()})
    mdv = M.MetaDataVersion(OID=MDV, Name=f"{name} clinical data", Description="ikema store snapshot")
    events = {"SE.SCREENING": ["F.SCREENING"], "SE.RANDOMIZATION": ["F.RANDOMIZATION"],
              "SE.TRIAL": [f"F.{_oid(k)}" for k in capture.KINDS]}
    for se, forms in events.items():
        d = M.StudyEventDef(OID=se, Name=se[3:].title(), Repeating="No", Type="Scheduled" if se != "SE.TRIAL" else "Common")
        d.FormRef = [M.FormRef(FormOID=f, Mandatory="No", OrderNumber=i + 1) for i, f in enumerate(forms)]
        mdv.StudyEventDef.append(d)
    for form in dict.fromkeys(f for f, _, _ in groups.values()):
        d = M.FormDef(OID=form, Name=form[2:].title(), Repeating="No")
        d.ItemGroupRef = [M.ItemGroupRef(ItemGroupOID=g, Mandatory="No") for g, (f, _, _) in groups.items() if f == form]
        mdv.FormDef.append(d)
    for g, (_, repeating, items) in groups.items():
        d = M.ItemGroupDef(OID=g, Name=g[3:], Repeating="Yes" if repeating else "No")
        d.ItemRef = [M.ItemRef(ItemOID=i, Mandatory="No", OrderNumber=n + 1) for n, i in enumerate(items)]
        mdv.ItemGroupDef.append(d)
    for items in (i for _, _, i in groups.values()):
        for oid, t in items.items():
            mdv.ItemDef.append(M.ItemDef(OID=oid, Name=oid.split(".", 2)[2], DataType=t))
    study = M.Study(OID=study_oid, GlobalVariables=M.GlobalVariables(
        StudyName=M.StudyName(_content=name), StudyDescription=M.StudyDescription(_content=name),
        ProtocolName=M.ProtocolName(_content=study_oid)))
    study.MetaDataVersion.append(mdv)
    today = dt.date.today().isoformat()
    admin = M.AdminData(Location=[M.Location(OID=f"LOC.{s.site_id}", Name=s.name, LocationType="Site", MetaDataVersionRef=[
        M.MetaDataVersionRef(StudyOID=study_oid, MetaDataVersionOID=MDV, EffectiveDate=today)]) for s in sites])
    return study.to_xml_string() + (admin.to_xml_string() if sites else "")


def _items(out: list[str], group: str, repeat: int | None, items: dict[str, Any]) -> None:
    key = f" ItemGroupRepeatKey=\"{repeat}\"" if repeat is not None else ""
    out.append(f'<ItemGroupData ItemGroupOID="{group}"{key}>')
    for oid, v in items.items():
        if v is None:
            out.append(f'<ItemData ItemOID="{oid}" IsNull="Yes"/>')
        else:
            out.append(f'<ItemData ItemOID="{oid}" Value={quoteattr(_value(v))}/>')
    out.append("</ItemGroupData>")


def export_chunks(db: Session, *, study_oid: str, name: str, now: dt.datetime) -> Iterator[bytes]:
    """The ODM document in pieces (one per patient after the header), so that a large store streams."""
    subjects = list(db.scalars(select(Subject).order_by(Subject.usubjid)))
    sites = list(db.scalars(select(Site).order_by(Site.site_id)))
    screening = _screening_types([dict(s.screening or {}) for s in subjects])
    cols = kind_columns()
    file_oid = f"ikema.{study_oid}.{now.strftime('%Y%m%dT%H%M%S')}"
    head = (f'<?xml version="1.0" encoding="UTF-8"?>\n<ODM xmlns="{NS}" FileType="Snapshot" FileOID={quoteattr(file_oid)} '
            f'CreationDateTime="{now.replace(microsecond=0).isoformat()}" ODMVersion="1.3.2" Originator="ikema" '
            f'SourceSystem="ikema">')
    yield (head + _metadata(study_oid, name, sites, screening)
           + f'<ClinicalData StudyOID={quoteattr(study_oid)} MetaDataVersionOID="{MDV}">').encode()
    for s in subjects:
        out = [f"<SubjectData SubjectKey={quoteattr(s.usubjid)}>"]
        if s.site_id:
            out.append(f'<SiteRef LocationOID={quoteattr("LOC." + s.site_id)}/>')
        out.append('<StudyEventData StudyEventOID="SE.SCREENING"><FormData FormOID="F.SCREENING">')
        _items(out, "IG.SUBJECT", None, {"IT.SUBJECT.STATUS": s.status, "IT.SUBJECT.ELIGIBLE": s.eligible,
                                          "IT.SUBJECT.STRATUM": s.stratum, "IT.SUBJECT.SCREENED_AT": s.screened_at})
        _items(out, "IG.SCREENING", None, {f"IT.SCR.{k}": v for k, v in (s.screening or {}).items()})
        results = db.scalars(select(ScreeningResult).where(ScreeningResult.usubjid == s.usubjid).order_by(ScreeningResult.id))
        for n, r in enumerate(results, 1):
            _items(out, "IG.SCRRES", n, {"IT.SCRRES.CRITERION": r.criterion_id, "IT.SCRRES.VERDICT": r.verdict,
                                         "IT.SCRRES.REASON": r.reason})
        out.append("</FormData></StudyEventData>")
        rand = db.get(Randomization, s.usubjid)
        if rand is not None:
            out.append('<StudyEventData StudyEventOID="SE.RANDOMIZATION"><FormData FormOID="F.RANDOMIZATION">')
            _items(out, "IG.RAND", None, {"IT.RAND.RANDNO": rand.randno, "IT.RAND.ARM": rand.arm, "IT.RAND.STRATUM": rand.stratum,
                                          "IT.RAND.RANDDT": rand.randdt, "IT.RAND.RANDOMIZED_AT": rand.randomized_at,
                                          "IT.RAND.RANDOMIZED_BY": rand.randomized_by})
            out.append("</FormData></StudyEventData>")
        trial_forms = []
        for kind, (model, _) in capture.KINDS.items():
            order = [model.id] if hasattr(model, "id") else []
            recs = db.scalars(select(model).where(model.usubjid == s.usubjid).order_by(*order)).all()
            if not recs:
                continue
            form = [f'<FormData FormOID="F.{_oid(kind)}">']
            for n, r in enumerate(recs, 1):
                _items(form, f"IG.{_oid(kind)}", n, _fields(kind, r, cols[kind]))
            form.append("</FormData>")
            trial_forms += form
        if trial_forms:
            out += ['<StudyEventData StudyEventOID="SE.TRIAL">', *trial_forms, "</StudyEventData>"]
        out.append("</SubjectData>")
        yield "".join(out).encode()
    yield b"</ClinicalData></ODM>\n"


def export_odm(db: Session, *, now: dt.datetime | None = None) -> bytes:
    """The store's clinical data as one ODM 1.3.2 document."""
    from ikema.web.store_glue import protocol

    st = protocol().study
    return b"".join(export_chunks(db, study_oid=st.nct_id, name=st.acronym, now=now or dt.datetime.now(dt.timezone.utc)))


# --- import -----------------------------------------------------------------------------------------------------

def _convert(t: str, raw: str | None, where: str) -> Any:
    if raw is None:
        return None
    try:
        if t == "boolean":
            if raw.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return raw.lower() in ("true", "1")
        if t == "integer":
            return int(raw)
        if t == "float":
            return float(raw)
        if t == "datetime":
            v = dt.datetime.fromisoformat(raw)
            return v if v.tzinfo else v.replace(tzinfo=dt.timezone.utc)
        if t == "date":
            return dt.date.fromisoformat(raw)
    except ValueError:
        raise InputError(f"ODM: {where}: got {raw!r}, expected a value of DataType {t}") from None
    return raw


def _group_items(ig: ET.Element, prefix: str, where: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for it in ig.iter(_Q + "ItemData"):
        oid = it.get("ItemOID") or ""
        if not oid.startswith(prefix):
            raise InputError(f"ODM: {where}: ItemOID {oid!r} is not an item of {ig.get('ItemGroupOID')}")
        out[oid[len(prefix):]] = None if it.get("IsNull") == "Yes" else it.get("Value")
    return out


def parse_odm(raw: bytes) -> dict[str, Any]:
    """Sites, ItemDef DataTypes and per-patient records of an ODM file; InputError for anything unreadable."""
    types: dict[str, str] = {}
    sites: dict[str, str] = {}
    patients: list[dict[str, Any]] = []
    kinds = {f"IG.{_oid(k)}": k for k in capture.KINDS}
    try:
        for _, el in ET.iterparse(io.BytesIO(raw), events=("end",)):
            tag = el.tag
            if tag == _Q + "ItemDef":
                types[el.get("OID") or ""] = el.get("DataType") or "text"
            elif tag == _Q + "Location":
                sites[el.get("OID", "").removeprefix("LOC.")] = el.get("Name") or ""
            elif tag == _Q + "SubjectData":
                patients.append(_subject(el, kinds, types))
                el.clear()
    except ET.ParseError as exc:
        raise InputError(f"ODM: not a readable XML document ({exc})") from None
    if not patients:
        raise InputError("ODM: no SubjectData in ClinicalData; expected at least one patient")
    return {"sites": sites, "patients": patients}


def _subject(el: ET.Element, kinds: dict[str, str], types: dict[str, str]) -> dict[str, Any]:
    u = el.get("SubjectKey") or ""
    answered = {kind: {c.name for c in model.__table__.columns} for kind, (model, _) in capture.KINDS.items()
                if ANSWERS in model.__table__.columns}
    site = el.find(_Q + "SiteRef")
    p: dict[str, Any] = {"usubjid": u, "site": site.get("LocationOID", "").removeprefix("LOC.") if site is not None else None,
                         "subject": {}, "screening": {}, "results": [], "rand": None, "records": {}}
    for ig in el.iter(_Q + "ItemGroupData"):
        g = ig.get("ItemGroupOID") or ""
        where = f"SubjectKey {u}, {g} {ig.get('ItemGroupRepeatKey') or ''}".strip()
        if g == "IG.SUBJECT":
            vals = _group_items(ig, "IT.SUBJECT.", where)
            p["subject"] = {k: _convert(SUBJECT_ITEMS.get(k, "text"), v, f"{where} {k}") for k, v in vals.items()}
        elif g == "IG.SCREENING":
            p["screening"] = {k: _convert(types.get(f"IT.SCR.{k}", "text"), v, f"{where} {k}")
                              for k, v in _group_items(ig, "IT.SCR.", where).items()}
        elif g == "IG.SCRRES":
            p["results"].append(_group_items(ig, "IT.SCRRES.", where))
        elif g == "IG.RAND":
            vals = _group_items(ig, "IT.RAND.", where)
            p["rand"] = {k: _convert(RAND_ITEMS.get(k, "text"), v, f"{where} {k}") for k, v in vals.items()}
        elif g in kinds:
            vals = _group_items(ig, f"IT.{_oid(kinds[g])}.", where)
            record = {k.lower(): v for k, v in vals.items()}
            if kinds[g] in answered:  # every item that is not a column is a questionnaire item's answer
                record = {k: v for k, v in record.items() if k in answered[kinds[g]]}
                record[ANSWERS] = {k: v for k, v in vals.items() if k.lower() not in answered[kinds[g]]}
            p["records"].setdefault(kinds[g], []).append(record | {"usubjid": u})
        else:
            raise InputError(f"ODM: {where}: unknown ItemGroupOID {g!r}; expected one of IG.SUBJECT, IG.SCREENING, "
                             f"IG.SCRRES, IG.RAND, {', '.join(kinds)}")
    return p


def import_odm(db: Session, raw: bytes, user: str) -> dict[str, int]:
    """Add the ODM file's patients and their records to the store (all or nothing; the caller commits and, on an
    InputError, rolls back)."""
    doc = parse_odm(raw)
    try:
        return _import(db, doc, user)
    except SQLAlchemyError as exc:  # a constraint the checks above did not foresee: still the file's fault, named
        raise InputError(f"ODM: the store refused the file: {getattr(exc, 'orig', exc)}") from None


def _import(db: Session, doc: dict[str, Any], user: str) -> dict[str, int]:
    reason = "CDISC ODM import"
    for p in doc["patients"]:
        if db.get(Subject, p["usubjid"]) is not None:
            raise InputError(f"ODM: SubjectKey {p['usubjid']}: already in the store; the import adds new patients only")
    used = set(db.scalars(select(Randomization.randno)))
    for p in doc["patients"]:
        r = p["rand"] or {}
        if r.get("RANDNO") is not None and (not 1 <= r["RANDNO"] <= 2**31 - 1 or r["RANDNO"] in used):
            raise InputError(f"ODM: SubjectKey {p['usubjid']}, IG.RAND: RANDNO {r['RANDNO']} is out of range or already used; "
                             "expected a randomization number new to the store")
        used.add(r.get("RANDNO"))
    for sid in doc["sites"]:
        if not 1 <= len(sid) <= 20:
            raise InputError(f"ODM: Location OID LOC.{sid}: expected a site id of 1 to 20 characters after 'LOC.'")
    with acting(db, user, reason):
        for sid, name in doc["sites"].items():
            if db.get(Site, sid) is None:
                db.add(Site(site_id=sid, name=name or sid, country=None))
        db.flush()
    counts = {"subjects": 0, "randomizations": 0}
    records: dict[str, list[dict[str, Any]]] = {}
    for p in doc["patients"]:
        u, subj = p["usubjid"], p["subject"]
        if p["site"] is not None and db.get(Site, p["site"]) is None:
            raise InputError(f"ODM: SubjectKey {u}: SiteRef {p['site']!r} is not a Location of the file or a site of the store")
        result = {"eligible": subj.get("ELIGIBLE"), "stratum": subj.get("STRATUM"),
                  "verdicts": [(r.get("CRITERION"), r.get("VERDICT"), r.get("REASON")) for r in p["results"]]}
        s = capture.record_screening(db, u, p["screening"], result, user, site_id=p["site"], reason=reason,
                                     when=subj.get("SCREENED_AT"))
        counts["subjects"] += 1
        r = p["rand"]
        if r is not None:
            missing = [k for k in RAND_ITEMS if r.get(k) is None]
            if missing:
                raise InputError(f"ODM: SubjectKey {u}, IG.RAND: item {missing[0]} missing; expected every randomization item")
            with acting(db, user, reason):
                db.add(Randomization(usubjid=u, randno=r["RANDNO"], stratum=r["STRATUM"], arm=r["ARM"], randdt=r["RANDDT"],
                                     randomized_at=r["RANDOMIZED_AT"], randomized_by=r["RANDOMIZED_BY"]))
                db.flush()
            counts["randomizations"] += 1
        if subj.get("STATUS") and subj["STATUS"] != s.status:
            with acting(db, user, reason):
                s.status = subj["STATUS"]
                db.flush()
        for kind, rows in p["records"].items():
            records.setdefault(kind, []).extend(rows)
    for kind in capture.KINDS:
        counts[kind] = capture.record_many(db, kind, records.get(kind, []), user, reason=reason)
    return counts
