"""The trial facts the simulator needs, read from the protocol (the single source of trial facts)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class TrialFacts:
    """Facts of the protocol the simulator uses: cycle length, arms with ratio, key dates, calendar."""

    cycle_days: int
    arms: tuple[str, ...]  # experimental first
    ratio: dict[str, int]
    experimental: str
    control: str
    first_patient: dt.date
    last_patient: dt.date
    cutoffs: dict[str, dt.date]  # name -> date, ascending
    enrollment: int
    calendar: Callable[[str, float, float, int], list[dict]]  # (arm, weight_kg, height_cm, cycles) -> rows
    protocol: Any = None
    studyid: str = "STUDY"
    arm_labels: dict[str, str] = field(default_factory=dict)

    @property
    def end_of_data(self) -> dt.date:
        """Last date the simulation must cover (the latest cutoff)."""
        return max(self.cutoffs.values())


def _get(obj: Any, *names: str) -> Any:
    for name in names:
        cur = obj
        ok = True
        for part in name.split("."):
            if isinstance(cur, dict):
                if part not in cur:
                    ok = False
                    break
                cur = cur[part]
            elif hasattr(cur, part):
                cur = getattr(cur, part)
            else:
                ok = False
                break
        if ok and cur is not None:
            return cur
    raise KeyError(f"protocol has none of {names}")
