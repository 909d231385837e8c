"""The trial report (out/report.html) of the results of every data cut: efficacy per cut with the group-sequential
decision, KM plots with numbers at risk, the forest plot of the results' subgroup rows, a CONSORT diagram, a swimmer
plot of patients' M-protein and responses, published beside simulated values for a virtual trial, and the
safety/PK/ADA/QoL sections. It renders results; it runs no analysis."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from jinja2 import Environment, PackageLoader, select_autoescape  # noqa: E402
from ikema.report.analyze import format_p  # noqa: E402

from ikema.report.common import decision_sentence, png_data_uri as png  # noqa: E402
from ikema.report.figures import km_plot  # noqa: E402

MONTH = 30.4375


def km_figure(adtte: pd.DataFrame, paramcd: str, arms: Sequence[str], title: str) -> str:
    """KM plot (data URI) of one ADTTE parameter by arm with the numbers at risk."""
    d = adtte[adtte["PARAMCD"] == paramcd]
    return png(km_plot(d, arm_var="TRT01P", title=title, time_scale=MONTH, arms=list(arms),
                       time_label="Months since randomization"))


def forest_figure(rows: list[dict], parameter: str = "PFS") -> str:
    """Forest plot: one row per subgroup (label, hr, lcl, ucl, n)."""
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(rows) + 1))
    for i, r in enumerate(rows[::-1]):
        if r["hr"] is None:
            continue
        ax.plot([r["lcl"], r["ucl"]], [i, i], color="k", lw=1)
        ax.plot([r["hr"]], [i], "s", color="#1f77b4")
    ax.set_yticks(range(len(rows)), [f"{r['label']} (n={r['n']})" for r in rows[::-1]], fontsize=8)
    ax.axvline(1.0, color="grey", ls="--", lw=0.8)
    ax.set_xscale("log")
    ticks = [0.1, 0.2, 0.5, 1.0, 2.0, 5.0]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel(f"{parameter} hazard ratio (95% CI), experimental vs control")
    return png(fig)


def swimmer_figure(assess: pd.DataFrame, responses: pd.DataFrame, adsl: pd.DataFrame, n: int = 12) -> str:
    """Serum M-protein over time of a sample of patients with their per-assessment IMWG responses."""
    ids = adsl["USUBJID"].iloc[np.linspace(0, len(adsl) - 1, min(n, len(adsl))).astype(int)].tolist()
    fig, axes = plt.subplots(len(ids), 1, figsize=(8, 0.9 * len(ids) + 1), sharex=True)
    axes = np.atleast_1d(axes)
    colors = {"sCR": "#08306b", "CR": "#2171b5", "VGPR": "#6baed6", "PR": "#9ecae1", "MR": "#fdae6b", "SD": "#bdbdbd", "PD": "#d62728", "NE": "#ffffff"}
    for ax, u in zip(axes, ids):
        a = assess[(assess["USUBJID"] == u) & (assess["PARAM"] == "SMPROT")]
        ax.plot(a["ADY"] / MONTH, a["AVAL"], "-o", ms=2, color="k", lw=0.8)
        r = responses[responses["USUBJID"] == u]
        for day, resp in zip(r["ADY"], r["RESP"]):
            ax.axvspan(day / MONTH - 0.4, day / MONTH + 0.4, color=colors.get(resp, "#ffffff"), alpha=0.8, lw=0)
        arm = adsl.loc[adsl["USUBJID"] == u, "TRT01P"].iloc[0]
        ax.set_ylabel(f"{u[-4:]}\n{arm}", fontsize=7, rotation=0, ha="right", va="center")
        ax.tick_params(labelsize=7)
    axes[-1].set_xlabel("Months since day 1; line: serum M-protein (g/dL); bands: IMWG response at each assessment")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colors.values()]
    fig.legend(handles, list(colors), ncol=8, loc="upper center", fontsize=7)
    return png(fig)


def render(context: dict, out: Path) -> Path:
    """Render the trial report template with `context` to `out`."""
    env = Environment(loader=PackageLoader("ikema.report", "templates"), autoescape=select_autoescape(["html"]))
    env.filters["fmt"] = lambda v, d=2: "—" if v is None or (isinstance(v, float) and not np.isfinite(v)) else (f"{v:.{d}f}" if isinstance(v, (float, np.floating)) else str(v))
    env.filters["tojson_pretty"] = lambda v: json.dumps(v, indent=1)
    env.filters["pval"] = format_p
    html = env.get_template("trial.html").render(**context)
    out.write_text(html, encoding="utf-8")
    return out


def render_trial(results: Mapping, adams: Mapping[str, Mapping[str, pd.DataFrame]], out: Path,
                 assessments: pd.DataFrame | None = None) -> Path:
    """Render the trial report of `results` (ikema.pipeline.analyse_trial) to `out`: KM figures from the ADaM of
    each cut given in `adams` (cut name -> datasets; cuts without ADaM get no figure), the swimmer plot from the
    `assessments` (USUBJID, ADY, PARAM, AVAL) when given."""
    arms = [results["arms"]["experimental"], results["arms"]["control"]]
    names = list(results["cutoffs"])
    main = results.get("main_cut", names[-1])
    primary = (results.get("group_sequential") or {}).get("parameter", "PFS")
    cuts = []
    for name, date in results["cutoffs"].items():
        figs = []
        if name in adams and "ADTTE" in adams[name]:
            figs.append(km_figure(adams[name]["ADTTE"], primary, arms, f"{primary} ({name} cut)"))
            if name == names[-1] or name == main:
                figs.append(km_figure(adams[name]["ADTTE"], "OS", arms, f"OS ({name} cut)"))
        res = results["cuts"][name]
        gs = res.get("group_sequential")
        cuts.append({"name": name, "date": str(date), "results": res, "figures": figs,
                     "decision": decision_sentence(gs) if gs else None})
    adam = adams.get(main, {})
    swimmer = None
    if assessments is not None and "ADRS" in adam:
        ovr = adam["ADRS"][adam["ADRS"]["PARAMCD"] == "OVR"].rename(columns={"AVALC": "RESP"})
        swimmer = swimmer_figure(assessments, ovr, adam["ADSL"])
    from ikema.report.safety import render_outcome_sections

    ctx = {
        "title": results.get("title", results.get("study", "")), "seed": results.get("seed"),
        "n_screened": results.get("enrollment", {}).get("screened"), "n_randomized": results["consort"]["randomized"],
        "cutoffs": results["cutoffs"], "consort": results["consort"], "comparison": results.get("published_comparison", []),
        "cuts": cuts, "forest": forest_figure(results["forest"], results.get("forest_parameter", primary)) if results.get("forest") else None,
        "swimmer": swimmer, "outcomes_html": render_outcome_sections(results), "main_cut": main,
        "forest_parameter": results.get("forest_parameter", primary),
    }
    return render(ctx, out)
