"""Reusable report figures: Kaplan-Meier curves by arm with the numbers at risk under the plot."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from ikema.errors import InputError  # noqa: E402
from ikema.stats import kaplan_meier  # noqa: E402

COLORS = ("#1f4e99", "#c0392b", "#2e8b57", "#8e44ad", "#d68910", "#5d6d7e")


def numbers_at_risk(adtte: pd.DataFrame, times: Sequence[float], arm_var: str = "TRT01P",
                    arms: Sequence[str] | None = None) -> dict[str, list[int]]:
    """Subjects still at risk (AVAL >= t) at each time, per arm, for one ADTTE parameter."""
    arms = list(arms) if arms is not None else sorted(adtte[arm_var].dropna().astype(str).unique())
    out = {}
    for a in arms:
        x = adtte[adtte[arm_var].astype(str) == a]
        out[a] = kaplan_meier(x["AVAL"], 1 - x["CNSR"]).n_risk_at(times).tolist() if len(x) else [0] * len(times)
    return out


def km_plot(adtte: pd.DataFrame, arm_var: str = "TRT01P", title: str = "", time_scale: float = 1.0,
            arms: Sequence[str] | None = None, risk_times: Sequence[float] | None = None,
            time_label: str | None = None, conf_int: bool = False) -> plt.Figure:
    """KM curves of one ADTTE parameter by arm (censor ticks, optional CI bands) with numbers at risk below."""
    for c in (arm_var, "AVAL", "CNSR"):
        if c not in adtte.columns:
            raise InputError(f"km_plot: column {c} missing; expected {arm_var}, AVAL, CNSR")
    arms = list(arms) if arms is not None else sorted(adtte[arm_var].dropna().astype(str).unique())
    tmax = float(adtte["AVAL"].max()) / time_scale if len(adtte) else 1.0
    if risk_times is None:
        ticks = MaxNLocator(nbins=8, integer=True, steps=[1, 2, 3, 5, 6, 10]).tick_values(0, tmax)
        ticks = ticks[(ticks >= 0) & (ticks <= tmax * 1.0001)]
    else:
        ticks = np.asarray(risk_times, dtype=float) / time_scale
    fig, (ax, axr) = plt.subplots(2, 1, figsize=(7.5, 5.2), gridspec_kw={"height_ratios": [4, 0.35 + 0.3 * len(arms)]},
                                  sharex=True)
    for k, a in enumerate(arms):
        x = adtte[adtte[arm_var].astype(str) == a]
        if x.empty:
            continue
        col = COLORS[k % len(COLORS)]
        km = kaplan_meier(x["AVAL"], 1 - x["CNSR"])
        t = np.r_[0.0, km.time] / time_scale
        ax.step(t, np.r_[1.0, km.surv], where="post", color=col, lw=1.6, label=f"{a} (n={km.n}, events={km.events})")
        if conf_int:
            ax.fill_between(t, np.r_[1.0, np.nan_to_num(km.lower, nan=1.0)], np.r_[1.0, np.nan_to_num(km.upper, nan=1.0)],
                            step="post", color=col, alpha=0.12, lw=0)
        cens = km.n_censor > 0
        ax.plot(km.time[cens] / time_scale, km.surv[cens], "|", color=col, ms=6, mew=1.0)
        nr = km.n_risk_at(ticks * time_scale)
        for tt, n in zip(ticks, nr):
            axr.text(tt, len(arms) - 1 - k, str(int(n)), ha="center", va="center", fontsize=8, color=col)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("Survival probability")
    ax.grid(alpha=0.25)
    ax.legend(loc="lower left", fontsize=8, frameon=False)
    if title:
        ax.set_title(title)
    axr.set_yticks(range(len(arms)), list(reversed(arms)), fontsize=8)
    axr.set_ylim(-0.6, len(arms) - 0.4)
    axr.set_xticks(ticks)
    axr.set_xlim(ax.get_xlim())
    axr.tick_params(axis="y", length=0)
    for side in ("top", "right", "left"):
        axr.spines[side].set_visible(False)
    axr.set_xlabel(time_label or ("Time (days)" if time_scale == 1.0 else "Time"))
    axr.set_title("Number at risk", fontsize=8, loc="left")
    fig.tight_layout()
    return fig


def forest_plot(rows: Sequence[dict], xlabel: str = "Hazard ratio (95% CI), log scale") -> plt.Figure:
    """Forest plot, one row per {"label", "hr", "lcl", "ucl"} (rows without an estimate are listed, not drawn)."""
    fig, ax = plt.subplots(figsize=(7.5, 0.4 * len(rows) + 1.2))
    n = len(rows)
    for i, r in enumerate(rows):
        y = n - 1 - i
        if r.get("hr") is None:
            continue
        if r.get("lcl") is not None and r.get("ucl") is not None:
            ax.plot([r["lcl"], r["ucl"]], [y, y], color="k", lw=1)
        ax.plot([r["hr"]], [y], "s", color=COLORS[0])
    ax.set_yticks(range(n), [r["label"] for r in reversed(rows)], fontsize=8)
    ax.axvline(1.0, color="grey", ls="--", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.25)
    fig.tight_layout()
    return fig


def figure_data_uri(fig: plt.Figure, dpi: int = 96) -> str:
    """A figure as a base64 PNG data URI (closes the figure)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
