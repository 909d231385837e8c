"""Issue 16, tried as an attacker and a careless user would: site authority on every write (every write route of
the OpenAPI document and every form, with another site's patient), the five kinds of request that ended in HTTP
500, the exhausted allocation list, and implausible values refused or queried by the protocol's edit checks."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from ikema.store import AuditEntry, DiseaseAssessment, Subject

PW = "Role-password-2017"
SITE_ROLES = ("investigator", "coordinator", "pharmacist", "monitor101")


def _audit_rows(app) -> int:
    with app.state.sessions() as db:
        return db.scalar(select(func.count()).select_from(AuditEntry))


def _login(c: TestClient, username: str) -> str:
    import re

    pre = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
    c.post("/login", data={"username": username, "password": PW, "csrf_token": pre, "next": "/"})
    return re.search(r'data-csrf="([^"]+)"', c.get("/").text).group(1)


@pytest.fixture(scope="module")
def w(world):
    """The route-matrix world plus: a monitor narrowed to site 101, a screen-failed patient of site 202, a query on
    site 202's randomized patient, and a record id of that patient."""
    from ikema.conduct import capture
    from ikema.store import acting
    from ikema.web import auth
    from ikema.web.models import DataQuery, QueryEvent

    app = world.app
    clock = app.state.clock
    with app.state.sessions() as db:
        auth.create_user(db, "u_monitor101", "monitor", PW, site="101", now=clock())
        result = {"eligible": False, "stratum": None, "verdicts": [("E03", "fail", "ECOG performance status 3 > 2")]}
        with acting(db, "fixture", None):
            capture.record_screening(db, "IKEMA-202-009", {"ecog": 3}, result, "fixture", site_id="202")
        rid = min(a.id for a in db.scalars(select(DiseaseAssessment).where(DiseaseAssessment.usubjid == world.u202)))
        with acting(db, "u_data_manager", "fixture query"):
            q = DataQuery(usubjid=world.u202, form="assessment", record_id=rid, field="value", status="open", text="check",
                          opened_by="u_data_manager", opened_at=clock())
            db.add(q)
            db.flush()
            db.add(QueryEvent(query_id=q.id, action="open", text="check", by="u_data_manager", at=clock()))
            db.flush()
        db.commit()
        world.rid202, world.qid202 = rid, q.id
    c = TestClient(app, base_url="https://testserver")
    world.csrf["monitor101"] = _login(c, "u_monitor101")
    world.clients["monitor101"] = c
    world.tokens["monitor101"] = c.post("/api/v1/token", data={"username": "u_monitor101", "password": PW}).json()["access_token"]
    return world


# --- 1. site authority on every write ----------------------------------------------------------------------

def _resolve(schema: dict, spec: dict) -> dict:
    while "$ref" in schema:
        node = spec
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def example(schema: dict, spec: dict, usubjid: str, name: str = ""):
    """A minimal valid value of a JSON schema (OpenAPI), with every `usubjid` set to the given patient."""
    schema = _resolve(schema, spec)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if _resolve(s, spec).get("type") != "null"] or schema[key]
            return example(options[0], spec, usubjid, name)
    if "usubjid" in name.lower():
        return usubjid
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    t = schema.get("type")
    if t == "object" or "properties" in schema:
        props = schema.get("properties", {})
        need = set(schema.get("required", [])) | {k for k in props if "usubjid" in k.lower()}
        return {k: example(v, spec, usubjid, k) for k, v in props.items() if k in need}
    if t == "array":
        return [example(schema.get("items", {}), spec, usubjid, name)]
    if t == "integer":
        return max(1, int(schema.get("minimum", 1)))
    if t == "number":
        return float(schema.get("minimum", 1.0))
    if t == "boolean":
        return False
    if schema.get("format") == "date":
        return (date.today() - timedelta(days=1)).isoformat()
    if schema.get("format") == "binary":
        return f"usubjid\n{usubjid}\n".encode()
    return "x"


