"""Safety section of the report: cell formatting (CDISC pilot style) and a self-contained HTML fragment."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

from ikema.report.common import table_html as _table
from ikema.report.pk import render_immunogenicity_html, render_pk_html
from ikema.report.qol import render_qol_html

P_FLAG = 0.15  # the CDISC pilot appends "*" to p-values below this


def format_n_pct(n: int, N: int) -> str:
    """'n (pp.p%)' with the percentage right-aligned in 5 characters; '0' when n is zero."""
    if n == 0:
        return "0"
    return f"{n} ({100.0 * n / N:4.1f}%)"


def format_events(n: int, events: int) -> str:
    """'[events]', blank when no subject had the event."""
    return "" if n == 0 else f"[{events}]"


def format_p(p: float | None, flag_below: float = P_FLAG) -> str:
    """p-value as 0.ddd (">.99" above 0.99), with '*' appended below `flag_below`; blank when not computed."""
    if p is None:
        return ""
    if p > 0.99:
        return ">.99"
    return f"{p:.3f}" + ("*" if p < flag_below else "")


def soc_pt_cells(rows: list[dict], arms: Sequence[str], reference_arm: str | None = None) -> list[list[str]]:
    """Rows of formatted cells: label, then n (%) and [events] per arm, then p-values versus the reference arm."""
    out = []
    for r in rows:
        label = "ANY BODY SYSTEM" if r["level"] == "overall" else (r["pt"] if r["level"] == "pt" else r["soc"])
        cells = [label]
        for a in arms:
            c = r["arms"][a]
            cells += [format_n_pct(c["n"], c["N"]), format_events(c["n"], c["events"])]
        if reference_arm:
            cells += [format_p(r["p"][a]) for a in arms if a != reference_arm]
        out.append(cells)
    return out


def render_safety_html(results: dict, max_pt_rows: int = 60) -> str:
    """Self-contained HTML fragment of the safety results from `analyze_safety`."""
    parts = ['<section id="safety"><h2>Safety (TEAE, NCI-CTCAE v4.03)</h2>']
    pop = results.get("population", {})
    arms = list(pop)
    parts.append("<p>Safety population: " + ", ".join(f"{html.escape(a)} N={n}" for a, n in pop.items()) + "</p>")
    if "overview" in results:
        body = [[r["category"]] + [format_n_pct(r["arms"][a]["n"], r["arms"][a]["N"]) for a in arms]
                for r in results["overview"]]
        parts.append("<h3>Overview of treatment-emergent adverse events</h3>" + _table(["", *arms], body, "overview"))
    if "soc_pt" in results:
        body = []
        for r in results["soc_pt"][: max_pt_rows + 1]:
            label = "Any TEAE" if r["level"] == "overall" else (("\u2003" + r["pt"]) if r["level"] == "pt" else r["soc"])
            row = [label]
            for a in arms:
                c = r["arms"][a]
                row.append(format_n_pct(c["n"], c["N"]))
                row.append(format_n_pct(c.get("grade3plus", 0), c["N"]) if "grade3plus" in c else "n/a")
            body.append(row)
        heads = [""] + [f"{a} {k}" for a in arms for k in ("all grades", "grade \u2265 3")]
        parts.append("<h3>TEAEs by system organ class and preferred term (subjects at maximum grade)</h3>"
                     + _table(heads, body, "socpt"))
        if len(results["soc_pt"]) > max_pt_rows + 1:
            parts.append(f"<p>First {max_pt_rows} rows shown; all rows are in results.json.</p>")
    if "lab_shift" in results:
        parts.append("<h3>Laboratory abnormalities: baseline grade \u00d7 worst post-baseline grade</h3>")
        for paramcd, per_arm in results["lab_shift"].items():
            for arm, tab in per_arm.items():
                labels = list(tab)
                body = [[f"Baseline {b}"] + [str(tab[b][w]) for w in labels] for b in labels]
                parts.append(f"<h4>{html.escape(paramcd)} \u2014 {html.escape(arm)}</h4>"
                             + _table(["", *[f"Worst {w}" for w in labels]], body, "shift"))
    if "exposure" in results:
        def med(s: dict, fmt: str = "{:.0f}") -> str:
            if not s or s.get("median") is None:
                return ""
            return f"{fmt.format(s['median'])} ({fmt.format(s['min'])}\u2013{fmt.format(s['max'])})"
        body = [[r["arm"], r["drug"], str(r["n_treated"]), med(r["cycles"]), med(r["duration_days"]),
                 med(r.get("rdi_pct", {}), "{:.1f}")] for r in results["exposure"]]
        parts.append("<h3>Exposure</h3>" + _table(
            ["Arm", "Drug", "Treated", "Cycles started, median (range)", "Duration (days), median (range)",
             "Relative dose intensity %, median (range)"], body, "exposure"))
    parts.append("</section>")
    return "".join(parts)


def render_outcome_sections(results: Mapping) -> str:
    """HTML fragments of the results' "safety", "pk", "immunogenicity" and "qol" sections, in that order."""
    renderers = (("safety", render_safety_html), ("pk", render_pk_html),
                 ("immunogenicity", render_immunogenicity_html), ("qol", render_qol_html))
    return "\n".join(fn(results[key]) for key, fn in renderers if results.get(key))
