"""One journey end to end in Debian's chromium: admin creates users; the coordinator screens a failing and an
eligible candidate, randomizes the eligible one (confirmation step; arm, dosing and visit calendars after)
and enters cycle-1 assessments (a bad value is refused at the field and nothing saved, then good ones); the
assessor sees the response data and never the arm; the data manager raises a query that the site answers
and the data manager closes; a locked form refuses an edit; the investigator e-signs the casebook and a
later change (with its reason) shows the signature broken; the audit trail shows every step.
Screenshots of the main pages go to tests/_artifacts/ (the README's copies live in docs/screenshots/)."""

from __future__ import annotations

import re
import zipfile
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

PW = {"admin": "Root-of-trust-2017!", "cora": "Coordinator-2017!", "asa": "Assessor-blind-2017",
      "dana": "DataManager-2017!", "ines": "Investigator-2017"}

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


def _login(page, base, user):
    page.goto(f"{base}/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PW[user])
    page.click("form.card button[type=submit]")
    expect(page.locator("h1")).to_contain_text("Welcome")


def _logout(page):
    page.click("header .who button")
    expect(page.locator("h1")).to_have_text("Log in")


def _fill(page, name, value):
    sel = f"[name='{name}']"
    if page.locator(f"select{sel}").count():
        page.select_option(f"select{sel}", str(value))
    else:
        page.fill(f"input{sel}", str(value))


def _visible_words(page) -> list[str]:
    return re.sub(r"<[^>]+>", " ", page.content()).split()


def test_journey(browser, tmp_path, kit, artifacts, candidates, chromium_ok):
    from ikema.web import auth

    clock = kit.Clock()
    today = clock.t
    clock.t -= timedelta(days=29)  # the server's clock starts four weeks ago: randomization happens then
    app = kit.make_app(tmp_path, clock=clock)
    kit.seed_journey(app)
    with app.state.sessions() as db:
        auth.create_user(db, "admin", "admin", PW["admin"], full_name="Alex Admin", now=clock())
        db.commit()
    with kit.LiveServer(app) as srv:
        base = srv.url
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        ctx.set_default_timeout(10_000)
        page = ctx.new_page()
        shot = lambda name: page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)  # noqa: E731

        # 1. admin creates the users (a too-short password is refused first, at the form)
        page.goto(f"{base}/login")
        shot("login")
        _login(page, base, "admin")
        page.goto(f"{base}/admin/users")
        page.fill("input[name=username]", "cora")
        page.select_option("select[name=role]", "coordinator")
        page.fill("input[name=site]", "101")
        page.fill("input[name=password]", "short-pw")
        page.click("form.card button[type=submit]")
        expect(page.locator("#user-error")).to_contain_text("too short")
        for name, role, site, full in [("cora", "coordinator", "101", "Cora Coordinator"), ("asa", "assessor", "", "Asa Assessor"),
                                       ("dana", "data_manager", "", "Dana DataManager"), ("ines", "investigator", "101", "Dr Ines Investigator")]:
            page.fill("input[name=username]", name)
            page.fill("input[name=full_name]", full)
            page.select_option("select[name=role]", role)
            page.fill("input[name=site]", site)
            page.fill("input[name=password]", PW[name])
            page.click("form.card button[type=submit]")
            expect(page.locator("#users")).to_contain_text(full)
        shot("users")
        _logout(page)

        # 2. coordinator screens a failing candidate, then an eligible one (per-criterion verdicts)
        _login(page, base, "cora")
        page.goto(f"{base}/screening")
        shot("screening-form")
        for name, value in candidates["failing"].items():
            _fill(page, name, value)
        page.click("#screening-form button[type=submit]")
        expect(page.locator("#verdict")).to_have_text("NOT ELIGIBLE")
        for cid in candidates["failing_criteria"]:
            expect(page.locator(f"#criteria tr:has-text('{cid}') td.fail")).to_be_visible()
        expect(page.locator("#criteria")).to_contain_text("creatinine_clearance_ml_min")
        shot("screening-fail")
        failing = candidates["failing"]["usubjid"]
        resp = page.goto(f"{base}/subjects/{failing}/randomize")
        assert resp.status == 409
        expect(page.locator("#refusal")).to_contain_text("not eligible")
        page.goto(f"{base}/screening")
        for name, value in candidates["eligible"].items():
            _fill(page, name, value)
        page.click("#screening-form button[type=submit]")
        expect(page.locator("#verdict")).to_have_text("ELIGIBLE")
        expect(page.locator("#criteria td.fail")).to_have_count(0)
        shot("screening-eligible")
        usubjid = candidates["eligible"]["usubjid"]
        assert usubjid in page.locator("h1").inner_text()

        # 3. randomize with the confirmation step; the arm, the dosing calendar and the visit calendar appear
        page.click("#randomize-link")
        expect(page.locator("#confirm-randomize")).to_be_visible()
        shot("randomize-confirm")
        page.check("input[name=confirm]")
        page.click("#confirm-randomize")
        expect(page.locator("#arm")).to_be_visible()
        arm = page.locator("#arm").inner_text()
        assert arm in ("IKd", "Kd")
        expect(page.locator("#dosing")).to_contain_text("carfilzomib")
        if arm == "IKd":
            expect(page.locator("#dosing")).to_contain_text("isatuximab")
        expect(page.locator("#visits")).to_contain_text("Cycle 1 day 1")
        expect(page.locator("#visits tr:has-text('Cycle 1 day 1') td.state")).to_have_text("expected")
        expect(page.locator("#treatment-visits tr:has(td:text-is('8')) td.state").first).to_have_text("expected")
        shot("subject-randomized")
        randdt = date.fromisoformat(page.locator("#randdt").inner_text())
        _logout(page)

        # four weeks later, today (the server's clock; the store refuses dates after the real today)
        clock.t = today
        when = {ady: (randdt + timedelta(days=ady - 1)).isoformat() for ady, _ in candidates["assessments"]}

        # 4. cycle-1 assessments: a bad value is refused at the field and nothing is saved
        _login(page, base, "cora")
        page.goto(f"{base}/subjects/{usubjid}")
        expect(page.locator("#visits tr:has-text('Cycle 1 day 1') td.state")).to_have_text("overdue")
        page.goto(f"{base}/subjects/{usubjid}/forms/assessment")
        first_day, first_values = candidates["assessments"][0]
        page.fill("input[name=date]", when[first_day])
        for k, v in first_values.items():
            _fill(page, k, v)
        page.fill("input[name=SMPROT]", "-2.5")
        page.click("#save")
        expect(page.locator("#err-SMPROT")).to_be_visible()
        expect(page.locator("#form-error")).to_contain_text("Nothing was saved")
        shot("assessment-refused")
        page.goto(f"{base}/subjects/{usubjid}/forms/assessment")
        expect(page.locator("#records")).to_contain_text("Nothing recorded yet")
        for ady, values in candidates["assessments"]:
            page.fill("input[name=date]", when[ady])
            for k, v in values.items():
                _fill(page, k, v)
            page.click("#save")
            expect(page.locator("#saved")).to_contain_text(f"Saved {len(values)} values")
        expect(page.locator("#records tbody tr")).to_have_count(sum(len(v) for _, v in candidates["assessments"]))
        shot("assessments")
        # the cycle 1 day 1 carfilzomib infusion (the other dosing visits stay overdue: none recorded)
        page.goto(f"{base}/subjects/{usubjid}/forms/exposure")
        for k, v in {"drug": "carfilzomib", "date": when[1], "cycle": "1", "day": "1", "dose_mg": "33.9"}.items():
            _fill(page, k, v)
        page.click("#save")
        expect(page.locator("#saved")).to_contain_text("Saved 1 value")
        page.goto(f"{base}/subjects/{usubjid}")
        c1 = page.locator("#treatment-visits tr:has(td:text-is('1'))")
        expect(c1.filter(has=page.locator("td:text-is('1')")).first.locator("td.state")).to_have_text("done")
        expect(page.locator("#treatment-visits tr:has(td:text-is('8')) td.state").first).to_have_text("overdue")
        expect(page.locator("#visits tr:has-text('Cycle 1 day 1') td.state")).to_have_text("done")
        expect(page.locator("#visits tr:has-text('Cycle 2 day 1') td.state")).to_have_text("done")
        expect(page.locator("#visits tr:has-text('Cycle 3 day 1') td.state")).to_have_text("expected")
        shot("visit-calendar")
        _logout(page)

        # 5. the assessor sees the response data and the engine's verdicts, never the arm
        _login(page, base, "asa")
        page.click("header nav >> text=Blinded review")
        expect(page.locator("#review")).to_contain_text(usubjid)
        page.click(f"#review >> text={usubjid}")
        expect(page.locator("#review-data")).to_contain_text("2.4")
        expect(page.locator("#review-data")).to_contain_text("0.9")
        last_day = candidates["assessments"][-1][0]
        expect(page.locator(f"#review-data tr:has(td:text-is('{last_day}'))")).to_contain_text(candidates["verdict"])
        assert arm not in _visible_words(page)
        body = kit.without_secrets(page.content()).lower()
        for word in ("isatuximab", "carfilzomib", "dexamethasone", "dose", "randomization no", "stratum"):
            assert word not in body, word
        page.select_option("#verdict-form select[name=ady]", str(last_day))
        page.select_option("#verdict-form select[name=verdict]", candidates["verdict"])
        page.fill("#verdict-form input[name=reason]", "Serum M-protein fell by more than half")
        page.click("#save-verdict")
        expect(page.locator("#verdicts")).to_contain_text("M-protein fell")
        expect(page.locator("#verdicts")).to_contain_text("yes")
        shot("assessor-review")
        for url in (f"/subjects/{usubjid}", f"/subjects/{usubjid}/forms/exposure", "/audit", "/export"):
            resp = page.goto(f"{base}{url}")
            assert resp.status == 403, url
            assert arm not in _visible_words(page)
        _logout(page)

        # 6. the data manager raises a query on a value, with the field's audit trail one click away
        _login(page, base, "dana")
        page.goto(f"{base}/subjects/{usubjid}/forms/assessment")
        page.locator("#records tr:has-text('UMPROT')").last.locator("a").click()  # the cycle 2 day 1 value
        page.fill("#field-value input[name=text]", "Please confirm this value against the lab report.")
        page.click("#query-value")
        expect(page.locator("#field-value")).to_contain_text("open")
        page.click("#history-value")
        expect(page.locator("#hist-value")).to_contain_text("cora")
        shot("record-with-query")
        _logout(page)

        # 7. the site answers it
        _login(page, base, "cora")
        page.goto(f"{base}/queries")
        page.fill("input[aria-label^='answer comment']", "Checked against the lab report: correct.")
        page.click("button[id$='-answer']")
        expect(page.locator(".queries")).to_contain_text("answered")
        assert page.locator("button[id$='-close']").count() == 0  # the site cannot close
        _logout(page)

        # 8. the data manager closes it, then locks the assessment form
        _login(page, base, "dana")
        page.goto(f"{base}/queries")
        page.fill("input[aria-label^='close comment']", "Resolved.")
        page.click("button[id$='-close']")
        expect(page.locator(".queries .badge")).to_have_text("closed")
        for step in ("open", "answer", "close"):
            expect(page.locator(".queries .hist")).to_contain_text(step)
        shot("query-thread")
        page.goto(f"{base}/subjects/{usubjid}")
        page.fill("#locks tr:has-text('Disease assessments') input[name=reason]", "Cycle 1 cleaned")
        page.click("#lock-assessment")
        expect(page.locator("#locks tr:has-text('Disease assessments')")).to_contain_text("locked")
        _logout(page)

        # 9. the locked form refuses an edit: no form offered, and direct POSTs (new and change) are refused
        _login(page, base, "cora")
        page.goto(f"{base}/subjects/{usubjid}/forms/assessment")
        expect(page.locator("#locked-note")).to_be_visible()
        assert page.locator("#entry-form").count() == 0
        rid = page.locator("#records tr:has-text('UMPROT')").last.locator("td").first.inner_text().strip()
        token = page.locator("body").get_attribute("data-csrf")
        r = page.request.post(f"{base}/subjects/{usubjid}/forms/assessment", form={"csrf_token": token, "date": when[last_day], "BMPC": "3"})
        assert r.status == 423
        r = page.request.post(f"{base}/subjects/{usubjid}/forms/assessment/{rid}", form={"csrf_token": token, "value": "41", "reason": "typo"})
        assert r.status == 423
        page.goto(f"{base}/subjects/{usubjid}/forms/assessment/{rid}")
        assert page.locator("#edit-form").count() == 0
        shot("locked-form")
        _logout(page)

        # 10. the investigator e-signs the casebook: password re-entered (a wrong one is refused), meaning shown
        _login(page, base, "ines")
        page.goto(f"{base}/subjects/{usubjid}/sign")
        page.fill("input[name=password]", "not-my-password-at-all")
        page.click("#sign")
        expect(page.locator("#sign-error")).to_contain_text("refused")
        meaning = page.locator("select[name=meaning] option").first.inner_text()
        page.fill("input[name=password]", PW["ines"])
        page.click("#sign")
        expect(page.locator("#signature")).to_contain_text(meaning)
        expect(page.locator("#signature")).to_contain_text("Dr Ines Investigator")
        expect(page.locator("#signature .badge")).to_have_text("valid")
        shot("signed")
        _logout(page)

        # 11. a later change (unlock with a reason, corrected value with a reason) breaks the signature
        _login(page, base, "dana")
        page.goto(f"{base}/subjects/{usubjid}")
        page.fill("#locks tr:has-text('Disease assessments') input[name=reason]", "Correction requested by the site")
        page.click("#lock-assessment")
        expect(page.locator("#locks tr:has-text('Disease assessments')")).to_contain_text("open")
        _logout(page)
        _login(page, base, "cora")
        page.goto(f"{base}/subjects/{usubjid}/forms/assessment/{rid}")
        token = page.locator("body").get_attribute("data-csrf")
        r = page.request.post(f"{base}/subjects/{usubjid}/forms/assessment/{rid}", form={"csrf_token": token, "value": "45"})
        assert r.status == 422 and "a reason for the change is required" in r.text()  # the browser's `required` is not the check
        page.reload()
        expect(page.locator("#field-value .value")).to_have_text("40")
        page.fill("#edit-form input[name=value]", "45")
        page.fill("#edit-form input[name=reason]", "Transcription error: lab report says 45")
        page.click("#save-change")
        expect(page.locator("#field-value .value")).to_have_text("45")
        page.click("#history-value")
        expect(page.locator("#hist-value")).to_contain_text("Transcription error")
        expect(page.locator("#hist-value")).to_contain_text("40")
        shot("field-history")
        page.goto(f"{base}/subjects/{usubjid}")
        expect(page.locator("#signature .badge")).to_contain_text("BROKEN")
        shot("signature-broken")
        _logout(page)

        # 12. the data manager downloads a data cut (the zip of `ikema cut`'s folder): the patient is in SDTM and ADaM
        _login(page, base, "dana")
        page.click("header nav >> text=Data cut")
        page.fill("#export input[name=date]", date.today().isoformat())
        with page.expect_download() as download:
            page.click("#export button[type=submit]")
        cut = zipfile.ZipFile(download.value.path())
        assert usubjid in cut.read("sdtm/dm.csv").decode() and usubjid in cut.read("adam/adsl.csv").decode()
        assert usubjid in cut.read("sdtm/lb.csv").decode() and "cut.json" in cut.namelist()
        # and the audit trail shows every step, the download included
        page.goto(f"{base}/audit")
        audit = page.locator("#audit").inner_text()
        for needle in ("cora", "dana", "asa", "ines", "admin", "log-in", "web_user", "subjects", "web_query", "web_query_event",
                       "web_form_lock", "Cycle 1 cleaned", "web_assessor_verdict", "web_signature", "Transcription error",
                       candidates["audit_capture_table"], candidates["audit_random_table"], usubjid, failing, "EXPORT"):
            assert needle in audit, needle
        shot("audit")
        ctx.close()