PATH_VALUES = {"form": "assessment", "action": "answer", "field": "value"}


def _path_value(name: str, w) -> str:
    if "usubjid" in name.lower() or name in ("subject", "patient"):
        return w.u202
    if name in ("rid", "record_id"):
        return str(w.rid202)
    if name in ("qid", "query_id"):
        return str(w.qid202)
    return PATH_VALUES.get(name, "1")


def _api_write_routes(app) -> list[tuple[str, str, dict]]:
    spec = app.openapi()
    out = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if method in ("post", "put", "patch", "delete"):
                out.append((method.upper(), path, op))
    return out


def _names_a_patient(path: str, op: dict, spec: dict) -> bool:
    if "{usubjid}" in path or "{qid}" in path or "{query_id}" in path:
        return True
    for media in (op.get("requestBody") or {}).get("content", {}).values():
        props = _resolve(media.get("schema", {}), spec).get("properties", {})
        if any("usubjid" in k.lower() for k in props) or any(_resolve(v, spec).get("format") == "binary" for v in props.values()):
            return True
    return False


def test_every_api_write_route_refuses_another_sites_patient(w, kit):
    """Every write route of the OpenAPI document that names a patient, for every site-bound role: 403 or 404 and
    not one audit row."""
    spec = w.app.openapi()
    walked = []
    for method, path, op in _api_write_routes(w.app):
        if not _names_a_patient(path, op, spec):
            continue
        url = path
        for p in op.get("parameters", []):
            if p.get("in") == "path":
                url = url.replace("{" + p["name"] + "}", _path_value(p["name"], w))
        kwargs: dict = {}
        for ctype, media in (op.get("requestBody") or {}).get("content", {}).items():
            body = example(media.get("schema", {}), spec, w.u202)
            if ctype == "application/json":
                kwargs = {"json": body}
            elif ctype == "multipart/form-data":
                files = {k: ("import.csv", v) for k, v in body.items() if isinstance(v, bytes)}
                kwargs = {"data": {k: v for k, v in body.items() if not isinstance(v, bytes)}, "files": files}
            else:
                kwargs = {"data": body}
            break
        for role in SITE_ROLES:
            before = _audit_rows(w.app)
            c = TestClient(w.app, base_url="https://testserver")
            r = c.request(method, url, headers={"Authorization": f"Bearer {w.tokens[role]}"}, **kwargs)
            assert r.status_code in (403, 404), f"{role} {method} {url}: {r.status_code} {r.text[:300]}"
            assert _audit_rows(w.app) == before, f"{role} {method} {url} wrote audit rows"
        walked.append(f"{method} {path}")
    assert "POST /api/v1/subjects/{usubjid}/randomize" in walked


def _form_data(w, role: str, kit) -> dict[str, str]:
    today = (date.today() - timedelta(days=1)).isoformat()
    return {
        "csrf_token": w.csrf[role], "confirm": "yes", "form": "assessment", "locked": "yes", "reason": "test", "field": "value",
        "text": "comment", "meaning": "I have reviewed this casebook", "password": PW, "date": today, "SMPROT": "1.0",
        "value": "1.5", "term": "Nausea", "start": today, "grade": "1", "serious": "N", "related": "N",
        "outcome": "RECOVERED/RESOLVED", "action_taken": "DOSE NOT CHANGED", "drug": "dexamethasone", "cycle": "1", "day": "1",
        "dose_mg": "20", "ady": "1", "verdict": "PR",
    } | {k: v for k, v in kit.eligible(w.u202).items() if k != "site"}


def _form_write_routes(app, kit) -> list[str]:
    out = []
    for path, methods, in_schema in kit.all_routes(app):
        if not in_schema and "POST" in methods and not path.startswith("/api/"):
            if "{usubjid}" in path or path == "/screening" or path.startswith("/queries/"):
                out.append(path)
    return sorted(set(out))


