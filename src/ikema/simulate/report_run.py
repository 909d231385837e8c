"""From the SDTM of the virtual trial to out/sdtm, out/adam, out/results.json and out/report.html."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing as mp
import os
from collections.abc import Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from ikema.cdisc.sdtm import data_cut, disease_assessments, write_domains
from ikema.response import Criteria
from ikema.simulate.evaluate import efficacy, safety_summary, treatment_status
from ikema.simulate.facts import TrialFacts
from ikema.simulate.published import quantities
from ikema.simulate.virtual import adam_from_sdtm

SUBGROUPS = (
    ("STRAT1R", "Prior lines"), ("STRAT2R", "R-ISS stratum"), ("AGEGR70", "Age"), ("HIGHRISK", "High-risk cytogenetics"),
    ("GAIN1Q", "Gain(1q21)"), ("EGFRLT60", "eGFR < 60"),
)


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, (dt.date, pd.Timestamp)):
        return str(obj)[:10]
    return obj


def analyse_cut(sdtm: dict, facts: TrialFacts, cutoff: dt.date, criteria: Criteria, outcomes: bool | str = True) -> tuple[dict, dict]:
    """(ADaM, results) of one data cut: efficacy in the `ikema analyze` schema plus the safety summary."""
    cut = data_cut(sdtm, cutoff)
    adam = adam_from_sdtm(cut, facts, cutoff, criteria, outcomes=outcomes)
    res = efficacy(adam, facts.experimental, facts.control)
    if outcomes:
        res["safety_summary"] = safety_summary(adam, facts.experimental, facts.control)
        res["safety_summary"].update(treatment_status(adam["ADSL"], cut["DS"], facts.experimental, facts.control))
    return adam, res


def compare(results_by_cut: dict[str, dict], exp: str, ctl: str) -> list[dict]:
    """Published beside simulated value for every published quantity whose cut was analysed."""
    rows = []
    for q in quantities(exp, ctl):
        if q.cutoff not in results_by_cut:
            continue
        rows.append({"key": q.key, "label": q.label, "cutoff": q.cutoff, "published": q.published,
                     "simulated": q.read(results_by_cut[q.cutoff]), "source": q.source})
    return rows


def forest_rows(adam: dict, exp: str, ctl: str) -> list[dict]:
    """PFS hazard ratio overall and within each level of the stratification factors and subgroups (unstratified Cox)."""
    from ikema.stats import coxph

    adsl = adam["ADSL"]
    pfs = adam["ADTTE"][adam["ADTTE"]["PARAMCD"] == "PFS"][["USUBJID", "AVAL", "CNSR"]].merge(adsl, on="USUBJID")
    rows = []

    def hr(d: pd.DataFrame, label: str) -> None:
        ok = d["TRT01P"].nunique() == 2 and (d["CNSR"] == 0).sum() >= 3
        r = {"label": label, "n": int(len(d)), "hr": None, "lcl": None, "ucl": None}
        if ok:
            fit = coxph(d["AVAL"].to_numpy(float), (d["CNSR"] == 0).astype(int).to_numpy(),
                        (d["TRT01P"] == exp).to_numpy(float)[:, None])
            r.update(hr=float(fit.hazard_ratio[0]), lcl=float(fit.hr_lcl[0]), ucl=float(fit.hr_ucl[0]))
        rows.append(r)

    hr(pfs, "All patients")
    for col, name in SUBGROUPS:
        if col not in pfs.columns:
            continue
        for level in sorted(pfs[col].dropna().astype(str).unique()):
            hr(pfs[pfs[col].astype(str) == level], f"{name}: {level}")
    return rows


def consort(enrollment: dict, sdtm: dict, exp: str, ctl: str) -> dict:
    """CONSORT counts: screened, failures by criterion, randomized, treated and end-of-treatment reasons per arm."""
    dm = sdtm["DM"]
    ds = sdtm["DS"]
    eot = ds[ds.get("DSSCAT", pd.Series("", index=ds.index)) == "END OF TREATMENT"]
    arms = {}
    for arm in (exp, ctl):
        ids = set(dm.loc[dm["ARMCD"] == arm, "USUBJID"])
        treated = set(sdtm["EX"].loc[sdtm["EX"]["USUBJID"].isin(ids), "USUBJID"])
        reasons = eot[eot["USUBJID"].isin(ids)]["DSDECOD"].value_counts().to_dict()
        reasons["ONGOING"] = len(treated) - int(sum(reasons.values()))
        arms[arm] = {"randomized": len(ids), "treated": len(treated), "eot": {k: int(v) for k, v in reasons.items()}}
    return {"screened": enrollment.get("screened"), "screen_failures": enrollment.get("screen_failures"),
            "failures_by_criterion": enrollment.get("failures_by_criterion", {}), "randomized": int(len(dm)), "arms": arms}


_SHARED: dict = {}  # the worker's view of the trial (SDTM, facts, criteria): inherited at fork, never pickled


def _write_sdtm(where: Path, cutoff: dt.date) -> list[Path]:
    # the SDTM package is the data cut the ADaM package is derived from (deaths and dates agree across them)
    return write_domains(data_cut(_SHARED["sdtm"], cutoff), where, define=True)


def _analyse_secondary(name: str) -> tuple[dict, dict]:
    facts = _SHARED["facts"]
    return analyse_cut(_SHARED["sdtm"], facts, facts.cutoffs[name], _SHARED["criteria"], "safety")


@contextmanager
def _second_core(**shared: object) -> Iterator[Executor]:
    """One worker process that sees `shared` without copying it (fork); in-process where fork is unavailable."""
    _SHARED.clear()
    _SHARED.update(shared)
    try:
        if "fork" in mp.get_all_start_methods() and (os.cpu_count() or 1) > 1:
            with ProcessPoolExecutor(1, mp_context=mp.get_context("fork")) as pool:
                yield pool
        else:
            with _InProcess() as pool:
                yield pool
    finally:
        _SHARED.clear()


class _InProcess(Executor):
    """An executor that runs each job at submit (one core, or no fork)."""

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[override]
        f: Future = Future()
        try:
            f.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the caller at result()
            f.set_exception(exc)
        return f


def write_outputs(
    sdtm: dict, facts: TrialFacts, criteria: Criteria, out: Path, seed: int, enrollment: dict,
    advance: Callable[[str], None] = lambda _s: None,
) -> dict:
    """Write out/sdtm, out/adam (final PFS cut), out/results.json and out/report.html; return the results."""
    from ikema.report import trial as rep

    exp, ctl = facts.experimental, facts.control
    main = "final" if "final" in facts.cutoffs else list(facts.cutoffs)[-1]
    by_cut, adams = {}, {}
    with _second_core(sdtm=sdtm, facts=facts, criteria=criteria) as pool:
        # the other core writes out/sdtm and analyses the secondary cuts while this one analyses the main cut
        jobs = {"SDTM written": pool.submit(_write_sdtm, out / "sdtm", facts.cutoffs[main])}
        for name in facts.cutoffs:
            if name != main:
                jobs[f"analysed the {name} cut"] = pool.submit(_analyse_secondary, name)
        adams[main], by_cut[main] = analyse_cut(sdtm, facts, facts.cutoffs[main], criteria, True)
        advance(f"analysed the {main} cut")
        adam = adams[main]
        adam_written = pool.submit(write_domains, dict(adam), out / "adam", ("csv", "xpt"), True)
        outcomes_res, outcomes_html = {}, ""
        try:
            from ikema.report.safety import outcome_sections

            outcomes_res, outcomes_html = outcome_sections(adam, reference_arm=ctl)
        except ImportError:
            outcomes_html = "<p>Outcome analyses are not installed.</p>"
        advance("safety, PK, ADA and QoL analysed")
        for label, job in jobs.items():
            value = job.result()
            if label.startswith("analysed the "):
                name = label[len("analysed the "):-len(" cut")]
                adams[name], by_cut[name] = value
            advance(label)
        adam_written.result()
    by_cut = {name: by_cut[name] for name in facts.cutoffs}  # protocol order in results.json
    comparison = compare(by_cut, exp, ctl)
    cons = consort(enrollment, sdtm, exp, ctl)
    results = {
        "study": facts.protocol_id if hasattr(facts, "protocol_id") else "IKEMA",
        "seed": seed,
        "cutoffs": {k: str(v) for k, v in facts.cutoffs.items()},
        "parameters": by_cut[main]["parameters"],
        "strata": ["STRAT1R", "STRAT2R"],
        "cuts": by_cut,
        "published_comparison": comparison,
        "consort": cons,
        "enrollment": enrollment,
        **outcomes_res,
    }
    results = _jsonable(results)
    (out / "results.json").write_text(json.dumps(results, indent=1, allow_nan=False), encoding="utf-8")
    cuts = []
    for name, date in facts.cutoffs.items():
        figs = [rep.km_figure(adams[name]["ADTTE"], "PFS", (exp, ctl), f"PFS ({name} cut)")]
        if name == list(facts.cutoffs)[-1] or name == main:
            figs.append(rep.km_figure(adams[name]["ADTTE"], "OS", (exp, ctl), f"OS ({name} cut)"))
        cuts.append({"name": name, "date": str(date), "results": results["cuts"][name], "figures": figs})
    assess = disease_assessments(sdtm)[["USUBJID", "ADY", "PARAM", "AVAL"]]
    ovr = adam["ADRS"][adam["ADRS"]["PARAMCD"] == "OVR"].rename(columns={"AVALC": "RESP"})
    ctx = {
        "title": "IKEMA (NCT03275285): the virtual trial",
        "seed": seed, "n_screened": enrollment.get("screened"), "n_randomized": int(len(sdtm["DM"])),
        "cutoffs": {k: str(v) for k, v in facts.cutoffs.items()}, "consort": cons, "comparison": comparison,
        "cuts": cuts, "forest": rep.forest_figure(forest_rows(adam, exp, ctl)),
        "swimmer": rep.swimmer_figure(assess, ovr, adam["ADSL"]), "outcomes_html": outcomes_html,
    }
    rep.render(ctx, out / "report.html")
    advance("report written")
    return results
