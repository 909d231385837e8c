"""The one table of IMWG thresholds, each row with its source, and the `Criteria` that the engine applies.

Every number the response engine compares against lives in `IMWG_THRESHOLDS` below. The logic in
`ikema.response.engine` reads them by key through a `Criteria`; no threshold is written in the logic.

Sources (full titles in ../shared/reference/domain_rules.md):
  Kumar 2016   Kumar SK et al., Lancet Oncol 2016;17:e328 (IMWG uniform response and MRD criteria)
  Rajkumar 2011 Rajkumar SV et al., Blood 2011;117:4691, Table 1 (Consensus Panel 1)
  Durie 2006   Durie BGM et al., Leukemia 2006;20:1467, Table 5
  ASH-SAP T4   ASH-SAP Table 4, IMWG uniform response criteria including MR (relapsed/refractory)
  CIBMTR       CIBMTR Forms Instruction Manual, "Multiple Myeloma Response Criteria"
  Katzmann 2002 normal serum FLC kappa/lambda ratio 0.26-1.65 (IMWG diagnostic criteria table)

The measurable-disease serum threshold of the trial is a protocol fact (IKEMA: >= 0.5 g/dL instead of
IMWG's >= 1 g/dL); `Criteria.from_protocol` takes it from the protocol file, and the IMWG row here is
only the default of `Criteria.imwg()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Literal, Mapping

from ikema.errors import ProtocolError


@dataclass(frozen=True)
class Threshold:
    """One criterion constant: its value, unit and the source it was read in."""

    value: float
    unit: str
    source: str


# Units: serum M-protein g/dL; urine M-protein mg/24 h; free light chains mg/L (input unit of the file
# contract; 10 mg/dL = 100 mg/L); marrow plasma cells %; plasmacytoma SPD cm2; fractions as 0-1.
IMWG_THRESHOLDS: Mapping[str, Threshold] = MappingProxyType(
    {
        # --- measurable disease at baseline
        "serum_measurable": Threshold(1.0, "g/dL", "Rajkumar 2011 Table 1; CIBMTR (IMWG measurable serum M-protein >= 1 g/dL)"),
        "urine_measurable": Threshold(200.0, "mg/24h", "Rajkumar 2011 Table 1; CIBMTR (urine M-protein >= 200 mg/24 h)"),
        "flc_measurable": Threshold(100.0, "mg/L", "Rajkumar 2011; Kumar 2016 (involved FLC >= 10 mg/dL with abnormal ratio)"),
        "flc_ratio_low": Threshold(0.26, "ratio", "Katzmann 2002 via IMWG diagnostic table (normal kappa/lambda 0.26-1.65)"),
        "flc_ratio_high": Threshold(1.65, "ratio", "Katzmann 2002 via IMWG diagnostic table (normal kappa/lambda 0.26-1.65)"),
        "bmpc_measurable": Threshold(30.0, "%", "Durie 2006 Table 5; Rajkumar 2011 (BMPC PR only if baseline >= 30 %)"),
        # --- response from baseline
        "cr_bmpc_below": Threshold(5.0, "%", "Durie 2006; Kumar 2016 (CR: < 5 % plasma cells in bone marrow)"),
        "vgpr_serum_reduction": Threshold(0.90, "fraction", "Durie 2006; Kumar 2016 (VGPR: >= 90 % reduction in serum M-protein)"),
        "vgpr_urine_below": Threshold(100.0, "mg/24h", "Durie 2006; Kumar 2016 (VGPR: urine M-protein < 100 mg/24 h)"),
        "vgpr_flc_reduction": Threshold(0.90, "fraction", "PMC7873074 Table 1 footnote (FLC-only VGPR: > 90 % decrease in dFLC)"),
        "pr_serum_reduction": Threshold(0.50, "fraction", "Durie 2006; Kumar 2016 (PR: >= 50 % reduction of serum M-protein)"),
        "pr_urine_reduction": Threshold(0.90, "fraction", "Durie 2006; Kumar 2016 (PR: urine reduced >= 90 % or to < 200 mg/24 h)"),
        "pr_urine_below": Threshold(200.0, "mg/24h", "Durie 2006; Kumar 2016 (PR: urine reduced >= 90 % or to < 200 mg/24 h)"),
        "pr_flc_reduction": Threshold(0.50, "fraction", "Durie 2006; Kumar 2016 (FLC-only PR: >= 50 % decrease in dFLC)"),
        "pr_bmpc_reduction": Threshold(0.50, "fraction", "Durie 2006; Kumar 2016 (marrow-only PR: >= 50 % reduction in BMPC)"),
        "pr_plasma_reduction": Threshold(0.50, "fraction", "Durie 2006; Kumar 2016 (PR: >= 50 % reduction in SPD of plasmacytomas)"),
        "mr_serum_reduction": Threshold(0.25, "fraction", "ASH-SAP T4; Kumar 2016 (MR: serum reduced 25-49 %)"),
        "mr_urine_reduction": Threshold(0.50, "fraction", "ASH-SAP T4; Kumar 2016 (MR: urine reduced 50-89 %)"),
        "mr_plasma_reduction": Threshold(0.25, "fraction", "ASH-SAP T4 (MR: 25-49 % reduction in plasmacytoma size)"),
        # --- progression from the nadir
        "pd_relative_increase": Threshold(0.25, "fraction", "Kumar 2016 (increase of 25 % from lowest confirmed response value)"),
        "pd_serum_abs": Threshold(0.5, "g/dL", "Kumar 2016; Rajkumar 2011 (serum absolute increase must be >= 0.5 g/dL)"),
        "pd_serum_high_nadir": Threshold(5.0, "g/dL", "Kumar 2016 (if the lowest M component was >= 5 g/dL ...)"),
        "pd_serum_high_nadir_abs": Threshold(1.0, "g/dL", "Kumar 2016 (... an increase >= 1 g/dL is sufficient)"),
        "pd_urine_abs": Threshold(200.0, "mg/24h", "Kumar 2016; Rajkumar 2011 (urine absolute increase must be >= 200 mg/24 h)"),
        "pd_flc_abs": Threshold(100.0, "mg/L", "Kumar 2016; Rajkumar 2011 (dFLC absolute increase must be > 10 mg/dL)"),
        "pd_bmpc_abs": Threshold(10.0, "% points", "Kumar 2016 (BMPC irrespective of baseline: absolute increase must be >= 10 %)"),
        "pd_plasma_increase": Threshold(0.50, "fraction", "Kumar 2016 (>= 50 % increase from nadir in SPD of lesions)"),
    }
)

# Tolerance of every >= / <= comparison, so that 2.7/3.0 counts as a 90 % reduction in binary floating point.
COMPARISON_TOLERANCE = 1e-9

NadirMode = Literal["all", "confirmed"]
Ruleset = Literal["2016", "2011"]


@dataclass(frozen=True)
class Criteria:
    """The thresholds (by key of IMWG_THRESHOLDS) and the open-case switches the engine applies."""

    thresholds: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType({k: t.value for k, t in IMWG_THRESHOLDS.items()})
    )
    nadir_mode: NadirMode = "all"
    name: str = "IMWG 2016"
    # "2011" (Rajkumar 2011 / Durie 2006 wording) changes two progression rules: marrow PD needs the new
    # BMPC value >= 10 % (not an increase of 10 points), and the 1 g/dL serum rule applies when the
    # *baseline* (starting) M-component is >= 5 g/dL instead of the nadir.
    ruleset: Ruleset = "2016"

    def __getitem__(self, key: str) -> float:
        """The value of threshold `key`."""
        return self.thresholds[key]

    @classmethod
    def imwg(cls, nadir_mode: NadirMode = "all") -> "Criteria":
        """IMWG 2016 as published (serum measurable at >= 1 g/dL)."""
        return cls(nadir_mode=nadir_mode)

    @classmethod
    def imwg2011(cls, nadir_mode: NadirMode = "all") -> "Criteria":
        """IMWG 2011 consensus wording (Rajkumar 2011 Table 1) for the rules where it differs from 2016."""
        return cls(nadir_mode=nadir_mode, ruleset="2011", name="IMWG 2011")

    def with_thresholds(self, name: str | None = None, **overrides: float) -> "Criteria":
        """A copy with some thresholds replaced (unknown keys are refused)."""
        unknown = sorted(set(overrides) - set(self.thresholds))
        if unknown:
            raise KeyError(f"unknown IMWG threshold(s) {unknown}; known: {sorted(self.thresholds)}")
        merged = dict(self.thresholds)
        merged.update({k: float(v) for k, v in overrides.items()})
        return replace(self, thresholds=MappingProxyType(merged), name=name or self.name)

    @classmethod
    def from_protocol(cls, protocol: object | None = None, nadir_mode: NadirMode = "all") -> "Criteria":
        """IMWG 2016 with the trial's measurable-disease thresholds taken from the protocol file."""
        if protocol is None:
            from ikema.protocol import load_protocol  # protocol is upstream of response (DESIGN.md)

            protocol = load_protocol()
        found = measurable_thresholds(protocol)
        base = cls.imwg(nadir_mode)
        study = getattr(protocol, "short_name", None) or getattr(protocol, "acronym", None) or "protocol"
        return base.with_thresholds(name=f"IMWG 2016, measurable disease per {study}", **found)


def measurable_thresholds(protocol: object) -> dict[str, float]:
    """The serum (g/dL) and urine (mg/24 h) measurable-disease thresholds of the protocol's typed
    `measurable_disease` table, as IMWG threshold overrides."""
    m = getattr(protocol, "measurable_disease", None)
    if m is None:
        raise ProtocolError(
            "protocol: no [measurable_disease] table (serum_mprotein_g_dl, urine_mprotein_mg_24h); the "
            "measurable-disease threshold of the response criteria must come from the protocol"
        )
    out = {"serum_measurable": float(m.serum_mprotein_g_dl)}
    if m.urine_mprotein_mg_24h is not None:
        out["urine_measurable"] = float(m.urine_mprotein_mg_24h)
    return out