def test_every_form_refuses_another_sites_patient(w, kit):
    """Every form that writes a patient's data, for every site-bound role, with site 202's patient: 403/404 and no
    audit row (the blinded assessor spans all sites and is the only role allowed the verdict form)."""
    paths = _form_write_routes(w.app, kit)
    assert {"/screening", "/subjects/{usubjid}/randomize", "/subjects/{usubjid}/forms/{form}", "/queries/{qid}/{action}"} <= set(paths)
    for path in paths:
        forms = ("assessment", "ae", "exposure") if "{form}" in path else ("assessment",)
        for form in forms:
            url = path.replace("{usubjid}", w.u202).replace("{form}", form).replace("{rid}", str(w.rid202)) \
                .replace("{qid}", str(w.qid202)).replace("{action}", "answer")
            for role in SITE_ROLES:
                before = _audit_rows(w.app)
                r = w.clients[role].post(url, data=_form_data(w, role, kit) | {"form": form}, follow_redirects=False)
                assert r.status_code in (403, 404), f"{role} POST {url}: {r.status_code} {r.text[:300]}"
                assert _audit_rows(w.app) == before, f"{role} POST {url} wrote audit rows"


def test_coordinator_cannot_rescreen_another_sites_patient(w, kit):
    """The reported defect: a coordinator of site 101 re-screened site 202's screen-failed patient as eligible."""
    before = _audit_rows(w.app)
    r = w.clients["coordinator"].post("/screening", data={"csrf_token": w.csrf["coordinator"], **kit.eligible("IKEMA-202-009")})
    assert r.status_code == 404
    assert _audit_rows(w.app) == before
    with w.app.state.sessions() as db:
        s = db.get(Subject, "IKEMA-202-009")
        assert s.eligible is False and s.site_id == "202"
    # the same coordinator still screens a new patient of their own site
    r = w.clients["coordinator"].post("/screening", data={"csrf_token": w.csrf["coordinator"], **kit.eligible("IKEMA-101-950")})
    assert r.status_code == 200 and "ELIGIBLE" in r.text


# --- 2. the five 5xx defects --------------------------------------------------------------------------------

def test_non_ascii_csrf_token_is_refused_not_a_500(w):
    c = TestClient(w.app, base_url="https://testserver")
    c.get("/login")
    r = c.post("/login", data={"username": "u_coordinator", "password": PW, "csrf_token": "jeton-\u00e9\u4e2d"})
    assert r.status_code == 403
    r = w.clients["coordinator"].post("/screening", data={"csrf_token": "\u00e9t\u00e9"})
    assert r.status_code == 403 and "CSRF" in r.text
    r = w.clients["coordinator"].post("/screening", headers={"X-CSRF-Token": "\u00e9t\u00e9".encode("utf-8")})
    assert r.status_code == 403


def test_integers_beyond_64_bits_are_422(w, kit):
    huge = "1" + "0" * 25
    r = w.clients["coordinator"].get(f"/subjects/{w.u101}/forms/assessment/{huge}")
    assert r.status_code == 422
    r = w.clients["coordinator"].post(f"/subjects/{w.u101}/forms/assessment/{huge}", data={"csrf_token": w.csrf["coordinator"], "reason": "x"})
    assert r.status_code == 422
    r = w.clients["data_manager"].post(f"/queries/{huge}/close", data={"csrf_token": w.csrf["data_manager"], "text": "x"})
    assert r.status_code == 422
    before = _audit_rows(w.app)
    data = _form_data(w, "coordinator", kit) | {"cycle": huge}
    r = w.clients["coordinator"].post(f"/subjects/{w.u101}/forms/exposure", data=data)
    assert r.status_code == 422 and "whole number between" in r.text
    r = w.clients["coordinator"].post("/screening", data={"csrf_token": w.csrf["coordinator"], **kit.eligible("IKEMA-101-951"), "ecog": "1" + "0" * 23})
    assert r.status_code == 422 and "ecog" in r.text
    assert _audit_rows(w.app) == before


