"""The published IKEMA quantities the virtual trial is compared with (../shared/reference/ikema_published.md),
each with the analysis cutoff it belongs to and how to read the simulated value from results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

MONTH = 30.4375


@dataclass(frozen=True)
class Quantity:
    """One published number: key, label, cutoff name, published value, source, and its reader from results."""

    key: str
    label: str
    cutoff: str
    published: float
    source: str
    read: Callable[[dict], float | None]
    unit: str = ""

    @property
    def reads(self) -> str:
        """What of the cut's results the reader reads beyond what every cut's analysis gives (follow-up, time to
        response): an analysis parameter of the SAP (PFS, RSP, ...), "safety" (the adverse-event shares), "lab" (the
        laboratory grades) or "treatment" (treatment duration and status); "" for nothing more."""
        return getattr(self.read, "reads", "")


def _reading(what: str, read: Callable[[dict], float | None]) -> Callable[[dict], float | None]:
    read.reads = what  # type: ignore[attr-defined]
    return read


def _tte(param: str, field: str, arm: str | None = None, months: bool = False):
    def read(res: dict):
        p = res.get("parameters", {}).get(param)
        if p is None:
            return None
        v = p["arms"].get(arm, {}).get(field) if arm else p.get(field)
        if v is None:
            return None
        return v / MONTH if months else v
    return read if param.endswith("_R") else _reading(param, read)  # TTFR_R: every cut's summary of responders


def _events(param: str):
    def read(res: dict):
        p = res.get("parameters", {}).get(param)
        return None if p is None else float(sum(a["events"] for a in p["arms"].values()))
    return _reading(param, read)


def _rate(param: str, arm: str):
    def read(res: dict):
        p = res.get("parameters", {}).get(param)
        return None if p is None else 100.0 * p["arms"][arm]["rate"]
    return _reading(param, read)


def _safety(key: str, arm: str, what: str = "safety"):
    def read(res: dict):
        v = res.get("safety_summary", {}).get(key, {}).get(arm)
        return None if v is None else 100.0 * v
    return _reading(what, read)


def _pt(term: str, which: str, arm: str):
    def read(res: dict):
        summary = res.get("safety_summary", {})
        if "pt" not in summary:
            return None
        v = summary["pt"].get(term, {}).get(which, {}).get(arm, 0.0)  # a term nobody had: 0 %
        return None if v is None else 100.0 * v
    return _reading("safety", read)


# Preferred terms of the published safety table [19][20]: (term, IKd any, IKd >= 3, Kd any, Kd >= 3), interim.
PUBLISHED_AE = (
    ("Upper respiratory tract infection", 66.7, 9.0, 57.0, 7.0),
    ("Pneumonia", 36.2, 22.0, 30.0, 18.0),
    ("Bronchitis", 23.7, 2.3, 13.0, 0.8),
    ("Fatigue", 41.8, 5.0, 32.0, 3.3),
    ("Hypertension", 37.3, 21.0, 32.0, 20.0),
    ("Diarrhoea", 36.2, 2.8, 29.0, 2.5),
    ("Dyspnoea", 28.8, 5.0, 24.0, 0.8),
    ("Cough", 23.0, 0.0, 15.0, 0.0),
    ("Vomiting", 15.0, 1.1, 9.0, 0.8),
)
# Laboratory abnormalities [19]: (key, label, IKd any, IKd >= 3, Kd any, Kd >= 3), interim.
PUBLISHED_LAB = (
    ("hgb", "anaemia", 99.4, 22.0, 99.2, 19.7),
    ("lym", "lymphopenia", 94.4, 68.9, 95.1, 57.3),
    ("plat", "thrombocytopenia", 94.4, 29.9, 87.7, 23.8),
    ("neut", "neutropenia", 54.8, 19.2, 43.4, 7.4),
)


def _summary(key: str, arm: str, scale: float = 1.0):
    def read(res: dict):
        v = res.get("safety_summary", {}).get(key, {}).get(arm)
        return None if v is None else scale * v
    return _reading("treatment", read)


def _follow_up(res: dict):
    v = res.get("follow_up_median_days")
    return None if v is None else v / MONTH


def quantities(exp: str, ctl: str) -> list[Quantity]:
    """The published quantities (experimental arm code `exp`, control `ctl`)."""
    q = [
        Quantity("fu_interim", "Median follow-up (months, reverse KM), interim", "interim", 20.7, "[1][7]", _follow_up, "months"),
        Quantity("fu_final", "Median follow-up (months, reverse KM), final PFS", "final", 44.0, "[3][13]", _follow_up, "months"),
        Quantity("fu_final_os", "Median follow-up (months, reverse KM), final OS", "final_os", 56.6, "[14]", _follow_up, "months"),
        Quantity("pfs_events_interim", "PFS events (IRC), interim", "interim", 103, "[1][7]", _events("PFS")),
        Quantity("pfs_hr_interim", "PFS hazard ratio, interim", "interim", 0.531, "[9][3]", _tte("PFS", "hazard_ratio")),
        Quantity("pfs_median_ctl_interim", f"Median PFS {ctl} (months), interim", "interim", 19.15, "[9][3]", _tte("PFS", "median", ctl, True), "months"),
        Quantity("orr_exp", f"ORR {exp} (%)", "interim", 86.6, "[12][8]", _rate("RSP", exp), "%"),
        Quantity("orr_ctl", f"ORR {ctl} (%)", "interim", 82.9, "[12][8]", _rate("RSP", ctl), "%"),
        Quantity("vgpr_exp", f">=VGPR {exp} (%)", "interim", 72.6, "[4]", _rate("VGPRRSP", exp), "%"),
        Quantity("vgpr_ctl", f">=VGPR {ctl} (%)", "interim", 56.1, "[4]", _rate("VGPRRSP", ctl), "%"),
        Quantity("cr_exp", f">=CR {exp} (%)", "interim", 39.7, "[4]", _rate("CRRSP", exp), "%"),
        Quantity("cr_ctl", f">=CR {ctl} (%)", "interim", 27.6, "[4]", _rate("CRRSP", ctl), "%"),
        Quantity("cradj_exp", f">=CR adjusted for isatuximab interference {exp} (%)", "interim", 45.8, "[4]", _rate("CRRSPADJ", exp), "%"),
        Quantity("mrd_exp", f"MRD negativity {exp} (%)", "interim", 29.6, "[4]", _rate("MRDNEG", exp), "%"),
        Quantity("mrd_ctl", f"MRD negativity {ctl} (%)", "interim", 13.0, "[4]", _rate("MRDNEG", ctl), "%"),
        Quantity("mrdcr_exp", f"MRD-negative CR {exp} (%)", "interim", 20.1, "[4]", _rate("MRDNEGCR", exp), "%"),
        Quantity("mrdcr_ctl", f"MRD-negative CR {ctl} (%)", "interim", 10.6, "[4]", _rate("MRDNEGCR", ctl), "%"),
        Quantity("ttfr_exp", f"Median time to first response {exp} (months)", "interim", 1.08, "[8]", _tte("TTFR_R", "median", exp, True), "months"),
        Quantity("ttfr_ctl", f"Median time to first response {ctl} (months)", "interim", 1.12, "[8]", _tte("TTFR_R", "median", ctl, True), "months"),
        Quantity("pfs_events_final", "PFS events (IRC), final PFS", "final", 159, "[3][13]", _events("PFS")),
        Quantity("pfs_hr_final", "PFS hazard ratio, final PFS", "final", 0.58, "[3][13]", _tte("PFS", "hazard_ratio")),
        Quantity("pfs_median_exp_final", f"Median PFS {exp} (months), final", "final", 35.7, "[3][13]", _tte("PFS", "median", exp, True), "months"),
        Quantity("pfs_median_ctl_final", f"Median PFS {ctl} (months), final", "final", 19.2, "[3][13]", _tte("PFS", "median", ctl, True), "months"),
        Quantity("cr_exp_final", f">=CR {exp} (%), final", "final", 44.1, "[3]", _rate("CRRSP", exp), "%"),
        Quantity("cr_ctl_final", f">=CR {ctl} (%), final", "final", 28.5, "[3]", _rate("CRRSP", ctl), "%"),
        Quantity("mrd_exp_final", f"MRD negativity {exp} (%), final", "final", 33.5, "[3]", _rate("MRDNEG", exp), "%"),
        Quantity("mrd_ctl_final", f"MRD negativity {ctl} (%), final", "final", 15.4, "[3]", _rate("MRDNEG", ctl), "%"),
        Quantity("mrdcr_exp_final", f"MRD-negative CR {exp} (%), final", "final", 26.3, "[3]", _rate("MRDNEGCR", exp), "%"),
        Quantity("mrdcr_ctl_final", f"MRD-negative CR {ctl} (%), final", "final", 12.2, "[3]", _rate("MRDNEGCR", ctl), "%"),
        Quantity("cr_or_final", f">=CR odds ratio {exp} vs {ctl}, final", "final", 2.09, "[3]", _tte("CRRSP", "odds_ratio_experimental_vs_reference")),
        Quantity("mrd_or_final", f"MRD negativity odds ratio {exp} vs {ctl}, final", "final", 2.78, "[3]", _tte("MRDNEG", "odds_ratio_experimental_vs_reference")),
        Quantity("pfs2_median_exp", f"Median PFS2 {exp} (months)", "final", 47.2, "[13]", _tte("PFS2", "median", exp, True), "months"),
        Quantity("pfs2_median_ctl", f"Median PFS2 {ctl} (months)", "final", 35.6, "[13]", _tte("PFS2", "median", ctl, True), "months"),
        Quantity("pfs2_hr", "PFS2 hazard ratio", "final", 0.68, "[13]", _tte("PFS2", "hazard_ratio")),
        Quantity("ttnt_median_exp", f"Median time to next treatment {exp} (months), final OS", "final_os", 44.0, "[14]", _tte("TTNT", "median", exp, True), "months"),
        Quantity("ttnt_median_ctl", f"Median time to next treatment {ctl} (months), final OS", "final_os", 25.0, "[14]", _tte("TTNT", "median", ctl, True), "months"),
        Quantity("ttnt_hr", "Time to next treatment hazard ratio, final OS", "final_os", 0.583, "[14]", _tte("TTNT", "hazard_ratio")),
        Quantity("os_hr", "OS hazard ratio, final OS", "final_os", 0.855, "[14]", _tte("OS", "hazard_ratio")),
        Quantity("os_median_ctl", f"Median OS {ctl} (months), final OS", "final_os", 50.6, "[14]", _tte("OS", "median", ctl, True), "months"),
        # The interim IKd median (80 weeks [8]) does not fit the other published values: it needs half of the IKd
        # patients treated >= 80 weeks by 7 Feb 2020, which only those randomized before about 27 Jul 2018 could
        # be (about 70 %, given the last randomization on 21 Mar 2019 and the median follow-up of 20.7 months), so
        # more than 70 % of them would have to be on treatment at 18.4 months; yet the final-OS median of 94 weeks
        # [14] puts 50 % on treatment at 21.6 months, and IKd PFS (median 35.7 months) is about 70 % at 18 months
        # in the calibrated simulation. Even with no treatment stop other than progression, death or withdrawal,
        # the simulated interim median is 76 weeks (72-82 over 16 trials), with 164 weeks and 37 % still treated at
        # the final OS cut against the published 94 and 23.5 %. The quantity stays in the comparison, expected outside.
        Quantity("trtdur_exp_interim", f"Median treatment duration {exp} (weeks), interim", "interim", 80, "[8]", _summary("treatment_weeks_median", exp), "weeks"),
        Quantity("trtdur_ctl_interim", f"Median treatment duration {ctl} (weeks), interim", "interim", 61, "[8]", _summary("treatment_weeks_median", ctl), "weeks"),
        Quantity("trtdur_exp_final_os", f"Median treatment duration {exp} (weeks), final OS", "final_os", 94, "[14]", _summary("treatment_weeks_median", exp), "weeks"),
        Quantity("trtdur_ctl_final_os", f"Median treatment duration {ctl} (weeks), final OS", "final_os", 62, "[14]", _summary("treatment_weeks_median", ctl), "weeks"),
        Quantity("ontrt_exp_final_os", f"Still on treatment {exp} (%), final OS", "final_os", 23.5, "[14]", _summary("on_treatment", exp, 100.0), "%"),
        Quantity("ontrt_ctl_final_os", f"Still on treatment {ctl} (%), final OS", "final_os", 5.7, "[14]", _summary("on_treatment", ctl, 100.0), "%"),
        Quantity("irr_exp", f"Infusion reactions {exp} (%)", "interim", 45.8, "[19]", _safety("irr", exp), "%"),
        Quantity("irr_ctl", f"Infusion reactions {ctl} (%)", "interim", 3.3, "[19]", _safety("irr", ctl), "%"),
        Quantity("g3_exp", f"Grade >=3 TEAE {exp} (%)", "final_os", 84.2, "[21]", _safety("grade3", exp), "%"),
        Quantity("g3_ctl", f"Grade >=3 TEAE {ctl} (%)", "final_os", 73.0, "[21]", _safety("grade3", ctl), "%"),
        Quantity("sae_exp", f"Serious TEAE {exp} (%)", "final", 70.1, "[13]", _safety("serious", exp), "%"),
        Quantity("sae_ctl", f"Serious TEAE {ctl} (%)", "final", 59.8, "[13]", _safety("serious", ctl), "%"),
        Quantity("aedisc_exp", f"Discontinuation for adverse events {exp} (%)", "interim", 8.0, "[20]", _safety("ae_disc", exp), "%"),
        Quantity("aedisc_ctl", f"Discontinuation for adverse events {ctl} (%)", "interim", 14.0, "[20]", _safety("ae_disc", ctl), "%"),
    ]
    for term, ia, i3, ka, k3 in PUBLISHED_AE:
        slug = term.split()[0].lower()[:8]
        for arm, tag, any_, g3 in ((exp, "exp", ia, i3), (ctl, "ctl", ka, k3)):
            q.append(Quantity(f"ae_{slug}_{tag}", f"{term} {arm}, any grade (%)", "interim", any_, "[19][20]", _pt(term, "any", arm), "%"))
            q.append(Quantity(f"ae3_{slug}_{tag}", f"{term} {arm}, grade >=3 (%)", "interim", g3, "[19][20]", _pt(term, "g3", arm), "%"))
    for key, label, ia, i3, ka, k3 in PUBLISHED_LAB:
        for arm, tag, any_, g3 in ((exp, "exp", ia, i3), (ctl, "ctl", ka, k3)):
            q.append(Quantity(f"lab_{key}_{tag}", f"Lab {label} {arm}, any grade (%)", "interim", any_, "[19]", _safety(f"{key}_any", arm, "lab"), "%"))
            q.append(Quantity(f"lab3_{key}_{tag}", f"Lab {label} {arm}, grade >=3 (%)", "interim", g3, "[19]", _safety(f"{key}_g3", arm, "lab"), "%"))
    return q
