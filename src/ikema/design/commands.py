"""`ikema design boundaries|events|simulate`: group-sequential boundaries, events and patients, and operating
characteristics by simulation; every default comes from the protocol file's [design] table."""

from __future__ import annotations

import json
import time
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ikema.design.scenario import DesignError

design_app = typer.Typer(no_args_is_help=True, add_completion=False,
                         help="Trial design: boundaries, events and patients, operating characteristics by simulation.")

RATES_HELP = "information rates of the looks, comma-separated, the last 1 (default: the protocol's)"
SPENDING_HELP = "alpha spending: obf (O'Brien-Fleming type), pocock, hsd (Hwang-Shih-DeCani), kd (Kim-DeMets) " \
                "(default: the protocol's)"
GAMMA_HELP = "gamma of hsd (any real) or power of kd (> 0)"
ALPHA_HELP = "one-sided significance level (default: the protocol's)"


def _design():
    from ikema.protocol import load_protocol

    p = load_protocol()
    if p.design is None:
        raise DesignError("protocol: field design: got nothing, expected a [design] table")
    return p


def _rates(text: Optional[str], default: list[float]) -> list[float]:
    if text is None:
        return list(default)
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise DesignError(f"information_rates: got {text!r}, expected comma-separated numbers such as 0.65,1") from None


def _fmt(x: Optional[float], digits: int = 4) -> str:
    return "" if x is None else f"{x:.{digits}f}"


def boundaries_command(
    spending: Optional[str] = typer.Option(None, "--spending", help=SPENDING_HELP),
    gamma: Optional[float] = typer.Option(None, "--gamma", help=GAMMA_HELP),
    information_rates: Optional[str] = typer.Option(None, "--information-rates", help=RATES_HELP),
    alpha: Optional[float] = typer.Option(None, "--alpha", help=ALPHA_HELP),
    as_json: bool = typer.Option(False, "--json", help="print efficacy_z, cumulative_alpha_spent, stagewise_p as JSON"),
) -> None:
    """Lan-DeMets alpha-spending efficacy boundaries (one-sided z, cumulative alpha, stage-wise p)."""
    from ikema.stats.groupseq import efficacy_boundaries

    d = _design().design
    b = efficacy_boundaries(_rates(information_rates, d.information_rates), d.alpha_one_sided if alpha is None else alpha,
                            d.spending if spending is None else spending, gamma)
    if as_json:
        typer.echo(json.dumps({"efficacy_z": list(b.efficacy_z), "cumulative_alpha_spent": list(b.cumulative_alpha_spent),
                               "stagewise_p": list(b.stagewise_p), "information_rates": list(b.information_rates),
                               "alpha": b.alpha, "spending": b.spending, "gamma": b.gamma}))
        return
    title = f"{b.spending} spending" + (f" (gamma {b.gamma:g})" if b.gamma is not None else "") + f", one-sided alpha {b.alpha:g}"
    table = Table(title=title)
    for col in ("look", "information rate", "efficacy z", "cumulative alpha spent", "stage-wise p"):
        table.add_column(col, justify="right")
    for k, (t, z, a, p) in enumerate(zip(b.information_rates, b.efficacy_z, b.cumulative_alpha_spent, b.stagewise_p), 1):
        table.add_row(str(k), f"{t:.4g}", _fmt(z), f"{a:.6f}", f"{p:.6f}")
    Console().print(table)


