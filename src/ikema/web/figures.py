"""Figures the web application renders on the server (the CSP allows images from 'self' only): a patient's M-protein
and free light chains with each IMWG response marked, the treatment timeline, the enrollment curve and the pooled
PFS events over time. Each function takes plain rows and returns SVG bytes with its text kept as text (searchable,
accessible, and checkable by tests); what a figure may show is decided by its caller (the assessor's copy is drawn
from ikema.web.blinding's allow-list, with labels that name no unit, drug or dose)."""

from __future__ import annotations

import datetime as dt
import io
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
from matplotlib.figure import Figure

_LOCK = threading.Lock()  # rcParams are process-wide; one figure is saved at a time
_RC = {"svg.fonttype": "none", "svg.hashsalt": "ikema", "font.size": 9}
RESPONSE_COLOURS = {"sCR": "#1b5e20", "CR": "#2e7d32", "VGPR": "#43a047", "PR": "#7cb342", "MR": "#c0ca33", "SD": "#9e9e9e",
                    "PD": "#c62828", "NE": "#616161"}


def _svg(fig: Figure) -> bytes:
    buf = io.BytesIO()
    with _LOCK, matplotlib.rc_context(_RC):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": "ikema"})
    return buf.getvalue()


def _empty(fig: Figure, ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def mprotein(rows: Sequence[Mapping[str, Any]], responses: Mapping[int, str], labels: Mapping[str, str]) -> bytes:
    """Serum and urine M-protein (top, two axes) and free light chains (bottom) by study day, each assessment day's
    IMWG response written above it. `rows`: ady, param, value; `labels`: PARAM -> axis label."""
    series: dict[str, list[tuple[int, float]]] = {}
    for r in rows:
        if r["param"] in ("SMPROT", "UMPROT", "FLCK", "FLCL") and r.get("value") not in (None, ""):
            try:
                series.setdefault(r["param"], []).append((int(r["ady"]), float(r["value"])))
            except (TypeError, ValueError):
                continue
    flc = [p for p in ("FLCK", "FLCL") if p in series]
    fig = Figure(figsize=(8, 5.2 if flc else 3.6))
    if flc:
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
        axes = (top, bottom)
    else:
        top = bottom = fig.subplots()
        axes = (top,)
    if not series:
        _empty(fig, top, "No M-protein or free light chain values recorded yet")
        return _svg(fig)
    if "SMPROT" in series:
        x, y = zip(*sorted(series["SMPROT"]), strict=True)
        top.plot(x, y, "o-", color="#1f5f8b", label=labels["SMPROT"])
        top.set_ylabel(labels["SMPROT"], color="#1f5f8b")
    if "UMPROT" in series:
        right = top.twinx()
        x, y = zip(*sorted(series["UMPROT"]), strict=True)
        right.plot(x, y, "s--", color="#b5651d", label=labels["UMPROT"])
        right.set_ylabel(labels["UMPROT"], color="#b5651d")
    for p, style in (("FLCK", "o-"), ("FLCL", "^-")):
        if p in series:
            x, y = zip(*sorted(series[p]), strict=True)
            bottom.plot(x, y, style, label=labels[p])
    if flc:
        bottom.set_ylabel("Free light chains")
        bottom.legend(loc="upper right", fontsize=8)
    bottom.set_xlabel("Study day")
    previous = None
    for day, resp in sorted(responses.items()):
        colour = RESPONSE_COLOURS.get(resp, "#616161")
        for ax in axes:  # every assessment day: a line in its response's colour
            ax.axvline(day, color=colour, alpha=0.45, lw=0.8, ls=":")
        if resp != previous:  # the response written where it changes, so that long follow-up stays readable
            top.annotate(resp, (day, 1.0), xycoords=("data", "axes fraction"), xytext=(0, 3), textcoords="offset points",
                         ha="center", va="bottom", fontsize=7, color=colour, rotation=90)
        previous = resp
    top.set_title("IMWG response (written where it changes; dotted line at each assessment)", fontsize=9, pad=28)
    return _svg(fig)


def timeline(randdt: dt.date, administrations: Sequence[Mapping[str, Any]], adverse_events: Sequence[Mapping[str, Any]],
             events: Sequence[tuple[dt.date, str]]) -> bytes:
    """One row per study drug with a tick per administration, adverse events as bars coloured by grade, and
    disposition events and death as labelled lines, by study day from randomization (arm-revealing: callers check)."""
    fig = Figure(figsize=(8, 3.6))
    ax = fig.subplots()

    def day(d: dt.date) -> int:
        delta = (d - randdt).days
        return delta + 1 if delta >= 0 else delta

    drugs = sorted({str(a["drug"]) for a in administrations})
    for i, drug in enumerate(drugs):
        xs = [day(dt.date.fromisoformat(str(a["date"]))) for a in administrations if a["drug"] == drug]
        ax.plot(xs, [i] * len(xs), "|", markersize=12, color="#1f5f8b")
    row = len(drugs)
    grades = {1: "#fdd835", 2: "#fb8c00", 3: "#e53935", 4: "#8e24aa", 5: "#000000"}
    for k, ae in enumerate(adverse_events):
        start = day(dt.date.fromisoformat(str(ae["start"])))
        end = day(dt.date.fromisoformat(str(ae["end"]))) if ae.get("end") else None
        g = int(ae["grade"])
        y = row + 0.15 + 0.7 * (k % 4) / 4
        ax.plot([start, end if end is not None else start + 1], [y, y], lw=4, color=grades.get(g, "#616161"), solid_capstyle="butt")
        if end is None:
            ax.annotate("ongoing", (start, y), xytext=(4, 0), textcoords="offset points", fontsize=6, va="center")
    for d, label in events:
        x = day(d)
        ax.axvline(x, color="#a4161a", lw=1)
        ax.annotate(label, (x, 1.0), xycoords=("data", "axes fraction"), xytext=(2, -2), textcoords="offset points",
                    fontsize=7, va="top", rotation=90, color="#a4161a")
    ax.set_yticks(list(range(len(drugs))) + ([row + 0.5] if adverse_events else []),
                  drugs + (["Adverse events (colour = grade)"] if adverse_events else []))
    ax.set_ylim(-0.7, row + 1.2)
    ax.set_xlabel("Study day")
    if not drugs and not adverse_events and not events:
        _empty(fig, ax, "No administrations, adverse events or disposition events recorded yet")
    return _svg(fig)


def cumulative(dates: Sequence[dt.date]) -> tuple[list[dt.date], list[int]]:
    """Step coordinates of a cumulative count: dates in order and the count after each."""
    xs = sorted(dates)
    return xs, list(range(1, len(xs) + 1))


def enrollment(by_site: Mapping[str, Sequence[dt.date]], target: int | None, target_line: tuple[dt.date, dt.date] | None,
               max_sites: int = 5) -> bytes:
    """Cumulative randomizations over time, overall and for the busiest sites, against the target (a straight line
    from the planned start to the planned end of accrual)."""
    fig = Figure(figsize=(8, 4))
    ax = fig.subplots()
    everyone = [d for ds in by_site.values() for d in ds]
    if not everyone:
        _empty(fig, ax, "No patient randomized yet")
        return _svg(fig)
    xs, ys = cumulative(everyone)
    ax.step(xs, ys, where="post", lw=2, color="#1f5f8b", label=f"All sites ({len(xs)})")
    busiest = sorted(by_site, key=lambda s: (-len(by_site[s]), s))[:max_sites] if len(by_site) > 1 else []
    for site in busiest:
        sx, sy = cumulative(by_site[site])
        ax.step(sx, sy, where="post", lw=1, alpha=0.8, label=f"Site {site} ({len(sx)})")
    if target and target_line:
        ax.plot(list(target_line), [0, target], "--", color="#a4161a", label=f"Target {target}")
    ax.set_ylabel("Patients randomized")
    ax.legend(fontsize=7, loc="upper left", ncol=2)
    fig.autofmt_xdate()
    return _svg(fig)


def events_over_time(event_dates: Sequence[dt.date], looks: Sequence[tuple[str, int]],
                     predicted: Sequence[tuple[int, dt.date, dt.date | None, dt.date | None]] = ()) -> bytes:
    """Blinded, pooled cumulative PFS events over time with a horizontal line at each planned look's event count and,
    for a look not yet reached, its predicted date: `predicted` rows (events, median, lower, upper) draw a diamond at
    the median on the look's line and a bar over the interval (a bound not reached in the simulations is left off)."""
    fig = Figure(figsize=(8, 4))
    ax = fig.subplots()
    if event_dates:
        xs, ys = cumulative(event_dates)
        ax.step(xs, ys, where="post", lw=2, color="#1f5f8b", label=f"PFS events, both arms pooled ({len(xs)})")
    else:
        ax.text(0.5, 0.5, "No PFS event yet", ha="center", va="center", transform=ax.transAxes)
    for name, n in looks:
        ax.axhline(n, ls="--", color="#a4161a", lw=1)
        ax.annotate(f"{name}: {n} events", (0, n), xycoords=("axes fraction", "data"), xytext=(4, 2), textcoords="offset points",
                    fontsize=8, color="#a4161a")
    for i, (n, median, lower, upper) in enumerate(predicted):
        ax.plot([lower or median, upper or median], [n, n], color="#e07a00", lw=4, alpha=0.5, solid_capstyle="butt")
        ax.plot([median], [n], marker="D", ms=7, color="#e07a00", ls="none",
                label="predicted date of a look (median, 90% interval)" if i == 0 else None)
        ax.annotate(f"predicted {median.isoformat()}", (median, n), xytext=(0, -12), textcoords="offset points",
                    fontsize=8, color="#e07a00", ha="center")
    ax.set_ylim(0, max([n for _, n in looks] + [len(event_dates)]) * 1.08 + 1)
    ax.set_ylabel("Cumulative PFS events")
    if event_dates or predicted:
        ax.legend(fontsize=8, loc="lower right")
        fig.autofmt_xdate()
    return _svg(fig)
