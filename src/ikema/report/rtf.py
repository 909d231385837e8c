"""Tables and figures of `ikema analyze` as RTF files (rtflite), each with title, population, footnotes and source.

Renders only: every number comes from the results dict of the analysis (results.json schema)."""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import polars as pl
import rtflite as rl

from ikema.report.analyze import format_p, km_plots
from ikema.report.figures import forest_plot

PVALUE_NOTE = "p-values below 0.0001 are shown as <0.0001."
RAW = [False]  # text as given: rtflite's LaTeX-like conversion would read '_' in names as a subscript


def _write_quietly(doc: rl.RTFDocument, path: Path) -> None:
    with contextlib.redirect_stdout(io.StringIO()):  # write_rtf prints the file name
        doc.write_rtf(str(path))


def _f(v: object, digits: int = 1) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "NR"
    return f"{float(v):.{digits}f}"


def _ci(v: object, lo: object, hi: object, digits: int = 1, scale: float = 1.0) -> str:
    def sc(x: object) -> object:
        return None if x is None else float(x) * scale
    return f"{_f(sc(v), digits)} ({_f(sc(lo), digits)}, {_f(sc(hi), digits)})"


def _p(p: object) -> str:
    return format_p(p, missing="-")


def _population(results: Mapping) -> str:
    pop = results.get("population") or {}
    if not pop.get("rule"):
        return "Population: all subjects"
    return f"Population: {pop['rule']} ({pop['n']} subjects)"


def _table(path: Path, rows: Sequence[Sequence[str]], header: Sequence[str], widths: Sequence[float],
           title: Sequence[str], footnotes: Sequence[str], source: str) -> Path:
    df = pl.DataFrame({f"c{i}": [str(r[i]) for r in rows] for i in range(len(header))})
    doc = rl.RTFDocument(
        df=df, rtf_page=rl.RTFPage(orientation="landscape"),
        rtf_title=rl.RTFTitle(text=list(title), text_convert=RAW),
        rtf_column_header=[rl.RTFColumnHeader(text=list(header), col_rel_width=list(widths), text_convert=RAW)],
        rtf_body=rl.RTFBody(col_rel_width=list(widths), cell_justification=[["l"] + ["c"] * (len(header) - 1)],
                            text_convert=RAW),
        rtf_footnote=rl.RTFFootnote(text=list(footnotes), text_convert=RAW),
        rtf_source=rl.RTFSource(text=[source], text_convert=RAW))
    _write_quietly(doc, path)
    return path


def _figure(path: Path, fig: plt.Figure, title: Sequence[str], footnotes: Sequence[str], source: str) -> Path:
    png = path.with_suffix(".png")
    fig.savefig(png, format="png", dpi=150, bbox_inches="tight")
    plt.close(fig)
    doc = rl.RTFDocument(rtf_page=rl.RTFPage(orientation="landscape"),
                         rtf_title=rl.RTFTitle(text=list(title), text_convert=RAW),
                         rtf_figure=rl.RTFFigure(figures=str(png), fig_width=8.0, fig_height=5.0),
                         rtf_footnote=rl.RTFFootnote(text=list(footnotes), as_table=False, text_convert=RAW),
                         rtf_source=rl.RTFSource(text=[source], as_table=False, text_convert=RAW))
    _write_quietly(doc, path)
    png.unlink()
    return path


def _arm_rows(results: Mapping, kind: str):
    """(parameter, its results, arm, arm results, comparison or None) of every arm of every parameter of a kind."""
    for p, r in results["parameters"].items():
        if r.get("kind") == kind:
            for arm, a in r["arms"].items():
                yield p, r, arm, a, r.get("comparisons", {}).get(arm)


def _arm_label(r: Mapping, arm: str) -> str:
    return arm + (" (reference)" if arm == r["reference_arm"] else "")


def efficacy_rows(results: Mapping) -> list[list[str]]:
    """Rows of the time-to-event table: parameter, arm, n, events, median, RMST, HR, p."""
    return [[p, _arm_label(r, arm), str(a["n"]), str(a["events"]), _ci(a["median"], a["median_lcl"], a["median_ucl"]),
             _ci(a.get("rmst"), a.get("rmst_lcl"), a.get("rmst_ucl")),
             "-" if c is None else _ci(c["hazard_ratio"], *c["hazard_ratio_ci"], digits=3),
             "-" if c is None else _p(c.get("hazard_ratio_p") if len(r["comparisons"]) > 1 else r.get("logrank_p"))]
            for p, r, arm, a, c in _arm_rows(results, "tte")]


def response_rows(results: Mapping) -> list[list[str]]:
    """Rows of the response table: parameter, arm, n, responders, rate, difference, odds ratio, CMH p."""
    return [[p, _arm_label(r, arm), str(a["n"]), str(a["responders"]), _ci(a["rate"], a["cp_lcl"], a["cp_ucl"], scale=100),
             "-" if c is None else _ci(c["rate_difference"], *c["rate_difference_ci"], scale=100),
             "-" if c is None else _ci(c["odds_ratio_experimental_vs_reference"],
                                       *c["odds_ratio_experimental_vs_reference_ci"], digits=2),
             "-" if c is None else f"{_p(c['cmh_p'])} / {_p(c['cmh_p_corrected'])}"]
            for p, r, arm, a, c in _arm_rows(results, "response")]


