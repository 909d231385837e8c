"""`ikema analyze`: the SAP's efficacy analyses (and any outcome sections the data allow) on a folder of ADaM datasets."""

from __future__ import annotations

import json
import math
from pathlib import Path
from collections.abc import Mapping
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


def locate_adam(directory: Path | None = None, files: Mapping[str, Path | None] | None = None) -> dict[str, Path]:
    """Paths of ADSL, ADTTE, ADRS and the outcome ADaM datasets of a folder and/or named files.

    Files given by name (--adsl/--adtte/--adrs, any file name) take precedence over the folder's."""
    from ikema.cdisc.io import dataset_files, find_dataset

    paths: dict[str, Path] = {}
    if directory is not None:
        for name in ("ADSL", "ADTTE", "ADRS") + OUTCOME_DATASETS:
            p = find_dataset(directory, name)
            if p is not None:
                paths[name] = p
    paths.update({k.upper(): Path(v) for k, v in (files or {}).items() if v is not None})
    where = str(directory) if directory is not None else "the files given"
    found = dataset_files(directory) if directory is not None else sorted(str(p) for p in paths.values())
    if "ADSL" not in paths:
        raise InputError(f"{where}: no ADSL (adsl.csv, .csv.gz, .xpt, .sas7bdat or .parquet, or --adsl FILE); found "
                         f"{found or 'no dataset files'}")
    if not any(k in paths for k in ("ADTTE", "ADRS") + OUTCOME_DATASETS):
        raise InputError(f"{where}: no analysis dataset besides ADSL; expected ADTTE and/or ADRS (or "
                         f"{', '.join(OUTCOME_DATASETS)}), named adtte/adrs/... or given by --adtte/--adrs; found "
                         f"{found or 'no dataset files'}")
    return paths


def load_adam(directory: Path | None = None, files: Mapping[str, Path | None] | None = None) -> dict:
    """ADSL, ADTTE, ADRS and the outcome ADaM datasets of a folder and/or named files (see locate_adam)."""
    from ikema.cdisc.io import read_dataset

    return {k: read_dataset(p) for k, p in locate_adam(directory, files).items()}


def _with_path(exc: InputError, paths: Mapping[str, Path]) -> InputError:
    """The error with the file path of the dataset it names (e.g. 'ADTTE (data/tte.xpt): record 3 ...')."""
    msg = str(exc)
    for name, p in paths.items():
        if msg.startswith(name) and not msg.startswith(f"{name} ("):
            return InputError(f"{name} ({p}){msg[len(name):]}")
    return exc


def _split(text: str | None) -> list[str] | None:
    return None if text is None else [v.strip() for v in text.split(",") if v.strip()]


def _numbers(text: str | None, option: str) -> list[float]:
    try:
        return [float(v) for v in _split(text) or []]
    except ValueError:
        raise InputError(f"{option}: got {text!r}, expected comma-separated numbers (AVAL units)") from None


def run_analyze(adam: Path | None, out: Path, reference_arm: str | None = None, strata: str | None = None,
                arm_var: str = "TRT01P", earlier_looks: str | None = None, *,
                files: Mapping[str, Path | None] | None = None, population: str | None = None,
                params: str | None = None, rmst_tau: float | None = None, landmarks: str | None = None,
                conf_level: float = 0.95, conf_type: str = "log-log", tlf: str | None = None) -> dict:
    """Run the analyses on ADaM data and write results.json and report.html (and RTF TLFs) into `out`."""
    from ikema.cdisc.io import read_dataset

    paths = locate_adam(adam, files)
    ds = {k: read_dataset(p) for k, p in paths.items()}
    try:
        results = _analyze(ds, reference_arm, strata, arm_var, earlier_looks, population, params, rmst_tau,
                           landmarks, conf_level, conf_type)
    except InputError as exc:
        raise _with_path(exc, paths) from None
    source = ", ".join(str(p) for p in paths.values()) if adam is None else str(adam)
    results["source"] = {k: str(p) for k, p in paths.items()}
    _write(results, ds, out, source, tlf)
    return results


