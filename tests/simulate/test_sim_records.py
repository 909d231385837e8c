"""Simulated site records: determinism, the IMWG contract, no drawn labels, SDTM and the analysis path."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from ikema.cdisc.sdtm import build_sdtm, data_cut, write_domains
from ikema.response import PARAMS, evaluate
from ikema.cdisc.derive import derive_adam
from ikema.simulate.virtual import simulate_records

from simtoy import toy_subjects  # noqa: E402  (tests/simulate/simtoy.py)


def _run(seed, facts, criteria, n=40):
    rng = np.random.default_rng(seed)
    subj = toy_subjects(rng, facts, n)
    return simulate_records(rng, subj, facts, criteria)


@pytest.fixture(scope="module")
def records(toy_facts, toy_criteria):
    return _run(3, toy_facts, toy_criteria)


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.csv"))}


def test_same_seed_gives_byte_identical_sdtm_csv(tmp_path, toy_facts, toy_criteria, records):
    again = _run(3, toy_facts, toy_criteria)
    write_domains(build_sdtm(records, "TOY"), tmp_path / "a", ("csv",))
    write_domains(build_sdtm(again, "TOY"), tmp_path / "b", ("csv",))
    a, b = _digest(tmp_path / "a"), _digest(tmp_path / "b")
    assert len(a) == 25 and a == b  # every SDTM dataset of the metadata table
    other = _run(4, toy_facts, toy_criteria)
    write_domains(build_sdtm(other, "TOY"), tmp_path / "c", ("csv",))
    assert _digest(tmp_path / "c")["lb.csv"] != a["lb.csv"]


def test_assessments_follow_the_response_contract_and_carry_no_label(records):
    a = records["assessments"]
    assert set(a["PARAM"]) <= set(PARAMS)
    assert not {"RESP", "BOR", "PD", "RESPONSE"} & set(a.columns)
    assert set(a.loc[a["PARAM"] == "SIFE", "AVALC"]) <= {"POSITIVE", "NEGATIVE", "POSITIVE-DRUG"}
    # the isatuximab band only in the experimental arm
    drug = a[(a["AVALC"] == "POSITIVE-DRUG")]["USUBJID"]
    arm = records["subjects"].set_index("USUBJID")["ARM"]
    assert set(arm[drug.unique()]) <= {"A"}
    # baseline on study day 1 for every subject, serum M-protein never negative
    assert set(a.loc[a["ADY"] == 1, "USUBJID"]) == set(records["subjects"]["USUBJID"])
    assert (a.loc[a["PARAM"] == "SMPROT", "AVAL"] >= 0).all()


def test_site_management_follows_the_engine_on_observed_values(records, toy_criteria):
    a = records["assessments"]
    ev = evaluate(a[["USUBJID", "ADY", "PARAM", "AVAL", "AVALC"]], toy_criteria)
    pd_dy = ev.summary.set_index("USUBJID")["PD_DY"]
    e = records["events"].set_index("USUBJID")
    progressed = pd_dy.dropna().index
    assert len(progressed) > 0
    # the site learns of the progression the engine found at the assessment that confirms it: treatment runs to
    # that assessment (a dose delayed by a few days aside), never beyond, and assessments stop there too
    days = a[["USUBJID", "ADY"]].drop_duplicates()
    after = days[days["ADY"] > days["USUBJID"].map(pd_dy)]
    confirm = after.groupby("USUBJID")["ADY"].min().reindex(progressed).fillna(pd_dy[progressed])
    assert (e.loc[progressed, "TRTEDY"] <= confirm + 3).all()
    stopped_for_pd = e.loc[progressed][e.loc[progressed, "EOTREAS"] == "PROGRESSIVE DISEASE"].index
    assert len(stopped_for_pd) > 0 and (e.loc[stopped_for_pd, "TRTEDY"] > pd_dy[stopped_for_pd]).any()
    last = a.groupby("USUBJID")["ADY"].max()
    gap = last[progressed] - pd_dy[progressed]
    assert (gap <= 2 * 21 + 6).all()
    # deaths after progression are attributed to it
    dead = e[e["DTHCAUS"] == "DISEASE PROGRESSION"].index
    assert set(dead) <= set(progressed)


def test_data_cut_and_adam(records, toy_facts, toy_criteria):
    sdtm = build_sdtm(records, "TOY")
    cut = toy_facts.cutoffs["interim"]
    s = data_cut(sdtm, cut)
    for dom, var in (("RS", "RSDTC"), ("EX", "EXSTDTC"), ("AE", "AESTDTC"), ("LB", "LBDTC"), ("QS", "QSDTC")):
        assert (s[dom][var].str.slice(0, 10) <= str(cut)).all()
        assert len(s[dom]) < len(sdtm[dom])
    adam = derive_adam(s, cut, toy_criteria, toy_facts.cycle_days, toy_facts.teae_window_days, outcomes="safety")
    pfs = adam["ADTTE"][adam["ADTTE"]["PARAMCD"] == "PFS"]
    assert len(pfs) == len(records["subjects"])
    assert (pd.to_datetime(pfs["ADT"]) <= pd.Timestamp(cut)).all()
    assert set(adam["ADSL"]["TRT01P"]) == {"A", "B"}


def test_survival_follow_up_contacts_after_treatment(records, toy_facts, toy_criteria):
    ev = records["events"]
    ss = build_sdtm(records, "TOY")["SS"]
    with_contacts = ev[ev["CONTACTDT"].map(len) > 0]
    assert len(with_contacts) > 0
    for r in with_contacts.itertuples():
        days = [(d - r.TRTSDT).days + 1 for d in r.CONTACTDT]
        # 8 weeks after the end of treatment (the last dose day, give or take a dose delayed past it by a few days)
        assert r.TRTEDY + 56 - 7 <= days[0] <= r.TRTEDY + 56 + toy_facts.cycle_days
        assert all(b - a == 56 for a, b in zip(days, days[1:]))  # then every 56 days (the toy schedule)
        if r.DTHDT is not None:
            assert max(r.CONTACTDT) < r.DTHDT  # no contact after death
        alive_on = set(ss.loc[ss["USUBJID"] == r.USUBJID, "SSDTC"])
        assert {d.isoformat() for d in r.CONTACTDT} <= alive_on  # each contact is an ALIVE survival status
    # at an early cut, the last date known alive of a patient in follow-up is the last contact before the cut
    cut = toy_facts.cutoffs["interim"]
    adam = derive_adam(data_cut(build_sdtm(records, "TOY"), cut), cut, toy_criteria, toy_facts.cycle_days,
                       toy_facts.teae_window_days, outcomes="safety")
    adsl = adam["ADSL"].set_index("USUBJID")
    for r in with_contacts.itertuples():
        before = [d for d in r.CONTACTDT if d <= cut]
        if before and r.DTHDT is None:
            assert pd.Timestamp(adsl.loc[r.USUBJID, "LSTALVDT"]).date() >= max(before)