def test_riss_outside_the_protocols_codes_is_a_field_error(w, kit):
    r = w.clients["coordinator"].post("/screening", data={"csrf_token": w.csrf["coordinator"], **kit.eligible("IKEMA-101-952"), "riss": "IV"})
    assert r.status_code == 422 and "expected one of I | II | III | NOT CLASSIFIED" in r.text
    with w.app.state.sessions() as db:
        assert db.get(Subject, "IKEMA-101-952") is None


def test_exhausted_allocation_list_is_a_409_naming_the_stratum(tmp_path, kit):
    from ikema.conduct import capture
    from ikema.conduct import randomization as irt
    from ikema.store import Site, acting
    from ikema.web import auth

    clock = kit.Clock()
    app = kit.make_app(tmp_path, clock=clock)
    with app.state.sessions() as db:
        with acting(db, "setup", "sites"):
            db.add(Site(site_id="101", name="Site 101", country="FRA"))
            db.flush()
        auth.create_user(db, "cora", "coordinator", PW, site="101", now=clock())
        auth.create_user(db, "dana", "data_manager", PW, now=clock())
        db.commit()
        rows = [dict(stratum=s, position=1, block_id=i, block_size=5, arm="IKd", randno=100001 + i)
                for i, s in enumerate(("AGE=<65", "AGE=>=65"))]
        irt.store_allocation_list(db, rows, "setup")
        for u in ("IKEMA-101-001", "IKEMA-101-002"):
            capture.record_screening(db, u, {}, {"eligible": True, "stratum": "AGE=<65", "verdicts": [("I01", "pass", "ok")]},
                                     "setup", site_id="101")
        db.commit()
    c = TestClient(app, base_url="https://testserver")
    token = c.post("/api/v1/token", data={"username": "cora", "password": PW}).json()["access_token"]
    auth_h = {"Authorization": f"Bearer {token}"}
    assert c.post("/api/v1/subjects/IKEMA-101-001/randomize", headers=auth_h).status_code == 200
    for _ in range(3):  # the reported defect: every further call was a 500
        r = c.post("/api/v1/subjects/IKEMA-101-002/randomize", headers=auth_h)
        assert r.status_code == 409 and "AGE=<65" in r.json()["detail"] and "exhausted" in r.json()["detail"]
    csrf = kit.login(c, "cora", PW)
    r = c.get("/subjects/IKEMA-101-002/randomize")
    assert r.status_code == 409 and "AGE=&lt;65" in r.text and "exhausted" in r.text
    r = c.post("/subjects/IKEMA-101-002/randomize", data={"csrf_token": csrf, "confirm": "yes"})
    assert r.status_code == 409 and "exhausted" in r.text
    # the data manager saw it coming: positions left per stratum
    d = TestClient(app, base_url="https://testserver")
    kit.login(d, "dana", PW)
    r = d.get("/allocation")
    assert r.status_code == 200
    row = r.text.split("<td>AGE=&lt;65</td>", 1)[1].split("</tr>", 1)[0]
    assert "<td>1</td><td>0</td><td>1</td>" in row and "used up" in row
    assert 'id="allocation-warning"' in r.text
    assert c.get("/allocation").status_code == 403  # a site role does not see the list


# --- 3. implausible values ------------------------------------------------------------------------------------

