"""QoL section of the report: mean change from baseline by cycle per arm with 95% CIs (figure and table)."""

from __future__ import annotations

import html
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from ikema.report.common import png_data_uri, table_html as _table  # noqa: E402


def change_figure(rows: list[dict], params: list[str]) -> plt.Figure:
    """Small multiples: mean change from baseline (95% CI) versus cycle, one line per arm, one panel per scale."""
    df = pd.DataFrame(rows)
    df = df[df["AVISITN"] < 900]
    ncol = min(4, max(1, len(params)))
    nrow = math.ceil(len(params) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.6 * nrow), squeeze=False)
    for ax, p in zip(axes.ravel(), params):
        sub = df[df["PARAMCD"] == p]
        for k, (arm, g) in enumerate(sub.groupby("TRTA", sort=True)):
            g = g.sort_values("AVISITN")
            x = g["AVISITN"].to_numpy(dtype=float) + (k - 0.5) * 0.15
            y = g["mean"].to_numpy(dtype=float)
            lo = (g["mean"] - g["lcl"]).fillna(0).to_numpy(dtype=float)
            hi = (g["ucl"] - g["mean"]).fillna(0).to_numpy(dtype=float)
            ax.errorbar(x, y, yerr=[lo, hi], marker="o", ms=3, capsize=2, label=str(arm))
        ax.axhline(0, color="grey", lw=0.6)
        ax.set_title(str(sub["PARAM"].iloc[0]) if len(sub) else p, fontsize=8)
        ax.set_xlabel("Cycle", fontsize=7)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(params):]:
        ax.set_visible(False)
    axes.ravel()[0].set_ylabel("Change from baseline (95% CI)", fontsize=7)
    axes.ravel()[0].legend(fontsize=6)
    fig.tight_layout()
    return fig


def render_qol_html(results: dict) -> str:
    """Self-contained HTML fragment of `analyze_qol` results (figure inline as base64 PNG)."""
    parts = ['<section id="qol"><h2>Quality of life (EORTC QLQ-C30, QLQ-MY20, EQ-5D-5L)</h2>']
    if results.get("value_set"):
        parts.append(f"<p>EQ-5D-5L index: {html.escape(results['value_set'])} value set.</p>")
    rows = results.get("change_from_baseline") or []
    params = [p for p in results.get("parameters", []) if any(r["PARAMCD"] == p for r in rows)]
    if rows and params:
        parts.append(f'<figure><img alt="QoL change from baseline" src="{png_data_uri(change_figure(rows, params))}"/>'
                     "</figure>")

        def f(v: object) -> str:
            return "" if v is None else f"{v:.1f}"
        body = [[r["PARAM"], str(r["TRTA"]), r["AVISIT"], str(r["n"]), f(r["mean"]),
                 f"({f(r['lcl'])}, {f(r['ucl'])})" if r["lcl"] is not None else ""] for r in rows]
        parts.append("<h3>Change from baseline by cycle</h3>"
                     + _table(["Scale", "Arm", "Visit", "n", "Mean change", "95% CI"], body, "qol"))
    parts.append("</section>")
    return "".join(parts)