def _analyze(ds: dict, reference_arm, strata, arm_var, earlier_looks, population, params, rmst_tau, landmarks,
             conf_level, conf_type) -> dict:
    from ikema.analysis.efficacy import analyze_adam
    from ikema.analysis.sap import analyze_with_sap, parse_earlier_looks

    cols = None if strata is None else ([] if strata.strip().lower() in ("", "none") else _split(strata))
    looks = parse_earlier_looks(earlier_looks)
    sap_results = analyze_with_sap(ds, None, reference_arm, cols, looks) if arm_var == "TRT01P" else None
    if sap_results is not None:  # the SAP's parameters are there: the SAP's analysis (ikema.analysis.sap)
        results = sap_results
        given = [o for o, v in (("--population", population), ("--params", params), ("--rmst-tau", rmst_tau),
                                ("--landmarks", landmarks), ("--conf-level", None if conf_level == 0.95 else conf_level),
                                ("--conf-type", None if conf_type == "log-log" else conf_type)) if v is not None]
        if given:
            results.setdefault("notes", []).append(f"the protocol's SAP governs this trial's ADaM; {', '.join(given)} "
                                                   "apply to other ADaM data and were not used")
    elif "ADTTE" in ds or "ADRS" in ds:
        results = analyze_adam(ds, reference_arm=reference_arm, strata=cols, arm_var=arm_var,
                               population_flag=population, params=_split(params), rmst_tau=rmst_tau,
                               landmarks=_numbers(landmarks, "--landmarks"), conf_level=conf_level,
                               conf_type=conf_type)
        if results["skipped"] and not results["parameters"]:
            raise InputError("no parameter could be analysed: " + "; ".join(
                f"{s['dataset']} PARAMCD {s['paramcd']}: {s['reason']}" for s in results["skipped"]))
    else:  # outcome data only (safety, PK, ADA, QoL)
        results = {"parameters": {}, "reference_arm": reference_arm, "experimental_arms": [], "arm_var": arm_var,
                   "strata": [], "time_unit": "days", "skipped": [], "notes": []}
    results.setdefault("population", {})
    if any(k in ds for k in OUTCOME_DATASETS):
        from ikema.analysis.outcomes import analyze_outcomes

        sections = analyze_outcomes(ds, reference_arm=results["reference_arm"])
        results.update({k: v for k, v in sections.items() if k not in results})
        if "safety" in sections:
            has = "SAFFL" in ds["ADSL"].columns
            results["safety_population"] = {"flag": "SAFFL" if has else None,
                                            "rule": "SAFFL = 'Y'" if has else "every ADSL subject"}
    return results


def _write(results: dict, ds: dict, out: Path, source: str, tlf: str | None) -> None:
    from ikema.report.analyze import render_analysis_report

    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(strict_json(results), indent=2, allow_nan=False) + "\n")
    flag = (results.get("population") or {}).get("flag")
    if flag:  # KM figures of the efficacy population, as analysed
        from ikema.analysis.efficacy import population

        ds = {**ds, "ADSL": population(ds["ADSL"], flag)[0]}
    html = render_analysis_report(results, ds, title="Efficacy analysis", source=source)
    (out / "report.html").write_text(html)
    if tlf is not None:
        if tlf.lower() != "rtf":
            raise InputError(f"--tlf: got {tlf!r}, expected rtf")
        from ikema.report.rtf import write_tlfs

        results["tlf_files"] = [str(p) for p in write_tlfs(results, ds.get("ADTTE"), ds["ADSL"], out / "tlf",
                                                             source=source)]


