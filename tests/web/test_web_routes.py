"""Every route for every role: allowed or refused exactly as designed (401 without login, 403 forbidden,
404 for another site's patient), plus a scan of every assessor response for arm-revealing content."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from ikema.web.permissions import ROLES

ALL = set(ROLES)
SITE_STAFF = {"investigator", "coordinator"}
READERS = {"investigator", "coordinator", "data_manager", "monitor", "statistician"}

# The design, written out by hand (not derived from the permission table it checks).
# (method, path template, roles allowed); {U} = a patient of site 101 (the site of the site roles).
MATRIX: list[tuple[str, str, set[str]]] = [
    ("GET", "/", ALL),
    ("GET", "/subjects", ALL - {"assessor"}),
    ("GET", "/subjects/{U}", ALL - {"assessor"}),
    ("GET", "/screening", SITE_STAFF),
    ("POST", "/screening", SITE_STAFF),
    ("GET", "/subjects/{U}/randomize", SITE_STAFF),
    ("GET", "/subjects/{U}/forms/assessment", READERS),
    ("POST", "/subjects/{U}/forms/assessment", SITE_STAFF),
    ("GET", "/subjects/{U}/forms/assessment/{A}", READERS),
    ("GET", "/subjects/{U}/forms/assessment/{A}/history/value", READERS),
    ("POST", "/subjects/{U}/forms/assessment/{A}/query", {"data_manager", "monitor"}),
    ("POST", "/subjects/{U}/forms/assessment/{A}/sdv", {"monitor"}),
    ("GET", "/subjects/{U}/forms/ae", READERS),
    ("POST", "/subjects/{U}/forms/ae", SITE_STAFF),
    ("GET", "/subjects/{U}/forms/exposure", READERS | {"pharmacist"}),
    ("POST", "/subjects/{U}/forms/exposure", SITE_STAFF | {"pharmacist"}),
    ("POST", "/subjects/{U}/lock", {"data_manager"}),
    ("GET", "/subjects/{U}/sign", {"investigator"}),
    ("POST", "/subjects/{U}/sign", {"investigator"}),
    ("GET", "/queries", READERS | {"pharmacist"}),
    ("GET", "/audit", {"admin", "data_manager"}),
    ("GET", "/export", {"data_manager", "statistician"}),
    ("GET", "/admin/users", {"admin"}),
    ("POST", "/admin/users", {"admin"}),
    ("GET", "/review", {"assessor"}),
    ("GET", "/review/{U}", {"assessor"}),
    ("POST", "/review/{U}/verdict", {"assessor"}),
    ("GET", "/api/v1/subjects", ALL),
    ("GET", "/api/v1/subjects/{U}", ALL),
    ("GET", "/api/v1/subjects/{U}/assessments", READERS | {"assessor"}),
    ("POST", "/api/v1/subjects/{U}/randomize", SITE_STAFF),
    ("GET", "/api/v1/audit", {"admin", "data_manager"}),
]


def _fill(path: str, world) -> str:
    return path.replace("{U}", world.u101).replace("{A}", str(world.a101))


@pytest.mark.parametrize("method,path,allowed", MATRIX, ids=[f"{m} {p}" for m, p, _ in MATRIX])
def test_route_matrix(world, method, path, allowed):
    url = _fill(path, world)
    for role in ROLES:
        r = world.call(role, method, url)
        if role in allowed:
            assert r.status_code not in (401, 403, 404), f"{role} {method} {url}: {r.status_code}"
        else:
            assert r.status_code == 403, f"{role} {method} {url}: expected 403, got {r.status_code}"


@pytest.mark.parametrize("method,path,allowed", MATRIX[1:], ids=[f"{m} {p}" for m, p, _ in MATRIX[1:]])
def test_unauthenticated(world, method, path, allowed):
    c = TestClient(world.app, base_url="https://testserver")
    r = c.request(method, _fill(path, world), follow_redirects=False)
    if path.startswith("/api/"):
        assert r.status_code == 401 and r.headers.get("www-authenticate") == "Bearer"
    elif method == "GET":
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
    else:
        assert r.status_code in (303, 401, 403)


def test_unsafe_html_routes_need_csrf(world):
    for method, path, allowed in MATRIX:
        if method != "POST" or path.startswith("/api/"):
            continue
        role = sorted(allowed)[0]
        r = world.clients[role].post(_fill(path, world), data={"x": "1"}, follow_redirects=False)
        assert r.status_code == 403 and "CSRF" in r.text, f"{role} POST {path} without token: {r.status_code}"


def test_other_site_patient_by_guessed_id_is_404_without_data(world):
    for role in ("investigator", "coordinator", "pharmacist"):
        for path in ("/subjects/{X}", "/subjects/{X}/forms/exposure", "/api/v1/subjects/{X}"):
            r = world.call(role, "GET", path.replace("{X}", world.u202))
            assert r.status_code == 404, (role, path, r.status_code)
            shown = world.without_secrets(r.text)
            assert world.u202 not in shown and world.arm202 not in shown, (role, path)
        listing = world.call(role, "GET", "/api/v1/subjects").json()
        assert {s["site"] for s in listing} == {"101"}


ARM_PATTERNS = re.compile(
    r"\bIKd\b|\bKd\b|isatuximab|\bIsa\b|carfilzomib|dexamethasone|\barm\b|randno|stratum|\bdose|dosing|"
    r"administration|infusion|interference|POSITIVE-DRUG|premedication|\bmg\b|Sarclisa|Kyprolis",
    re.IGNORECASE,
)


def test_assessor_never_sees_the_arm(world):
    """Crawl everything the assessor can reach (pages, fragments, errors, API) and scan bodies and headers."""
    c = world.clients["assessor"]
    seen: set[str] = set()
    todo = ["/", "/review", "/api/v1/subjects", "/subjects", "/audit", "/queries", "/no-such-page"]
    for u in world.randomized:
        todo += [f"/review/{u}", f"/api/v1/subjects/{u}", f"/api/v1/subjects/{u}/assessments",
                 f"/subjects/{u}", f"/subjects/{u}/forms/exposure", f"/subjects/{u}/forms/ae"]
    bodies = []
    while todo:
        url = todo.pop()
        if url in seen or len(seen) > 200:
            continue
        seen.add(url)
        r = c.get(url, follow_redirects=False)
        headers = "\n".join(f"{k}: {v}" for k, v in r.headers.multi_items() if k.lower() != "content-security-policy")
        bodies.append((url, r.status_code, world.without_secrets(r.text + "\n" + headers)))
        for link in re.findall(r'(?:href|hx-get)="(/[^"#]*)"', r.text):
            if not link.startswith(("/static", "/api/v1/docs")):
                todo.append(link)
    # the assessor's verdict POST with a bad value: the error page is scanned too
    r = c.post(f"/review/{world.randomized[0]}/verdict", data={"ady": "x", "verdict": "CR", "reason": "", "csrf_token": world.csrf["assessor"]})
    bodies.append(("verdict-error", r.status_code, world.without_secrets(r.text)))
    hits = [(u, m.group(0)) for u, _, b in bodies for m in [ARM_PATTERNS.search(b)] if m]
    assert not hits, hits[:5]
    assert any(u.startswith("/review/") and s == 200 for u, s, _ in bodies)
    # the same scan as a coordinator finds the arm: the scan can fail
    r = world.clients["coordinator"].get(f"/subjects/{world.u101}")
    assert ARM_PATTERNS.search(world.without_secrets(r.text))


def test_leak_scans_blank_only_the_random_tokens(world):
    """A token that spells an arm is not a leak; the arm anywhere else on the page still is."""
    page = ('<body data-csrf="x-Kd-y"><input type="hidden" name="csrf_token" value="Kd_IKd">'
            '<p>{}</p></body>\nset-cookie: ikema_session=ab-Kd; HttpOnly; Path=/')
    assert not ARM_PATTERNS.search(world.without_secrets(page.format("Response")))
    assert "Kd" not in world.without_secrets(page.format("Response"))
    for shown in ("Arm: Kd", "Kd", "<b>IKd</b>", 'title="Kd"', "carfilzomib 56 mg/m2"):
        assert ARM_PATTERNS.search(world.without_secrets(page.format(shown))), shown
    assert "Kd" in world.without_secrets('<input name="csrf_token" value="z"><option value="Kd">')


def test_assessor_views_have_the_same_shape_in_both_arms(world):
    c = world.clients["assessor"]
    shapes = {}
    for u, arm in world.arms.items():
        text = c.get(f"/review/{u}").text.replace(u, "U").replace("Site 101", "Site S").replace("Site 202", "Site S")
        text = re.sub(r'name="csrf_token" value="[^"]+"|data-csrf="[^"]+"', "", text)
        shapes.setdefault(arm, set()).add(text)
    assert set(shapes) == {"IKd", "Kd"}
    # same data in both arms (the fixture's IKd patients have a drug-only IFE band): identical pages
    assert shapes["IKd"] == shapes["Kd"] and len(shapes["IKd"]) == 1


def test_assessor_sees_interference_resolved_ife_and_site_sees_the_raw_value(world):
    ikd = next(u for u, a in world.arms.items() if a == "IKd" and u.startswith("IKEMA-101"))
    blinded = world.call("assessor", "GET", f"/api/v1/subjects/{ikd}/assessments").json()
    assert [r["value"] for r in blinded if r["param"] == "SIFE"] == ["NEGATIVE"]
    assert set(blinded[0]) == {"id", "usubjid", "ady", "date", "param", "value", "unit"}
    site = world.call("coordinator", "GET", f"/api/v1/subjects/{ikd}/assessments").json()
    assert [r["value"] for r in site if r["param"] == "SIFE"] == ["POSITIVE-DRUG"]
    subj = world.call("assessor", "GET", f"/api/v1/subjects/{ikd}").json()
    assert subj == {"usubjid": ikd, "site": "101", "randomized": True}
    assert world.call("coordinator", "GET", f"/api/v1/subjects/{ikd}").json()["arm"] == "IKd"


def test_audit_api_rows_and_randomize_refusal(world):
    rows = world.call("data_manager", "GET", "/api/v1/audit").json()
    assert any(r["table"] == "randomizations" and r["action"] == "INSERT" for r in rows)
    assert any(r["action"] == "LOGIN" and r["user"] == "u_coordinator" for r in rows)
    r = world.call("coordinator", "POST", "/api/v1/subjects/IKEMA-101-005/randomize")
    assert r.status_code == 409 and "not eligible" in r.json()["detail"] and "creatinine" in r.json()["detail"]
    first = world.call("coordinator", "POST", f"/api/v1/subjects/{world.u101}/randomize").json()
    assert first["arm"] == world.arms[world.u101]  # a repeat returns the same allocation
