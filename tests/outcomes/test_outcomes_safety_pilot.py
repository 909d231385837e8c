"""CDISC pilot Table 14-5.01 (TEAEs by SOC/PT, Fisher exact p-values) reproduced cell by cell from ADAE + ADSL."""

from __future__ import annotations

import pytest

from ikema.analysis.safety import fisher_p, fisher_p_rxc, teae_by_soc_pt, teae_overview
from ikema.report.safety import format_n_pct, format_p, soc_pt_cells

from outcomes_helpers import DATA, rtf_table_rows

RTF = DATA / "atorus-cdisc-pilot-replication" / "outputs" / "14-5.01.rtf"
ARMS = ["Placebo", "Xanomeline Low Dose", "Xanomeline High Dose"]


@pytest.fixture(scope="module")
def published() -> list[list[str]]:
    """Data rows of the published table (header rows, blank spacer rows and repeated page headers removed)."""
    rows = []
    for r in rtf_table_rows(RTF):
        if len(r) != 9 or not r[0] or r[0].startswith("System Organ Class"):
            continue
        rows.append(r)
    # each page repeats no data rows, but keep order and drop exact duplicates caused by page breaks
    return rows


@pytest.fixture(scope="module")
def ours(pilot_adae, pilot_adsl) -> list[list[str]]:
    rows = teae_by_soc_pt(pilot_adae, pilot_adsl, arm_var="TRT01A", arms=ARMS, reference_arm="Placebo",
                          sort_arm="Xanomeline High Dose", soc_order="alpha")
    return soc_pt_cells(rows, ARMS, reference_arm="Placebo")


def test_published_table_parsed(published):
    assert published[0][0] == "ANY BODY SYSTEM"
    assert len(published) > 200


def test_every_cell_reproduced(published, ours):
    assert len(ours) == len(published)
    mismatches = [(i, j, p, o) for i, (prow, orow) in enumerate(zip(published, ours))
                  for j, (p, o) in enumerate(zip(prow, orow)) if p != o]
    assert mismatches == []


def test_any_body_system_row(ours):
    assert ours[0] == ["ANY BODY SYSTEM", "65 (75.6%)", "[281]", "77 (91.7%)", "[412]", "76 (90.5%)", "[433]",
                       "0.007*", "0.014*"]


def test_fisher_two_by_two_is_the_hypergeometric_two_sided_sum():
    # R's fisher.test definition: sum of the table probabilities not above the observed one (relative tol 1e-7)
    from scipy.stats import hypergeom

    dist = hypergeom(86 + 84, 65 + 77, 86)
    probs = [dist.pmf(k) for k in range(0, 87)]
    expected = sum(q for q in probs if q <= dist.pmf(65) * (1 + 1e-7))
    assert fisher_p(65, 86, 77, 84) == pytest.approx(expected, rel=1e-9)
    assert fisher_p(0, 86, 0, 84) is None


def test_fisher_rxc_three_arms():
    # two arms: the r x 2 enumeration equals the 2 x 2 test
    assert fisher_p_rxc([2, 7], [86, 84]) == pytest.approx(fisher_p(2, 86, 7, 84), rel=1e-9)
    # three arms: brute force over all tables with the observed margins
    from math import comb

    n, tot = [2, 7, 8], [86, 84, 84]
    den = comb(sum(tot), sum(n))
    pr = lambda ks: comb(tot[0], ks[0]) * comb(tot[1], ks[1]) * comb(tot[2], ks[2]) / den  # noqa: E731
    obs = pr(n)
    brute = sum(pr((a, b, 17 - a - b)) for a in range(18) for b in range(18 - a)
                if 17 - a - b <= 84 and pr((a, b, 17 - a - b)) <= obs * (1 + 1e-7))
    assert fisher_p_rxc(n, tot) == pytest.approx(brute, rel=1e-9)
    assert fisher_p_rxc([0, 0, 0], [86, 84, 84]) is None


def test_formatting_rules():
    assert format_n_pct(2, 86) == "2 ( 2.3%)"
    assert format_n_pct(0, 86) == "0"
    assert format_p(0.1449) == "0.145*"
    assert format_p(0.15) == "0.150"
    assert format_p(0.995) == ">.99"
    assert format_p(None) == ""


def test_overview_on_pilot(pilot_adae, pilot_adsl):
    rows = {r["category"]: r["arms"] for r in teae_overview(pilot_adae, pilot_adsl)}
    assert rows["Any TEAE"]["Placebo"]["n"] == 65
    assert rows["Any TEAE"]["Xanomeline High Dose"]["events"] == 433
    serious = sum(rows["Serious TEAE"][a]["n"] for a in ARMS)
    assert serious == pilot_adae[(pilot_adae.TRTEMFL == "Y") & (pilot_adae.AESER == "Y")].USUBJID.nunique()
    assert "Grade >= 3 TEAE" not in rows  # the pilot records severity, not CTCAE grades
