"""Per-patient calendars: disease-assessment visits (both arms alike) and treatment visits (arm roles only),
each expected, done or overdue, ending where the protocol's schedule ends."""

from __future__ import annotations

from datetime import date, timedelta


def _setup(tmp_path, kit):
    from ikema.conduct import capture
    from ikema.conduct import randomization as irt
    from ikema.store import acting
    from ikema.web import store_glue

    clock = kit.Clock()
    app = kit.make_app(tmp_path, clock=clock)
    today = date.today()
    randdt = today - timedelta(days=70)
    with app.state.sessions() as db:
        kit.seed_trial(db, clock)
        irt.randomize(db, "IKEMA-101-001", "fixture", randdt=randdt)
        with acting(db, "fixture", None):
            capture.record_assessment(db, "IKEMA-101-001", randdt.isoformat(), "SMPROT", "fixture", aval=2.0, unit="g/dL")
        db.commit()
        s = store_glue.subject(db, "IKEMA-101-001")
        drug = store_glue.arm_drugs(s)[0]
        capture.record_administration(db, "IKEMA-101-001", 1, 1, randdt.isoformat(), drug, store_glue.drug_route(s, drug), 30.0, "fixture")
        db.commit()
    return app, today, randdt


def test_assessment_visits_expected_done_overdue_and_stop_at_progression(tmp_path, kit):
    from ikema.conduct import capture
    from ikema.web import store_glue, trial

    app, today, randdt = _setup(tmp_path, kit)
    with app.state.sessions() as db:
        s = store_glue.subject(db, "IKEMA-101-001")
        v = {x["cycle"]: x["state"] for x in trial.visits(db, s, today)}
        # randomized 70 days ago: C1D1 done, C2D1 (day 29) and C3D1 (day 57) overdue, C4D1 (day 85) expected
        assert v == {1: "done", 2: "overdue", 3: "overdue", 4: "expected"}
        t = trial.treatment_visits(db, s, today)
        states = {(r["cycle"], r["day"]): r["state"] for r in t["rows"]}
        assert min(c for c, _ in states) == 2 and t["earlier"]["done"] == 1 and t["earlier"]["overdue"] >= 7  # cycle 1, summed
        assert states[(2, 1)] == "overdue"
        assert all(st == "expected" for (c, _), st in states.items() if c == 4)
        capture.record_disposition(db, "IKEMA-101-001", "END_OF_TREATMENT", (randdt + timedelta(days=40)).isoformat(), "fixture",
                                   disposition_reason="PROGRESSIVE DISEASE")
        db.commit()
        v = {x["cycle"]: x["state"] for x in trial.visits(db, s, today)}
        assert sorted(v) == [1, 2]  # the schedule runs until progression: nothing expected after it
        t = trial.treatment_visits(db, s, today)
        assert max(r["cycle"] for r in t["rows"]) == 2 and t["ended"] == (randdt + timedelta(days=40)).isoformat()


def test_treatment_visits_are_for_arm_roles_only(tmp_path, kit):
    app, today, _ = _setup(tmp_path, kit)
    from fastapi.testclient import TestClient

    from ikema.web import auth

    with app.state.sessions() as db:
        auth.create_user(db, "cora", "coordinator", "Coordinator-2017!", site="101", now=kit.Clock()())
        auth.create_user(db, "mila", "monitor", "Verifier-pass-2017", now=kit.Clock()())
        auth.create_user(db, "asa", "assessor", "Assessor-blind-2017", now=kit.Clock()())
        db.commit()
    for user, pw in (("cora", "Coordinator-2017!"), ("mila", "Verifier-pass-2017")):
        c = TestClient(app, base_url="https://testserver")
        kit.login(c, user, pw)
        body = c.get("/subjects/IKEMA-101-001").text
        assert 'id="treatment-visits"' in body and 'id="visits"' in body
    c = TestClient(app, base_url="https://testserver")
    kit.login(c, "asa", "Assessor-blind-2017")
    body = c.get("/review/IKEMA-101-001").text
    assert 'id="review-visits"' in body and "treatment" not in body.lower() and "overdue" in body
