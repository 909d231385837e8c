"""`ikema analyze`: the SAP's efficacy analyses (and any outcome sections the data allow) on a folder of ADaM datasets."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from ikema.errors import InputError

OUTCOME_DATASETS = ("ADAE", "ADLB", "ADEX", "ADPC", "ADPP", "ADIS", "ADQS")


def strict_json(obj: object) -> object:
    """The object with NaN/inf as None and numpy scalars as Python numbers (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def load_adam(directory: Path) -> dict:
    """ADSL, ADTTE, ADRS and the outcome ADaM datasets present in a folder (CSV or XPT)."""
    from ikema.cdisc.io import find_dataset, read_dataset

    out = {}
    for name in ("ADSL", "ADTTE", "ADRS") + OUTCOME_DATASETS:
        p = find_dataset(directory, name)
        if p is not None:
            out[name] = read_dataset(p)
    if "ADSL" not in out:
        raise InputError(f"{directory}: no adsl.csv or adsl.xpt; expected ADSL plus ADTTE and/or ADRS")
    if not any(k in out for k in ("ADTTE", "ADRS") + OUTCOME_DATASETS):
        raise InputError(f"{directory}: no analysis dataset (.csv/.xpt) besides ADSL; expected ADTTE and/or ADRS "
                         f"(or {', '.join(OUTCOME_DATASETS)})")
    return out


def run_analyze(adam: Path, out: Path, reference_arm: str | None = None, strata: str | None = None,
                arm_var: str = "TRT01P", earlier_looks: str | None = None) -> dict:
    """Run the analyses on an ADaM folder and write results.json and report.html into `out`; returns the results."""
    from ikema.analysis.efficacy import analyze_adam
    from ikema.analysis.sap import analyze_with_sap, parse_earlier_looks
    from ikema.report.analyze import render_analysis_report

    ds = load_adam(adam)
    cols = None if strata is None else ([] if strata.strip().lower() in ("", "none") else
                                        [c.strip() for c in strata.split(",") if c.strip()])
    looks = parse_earlier_looks(earlier_looks)
    sap_results = analyze_with_sap(ds, None, reference_arm, cols, looks) if arm_var == "TRT01P" else None
    if sap_results is not None:  # the SAP's parameters are there: the SAP's analysis (ikema.analysis.sap)
        results = sap_results
    elif "ADTTE" in ds or "ADRS" in ds:
        results = analyze_adam(ds, reference_arm=reference_arm, strata=cols, arm_var=arm_var)
    else:  # outcome data only (safety, PK, ADA, QoL)
        results = {"parameters": {}, "reference_arm": reference_arm, "experimental_arms": [], "arm_var": arm_var,
                   "strata": [], "time_unit": "days"}
    if any(k in ds for k in OUTCOME_DATASETS):
        from ikema.analysis.outcomes import analyze_outcomes

        sections = analyze_outcomes(ds, reference_arm=results["reference_arm"])
        results.update({k: v for k, v in sections.items() if k not in results})
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(strict_json(results), indent=2, allow_nan=False) + "\n")
    html = render_analysis_report(results, ds, title="Efficacy analysis", source=str(adam))
    (out / "report.html").write_text(html)
    return results


def register(app: typer.Typer) -> None:
    """Add the `analyze` command."""

    @app.command("analyze")
    def analyze(
        adam: Path = typer.Option(..., "--adam", help="Folder with ADSL plus ADTTE and/or ADRS (.csv or .xpt)"),
        out: Path = typer.Option(..., "--out", help="Folder for results.json and report.html"),
        reference_arm: Optional[str] = typer.Option(None, "--reference-arm", help="Control arm (TRT01P value); "
                                                    "default: the one arm with a control-like name"),
        strata: Optional[str] = typer.Option(None, "--strata", help="Comma-separated ADSL columns, 'none' for "
                                             "unstratified; default every STRATnR column"),
        arm_var: str = typer.Option("TRT01P", "--arm-var", help="ADSL treatment variable"),
        earlier_looks: Optional[str] = typer.Option(None, "--earlier-looks", help="events and z of the SAP's earlier "
                                                    "group-sequential looks, EVENTS:Z[,EVENTS:Z] (default: this is the first)"),
    ) -> None:
        """Efficacy analyses (KM, stratified log-rank and Cox; response rates, CMH) on CDISC ADaM data."""
        console = Console()
        with console.status("Analysing ADaM datasets"):
            results = run_analyze(adam, out, reference_arm, strata, arm_var, earlier_looks)
        for p, r in results["parameters"].items():
            if r["kind"] == "tte" and r.get("hazard_ratio") is not None:
                lo, hi = r["hazard_ratio_ci"]
                console.print(f"{p}: HR {r['hazard_ratio']:.3f} [{lo:.3f}, {hi:.3f}], log-rank p {r['logrank_p']:.4g}")
            elif r["kind"] == "tte":
                console.print(f"{p}: log-rank across {len(r['arms'])} arms p {r['logrank_p']:.4g}")
            elif r["kind"] == "response" and r.get("cmh_p") is not None:
                rates = ", ".join(f"{a} {100 * v['rate']:.1f}%" for a, v in r["arms"].items())
                console.print(f"{p}: {rates}; CMH p {r['cmh_p']:.4g}")
        console.print(f"Wrote {out / 'results.json'} and {out / 'report.html'}")
