"""The JSON API's writes: every write route for every role (allowed or 403 exactly as designed), site scoping (another
site's patient is 404 and nothing is stored), blinding (the assessor writes only verdicts and reads no arm), the
forms' edit checks (nothing stored on a refusal), locks, the audit trail, the laboratory CSV import (all or nothing,
every bad row named) and the CDISC ODM round trip into an empty store."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from ikema.store.models import AuditEntry, DiseaseAssessment, LabResult
from ikema.web.permissions import ROLES

SITE_STAFF = {"investigator", "coordinator"}
READERS = {"investigator", "coordinator", "data_manager", "monitor", "statistician"}
YESTERDAY = (date.today() - timedelta(days=1)).isoformat()


def _api(world, role: str, method: str, url: str, **kw):
    c = TestClient(world.app, base_url="https://testserver")
    return c.request(method, url, headers={"Authorization": f"Bearer {world.tokens[role]}"} | kw.pop("headers", {}), **kw)


def _count(world, model, **where) -> int:
    with world.app.state.sessions() as db:
        stmt = select(func.count()).select_from(model)
        for k, v in where.items():
            stmt = stmt.where(getattr(model, k) == v)
        return db.scalar(stmt)


def _lab_csv(rows: list[str]) -> bytes:
    return ("usubjid,date,test,value,unit,low,high,visit\n" + "\n".join(rows) + "\n").encode()


@pytest.fixture(scope="module")
def qid(world) -> int:
    """A query raised by the data manager on the first assessment of the site-101 patient."""
    r = _api(world, "data_manager", "POST", f"/api/v1/subjects/{world.u101}/queries",
             json={"kind": "assessments", "record_id": world.a101, "field": "value", "text": "please check against source"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


# (method, path, body, roles allowed); {U} = the site-101 patient, {A} = one of its assessments, {Q} = a query
WRITES: list[tuple[str, str, object, set[str]]] = [
    ("POST", "/api/v1/screening", {"usubjid": "IKEMA-101-050", "site": "101", "findings": {}}, SITE_STAFF),
    ("POST", "/api/v1/subjects/{U}/assessments", {"date": YESTERDAY, "values": {"SMPROT": 0.8}}, SITE_STAFF),
    ("POST", "/api/v1/subjects/{U}/adverse-events", {"term": "Fatigue", "start": YESTERDAY, "grade": 1, "serious": "N",
                                                      "related": "N", "outcome": "RECOVERING/RESOLVING",
                                                      "action_taken": "DOSE NOT CHANGED"}, SITE_STAFF),
    ("POST", "/api/v1/subjects/{U}/administrations", {"drug": "{DRUG}", "date": YESTERDAY, "cycle": 2, "day": 1, "dose_mg": 40},
     SITE_STAFF | {"pharmacist"}),
    ("PATCH", "/api/v1/subjects/{U}/assessments/{A}", {"changes": {"value": 3.1}, "reason": "transcription error"}, SITE_STAFF),
    ("POST", "/api/v1/subjects/{U}/dispositions", {"event": "LAST_CONTACT", "date": YESTERDAY}, SITE_STAFF),
    ("POST", "/api/v1/subjects/{U}/death", {"date": YESTERDAY, "cause": "disease progression"}, SITE_STAFF),
    ("POST", "/api/v1/subjects/{U}/queries", {"kind": "assessments", "record_id": "{A}", "field": "date", "text": "date?"},
     {"data_manager", "monitor"}),
    ("POST", "/api/v1/queries/{Q}/answer", {"text": "checked, correct"}, SITE_STAFF | {"pharmacist"}),
    ("POST", "/api/v1/queries/{Q}/close", {"text": "thanks"}, {"data_manager"}),
    ("POST", "/api/v1/subjects/{U}/assessments/{A}/sdv", {"field": "date"}, {"monitor"}),
    ("POST", "/api/v1/subjects/{U}/locks", {"kind": "adverse-events", "locked": False, "reason": "routine"}, {"data_manager"}),
    ("POST", "/api/v1/review/{U}/verdicts", {"ady": 29, "verdict": "PR", "reason": "SPEP 60% down"}, {"assessor"}),
    ("POST", "/api/v1/labs", None, SITE_STAFF | {"data_manager"}),
    ("POST", "/api/v1/odm", None, {"data_manager"}),
    ("GET", "/api/v1/odm", None, {"data_manager", "statistician"}),
    ("GET", "/api/v1/queries", None, READERS | {"pharmacist"}),
]


def _fill(world, qid, path: str, body):
    drug = "carfilzomib"
    fill = lambda s: s.replace("{U}", world.u101).replace("{A}", str(world.a101)).replace("{Q}", str(qid)).replace("{DRUG}", drug)  # noqa: E731
    if isinstance(body, dict):
        body = {k: (int(fill(v)) if v == "{A}" else fill(v)) if isinstance(v, str) else v for k, v in body.items()}
    return fill(path), body


@pytest.mark.parametrize("method,path,body,allowed", WRITES, ids=[f"{m} {p}" for m, p, _, _ in WRITES])
def test_write_matrix(world, qid, method, path, body, allowed):
    url, body = _fill(world, qid, path, body)
    for role in ROLES:
        if path == "/api/v1/labs":
            r = _api(world, role, method, url, content=_lab_csv([f"{world.u101},{YESTERDAY},HGB,115,g/L,120,160,C3D1"]),
                     headers={"Content-Type": "text/csv"})
        elif path == "/api/v1/odm" and method == "POST":
            r = _api(world, role, method, url, content=b"<not-odm/>", headers={"Content-Type": "application/xml"})
        else:
            r = _api(world, role, method, url, json=body)
        if role in allowed:
            assert r.status_code not in (401, 403, 404) and r.status_code < 500, f"{role} {method} {url}: {r.status_code} {r.text[:300]}"
        else:
            assert r.status_code == 403, f"{role} {method} {url}: expected 403, got {r.status_code}"
    anon = TestClient(world.app, base_url="https://testserver").request(method, url, json=body)
    assert anon.status_code == 401


def test_every_write_route_is_in_the_matrix(world):
    spec = world.app.openapi()["paths"]
    writes = {(m.upper(), p) for p, ops in spec.items() for m in ops if m in ("post", "patch", "put", "delete")}
    covered = {(m, re.sub(r"\{U\}|\{usubjid\}", "{usubjid}", p)) for m, p, _, _ in WRITES}
    covered = {(m, p.replace("/{A}", "/{rid}").replace("/assessments/{rid}", "/{kind}/{rid}").replace("{Q}", "{qid}")) for m, p in covered}
    covered = {(m, p.replace("/queries/{qid}/answer", "/queries/{qid}/{action}").replace("/queries/{qid}/close", "/queries/{qid}/{action}"))
               for m, p in covered}
    missing = writes - covered - {("POST", "/api/v1/token"), ("POST", "/api/v1/subjects/{usubjid}/randomize")}
    assert not missing, missing


def test_other_site_patient_is_404_and_nothing_is_stored(world):
    u = world.u202
    before = _count(world, DiseaseAssessment, usubjid=u)
    cases = [("POST", f"/api/v1/subjects/{u}/assessments", {"date": YESTERDAY, "values": {"SMPROT": 0.5}}),
             ("POST", f"/api/v1/subjects/{u}/adverse-events", {"term": "Cough", "start": YESTERDAY, "grade": 1, "serious": "N",
                                                                "related": "N", "outcome": "UNKNOWN", "action_taken": "UNKNOWN"}),
             ("POST", f"/api/v1/subjects/{u}/administrations", {"drug": "carfilzomib", "date": YESTERDAY, "cycle": 2, "day": 1, "dose_mg": 40}),
             ("POST", f"/api/v1/subjects/{u}/dispositions", {"event": "LAST_CONTACT", "date": YESTERDAY}),
             ("POST", f"/api/v1/subjects/{u}/death", {"date": YESTERDAY, "cause": "x"}),
             ("GET", f"/api/v1/subjects/{u}/assessments/1", None)]
    for role in ("investigator", "coordinator", "pharmacist"):
        for method, url, body in cases:
            r = _api(world, role, method, url, json=body)
            assert r.status_code in (403, 404), (role, url, r.status_code)
            if role in SITE_STAFF or "administrations" in url:
                assert r.status_code == 404, (role, url, r.status_code)
            assert u not in r.text and world.arm202 not in r.text
    # a site user's screening goes to their own site whatever the body says
    r = _api(world, "coordinator", "POST", "/api/v1/screening", json={"usubjid": "IKEMA-X-777", "site": "202", "findings": {}})
    assert r.status_code == 200, r.text
    sites = {s["usubjid"]: s["site"] for s in _api(world, "data_manager", "GET", "/api/v1/subjects").json()}
    assert sites["IKEMA-X-777"] == "101"
    assert _count(world, DiseaseAssessment, usubjid=u) == before
    # a monitor narrowed to one site is scoped the same way
    from ikema.web import auth

    with world.app.state.sessions() as db:
        auth.create_user(db, "u_monitor101", "monitor", "Role-password-2017", site="101", full_name="M", now=world.app.state.clock())
        db.commit()
    c = TestClient(world.app, base_url="https://testserver")
    tok = c.post("/api/v1/token", data={"username": "u_monitor101", "password": "Role-password-2017"}).json()["access_token"]
    r = c.post(f"/api/v1/subjects/{u}/queries", headers={"Authorization": f"Bearer {tok}"},
               json={"kind": "assessments", "record_id": 1, "field": "date", "text": "?"})
    assert r.status_code == 404


ARM_WORDS = re.compile(r"\bIKd\b|\bKd\b|isatuximab|carfilzomib|dexamethasone|\barm\b|randno|stratum|\bdose|POSITIVE-DRUG", re.I)


def test_assessor_writes_only_verdicts_and_sees_no_arm(world):
    u = world.randomized[0]
    bodies = []
    for method, path, body, allowed in WRITES:
        url, body = _fill(world, 1, path, body)
        r = _api(world, "assessor", method, url, json=body)
        bodies.append(r.text)
        assert (r.status_code == 403) == ("assessor" not in allowed), (path, r.status_code)
    r = _api(world, "assessor", "POST", f"/api/v1/review/{u}/verdicts", json={"ady": 57, "verdict": "VGPR", "reason": "r"})
    assert r.status_code == 201 and set(r.json()) == {"usubjid", "ady", "verdict", "agrees", "reason"}
    bodies.append(r.text)
    r = _api(world, "assessor", "POST", f"/api/v1/review/{u}/verdicts", json={"ady": 999, "verdict": "PR", "reason": "r"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "ady"]
    bodies.append(r.text)
    r = _api(world, "assessor", "GET", f"/api/v1/subjects/{u}/administrations/1")
    assert r.status_code == 403
    hits = [m.group(0) for b in bodies for m in [ARM_WORDS.search(b)] if m]
    assert not hits, hits
    # the same words are found in what a site user reads: the scan can fail
    assert ARM_WORDS.search(_api(world, "coordinator", "GET", f"/api/v1/subjects/{world.u101}").text)


def test_edit_checks_refuse_and_store_nothing(world):
    u = world.u101
    before = _count(world, DiseaseAssessment, usubjid=u)
    day = (date.today() - timedelta(days=3)).isoformat()
    r = _api(world, "coordinator", "POST", f"/api/v1/subjects/{u}/assessments",
             json={"date": day, "values": {"SMPROT": 1.1, "FLCK": -4, "SIFE": "MAYBE"}})
    assert r.status_code == 422
    fields = {e["loc"][1] for e in r.json()["detail"]}
    assert {"FLCK", "SIFE"} <= fields and "SMPROT" not in fields
    assert _count(world, DiseaseAssessment, usubjid=u) == before  # SMPROT was valid but the visit is all or nothing
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    r = _api(world, "coordinator", "POST", f"/api/v1/subjects/{u}/assessments", json={"date": tomorrow, "values": {"SMPROT": 1}})
    assert r.status_code == 422 and "future" in r.text
    r = _api(world, "coordinator", "POST", f"/api/v1/subjects/{u}/assessments", json={"date": day, "values": {"XYZ": 1}})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "values.XYZ"]
    r = _api(world, "coordinator", "POST", f"/api/v1/subjects/{u}/adverse-events",
             json={"term": "Sepsis", "start": day, "grade": 5, "serious": "Y", "related": "N", "outcome": "RECOVERED/RESOLVED",
                   "action_taken": "DRUG WITHDRAWN"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "outcome"]
    r = _api(world, "pharmacist", "POST", f"/api/v1/subjects/{u}/administrations",
             json={"drug": "aspirin", "date": day, "cycle": 1, "day": 1, "dose_mg": 100})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "drug"]
    r = _api(world, "coordinator", "PATCH", f"/api/v1/subjects/{u}/assessments/{world.a101}", json={"changes": {"value": 2}, "reason": " "})
    assert r.status_code == 422 and "reason" in r.text
    r = _api(world, "coordinator", "PATCH", f"/api/v1/subjects/{u}/assessments/{world.a101}",
             json={"changes": {"param": "FLCK"}, "reason": "x"})
    assert r.status_code == 422 and "changes.param" in r.text
    r = _api(world, "coordinator", "POST", f"/api/v1/subjects/{u}/dispositions", json={"event": "WITHDRAWAL", "date": day})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "reason"]
    r = _api(world, "coordinator", "POST", "/api/v1/screening", json={"usubjid": "IKEMA-101-051", "findings": {"no_such": 1}})
    assert r.status_code == 422 and "findings.no_such" in r.text


def test_writes_are_audited_and_changes_keep_the_reason(world):
    u = world.u101
    day = (date.today() - timedelta(days=5)).isoformat()
    r = _api(world, "investigator", "POST", f"/api/v1/subjects/{u}/assessments", json={"date": day, "values": {"SMPROT": 0.7, "UIFE": "NEGATIVE"}})
    assert r.status_code == 201 and r.json()["saved"] == 2
    rid = next(x["id"] for x in r.json()["records"] if x["param"] == "SMPROT")
    r = _api(world, "investigator", "PATCH", f"/api/v1/subjects/{u}/assessments/{rid}", json={"changes": {"value": 0.75}, "reason": "lab re-read"})
    assert r.status_code == 200 and r.json()["value"] == 0.75
    with world.app.state.sessions() as db:
        rows = db.scalars(select(AuditEntry).where(AuditEntry.table_name == "disease_assessments", AuditEntry.record_key == str(rid))
                          .order_by(AuditEntry.id)).all()
    assert [(a.action, a.user) for a in rows] == [("INSERT", "u_investigator"), ("UPDATE", "u_investigator")]
    assert rows[1].reason == "lab re-read" and rows[1].old_value == "0.7" and rows[1].new_value == "0.75"


def test_locked_form_refuses_api_writes(world):
    u = world.u101
    r = _api(world, "data_manager", "POST", f"/api/v1/subjects/{u}/locks", json={"kind": "administrations", "locked": True, "reason": "DB lock"})
    assert r.status_code == 200
    r = _api(world, "pharmacist", "POST", f"/api/v1/subjects/{u}/administrations",
             json={"drug": "carfilzomib", "date": YESTERDAY, "cycle": 3, "day": 1, "dose_mg": 40})
    assert r.status_code == 423
    _api(world, "data_manager", "POST", f"/api/v1/subjects/{u}/locks", json={"kind": "administrations", "locked": False, "reason": "reopened"})
    r = _api(world, "pharmacist", "POST", f"/api/v1/subjects/{u}/administrations",
             json={"drug": "carfilzomib", "date": YESTERDAY, "cycle": 3, "day": 1, "dose_mg": 40})
    assert r.status_code == 201, r.text


def test_query_life_cycle_over_the_api(world, qid):
    r = _api(world, "coordinator", "POST", f"/api/v1/queries/{qid}/close", json={"text": "x"})
    assert r.status_code == 403
    listing = _api(world, "coordinator", "GET", "/api/v1/queries").json()
    assert qid in {q["id"] for q in listing} and all(q["usubjid"].startswith("IKEMA-101") or q["usubjid"] == "IKEMA-X-777" for q in listing)
    r = _api(world, "data_manager", "POST", f"/api/v1/queries/{qid}/reopen", json={"text": "still unclear"})
    assert r.status_code in (200, 409)
    if r.status_code == 200:
        assert r.json()["status"] == "open"


# --- the central laboratory's CSV -------------------------------------------------------------------------------

def test_lab_import_is_all_or_nothing_and_names_every_bad_row(world):
    u, other = world.u101, world.u202
    before, audited = _count(world, LabResult), _count(world, AuditEntry, table_name="lab_results", user="u_data_manager")
    good = [f"{u},{YESTERDAY},HGB,115,g/L,120,160,C3D1", f"{u},{YESTERDAY},PLAT,180,10^9/L,150,400,C3D1"]
    bad = _lab_csv([good[0], f"{u},{YESTERDAY},HGB,abc,g/L,120,160,C3D1", good[1], f"{other},{YESTERDAY},HGB,100,g/L,,,C3D1",
                    f"{u},2019-02-30,NEUT,2.1,10^9/L,,,C3D1"])
    r = _api(world, "coordinator", "POST", "/api/v1/labs", content=bad, headers={"Content-Type": "text/csv"})
    assert r.status_code == 422, r.text
    errors = r.json()["detail"]["errors"]
    assert [(e["line"], e["field"]) for e in errors] == [(3, "value"), (5, "usubjid"), (6, "date")]
    assert "nothing was stored" in r.json()["detail"]["message"]
    assert other not in r.text.replace(f'"value":"{other}"', "")  # the other site's patient is only echoed as sent
    assert _count(world, LabResult) == before
    # the data manager may load any site's rows; the good file is stored whole and audited
    r = _api(world, "data_manager", "POST", "/api/v1/labs", content=_lab_csv(good + [f"{other},{YESTERDAY},HGB,100,g/L,,,C3D1"]),
             headers={"Content-Type": "text/csv"})
    assert r.status_code == 201 and r.json() == {"stored": 3}
    assert _count(world, LabResult) == before + 3
    assert _count(world, AuditEntry, table_name="lab_results", user="u_data_manager") == audited + 3


@pytest.mark.parametrize("raw,line,field", [
    (b"", 1, "(header)"),
    (b"usubjid,date,test,value\nX,2019-01-01,HGB,1\n", 1, "unit"),
    (b"usubjid,date,test,value,unit,colour\n", 1, "colour"),
    (b"usubjid,date,test,value,unit\nIKEMA-101-001,2019-01-01,HGB,1\n", 2, "(row)"),
    (b"usubjid,date,test,value,unit\n", 2, "(file)"),
    (b"\xff\xfe\x00", 1, "(file)"),
])
def test_lab_import_refuses_unreadable_files(world, raw, line, field):
    r = _api(world, "data_manager", "POST", "/api/v1/labs", content=raw, headers={"Content-Type": "text/csv"})
    assert r.status_code == 422
    assert (r.json()["detail"]["errors"][0]["line"], r.json()["detail"]["errors"][0]["field"]) == (line, field)


# --- CDISC ODM ------------------------------------------------------------------------------------------------------

def _body(xml: bytes) -> bytes:
    """The document without its creation stamp (FileOID, CreationDateTime) and the Locations' effective date."""
    xml = re.sub(rb'FileOID="[^"]*" CreationDateTime="[^"]*"', b"", xml)
    return re.sub(rb'EffectiveDate="[^"]*"', b"", xml)