def register(app: typer.Typer) -> None:
    """Add the `analyze` command."""

    @app.command("analyze")
    def analyze(
        out: Path = typer.Option(..., "--out", help="Folder for results.json, report.html (and tlf/ with --tlf rtf)"),
        adam: Optional[Path] = typer.Option(None, "--adam", help="Folder with ADSL plus ADTTE and/or ADRS (named "
                                            "adsl/adtte/adrs; .csv, .csv.gz, .xpt, .sas7bdat or .parquet)"),
        adsl: Optional[Path] = typer.Option(None, "--adsl", help="ADSL file (any name; overrides the folder's)"),
        adtte: Optional[Path] = typer.Option(None, "--adtte", help="ADTTE file (any name)"),
        adrs: Optional[Path] = typer.Option(None, "--adrs", help="ADRS file (any name)"),
        reference_arm: Optional[str] = typer.Option(None, "--reference-arm", help="Control arm (TRT01P value); "
                                                    "default: the one arm with a control-like name"),
        strata: Optional[str] = typer.Option(None, "--strata", help="Comma-separated ADSL columns, 'none' for "
                                             "unstratified; default every STRATnR column"),
        arm_var: str = typer.Option("TRT01P", "--arm-var", help="ADSL treatment variable"),
        population: Optional[str] = typer.Option(None, "--population", help="ADSL flag of the efficacy population "
                                                 "(FLAG = 'Y'); default ITTFL, else FASFL, else SAFFL; 'none' for all"),
        params: Optional[str] = typer.Option(None, "--params", help="Comma-separated PARAMCDs; default every parameter"),
        rmst_tau: Optional[float] = typer.Option(None, "--rmst-tau", help="RMST horizon in AVAL units; default the "
                                                 "smallest of the arms' largest times"),
        landmarks: Optional[str] = typer.Option(None, "--landmarks", help="Comma-separated times (AVAL units) for "
                                                "KM survival with its CI"),
        conf_level: float = typer.Option(0.95, "--conf-level", help="Confidence level of KM CIs and medians"),
        conf_type: str = typer.Option("log-log", "--conf-type", help="KM CI transform: log-log, log or plain"),
        tlf: Optional[str] = typer.Option(None, "--tlf", help="'rtf': also write tables and figures as RTF files"),
        earlier_looks: Optional[str] = typer.Option(None, "--earlier-looks", help="events and z of the SAP's earlier "
                                                    "group-sequential looks, EVENTS:Z[,EVENTS:Z] (default: this is the first)"),
    ) -> None:
        """Efficacy analyses (KM, RMST, landmarks, stratified log-rank and Cox; response rates, CMH) on CDISC ADaM data."""
        if adam is None and adsl is None:
            raise InputError("analyze: give --adam DIR or --adsl FILE (with --adtte and/or --adrs)")
        console = Console()
        with console.status("Analysing ADaM datasets"):
            results = run_analyze(adam, out, reference_arm, strata, arm_var, earlier_looks,
                                  files={"ADSL": adsl, "ADTTE": adtte, "ADRS": adrs}, population=population,
                                  params=params, rmst_tau=rmst_tau, landmarks=landmarks, conf_level=conf_level,
                                  conf_type=conf_type, tlf=tlf)
        pop = results.get("population") or {}
        if pop.get("rule"):
            console.print(f"Population: {pop['rule']}, {pop['n']} of {pop['n_adsl']} subjects")
        for note in results.get("notes", []):
            console.print(f"Note: {note}")
        for p, r in results["parameters"].items():
            for a, c in r.get("comparisons", {}).items():
                if r["kind"] == "tte" and c.get("hazard_ratio") is not None:
                    lo, hi = c["hazard_ratio_ci"]
                    hi_text = "inf" if hi is None else f"{hi:.3f}"
                    console.print(f"{p} {a}: HR {c['hazard_ratio']:.3f} [{lo:.3f}, {hi_text}], RMST difference "
                                  f"{c['rmst_difference']:.1f}" + ("" if c.get("cox_converged", True) else
                                                                   " (Cox fit did not converge: too few events)"))
                elif r["kind"] == "response":
                    console.print(f"{p} {a}: {100 * r['arms'][a]['rate']:.1f}% vs {100 * r['arms'][r['reference_arm']]['rate']:.1f}%"
                                  + (f", CMH p {c['cmh_p']:.4g}" if c.get("cmh_p") is not None else ", CMH not defined"))
            if r["kind"] == "tte" and r.get("logrank_p") is not None:
                console.print(f"{p}: log-rank across {len(r['arms'])} arms p {r['logrank_p']:.4g} ({r['logrank_df']} df)")
        for sk in results.get("skipped", []):
            console.print(f"Skipped {sk['dataset']} {sk['paramcd']}: {sk['reason']}")
        written = [out / "results.json", out / "report.html"] + [Path(f) for f in results.get("tlf_files", [])]
        console.print("Wrote " + ", ".join(str(w) for w in written))
