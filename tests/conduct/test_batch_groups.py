"""batch._groups (pandas codes and a stable sort) groups rows exactly as a dict of row lists does: the same keys
(the first row's object) in order of first appearance, each with its ascending row indices, for text, numbers equal
across classes (1 == 1.0 == True), tuples with None, and None itself (the dict path)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ikema.conduct.batch import _groups

KEYS = st.one_of(st.sampled_from(["SMPROT", "UMPROT", "a", ""]), st.integers(-2, 2), st.booleans(),
                 st.sampled_from([1.0, 0.0, -0.0, 2.5]), st.none(),
                 st.tuples(st.sampled_from(["ARM-A", None]), st.sampled_from(["Kd", "Isa", "1"])))


def _by_dict(keys):
    where = {}
    for i, k in enumerate(keys):
        where.setdefault(k, []).append(i)
    return where


@settings(max_examples=300, deadline=None)
@given(st.lists(KEYS, max_size=40))
def test_groups_equal_a_dict_of_row_lists(keys):
    got = _groups(keys)
    want = _by_dict(keys)
    assert list(got) == list(want)
    assert [type(k) for k in got] == [type(k) for k in want]  # the first row's key object
    assert all(isinstance(ix, np.ndarray) and ix.tolist() == want[k] for k, ix in got.items())
