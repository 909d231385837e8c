"""The `ikema analyze` report: one self-contained HTML page (KM figures embedded as PNG data URIs)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

import matplotlib.pyplot as plt

from ikema.report.figures import figure_data_uri, km_plot

MONTH = 30.4375
# top-level result sections other analyses add (e.g. "safety"), each rendered to an HTML fragment by its owner
SECTION_RENDERERS: dict[str, Callable[[dict], str]] = {}


def _num(v: object, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "NR"
    return f"{float(v):.{digits}f}"


def _pct(v: object, digits: int = 1) -> str:
    return "—" if v is None else f"{100 * float(v):.{digits}f}"


def _months(v: object) -> str:
    return "NR" if v is None else f"{float(v) / MONTH:.1f}"


def format_p(p: object, missing: str = "—") -> str:
    """A p-value with 4 decimals, '<0.0001' below 0.0001 (never 0.0000); `missing` for None or NaN."""
    if p is None or (isinstance(p, float) and not math.isfinite(p)):
        return missing
    p = float(p)
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


_pval = format_p


def _pphrase(p: object) -> str:
    """'< 0.0001' or '= 0.0123' after the letter p."""
    text = _pval(p)
    return text.replace("<", "< ") if text.startswith("<") else f"= {text}"


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
                      autoescape=select_autoescape(["html"]))
    env.filters.update(num=_num, months=_months, pval=_pval, pphrase=_pphrase, pct=_pct)
    return env


def km_plots(results: Mapping, adtte: pd.DataFrame | None, adsl: pd.DataFrame) -> dict[str, plt.Figure]:
    """KM plot (matplotlib figure) of each time-to-event parameter of the results, arms in results order."""
    if adtte is None:
        return {}
    arm_var = results.get("arm_var", "TRT01P")
    subj = adsl[["USUBJID", arm_var]]
    out = {}
    for p, r in results["parameters"].items():
        if r.get("kind") != "tte":
            continue
        d = adtte[adtte["PARAMCD"] == p].drop(columns=[arm_var], errors="ignore").merge(subj, on="USUBJID")
        d = d[d[arm_var].astype(str).isin(list(r["arms"]))]
        title = f"{p}: {r['param']}" if r.get("param") else p
        unit = r.get("time_unit", "days")
        out[p] = km_plot(d, arm_var=arm_var, title=title, time_scale=MONTH if unit == "days" else 1.0,
                         arms=list(r["arms"]), time_label="Months since randomization" if unit == "days" else
                         f"Time ({unit})")
    return out


def km_figures(results: Mapping, adtte: pd.DataFrame | None, adsl: pd.DataFrame) -> dict[str, str]:
    """KM plot (data URI) of each time-to-event parameter of the results, arms in results order."""
    return {p: figure_data_uri(fig) for p, fig in km_plots(results, adtte, adsl).items()}


def render_analyze_html(results: Mapping, figures: Mapping[str, str] | None = None,
                        extra_sections: Sequence[str] = (), title: str = "Efficacy analysis", source: str = "") -> str:
    """The report page for a results dict of `analyze_adam`, plus HTML fragments of other sections."""
    extra = list(extra_sections) + [fn(results[k]) for k, fn in SECTION_RENDERERS.items() if k in results]
    return _env().get_template("analyze.html").render(results=results, figures=dict(figures or {}),
                                                      extra_sections=extra, title=title, source=source)


def render_analysis_report(results: Mapping, datasets: Mapping[str, pd.DataFrame], title: str = "Efficacy analysis",
                           source: str = "") -> str:
    """The report page of any analysis results (results.json of `ikema analyze`): KM figures from the ADaM, the
    group-sequential decision, the forest plot of the results' subgroup rows and the outcome sections."""
    import html

    from ikema.report.common import decision_sentence
    from ikema.report.safety import render_outcome_sections
    from ikema.report.trial import forest_figure

    ds = {str(k).upper(): v for k, v in datasets.items()}
    figs = km_figures(results, ds.get("ADTTE"), ds["ADSL"]) if "ADSL" in ds else {}
    extra = []
    gs = results.get("group_sequential")
    if gs:
        extra.append(f'<section id="group-sequential"><h2>Group-sequential test</h2><p class="decision">'
                     f"{html.escape(decision_sentence(gs))}</p></section>")
    if results.get("forest"):
        param = results.get("forest_parameter", "")
        extra.append(f'<section id="forest"><h2>{html.escape(param)} by subgroup</h2>'
                     f'<img alt="forest plot" src="{forest_figure(results["forest"], param)}"></section>')
    extra.append(render_outcome_sections(results))
    return render_analyze_html(results, figs, extra, title=title, source=source)