@pytest.mark.parametrize("field, value, expected", [
    ("age", "-5", "[0, 120] years"),
    ("weight_kg", "-70", "[20, 350] kg"),
    ("serum_mprotein_g_dl", "-3", "[0, 20] g/dL"),
    ("ecog", "100000000000000000000000", "whole number between"),
    ("age", "\uff16\uff15", "digits 0-9"),  # full-width 65
    ("hemoglobin_g_dl", "NaN", "digits 0-9"),
    ("platelets_10e9_l", "inf", "digits 0-9"),
])
def test_implausible_screening_values_are_refused(w, field, value, expected, kit):
    u = f"IKEMA-101-96{abs(hash(field + value)) % 10}"
    before = _audit_rows(w.app)
    r = w.clients["coordinator"].post("/screening", data={"csrf_token": w.csrf["coordinator"], **kit.eligible(u), "usubjid": u, field: value})
    assert r.status_code == 422 and expected in r.text.replace("&#39;", "'"), r.text[-2000:]
    assert _audit_rows(w.app) == before
    with w.app.state.sessions() as db:
        assert db.get(Subject, u) is None  # no patient created


def test_soft_range_value_is_stored_with_an_automatic_query(w, kit):
    from ikema.web.models import DataQuery

    r = w.clients["coordinator"].post("/screening", data={"csrf_token": w.csrf["coordinator"], **kit.eligible("IKEMA-101-970"), "age": "97"})
    assert r.status_code == 200 and 'id="auto-queries"' in r.text and "age" in r.text
    with w.app.state.sessions() as db:
        assert db.get(Subject, "IKEMA-101-970").screening["age"] == 97
        q = db.scalars(select(DataQuery).where(DataQuery.usubjid == "IKEMA-101-970")).one()
        assert (q.form, q.field, q.status, q.opened_by) == ("screening", "age", "open", "edit-check")
        assert "[18, 95] years" in q.text
    r = w.clients["coordinator"].get("/queries")
    assert "IKEMA-101-970" in r.text and "screening · age" in r.text


def test_adverse_event_in_1900_is_refused(w, kit):
    before = _audit_rows(w.app)
    data = _form_data(w, "coordinator", kit) | {"start": "1900-01-01"}
    r = w.clients["coordinator"].post(f"/subjects/{w.u101}/forms/ae", data=data)
    assert r.status_code == 422 and "on or after informed consent" in r.text
    assert _audit_rows(w.app) == before


@pytest.mark.parametrize("change, expected", [
    ({"dose_mg": "0"}, "[1, 40] mg"),
    ({"dose_mg": "100000"}, "[1, 40] mg"),
    ({"day": "40"}, "[1, 28]"),
    ({"drug": "isatuximab", "dose_mg": "700"}, None),  # only where the patient's arm is Kd
])
def test_implausible_doses_and_days_are_refused(w, change, expected, kit):
    patient = w.u101
    if "drug" in change:  # isatuximab is refused only for a patient of the Kd arm: take one of site 101's
        patient = next(u for u, arm in sorted(w.arms.items()) if arm == "Kd" and u.startswith("IKEMA-101-"))
        expected = "expected one of this patient's study drugs"
    before = _audit_rows(w.app)
    r = w.clients["coordinator"].post(f"/subjects/{patient}/forms/exposure", data=_form_data(w, "coordinator", kit) | change)
    assert r.status_code == 422 and expected in r.text.replace("&#39;", "'"), r.text[-1500:]
    assert _audit_rows(w.app) == before


def test_dose_off_the_calendar_is_stored_and_queried(w, kit):
    from ikema.web.models import DataQuery

    # IKEMA-101-001 weighs 71 kg: dexamethasone is 20 mg flat; 15 mg (25% less) without a reason is queried
    r = w.clients["coordinator"].post(f"/subjects/{w.u101}/forms/exposure",
                                      data=_form_data(w, "coordinator", kit) | {"dose_mg": "15", "cycle": "1", "day": "2"})
    assert r.status_code == 200 and "Saved 1 value" in r.text
    with w.app.state.sessions() as db:
        q = db.scalars(select(DataQuery).where(DataQuery.usubjid == w.u101, DataQuery.form == "exposure")).one()
        assert q.field == "dose_mg" and "within 10% of the calendar's 20 mg" in q.text and q.record_id > 0
