"""Done when (issue 14): patients entered through the web application's JSON API (screening and randomization;
assessments, an administration, an adverse event and deaths through ikema.conduct.capture, the path the API's
write routes call) go through `ikema cut`, `ikema analyze` and `ikema report` and are found in
SDTM, ADaM and the report."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ikema.cli import app as cli

from eligible_findings import eligible_findings  # tests/eligible_findings.py

pytestmark = pytest.mark.slow
PW = "Pipeline-password-2017"
START = dt.date.today() - dt.timedelta(days=150)  # the day the site screens and randomizes


class Clock:
    def __init__(self, day: dt.date) -> None:
        self.t = dt.datetime.combine(day, dt.time(10))  # naive UTC, as ikema.web.security.utcnow

    def __call__(self) -> dt.datetime:
        return self.t


def test_web_patients_reach_sdtm_adam_and_the_report(tmp_path):
    from ikema.conduct import randomization as irt
    from ikema.conduct.capture import record_many
    from ikema.store import Site, acting
    from ikema.web import auth, store_glue
    from ikema.web.app import create_app

    url = f"sqlite:///{tmp_path / 'trial.db'}"
    app = create_app(url, clock=Clock(START))
    with app.state.sessions() as db:
        with acting(db, "setup", "trial set-up"):
            db.add(Site(site_id="101", name="Site 101", country="FRA"))
            db.flush()
        db.commit()
        scheme = irt.scheme_from_protocol(store_glue.protocol())
        irt.store_allocation_list(db, irt.generate_allocation_list(scheme, np.random.default_rng(5), 10), "setup")
        auth.create_user(db, "cora", "coordinator", PW, site="101", full_name="Cora Coordinator", now=Clock(START)())
        db.commit()
    web = TestClient(app, base_url="https://testserver")
    token = web.post("/api/v1/token", data={"username": "cora", "password": PW}).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert {f["name"] for f in web.get("/api/v1/screening/fields", headers=bearer).json()} == set(eligible_findings())
    ids = [f"IKEMA-101-{900 + i}" for i in range(8)]
    arms = {}
    for u in ids:
        r = web.post("/api/v1/screening", headers=bearer, json={"usubjid": u, "findings": eligible_findings()})
        assert r.status_code == 200 and r.json()["eligible"] is True, r.text[:400]
        r = web.post(f"/api/v1/subjects/{u}/randomize", headers=bearer)
        assert r.status_code == 200, r.text
        arms[u] = r.json()["arm"]
    assert set(arms.values()) == {"IKd", "Kd"}
    dead = {next(u for u in ids if arms[u] == a): START + dt.timedelta(days=90 + k) for k, a in enumerate(("IKd", "Kd"))}
    with app.state.sessions() as db:  # the later records through the capture path (audited)
        record_many(db, "administration", [
            {"usubjid": u, "cycle": 1, "day": 1, "date": START + dt.timedelta(days=3), "drug": "carfilzomib", "route": "IV",
             "dose_mg": 33.9, "planned_dose_mg": 33.9} for u in ids], "cora")
        rows = []
        for u in ids:
            for day, sm in ((4, 2.4), (32, 1.0), (60, 0.9), (88, 0.8)):
                rows += [{"usubjid": u, "date": START + dt.timedelta(days=day - 1), "param": "SMPROT", "aval": sm, "unit": "g/dL"},
                         {"usubjid": u, "date": START + dt.timedelta(days=day - 1), "param": "SIFE", "avalc": "POSITIVE"}]
        record_many(db, "assessment", rows, "cora")
        record_many(db, "adverse_event", [{
            "usubjid": ids[0], "term": "pneumonia", "pt": "Pneumonia", "soc": "Infections and infestations", "grade": 3,
            "serious": True, "related": False, "onset": START + dt.timedelta(days=20),
            "resolution": START + dt.timedelta(days=30), "outcome": "RECOVERED/RESOLVED", "action_taken": "DRUG INTERRUPTED"}], "cora")
        record_many(db, "death", [{"usubjid": u, "date": d, "cause": "PROGRESSIVE DISEASE"} for u, d in dead.items()], "cora")
        db.commit()
    app.state.engine.dispose()

    runner = CliRunner()
    res = runner.invoke(cli, ["cut", "--date", dt.date.today().isoformat(), "--database-url", url, "--out", str(tmp_path / "cut")])
    assert res.exit_code == 0, res.output
    sdtm = {n: pd.read_csv(tmp_path / "cut" / "sdtm" / f"{n}.csv", keep_default_na=False) for n in ("dm", "ae", "ds", "lb")}
    assert set(sdtm["dm"]["USUBJID"]) == set(ids) and dict(zip(sdtm["dm"]["USUBJID"], sdtm["dm"]["ARMCD"])) == arms
    assert list(sdtm["ae"]["AEDECOD"]) == ["Pneumonia"] and sdtm["ae"]["USUBJID"].iloc[0] == ids[0]
    assert set(sdtm["ds"].loc[sdtm["ds"]["DSDECOD"] == "DEATH", "USUBJID"]) == set(dead)
    dis = sdtm["lb"][sdtm["lb"]["LBCAT"] == "DISEASE ASSESSMENT"]  # the IMWG disease assessments are LB records
    assert len(dis) == 8 * 8 and str(START + dt.timedelta(days=31)) in set(dis["LBDTC"])
    adsl = pd.read_csv(tmp_path / "cut" / "adam" / "adsl.csv")
    adtte = pd.read_csv(tmp_path / "cut" / "adam" / "adtte.csv")
    assert set(adsl["USUBJID"]) == set(ids)
    os_ = adtte[adtte["PARAMCD"] == "OS"].set_index("USUBJID")
    assert set(os_.index[os_["CNSR"] == 0]) == set(dead)
    for u, d in dead.items():  # OS in days from randomization to death
        assert os_.loc[u, "AVAL"] == (d - START).days + 1

    res = runner.invoke(cli, ["analyze", "--adam", str(tmp_path / "cut" / "adam"), "--out", str(tmp_path / "analysis")])
    assert res.exit_code == 0, res.output
    results = json.loads((tmp_path / "analysis" / "results.json").read_text())
    os_res = results["parameters"]["OS"]
    assert {a: v["n"] for a, v in os_res["arms"].items()} == {a: list(arms.values()).count(a) for a in ("IKd", "Kd")}
    assert {a: v["events"] for a, v in os_res["arms"].items()} == {"IKd": 1, "Kd": 1}
    gs = results["group_sequential"]
    assert gs["parameter"] == "PFS" and gs["events"] == 2 and gs["planned_events"] == 159 and gs["crossed"] is False

    res = runner.invoke(cli, ["report", "--results", str(tmp_path / "analysis" / "results.json"),
                              "--adam", str(tmp_path / "cut" / "adam"), "--out", str(tmp_path / "report")])
    assert res.exit_code == 0, res.output
    html = (tmp_path / "report" / "report.html").read_text()
    assert "Pneumonia".upper() in html.upper() and "Group-sequential test" in html and "2 of 159 planned events" in html
    assert html.count("data:image/png;base64,") >= 2  # KM plots drawn from the cut's ADaM