def events_command(
    hr: Optional[float] = typer.Option(None, "--hr", help="hazard ratio experimental : control (default: the protocol's)"),
    power: Optional[float] = typer.Option(None, "--power", help="power (default: the protocol's)"),
    allocation: Optional[float] = typer.Option(None, "--allocation",
                                               help="allocation ratio experimental : control (default: the protocol's)"),
    information_rates: Optional[str] = typer.Option(None, "--information-rates", help=RATES_HELP),
    spending: Optional[str] = typer.Option(None, "--spending", help=SPENDING_HELP),
    gamma: Optional[float] = typer.Option(None, "--gamma", help=GAMMA_HELP),
    alpha: Optional[float] = typer.Option(None, "--alpha", help=ALPHA_HELP),
    control_median: Optional[float] = typer.Option(None, "--control-median",
                                                   help="median control PFS, months (default: the protocol's)"),
    accrual_months: Optional[float] = typer.Option(None, "--accrual-months", help="accrual period (default: the protocol's)"),
    follow_up_months: Optional[float] = typer.Option(None, "--follow-up-months",
                                                     help="follow-up after the end of accrual: gives the patients needed"),
    patients: Optional[float] = typer.Option(None, "--patients",
                                             help="patients enrolled: gives the study duration (default: the protocol's "
                                                  "enrollment unless --follow-up-months is given)"),
    dropout_annual: Optional[float] = typer.Option(None, "--dropout-annual",
                                                   help="share lost to follow-up per year (default: the protocol's)"),
    as_json: bool = typer.Option(False, "--json", help="print max_events (and patients, durations) as JSON"),
) -> None:
    """Events of the group-sequential design (Schoenfeld x inflation factor) and the patients or duration to reach them."""
    from ikema.design.events import events_plan

    p = _design()
    d = p.design
    ratio = p.randomization.ratio
    default_allocation = ratio[p.arm_by_role("experimental").code] / ratio[p.arm_by_role("control").code]
    plan = events_plan(
        hazard_ratio=d.hazard_ratio if hr is None else hr, power=d.power if power is None else power,
        allocation=default_allocation if allocation is None else allocation,
        information_rates=_rates(information_rates, d.information_rates),
        alpha=d.alpha_one_sided if alpha is None else alpha, spending=d.spending if spending is None else spending,
        gamma=gamma, control_median=d.control_median_pfs_months if control_median is None else control_median,
        accrual_months=d.accrual_months if accrual_months is None else accrual_months,
        annual_dropout=d.annual_dropout if dropout_annual is None else dropout_annual,
        follow_up_months=follow_up_months,
        patients=(p.study.enrollment if patients is None and follow_up_months is None else patients))
    if as_json:
        typer.echo(json.dumps(plan.as_dict()))
        return
    table = Table(title="Events and patients")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_row("fixed-design events (Schoenfeld)", f"{plan.fixed_events:.3f}")
    table.add_row("inflation factor", f"{plan.inflation_factor:.6f}")
    table.add_row("maximum events", f"{plan.max_events:.3f}")
    table.add_row("events per look", ", ".join(f"{x:.2f}" for x in plan.events_per_look))
    table.add_row("efficacy z per look", ", ".join(f"{x:.4f}" for x in plan.efficacy_z))
    if plan.patients is not None:
        table.add_row("patients", f"{plan.patients:.2f}")
        table.add_row("follow-up after accrual (months)", f"{plan.follow_up_months:.2f}")
        table.add_row("study duration (months)", f"{plan.study_duration_months:.2f}")
        table.add_row("expected look times (months)", ", ".join(f"{x:.2f}" for x in plan.analysis_times_months or ()))
    Console().print(table)


