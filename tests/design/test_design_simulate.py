"""The batched simulation engine: its log-rank is ikema.stats.logrank, its type I error and power agree with
theory and with rpact's getSimulationSurvival within Monte Carlo error, and a seed gives the same result on 1 or 2
local worker threads and on a Dask cluster."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ikema.design.engine import logrank_z_batch, simulate_chunk, trial_patients
from ikema.design.scenario import scenario_from_protocol
from ikema.design.simulate import CHUNK_TRIALS, chunk_plan, run_simulation
from ikema.errors import IkemaError
from ikema.protocol import load_protocol
from ikema.stats import logrank
from ikema.stats.groupseq import efficacy_boundaries, power_at_events

RPACT = json.loads((Path(__file__).parent / "rpact_simulation.json").read_text())


@pytest.fixture(scope="module")
def ikema_scenario():
    return scenario_from_protocol()


def test_scenario_comes_from_the_protocol(ikema_scenario):
    p = load_protocol()
    d = p.design
    sc = ikema_scenario
    assert sc.n_patients == p.study.enrollment
    assert sc.allocation == (p.randomization.ratio[p.arm_by_role("experimental").code],
                             p.randomization.ratio[p.arm_by_role("control").code])
    assert sc.look_events == tuple(round(t * d.planned_pfs_events) for t in d.information_rates)
    assert sc.look_events == (103, 159)
    assert sc.stratum_prevalence == tuple(s.prevalence for s in d.stratum_prevalence)
    assert sc.control_hazards == (math.log(2) / d.control_median_pfs_months,)
    assert sc.efficacy_z == efficacy_boundaries(d.information_rates, d.alpha_one_sided, d.spending).efficacy_z


@pytest.mark.parametrize("stratified", [True, False])
def test_engine_logrank_is_ikema_logrank(ikema_scenario, stratified):
    sc = replace(ikema_scenario, hazard_ratio=0.8, stratified=stratified)
    n, seed = 6, np.random.SeedSequence(11)
    pats = trial_patients(sc, n, seed)
    res = simulate_chunk(sc, n, seed)
    checked = 0
    for b in range(n):
        for k in range(res["last"][b] + 1):
            tau = res["tau"][b, k]
            e, t, d = pats["entry"][b], pats["t_event"][b], pats["t_drop"][b]
            inc = e <= tau
            event = (t <= d) & (e + t <= tau)
            y = np.where(event, t, np.minimum(d, tau - e))
            lr = logrank(y[inc], event[inc].astype(int), pats["arm"][b][inc],
                         strata=pats["stratum"][b][inc] if stratified else None)
            assert int(event[inc].sum()) == res["events"][b, k] == sc.look_events[k]
            assert inc.sum() == res["enrolled"][b, k]
            assert -lr.z == pytest.approx(res["z"][b, k], abs=1e-10)  # ikema's z is (O - E) of arm 1, ours E - O
            checked += 1
    assert checked >= n


def test_batched_logrank_with_ties_and_strata_is_ikema_logrank():
    rng = np.random.default_rng(3)
    b, n = 8, 120
    time = np.ceil(rng.exponential(10, (b, n)))  # whole months: many ties, within and across strata
    event = rng.random((b, n)) < 0.7
    arm = (rng.random((b, n)) < 0.6).astype(int)
    stratum = rng.integers(0, 3, (b, n))
    count = np.array([n, n - 7, n, 50, n, n - 1, 90, n])
    for strat in (stratum, None):
        z = logrank_z_batch(time, event, arm, strat, count)
        for i in range(b):
            m = count[i]
            lr = logrank(time[i, :m], event[i, :m].astype(int), arm[i, :m], None if strat is None else strat[i, :m])
            assert z[i] == pytest.approx(-lr.z, abs=1e-10)


def test_randomization_is_three_to_two_within_strata(ikema_scenario):
    pats = trial_patients(ikema_scenario, 200, np.random.SeedSequence(2))
    share = pats["arm"].mean()
    assert share == pytest.approx(3 / 5, abs=0.005)  # permuted blocks: each stratum is off by less than one block
    prev = np.bincount(pats["stratum"].ravel(), minlength=6) / pats["stratum"].size
    np.testing.assert_allclose(prev, ikema_scenario.stratum_prevalence, atol=0.005)
    assert np.all(np.diff(pats["entry"], axis=1) >= 0) and pats["entry"].max() < ikema_scenario.accrual_months


def test_type_one_error_under_hr_1(ikema_scenario):
    n = 5000
    r = run_simulation(replace(ikema_scenario, hazard_ratio=1.0), n, seed=101, workers=1)
    se = math.sqrt(0.025 * 0.975 / n)
    assert abs(r.rejection_probability - 0.025) < 3.5 * se
    assert abs(r.rejection_by_look[0] - 0.0054339) < 3.5 * math.sqrt(0.0054339 / n)
    assert r.rejection_probability_se == pytest.approx(math.sqrt(r.rejection_probability * (1 - r.rejection_probability) / n))


def test_power_close_to_analytic_design_power(ikema_scenario):
    # R is not available when the tests run: the stratified simulation is compared with the analytic power of the
    # rpact design at 159 events (Schoenfeld drift, 0.90009); the Schoenfeld approximation itself is a few tenths of
    # a percent off for 3:2 (rpact's own simulation gives 0.9098), inside the tolerance of 3.5 Monte Carlo SEs.
    n = 6000
    r = run_simulation(ikema_scenario, n, seed=202, workers=1)
    b = efficacy_boundaries([0.65, 1.0], 0.025, "obf")
    analytic = power_at_events(b, 0.59, 159, 1.5)
    assert analytic == pytest.approx(RPACT["analytic_power_hr_059"]["overall_reject"], abs=1e-7)
    assert abs(r.rejection_probability - analytic) < 3.5 * r.rejection_probability_se
    assert r.expected_sample_size == ikema_scenario.n_patients  # everyone is enrolled before the interim
    assert r.look_events[0] <= r.expected_events <= r.look_events[1]
    assert r.mean_look_months[0] < r.expected_duration_months < r.mean_look_months[1]


def test_unstratified_power_and_timing_agree_with_rpact_simulation(ikema_scenario):
    n = 6000
    r = run_simulation(replace(ikema_scenario, stratified=False), n, seed=303, workers=1)
    ref = RPACT["hr_059"]
    p_ref = ref["overall_reject"]
    se = math.sqrt(r.rejection_probability_se ** 2 + p_ref * (1 - p_ref) / RPACT["iterations"])
    assert abs(r.rejection_probability - p_ref) < 3.5 * se
    for k in range(2):
        pk = ref["reject_per_stage"][k]
        assert abs(r.rejection_by_look[k] - pk) < 3.5 * math.sqrt(pk * (1 - pk) / n)
    # random (ours) vs evenly spaced (rpact) entry times: the look times agree within a fraction of a month
    assert list(r.mean_look_months) == pytest.approx(ref["analysis_time_months"], abs=0.4)
    assert r.expected_events == pytest.approx(ref["expected_events"], abs=3.5 * r.expected_events_se + 0.5)


def test_delayed_effect_costs_power_and_piecewise_reproduces_exponential(ikema_scenario):
    n = 2000
    base = run_simulation(ikema_scenario, n, seed=7, workers=1)
    delayed = run_simulation(replace(ikema_scenario, delay_months=6.0), n, seed=7, workers=1)
    assert delayed.rejection_probability < base.rejection_probability - 10 * base.rejection_probability_se
    same = scenario_from_protocol(piecewise=f"0:{math.log(2) / 19!r}")
    assert run_simulation(same, n, seed=7, workers=1) == base


def test_piecewise_event_times_follow_the_hazards(ikema_scenario):
    sc = scenario_from_protocol(piecewise="0:0.1,5:0.02", hazard_ratio=0.5, delay_months=2.0)
    pats = trial_patients(sc, 100, np.random.SeedSequence(9))
    ctl = pats["t_event"][pats["arm"] == 0]
    exp_ = pats["t_event"][pats["arm"] == 1]
    for t, h in ((5.0, 0.5), (10.0, 0.5 + 0.1)):
        s = np.mean(ctl > t)
        assert s == pytest.approx(math.exp(-h), abs=3.5 * math.sqrt(s * (1 - s) / len(ctl)))
    # experimental: hazard 0.1 to month 2, 0.05 to month 5, then 0.01
    for t, h in ((2.0, 0.2), (5.0, 0.2 + 0.15), (10.0, 0.35 + 0.05)):
        s = np.mean(exp_ > t)
        assert s == pytest.approx(math.exp(-h), abs=3.5 * math.sqrt(s * (1 - s) / len(exp_)))


def test_same_seed_same_result_on_one_or_two_processes(ikema_scenario):
    n = 2 * CHUNK_TRIALS + 300
    one = run_simulation(ikema_scenario, n, seed=42, workers=1)
    two = run_simulation(ikema_scenario, n, seed=42, workers=2)
    assert one == two and one.chunks == 3 and one.trials == n
    other = run_simulation(ikema_scenario, n, seed=43, workers=1)
    assert other != one


def test_dask_cluster_result_equals_local(ikema_scenario):
    from dask.distributed import LocalCluster

    n = 2 * CHUNK_TRIALS + 500
    local = run_simulation(ikema_scenario, n, seed=77, workers=1)
    seen = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        remote = run_simulation(ikema_scenario, n, seed=77, scheduler=cluster.scheduler_address,
                                progress=lambda done, total: seen.append((done, total)))
    assert remote == local
    assert seen[-1] == (n, n) and len(seen) == 3


def test_chunk_streams_do_not_depend_on_the_total():
    a = chunk_plan(2500, 5)
    b = chunk_plan(5000, 5)
    assert [s.spawn_key for _, s in a] == [s.spawn_key for _, s in b][:3]
    assert [n for n, _ in a] == [1000, 1000, 500]


@pytest.mark.parametrize("kwargs,fragment", [
    ({"piecewise": "0:0.1,x"}, "piecewise: got"),
    ({"piecewise": "1:0.1"}, "starts from 0"),
    ({"piecewise": "0:0.1", "control_median": 12.0}, "expected one control-arm model"),
    ({"hazard_ratio": -1.0}, "hazard_ratio: got -1.0"),
    ({"delay_months": -2.0}, "delay_months: got -2.0"),
    ({"information_rates": [0.65, 0.6, 1.0]}, "information_rates: got"),
    ({"spending": "linear"}, "spending: got 'linear'"),
    ({"alpha": 0.5}, "alpha: got 0.5"),
    ({"n_patients": 100}, "look_events: got [103, 159] with 100 patients"),
    ({"annual_dropout": 1.0}, "annual_dropout: got 1.0"),
])
def test_bad_scenarios_are_refused(kwargs, fragment):
    with pytest.raises(IkemaError) as err:
        scenario_from_protocol(**kwargs)
    assert fragment in str(err.value)


def test_bad_run_arguments_are_refused(ikema_scenario):
    with pytest.raises(IkemaError, match=r"^trials: got 0"):
        run_simulation(ikema_scenario, 0, seed=1)
    with pytest.raises(IkemaError, match=r"^workers: got 0"):
        run_simulation(ikema_scenario, 10, seed=1, workers=0)
    with pytest.raises(IkemaError, match=r"^scheduler: got 'localhost:1'"):
        run_simulation(ikema_scenario, 10, seed=1, scheduler="localhost:1")
