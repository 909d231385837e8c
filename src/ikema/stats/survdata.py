"""One survival data set indexed once, shared by kaplan_meier, logrank and coxph (the statistics core's one sort).

The distinct times are found once per data set (numpy's sort of the values, R's timefix applied to the distinct
ones; whole-day times then need no per-subject search) and every subject gets the index of its time. Every method
then works on counts per (stratum, distinct time, group) built by one bincount pass, never by a sort of its own:
Kaplan-Meier by group, the (stratified) log-rank test and the Cox model's risk sets at each Newton step.

    data = SurvivalData(time, event, group=arm, strata=stratum)
    curves = data.kaplan_meier()          # {arm label: KaplanMeier}
    test = data.logrank()                 # stratified; data.logrank(stratified=False) reuses the same index
    fit = data.coxph()                    # x = indicator of the second group; or data.coxph(x=covariates)
    pair = data.subset(mask)              # the same index for a subset (e.g. one arm against the reference)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ikema.stats._checks import StatsInputError, codes, index_times

if TYPE_CHECKING:
    from ikema.stats.cox import CoxResult
    from ikema.stats.survival import KaplanMeier, LogrankResult


def compact(key: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct non-negative integer keys (< size) present, ascending, and each element's index into them."""
    if size <= 8 * len(key) + 1024:  # a presence count and a lookup table: linear, no sort
        present = np.bincount(key, minlength=size) > 0
        lut = np.cumsum(present) - 1
        return np.flatnonzero(present), lut[key]
    keys, inv = np.unique(key, return_inverse=True)
    return keys, inv.reshape(-1)


def count_events(key: np.ndarray, size: int, event: np.ndarray) -> np.ndarray:
    """Per key 0..size-1: (subjects, events) as a (size, 2) integer array, counted in one pass."""
    c = np.bincount(key * 2 + event, minlength=2 * size).reshape(size, 2)
    return np.column_stack([c[:, 0] + c[:, 1], c[:, 1]])


@dataclass(frozen=True)
class Cells:
    """The (stratum, distinct time) pairs present in a data set, ascending, and each subject's row among them."""

    row: np.ndarray  # per subject
    n_rows: int
    time_index: np.ndarray  # per row: index into the data set's distinct times
    stratum: np.ndarray  # per row
    next_first: np.ndarray  # per row: first row of the next stratum (n_rows after the last)

    def count(self, index: np.ndarray, width: int, event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Subjects and events per row and column `index` (0..width-1): two (rows, width) arrays from one bincount."""
        c = count_events(self.row * width + index, self.n_rows * width, event)
        return c[:, 0].reshape(self.n_rows, width), c[:, 1].reshape(self.n_rows, width)

    def at_or_after(self, v: np.ndarray) -> np.ndarray:
        """Per row: the sum of v over the rows of the same stratum at or after it (the risk set at that time)."""
        rc = np.cumsum(v[::-1], axis=0)[::-1]
        rc0 = np.concatenate([rc, np.zeros((1,) + v.shape[1:])], axis=0)
        return rc - rc0[self.next_first]


def build_cells(code: np.ndarray, n_times: int, stratum: np.ndarray | None, n_strata: int) -> Cells:
    """Rows of the (stratum, time) pairs present, from each subject's time index and stratum code."""
    key = code if stratum is None or n_strata == 1 else stratum * n_times + code
    keys, row = compact(key, n_strata * n_times)
    st = keys // n_times
    ends = np.flatnonzero(np.r_[st[1:] != st[:-1], True])
    next_first = (ends + 1)[np.searchsorted(ends, np.arange(len(keys)))]
    return Cells(row=row, n_rows=len(keys), time_index=keys % n_times, stratum=st, next_first=next_first)


class SurvivalData:
    """Times, events, groups and strata of one data set, validated and indexed by distinct time once."""

    def __init__(self, time: object, event: object, group: object | None = None, strata: object | None = None,
                 source: str = "survival data") -> None:
        self.source = source
        self.times, self.code, self.event = index_times(time, event, source)
        n = len(self.code)
        self.group, self.group_labels = self._codes(group, "group", n)
        self.strata, self.strata_labels = self._codes(strata, "strata", n)
        self._cells: dict[bool, Cells] = {}

    def _codes(self, values: object | None, field: str, n: int) -> tuple[np.ndarray, list]:
        if values is None:
            return np.zeros(n, np.int64), [None]
        c, labels = codes(values, self.source, field)
        if len(c) != n:
            raise StatsInputError(f"{self.source}: {field} has {len(c)} values for {n} times")
        return c, labels

    @property
    def n(self) -> int:
        """Number of subjects."""
        return len(self.code)

    def cells(self, stratified: bool = True) -> Cells:
        """The (stratum, time) rows of this data set (computed once, kept for the other methods)."""
        key = bool(stratified) and len(self.strata_labels) > 1
        if key not in self._cells:
            self._cells[key] = build_cells(self.code, len(self.times), self.strata if key else None,
                                           len(self.strata_labels) if key else 1)
        return self._cells[key]

    def subset(self, mask: object) -> SurvivalData:
        """The subjects selected by a boolean mask or index array, keeping this index of distinct times."""
        m = np.asarray(mask)
        out = object.__new__(SurvivalData)
        out.source, out.times, out.code, out.event = self.source, self.times, self.code[m], self.event[m]
        if len(out.code) == 0:
            raise StatsInputError(f"{self.source}: the subset holds no subjects; expected at least one")
        for attr, labels in (("group", self.group_labels), ("strata", self.strata_labels)):
            c, present = codes(getattr(self, attr)[m], self.source, attr)
            setattr(out, attr, c)
            setattr(out, attr + "_labels", [labels[i] for i in present])
        out._cells = {}
        return out

    def kaplan_meier(self, conf_level: float = 0.95, conf_type: str = "log-log") -> dict[object, KaplanMeier]:
        """Kaplan-Meier curve of each group ({None: curve} without groups), as kaplan_meier on each group's rows."""
        from ikema.stats.survival import kaplan_meier_groups  # late: survival builds on this module

        return kaplan_meier_groups(self, conf_level, conf_type)

    def logrank(self, stratified: bool = True) -> LogrankResult:
        """Log-rank test across the groups, stratified by the strata when given and `stratified`."""
        from ikema.stats.survival import logrank_data

        return logrank_data(self, stratified)

    def coxph(self, x: object | None = None, stratified: bool = True, ties: str = "efron", conf_level: float = 0.95,
              max_iter: int = 30, eps: float = 1e-12) -> CoxResult:
        """Cox model on covariates x (default: indicator of the second of two groups), stratified when strata given."""
        from ikema.stats.cox import coxph_data

        return coxph_data(self, x, stratified, ties, conf_level, max_iter, eps)
