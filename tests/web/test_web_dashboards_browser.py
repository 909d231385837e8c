"""Each role's dashboard and the patient pages in Debian's chromium: the figures load (rendered SVG, decoded by the
browser under the CSP) and the numbers are on the page. Screenshots go to tests/_artifacts/."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]
ROLE_PW = "Role-password-2017"


def _login(page, base, role):
    page.goto(f"{base}/login")
    page.fill("input[name=username]", f"u_{role}")
    page.fill("input[name=password]", ROLE_PW)
    page.click("form.card button[type=submit]")
    expect(page.locator("h1")).to_contain_text("Welcome")


def _figure_loaded(page, selector: str) -> None:
    img = page.locator(selector)
    expect(img).to_be_visible()
    page.wait_for_function(f"() => {{ const i = document.querySelector('{selector}'); return i && i.complete && i.naturalWidth > 0; }}")


def test_dashboards_and_patient_figures(browser, world, kit, artifacts, chromium_ok):
    errors: list[str] = []
    with kit.LiveServer(world.app) as srv:
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        ctx.set_default_timeout(15_000)
        page = ctx.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        shot = lambda name: page.screenshot(path=str(artifacts / f"dashboard-{name}.png"), full_page=True)  # noqa: E731

        # site staff: visits due or overdue, forms not started, the site's enrollment curve; the patient's figures
        _login(page, srv.url, "coordinator")
        expect(page.locator("#kpi-patients")).to_have_text("4")
        expect(page.locator("#due-visits tbody tr").first).to_contain_text("IKEMA-101")
        expect(page.locator("#forms-not-started")).to_contain_text("Adverse events")
        _figure_loaded(page, "#fig-enrollment")
        shot("site")
        page.goto(f"{srv.url}/subjects/{world.u101}")
        _figure_loaded(page, "#fig-mprotein")
        _figure_loaded(page, "#fig-timeline")
        shot("patient")
        svg = page.request.get(f"{srv.url}/subjects/{world.u101}/figures/mprotein.svg").text()
        assert "Serum M-protein (g/dL)" in svg and ">PR<" in svg
        page.click("header .who button")

        # data manager: enrollment against the target, by site, queries by age, completion, SDV, strata
        _login(page, srv.url, "data_manager")
        expect(page.locator("#kpi-randomized")).to_have_text("5")
        expect(page.locator("#kpi-target")).to_have_text("302")
        expect(page.locator("#enrollment-by-site tbody tr")).to_have_count(2)
        expect(page.locator("#query-ages tbody tr")).to_have_count(4)
        expect(page.locator("#strata tbody tr")).to_have_count(2)
        _figure_loaded(page, "#fig-enrollment")
        shot("data-manager")
        page.click("header .who button")

        # monitor: the SDV queue
        _login(page, srv.url, "monitor")
        expect(page.locator("#sdv-queue tbody tr")).to_have_count(len(world.randomized))
        expect(page.locator("#kpi-sdv")).to_contain_text("%")
        shot("monitor")
        page.click("header .who button")

        # statistician: pooled PFS events, the planned looks and their predicted dates (a first event, a death, lets
        # the prediction fit its event model)
        r = page.request.post(f"{srv.url}/api/v1/subjects/{world.randomized[2]}/death",
                              headers={"Authorization": f"Bearer {world.tokens['coordinator']}"},
                              data={"date": (date.today() - timedelta(days=1)).isoformat(), "cause": "infection"})
        assert r.status == 201, r.text()
        _login(page, srv.url, "statistician")
        expect(page.locator("#planned-looks td.target")).to_have_text(["103", "159"])
        events = int(page.locator("#kpi-events").inner_text())
        expect(page.locator("#planned-looks td.remaining").first).to_have_text(str(103 - events))
        iso = re.compile(r"^\d{4}-\d{2}-\d{2}$")
        expect(page.locator("#planned-looks td.predicted")).to_have_text([iso, iso])
        expect(page.locator("#planned-looks td.interval").first).to_have_text(re.compile(r"^\d{4}-\d{2}-\d{2} to \d{4}-\d{2}-\d{2}$"))
        expect(page.locator("#prediction-seed")).to_have_text("20171025")
        assert not re.search(r"\bIKd\b|\bKd\b|isatuximab|carfilzomib|\barm\b|POSITIVE-DRUG", page.locator("main").inner_text())
        _figure_loaded(page, "#fig-pfs-events")
        shot("statistician")
        page.click("header .who button")

        # assessor: the review queue and the blinded figure on the review page; no arm anywhere
        _login(page, srv.url, "assessor")
        expect(page.locator("#review-queue tbody tr")).to_have_count(len(world.randomized))
        pending = int(page.locator("#kpi-pending").inner_text())
        assert pending == 3 * len(world.randomized)
        shot("assessor")
        page.click(f"#review-queue a[href='/review/{world.u101}']")
        _figure_loaded(page, "#fig-mprotein")
        words = re.sub(r"<[^>]+>", " ", page.content())
        assert not re.search(r"\bIKd\b|\bKd\b|isatuximab|carfilzomib|\barm\b|POSITIVE-DRUG", words)
        shot("assessor-review")
        ctx.close()
    assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors
