"""The virtual-trial report (out/report.html): published beside simulated values for every outcome measure,
KM plots of PFS and OS with numbers at risk, a forest plot by stratification factors and subgroups, a CONSORT
diagram, a swimmer plot of patients' M-protein and responses, and the safety/PK/ADA/QoL sections."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from jinja2 import Environment, PackageLoader, select_autoescape  # noqa: E402
from ikema.report.analyze import format_p  # noqa: E402

MONTH = 30.4375


def png(fig: plt.Figure) -> str:
    """A figure as a base64 PNG data URI (closes the figure)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def km_figure(adtte: pd.DataFrame, paramcd: str, arms: tuple[str, str], title: str) -> str:
    """KM plot of one ADTTE parameter by arm with numbers at risk (ikema.report.figures.km_plot if present)."""
    d = adtte[adtte["PARAMCD"] == paramcd]
    try:
        from ikema.report.figures import km_plot
    except ImportError:
        km_plot = None
    if km_plot is not None:
        try:
            fig = km_plot(d, arm_var="TRT01P", title=title, time_scale=MONTH, arms=list(arms))
            return png(fig if isinstance(fig, plt.Figure) else plt.gcf())
        except TypeError:
            pass
    from statsmodels.duration.survfunc import SurvfuncRight

    fig, (ax, axr) = plt.subplots(2, 1, figsize=(7, 4.8), gridspec_kw={"height_ratios": [4, 1]}, sharex=True)
    ticks = np.arange(0, (d["AVAL"].max() / MONTH if len(d) else 1) + 6, 6)
    colors = {arms[0]: "#1f77b4", arms[1]: "#d62728"}
    for k, arm in enumerate(arms):
        x = d[d["TRT01P"] == arm]
        if x.empty:
            continue
        sf = SurvfuncRight(x["AVAL"].to_numpy(float) / MONTH, (x["CNSR"] == 0).astype(int).to_numpy())
        ax.step(np.r_[0, sf.surv_times], np.r_[1, sf.surv_prob], where="post", color=colors[arm], label=arm)
        cens = x[x["CNSR"] == 1]["AVAL"].to_numpy(float) / MONTH
        ax.plot(cens, [sf.surv_prob[np.searchsorted(sf.surv_times, c, side="right") - 1] if np.searchsorted(sf.surv_times, c, side="right") > 0 else 1.0 for c in cens],
                "|", color=colors[arm], ms=5)
        at = [(x["AVAL"].to_numpy(float) / MONTH >= t).sum() for t in ticks]
        for t, nr in zip(ticks, at):
            axr.text(t, 1 - k, str(nr), ha="center", va="center", fontsize=7, color=colors[arm])
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("Probability")
    ax.set_title(title)
    ax.legend(loc="lower left")
    axr.set_yticks([1, 0], list(arms))
    axr.set_ylim(-0.5, 1.5)
    axr.set_xticks(ticks)
    axr.set_xlabel("Months since randomization (number at risk below)")
    return png(fig)


def forest_figure(rows: list[dict]) -> str:
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
    ax.set_xlabel("PFS hazard ratio (95% CI), experimental vs control")
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