def test_odm_export_imported_into_an_empty_store_reproduces_the_patients(world, tmp_path, kit):
    from odmlib.odm_parser import ODMSchemaValidator

    from ikema.web import odm
    from ikema.web.trial import list_subjects

    # a death and a laboratory result are in the store whichever tests ran before
    _api(world, "coordinator", "POST", f"/api/v1/subjects/{world.randomized[1]}/death", json={"date": YESTERDAY, "cause": "infection"})
    assert _api(world, "data_manager", "POST", "/api/v1/labs", content=_lab_csv([f"{world.u202},{YESTERDAY},CREAT,88,umol/L,45,90,C4D1"]),
                headers={"Content-Type": "text/csv"}).status_code == 201
    from ikema.conduct import capture

    with world.app.state.sessions() as db:  # a questionnaire (one record: its answers, one unanswered, go as items)
        capture.record_questionnaire(db, world.randomized[0], capture.EQ5D, "C2D1", YESTERDAY,
                                     {"EQ5D0201": 2, "EQ5D0203": None, "EQ5D0206": 70}, "u_coordinator")
        db.commit()
    r = _api(world, "statistician", "GET", "/api/v1/odm")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")
    assert b'<ItemData ItemOID="IT.QUESTIONNAIRE.EQ5D0203" IsNull="Yes"/><ItemData ItemOID="IT.QUESTIONNAIRE.EQ5D0206" Value="70"/>' in r.content
    exported = r.content
    path = tmp_path / "export.xml"
    path.write_bytes(exported)
    ODMSchemaValidator(standard="odm", version="1.3.2").validate_file(str(path))  # raises on a schema violation
    assert exported.count(b"<SubjectData ") == len(_api(world, "data_manager", "GET", "/api/v1/subjects").json())

    empty = kit.make_app(tmp_path / "empty")
    with empty.state.sessions() as db:
        counts = odm.import_odm(db, exported, "u_data_manager")
        db.commit()
        assert counts["subjects"] == exported.count(b"<SubjectData ") and counts["randomizations"] == len(world.randomized)
        assert counts["lab"] >= 1 and counts["death"] >= 1 and counts["assessment"] >= 1 and counts["questionnaire"] >= 1
    with empty.state.sessions() as db2, world.app.state.sessions() as db1:
        assert list_subjects(db2) == list_subjects(db1)  # identity, site, status, eligibility, stratum, arm, randno, dates
        again = odm.export_odm(db2)
        first = odm.export_odm(db1)
    assert _body(again) == _body(first)
    # importing the same file again adds nothing: the patients exist
    with empty.state.sessions() as db:
        with pytest.raises(Exception, match="already in the store"):
            odm.import_odm(db, exported, "u_data_manager")


