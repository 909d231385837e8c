"""Role dashboards and server-rendered figures: the numbers follow the store as it changes (written through the API),
site scope holds, and nothing the assessor or a pooled figure shows names an arm."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient

ARM_WORDS = re.compile(r"\bIKd\b|\bKd\b|isatuximab|carfilzomib|dexamethasone|\barm\b|randno|stratum|\bdose|dosing|"
                       r"administration|infusion|POSITIVE-DRUG|\bmg\b|Sarclisa|Kyprolis", re.I)
YESTERDAY = (date.today() - timedelta(days=1)).isoformat()


def _api(world, role, method, url, **kw):
    c = TestClient(world.app, base_url="https://testserver")
    return c.request(method, url, headers={"Authorization": f"Bearer {world.tokens[role]}"}, **kw)


def _kpi(html: str, name: str) -> str:
    m = re.search(rf'id="kpi-{name}">([^<]+)<', html)
    assert m, f"kpi-{name} missing"
    return m.group(1)


def _rows(html: str, table: str) -> list[list[str]]:
    m = re.search(rf'<table id="{table}">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert m, f"table {table} missing"
    return [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)]
            for tr in re.findall(r"<tr>(.*?)</tr>", m.group(1), re.S)]


def test_site_dashboard_follows_the_store(world):
    home = world.clients["coordinator"].get("/").text
    assert world.u202 not in home  # site scope
    due = _rows(home, "due-visits")
    overdue_before = int(_kpi(home, "overdue"))
    assert overdue_before == sum(r[3] == "overdue" for r in due) and overdue_before > 0
    assert all(r[0].startswith("IKEMA-101") for r in due)
    # the earliest overdue dosing visit of the first patient is recorded: one fewer overdue visit
    first = next(r for r in due if r[0] == world.u101 and r[3] == "overdue" and "dosing" in r[1])
    cycle, day = map(int, re.match(r"Cycle (\d+) day (\d+)", first[1]).groups())
    drug = re.search(r"\(([^,)]+)", first[1]).group(1)
    r = _api(world, "coordinator", "POST", f"/api/v1/subjects/{world.u101}/administrations",
             json={"drug": drug, "date": first[2], "cycle": cycle, "day": day, "dose_mg": 20})
    assert r.status_code == 201, r.text
    home = world.clients["coordinator"].get("/").text
    assert int(_kpi(home, "overdue")) == overdue_before - 1
    # forms not started: adverse events of u101 until one is reported; then it is an AE without an end date
    assert any(r[0] == world.u101 and "Adverse events" in r[1] for r in _rows(home, "forms-not-started"))
    start = (date.today() - timedelta(days=12)).isoformat()
    r = _api(world, "coordinator", "POST", f"/api/v1/subjects/{world.u101}/adverse-events",
             json={"term": "Hypertension", "start": start, "grade": 2, "serious": "N", "related": "Y",
                   "outcome": "NOT RECOVERED/NOT RESOLVED", "action_taken": "DOSE NOT CHANGED"})
    assert r.status_code == 201
    home = world.clients["coordinator"].get("/").text
    assert not any(r[0] == world.u101 and "Adverse events" in r[1] for r in _rows(home, "forms-not-started"))
    assert [world.u101, "Hypertension", "2", start, "12"] in _rows(home, "open-aes")
    # an open query shows its age in days
    clock = world.app.state.clock
    saved = clock.t
    clock.t = saved - timedelta(days=9)
    try:
        r = _api(world, "data_manager", "POST", f"/api/v1/subjects/{world.u101}/queries",
                 json={"kind": "assessments", "record_id": world.a101, "field": "value", "text": "unit?"})
    finally:
        clock.t = saved
    assert r.status_code == 201
    rows = _rows(world.clients["coordinator"].get("/").text, "open-queries")
    assert [world.u101, "Disease assessments", "value", "open", "9", "unit?"] in rows
    assert _rows(world.clients["investigator"].get("/").text, "open-queries") == rows


def test_data_manager_dashboard_numbers(world):
    html = world.clients["data_manager"].get("/").text
    assert _kpi(html, "randomized") == "5" and _kpi(html, "target") == "302" and _kpi(html, "screened") == "8"
    sites = {r[0]: r[1:4] for r in _rows(html, "enrollment-by-site")}
    assert sites == {"101": ["5", "1", "4"], "202": ["3", "0", "1"]}
    strata = {r[0]: (int(r[1]), int(r[2])) for r in _rows(html, "strata")}
    assert sum(u for u, _ in strata.values()) == 5 and sum(u + left for u, left in strata.values()) == 40
    completion = {r[0]: r[1] for r in _rows(html, "form-completion")}
    assert completion["Disease assessments"] == "5 of 5"
    # SDV: a monitor's mark counts until the value changes
    sdv = _kpi(html, "sdv")
    r = _api(world, "monitor", "POST", f"/api/v1/subjects/{world.u202}/assessments/{_first_assessment(world, world.u202)}/sdv",
             json={"field": "value"})
    assert r.status_code == 201
    html = world.clients["data_manager"].get("/").text
    assert _kpi(html, "sdv") != sdv and re.search(r"\(1 of \d+ fields\)", html)
    queue = {r[0]: r for r in _rows(world.clients["monitor"].get("/").text, "sdv-queue")}
    assert queue[world.u202][3] == "1" and int(queue[world.u202][4]) == int(queue[world.u202][2]) - 1


def _first_assessment(world, u) -> int:
    return _api(world, "data_manager", "GET", f"/api/v1/subjects/{u}/assessments").json()[0]["id"]


def test_statistician_dashboard_counts_pooled_events_and_looks(world, monkeypatch):
    html = world.clients["statistician"].get("/").text
    before = int(_kpi(html, "events"))
    looks = _rows(html, "planned-looks")
    assert [r[:2] for r in looks] == [["Interim analysis", "103"], ["Final analysis", "159"]]
    assert looks[0][3] == str(103 - before)
    r = _api(world, "coordinator", "POST", f"/api/v1/subjects/{world.randomized[2]}/death",
             json={"date": YESTERDAY, "cause": "infection"})
    assert r.status_code == 201
    html = world.clients["statistician"].get("/").text
    assert int(_kpi(html, "events")) == before + 1
    looks = _rows(html, "planned-looks")
    assert looks[1][3] == str(159 - before - 1)
    # the predicted dates of the looks not yet reached: `ikema predict` as of the latest dated record (the death,
    # yesterday), with the dashboard's fixed seed; the model and seed are named under the table
    from ikema.design.predict_commands import predict_from_store
    from ikema.web import dashboards

    url = world.app.state.sessions().get_bind().url.render_as_string(hide_password=False)
    direct = predict_from_store(url, YESTERDAY, [103, 159], seed=dashboards.PREDICTION_SEED)
    assert [r[5:] for r in looks] == [[t["median_date"], f"{t['lower_date']} to {t['upper_date']}"] for t in direct["targets"]]
    assert re.search(rf'id="prediction-as-of">{YESTERDAY}<', html) and re.search(r'id="prediction-seed">20171025<', html)
    assert re.search(rf'id="prediction-model">{direct["event_model"]["model"]}<', html)
    # cached per store state: another view computes neither the events nor a prediction again, a write (audited)
    # makes one of each anew (the calls are counted: equal values recomputed would look cached)
    from ikema.design import predict_commands

    calls = {"pfs_known_at": 0, "predict_from_store": 0}

    def counted(name):
        real = getattr(predict_commands, name)

        def wrapper(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)
        return wrapper

    for name in calls:
        monkeypatch.setattr(predict_commands, name, counted(name))
    cached = dict(dashboards._by_store_state)
    assert world.clients["statistician"].get("/").text == html and dashboards._by_store_state == cached
    svg = world.clients["statistician"].get("/figures/pfs-events.svg").text
    assert f"predicted {direct['targets'][0]['median_date']}" in svg and dashboards._by_store_state == cached
    assert calls == {"pfs_known_at": 0, "predict_from_store": 0}
    r = _api(world, "coordinator", "POST", f"/api/v1/subjects/{world.randomized[1]}/death",
             json={"date": YESTERDAY, "cause": "infection"})
    assert r.status_code == 201
    looks = _rows(world.clients["statistician"].get("/").text, "planned-looks")
    new = sorted(key[2] for key in set(dashboards._by_store_state) - set(cached))
    assert new == ["pfs_event_dates", "predicted_looks"] and looks[0][2] == str(before + 2)
    assert calls["predict_from_store"] == 1 and calls["pfs_known_at"] >= 1
    assert not ARM_WORDS.search(world.without_secrets(html.split("<main>")[1]))
    svg = world.clients["statistician"].get("/figures/pfs-events.svg")
    assert svg.headers["content-type"] == "image/svg+xml"
    assert "Interim analysis: 103 events" in svg.text and f"pooled ({before + 2})" in svg.text
    assert not ARM_WORDS.search(svg.text)


def test_assessor_queue_and_blinded_figure(world):
    html = world.clients["assessor"].get("/").text
    pending = int(_kpi(html, "pending"))
    assert pending == 3 * len(world.randomized)  # days 1, 29 and 57 of each randomized patient
    u = world.randomized[3]
    r = _api(world, "assessor", "POST", f"/api/v1/review/{u}/verdicts", json={"ady": 29, "verdict": "PR", "reason": "60% down"})
    assert r.status_code == 201
    html = world.clients["assessor"].get("/").text
    assert int(_kpi(html, "pending")) == pending - 1
    assert not ARM_WORDS.search(world.without_secrets(html))
    figs = {}
    for v in world.randomized:
        fig = world.clients["assessor"].get(f"/review/{v}/figures/mprotein.svg")
        assert fig.status_code == 200 and fig.headers["content-type"] == "image/svg+xml"
        assert not ARM_WORDS.search(fig.text), ARM_WORDS.search(fig.text)
        figs.setdefault(world.arms[v], set()).add(fig.text)
    # the same data in both arms draws the same figure (the IKd patients' drug-only IFE band is resolved)
    assert set(figs) == {"IKd", "Kd"} and figs["IKd"] == figs["Kd"] and len(figs["IKd"]) == 1
    assert ">PR<" in next(iter(figs["IKd"]))  # 3.0 -> 1.2 g/dL: partial response written on the figure
    # the site's copy names units; the assessor may not fetch it, nor the timeline
    site = world.clients["coordinator"].get(f"/subjects/{world.u101}/figures/mprotein.svg").text
    assert "Serum M-protein (g/dL)" in site
    for url in (f"/subjects/{u}/figures/mprotein.svg", f"/subjects/{u}/figures/timeline.svg", "/figures/pfs-events.svg"):
        assert world.clients["assessor"].get(url).status_code == 403


@pytest.mark.parametrize("role,url,status", [
    ("coordinator", "/subjects/{X}/figures/mprotein.svg", 404),
    ("coordinator", "/subjects/{X}/figures/timeline.svg", 404),
    ("pharmacist", "/subjects/{U}/figures/mprotein.svg", 403),
    ("pharmacist", "/subjects/{U}/figures/timeline.svg", 200),
    ("monitor", "/subjects/{X}/figures/timeline.svg", 200),
    ("statistician", "/figures/enrollment.svg", 200),
    ("coordinator", "/figures/pfs-events.svg", 403),
    ("assessor", "/figures/enrollment.svg", 403),
])
def test_figure_permissions(world, role, url, status):
    r = world.clients[role].get(url.replace("{X}", world.u202).replace("{U}", world.u101))
    assert r.status_code == status
    if status == 404:
        assert world.u202 not in r.text


def test_timeline_and_enrollment_figures_show_the_data(world):
    u = world.randomized[1]
    assert "carfilzomib" not in world.clients["coordinator"].get(f"/subjects/{u}/figures/timeline.svg").text
    randdt = _api(world, "coordinator", "GET", f"/api/v1/subjects/{u}").json()["randdt"]
    r = _api(world, "coordinator", "POST", f"/api/v1/subjects/{u}/administrations",
             json={"drug": "carfilzomib", "date": randdt, "cycle": 1, "day": 1, "dose_mg": 36})
    assert r.status_code == 201, r.text
    tl = world.clients["coordinator"].get(f"/subjects/{u}/figures/timeline.svg").text
    assert "carfilzomib" in tl and "Study day" in tl
    en = world.clients["data_manager"].get("/figures/enrollment.svg").text
    assert "All sites (5)" in en and "Target 302" in en and "Site 101 (4)" in en
    own = world.clients["coordinator"].get("/figures/enrollment.svg").text
    assert "All sites (4)" in own and "Site 202" not in own and "Target" not in own


def test_pfs_events_as_known_on_a_day_and_not_after_further_therapy(world):
    from ikema.conduct import capture
    from ikema.web.dashboards import pfs_event_dates

    u = world.randomized[4]
    today = date.today()
    with world.app.state.sessions() as db:
        before, earlier = pfs_event_dates(db, today), pfs_event_dates(db, today - timedelta(days=15))
        # progression: serum M-protein up from its nadir (1.0 g/dL) by >= 25% and >= 0.5 g/dL, confirmed a week later
        for days_ago, value in ((20, 1.8), (13, 2.0)):
            capture.record_assessment(db, u, (today - timedelta(days=days_ago)).isoformat(), "SMPROT", "test", aval=value, unit="g/dL")
        db.flush()
        after = pfs_event_dates(db, today)
        assert len(after) == len(before) + 1
        pd_date = sorted(set(after) - set(before))[0]
        assert pd_date == today - timedelta(days=20)  # the first of the two assessments
        assert pfs_event_dates(db, today - timedelta(days=15)) == earlier  # not yet confirmed on that day
        capture.record_subsequent_therapy(db, u, "pomalidomide-dexamethasone", (today - timedelta(days=25)).isoformat(), "test")
        db.flush()
        assert len(pfs_event_dates(db, today)) == len(before)  # after a further therapy: not counted
        db.rollback()