def safety_rows(safety: Mapping) -> tuple[list[str], list[list[str]]]:
    """Arms and rows of the TEAE overview and SOC/PT table: category or term, then n (%) per arm."""
    arms = list(safety.get("population", {}))
    rows = []
    for r in safety.get("overview", []):
        rows.append([r["category"]] + [f"{r['arms'][a]['n']} ({_f(r['arms'][a]['pct'])})" for a in arms])
    for r in safety.get("soc_pt", []):
        label = {"overall": "Any TEAE by system organ class", "soc": r["soc"], "pt": f"   {r['pt']}"}[r["level"]]
        rows.append([label] + [f"{r['arms'][a]['n']} ({_f(r['arms'][a]['pct'])})" for a in arms])
    return arms, rows


def write_tlfs(results: Mapping, adtte: pd.DataFrame | None, adsl: pd.DataFrame, out: Path,
               source: str = "") -> list[Path]:
    """Write the efficacy, landmark, response and safety tables and the KM and forest figures as RTF into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    src = f"Source: {source}; ikema analyze (results.json)" if source else "Source: ikema analyze (results.json)"
    pop = _population(results)
    strata = ("stratified by " + " x ".join(results["strata"])) if results.get("strata") else "unstratified"
    level = f"{100 * float(results.get('conf_level', 0.95)):g}%"
    written = []
    tte = efficacy_rows(results)
    if tte:
        written.append(_table(
            out / "t_efficacy_tte.rtf", tte,
            ["Parameter", "Arm", "n", "Events", f"Median, days ({level} CI)", "RMST, days (95% CI)",
             "Hazard ratio (95% CI)", "p-value"], [1.2, 2.4, 0.7, 0.8, 2.0, 2.0, 2.0, 1.0],
            ["Time-to-event endpoints: Kaplan-Meier medians, restricted mean survival time, hazard ratios", pop],
            [f"Medians: Kaplan-Meier with Brookmeyer-Crowley {level} CI ({results.get('conf_type', 'log-log')}).",
             "RMST: area under the Kaplan-Meier curve up to tau (per parameter in results.json, rmst_tau) with "
             "R survfit's standard error.",
             f"Hazard ratio versus the reference arm: Cox model, Efron ties, {strata}; with more than "
             "two arms one model with the arm as a factor and the Wald p-value; otherwise the log-rank p-value.",
             PVALUE_NOTE], src))
        lm_rows = [[p, arm, _f(lm["time"], 0), "beyond follow-up" if lm["survival"] is None else
                    _ci(lm["survival"], lm["lcl"], lm["ucl"], scale=100)]
                   for p, r, arm, a, c in _arm_rows(results, "tte") for lm in a.get("landmarks", [])]
        if lm_rows:
            written.append(_table(out / "t_landmarks.rtf", lm_rows,
                                  ["Parameter", "Arm", "Time, days", f"Survival, % ({level} CI)"], [1.2, 2.6, 1.2, 2.5],
                                  ["Kaplan-Meier survival at landmark times", pop],
                                  [f"Kaplan-Meier estimate with {results.get('conf_type', 'log-log')} {level} CI "
                                   "(R summary(survfit, times =)); times beyond the last observation are not estimated."],
                                  src))
        rows = [{"label": f"{p}: {arm}", "hr": c["hazard_ratio"], "lcl": c["hazard_ratio_ci"][0],
                 "ucl": c["hazard_ratio_ci"][1]}
                for p, r in results["parameters"].items() if r.get("kind") == "tte"
                for arm, c in r.get("comparisons", {}).items()]
        written.append(_figure(out / "f_forest.rtf", forest_plot(rows, f"Hazard ratio versus {results['reference_arm']} "
                                                                     "(95% CI), log scale"),
                               ["Forest plot of hazard ratios by parameter and arm", pop],
                               [f"Cox model, Efron ties, {strata}. A hazard ratio below 1 favours "
                                "the arm over the reference."], src))
        for p, fig in km_plots(results, adtte, adsl).items():
            written.append(_figure(out / f"f_km_{p}.rtf", fig, [f"Kaplan-Meier curves: {p}", pop],
                                   ["Numbers at risk below the plot; censored observations marked |. Time in months "
                                    "(days / 30.4375)."], src))
    resp = response_rows(results)
    if resp:
        written.append(_table(
            out / "t_response.rtf", resp,
            ["Parameter", "Arm", "n", "Responders", "Rate, % (95% CI)", "Difference, % (95% CI)",
             "Odds ratio (95% CI)", "CMH p / corrected"], [1.2, 2.4, 0.7, 1.1, 1.8, 1.9, 1.8, 1.6],
            ["Response endpoints: rates, differences and Cochran-Mantel-Haenszel tests", pop],
            ["Rates with Clopper-Pearson exact 95% CI; differences versus the reference arm.",
             f"CMH test ({strata}), without and with continuity correction (R mantelhaen.test); "
             "'-' where the test is not defined.", PVALUE_NOTE], src))
    safety = results.get("safety")
    if safety and (safety.get("overview") or safety.get("soc_pt")):
        arms, rows = safety_rows(safety)
        n = safety.get("population", {})
        written.append(_table(
            out / "t_safety_teae.rtf", rows, ["Category / system organ class / preferred term"]
            + [f"{a} (N={n[a]}) n (%)" for a in arms], [4.0] + [1.8] * len(arms),
            ["Treatment-emergent adverse events: overview and by system organ class and preferred term",
             "Population: safety (SAFFL = 'Y')"],
            ["n (%): subjects with at least one event; percentages of the arm's safety population."], src))
    return written