def simulate_command(
    trials: int = typer.Option(10000, "--trials", help="number of simulated trials"),
    seed: Optional[int] = typer.Option(None, "--seed", help="seed (default: fresh entropy, printed)"),
    hr: Optional[float] = typer.Option(None, "--hr", help="hazard ratio after any delay (default: the protocol's)"),
    control_median: Optional[float] = typer.Option(None, "--control-median",
                                                   help="median control PFS, months (default: the protocol's)"),
    piecewise: Optional[str] = typer.Option(None, "--piecewise",
                                            help="control hazards per month by period, start:hazard pairs, e.g. "
                                                 "'0:0.045,6:0.03' (instead of --control-median)"),
    delay_months: float = typer.Option(0.0, "--delay-months", help="delayed effect: HR 1 before this time, then --hr"),
    stratified: bool = typer.Option(True, "--stratified/--unstratified", help="stratified or unstratified log-rank"),
    patients: Optional[int] = typer.Option(None, "--patients", help="patients enrolled (default: the protocol's)"),
    accrual_months: Optional[float] = typer.Option(None, "--accrual-months", help="accrual period (default: the protocol's)"),
    dropout_annual: Optional[float] = typer.Option(None, "--dropout-annual",
                                                   help="share lost to follow-up per year (default: the protocol's)"),
    planned_events: Optional[int] = typer.Option(None, "--planned-events", help="events at the final look"),
    information_rates: Optional[str] = typer.Option(None, "--information-rates", help=RATES_HELP),
    spending: Optional[str] = typer.Option(None, "--spending", help=SPENDING_HELP),
    gamma: Optional[float] = typer.Option(None, "--gamma", help=GAMMA_HELP),
    alpha: Optional[float] = typer.Option(None, "--alpha", help=ALPHA_HELP),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address, e.g. tcp://HOST:8786"),
    workers: Optional[int] = typer.Option(None, "--workers", help="local worker threads (default: every CPU)"),
    as_json: bool = typer.Option(False, "--json", help="print the operating characteristics as JSON"),
) -> None:
    """Operating characteristics of the design by simulation (rejection per look, events, duration, sample size)."""
    from ikema.design.scenario import scenario_from_protocol
    from ikema.design.simulate import run_simulation

    p = _design()
    scenario = scenario_from_protocol(
        p, hazard_ratio=hr, control_median=control_median, piecewise=piecewise, delay_months=delay_months,
        stratified=stratified, n_patients=patients, accrual_months=accrual_months, annual_dropout=dropout_annual,
        planned_events=planned_events,
        information_rates=None if information_rates is None else _rates(information_rates, []),
        alpha=alpha, spending=spending, gamma=gamma)
    err = Console(stderr=True)
    start = time.perf_counter()
    with Progress(TextColumn("simulating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err,
                  transient=True, auto_refresh=False) as bar:
        task = bar.add_task("trials", total=trials)

        def tick(done: int, total: int) -> None:
            bar.update(task, completed=done)
            bar.refresh()

        result = run_simulation(scenario, trials, seed=seed, workers=workers, scheduler=scheduler, progress=tick)
    seconds = time.perf_counter() - start
    out = result.as_dict()
    out["scenario"] = scenario.describe()
    out["seconds"] = seconds
    out["trials_per_second"] = result.trials / seconds if seconds > 0 else None
    if as_json:
        typer.echo(json.dumps(out))
        return
    con = Console()
    table = Table(title=f"{result.trials} simulated trials, seed {result.seed}, "
                        f"{'stratified' if result.stratified else 'unstratified'} log-rank")
    for col in ("look", "events", "efficacy z", "mean time (months)", "P(reject at look)", "MC SE"):
        table.add_column(col, justify="right")
    for k in range(len(result.look_events)):
        table.add_row(str(k + 1), str(result.look_events[k]), f"{result.efficacy_z[k]:.4f}",
                      f"{result.mean_look_months[k]:.2f}", f"{result.rejection_by_look[k]:.4f}",
                      f"{result.rejection_by_look_se[k]:.4f}")
    table.add_row("any", "", "", "", f"{result.rejection_probability:.4f}", f"{result.rejection_probability_se:.4f}")
    con.print(table)
    con.print(f"expected events {result.expected_events:.2f} (SE {result.expected_events_se:.2f}), "
              f"expected duration {result.expected_duration_months:.2f} months (SE {result.expected_duration_months_se:.2f}), "
              f"expected sample size {result.expected_sample_size:.2f} (SE {result.expected_sample_size_se:.2f}); "
              f"{result.trials_short_of_events} trials short of the planned events; "
              f"{result.trials / seconds:,.0f} trials/s", highlight=False)


def register(app: typer.Typer) -> None:
    """Add `ikema design boundaries|events|simulate`."""
    design_app.command("boundaries")(boundaries_command)
    design_app.command("events")(events_command)
    design_app.command("simulate")(simulate_command)
    app.add_typer(design_app, name="design")