def test_odm_import_refuses_bad_files_over_the_api(world):
    for raw, words in [(b"<ODM", "not a readable XML"), (b'<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3"/>', "no SubjectData"),
                       (b'<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3"><ClinicalData StudyOID="S" MetaDataVersionOID="M">'
                        b'<SubjectData SubjectKey="IKEMA-ODM-1"><StudyEventData StudyEventOID="SE"><FormData FormOID="F">'
                        b'<ItemGroupData ItemGroupOID="IG.VITALS"/></FormData></StudyEventData></SubjectData></ClinicalData></ODM>',
                        "unknown ItemGroupOID 'IG.VITALS'")]:
        r = _api(world, "data_manager", "POST", "/api/v1/odm", content=raw, headers={"Content-Type": "application/xml"})
        assert r.status_code == 422 and words in r.json()["detail"], r.text
    # new patients whose randomization numbers the store already holds: refused whole, nothing stored
    renamed = _api(world, "data_manager", "GET", "/api/v1/odm").content.replace(b'SubjectKey="IKEMA-', b'SubjectKey="COPY-')
    r = _api(world, "data_manager", "POST", "/api/v1/odm", content=renamed, headers={"Content-Type": "application/xml"})
    assert r.status_code == 422 and "already used" in r.json()["detail"]
    assert not [s for s in _api(world, "data_manager", "GET", "/api/v1/subjects").json() if s["usubjid"].startswith("COPY-")]


def test_odm_commands_export_and_import(world, tmp_path):
    from typer.testing import CliRunner

    from ikema.cli import app
    from ikema.web import odm

    src = str(world.app.state.engine.url)
    out = tmp_path / "trial.xml"
    r = CliRunner().invoke(app, ["odm", "export", "--out", str(out), "--database-url", src])
    assert r.exit_code == 0, r.output
    dest = f"sqlite:///{tmp_path / 'copy.db'}"
    r = CliRunner().invoke(app, ["odm", "import", str(out), "--database-url", dest])
    assert r.exit_code == 0, r.output
    assert f"subjects: {out.read_bytes().count(b'<SubjectData ')}" in r.output
    with world.app.state.sessions() as db:
        first = odm.export_odm(db)
    from ikema.store import init_db, session_factory

    with session_factory(init_db(dest))() as db:
        assert _body(odm.export_odm(db)) == _body(first)
    r = CliRunner().invoke(app, ["odm", "import", str(out), "--database-url", dest])
    assert r.exit_code != 0 and "already in the store" in str(r.exception) + r.output
