"""ikema.design: trial design. Group-sequential boundaries and events (`ikema.stats.groupseq`, `events_plan`),
operating characteristics by a batched, seeded simulation (`scenario_from_protocol`, `run_simulation`), locally or
on a Dask cluster; CLI `ikema design boundaries|events|simulate` (ikema.design.commands). Event prediction for a
trial in progress (`predict_event_days`; from the store: `predict_from_store`, CLI `ikema predict`).

Imports are lazy so that `ikema --help` does not load numba."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DesignError": "ikema.design.scenario",
    "Scenario": "ikema.design.scenario",
    "scenario_from_protocol": "ikema.design.scenario",
    "EventsPlan": "ikema.design.events",
    "events_plan": "ikema.design.events",
    "expected_events": "ikema.design.events",
    "SimulationResult": "ikema.design.simulate",
    "run_simulation": "ikema.design.simulate",
    "logrank_z_batch": "ikema.design.engine",
    "EventPrediction": "ikema.design.predict",
    "PredictionError": "ikema.design.predict",
    "predict_event_days": "ikema.design.predict",
    "predict_from_store": "ikema.design.predict_commands",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'ikema.design' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
