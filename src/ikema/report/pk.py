"""PK section of the report: mean concentration-time plots (inline PNG) and NCA summaries by cycle."""

from __future__ import annotations

import html

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from ikema.report.common import png_data_uri, table_html as _table  # noqa: E402


def _label(col: str, value: object) -> str:
    """Legend text of one grouping value: the arm as is, a numeric cycle as 'cycle N'."""
    if col == "CYCLE" and isinstance(value, (int, float)) and value == value:
        return f"cycle {int(value)}"
    return str(value)


def concentration_time_figure(mean_rows: list[dict], analyte: str, log_scale: bool = True) -> plt.Figure:
    """Mean (+/- SD) concentration versus time after dose by time point, one line per arm and dosing visit."""
    df = pd.DataFrame(mean_rows)
    df = df[df["ANALYTE"] == analyte] if "ANALYTE" in df.columns else df
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    group = [c for c in ("TRTA", "AVISIT") if c in df.columns] or [c for c in ("TRTA", "CYCLE") if c in df.columns]
    parts = df.groupby(group, sort=True) if group else [((), df)]
    for key, g in parts:
        key = key if isinstance(key, tuple) else (key,)
        g = g.sort_values("TIME")
        sd = g["sd"].fillna(0).to_numpy(dtype=float)
        ax.errorbar(g["TIME"], g["mean"], yerr=sd, marker="o", ms=3, capsize=2,
                    label=", ".join(_label(c, k) for c, k in zip(group, key)) or analyte)
    ax.set_xlabel("Time after dose (h; nominal time point, median actual time)")
    ax.set_ylabel(f"{analyte} concentration (mean \u00b1 SD)")
    if log_scale and (df["mean"] > 0).any():
        ax.set_yscale("log")
    ax.legend(fontsize=7)
    ax.set_title(f"{analyte}: concentration-time profile")
    return fig


def render_pk_html(results: dict) -> str:
    """Self-contained HTML fragment of `analyze_pk` results (figures inline as base64 PNG)."""
    parts = ['<section id="pk"><h2>Pharmacokinetics (non-compartmental analysis)</h2>']
    mean_rows = results.get("mean_concentration") or []
    analytes = sorted({r.get("ANALYTE") for r in mean_rows if r.get("ANALYTE") is not None})
    for a in analytes:
        uri = png_data_uri(concentration_time_figure(mean_rows, a))
        parts.append(f'<figure><img alt="{html.escape(a)} concentration-time" src="{uri}"/></figure>')
    rows = results.get("summary_by_cycle") or []
    if rows:
        def f(v: object, spec: str = "{:.3g}") -> str:
            return "" if v is None else spec.format(v)
        keys = [k for k in ("TRTA", "ANALYTE", "CYCLE", "AVISIT") if k in rows[0]]
        body = [[str(r.get(k, "")) for k in keys] + [r["PARAMCD"], str(r["n"]),
                 f(r["geomean"]), f(r["geocv_pct"], "{:.1f}"), f(r["median"]), f"{f(r['min'])}\u2013{f(r['max'])}"]
                for r in rows]
        parts.append("<h3>NCA parameters by cycle (geometric mean, geometric CV%; Tmax: median, range)</h3>"
                     + _table([*keys, "Parameter", "n", "Geo. mean", "Geo. CV%", "Median", "Range"], body, "pk"))
    parts.append("</section>")
    return "".join(parts)


def render_immunogenicity_html(results: dict) -> str:
    """Self-contained HTML fragment of `analyze_immunogenicity` results."""
    def f(c: dict) -> str:
        return f"{c['n']} ({c['pct']:.1f}%)" if c["pct"] is not None else str(c["n"])
    body = [[r["arm"], str(r["evaluable"]), f(r["baseline_positive"]), f(r["induced"]), f(r["boosted"]),
             f(r["treatment_emergent"])] for r in results.get("incidence", [])]
    d = results.get("definitions", {})
    return ('<section id="immunogenicity"><h2>Immunogenicity (anti-drug antibodies)</h2>'
            + _table(["Arm", "Evaluable", "Baseline ADA+", "Treatment-induced", "Treatment-boosted",
                      "Treatment-emergent ADA"], body, "ada")
            + f"<p>Treatment-induced: {d.get('induced', '')}; treatment-boosted: {d.get('boosted', '')}. "
              "Percentages of evaluable subjects (at least one post-baseline sample).</p></section>")
