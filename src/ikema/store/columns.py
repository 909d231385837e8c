"""Column-at-a-time value mapping for the store's bulk paths (audit JSON, bind and result processing): a function
applied once per distinct value, then looked up per row in C (map over a dict), instead of once per row."""

from __future__ import annotations

import json
from operator import itemgetter
from typing import Any, Callable


def per_distinct(values: list[Any], fn: Callable[[Any], Any]) -> list[Any]:
    """[fn(v) for v in values], with fn called once per distinct value. Values of one class (and None) share the
    dict; floats and mixed classes are mapped one by one: 1 == 1.0 == True and 0.0 == -0.0 are equal dict keys
    whose results may differ."""
    classes = set(map(type, values))
    classes.discard(type(None))
    if len(classes) <= 1 and float not in classes:
        try:
            table = {v: fn(v) for v in set(values)}
        except TypeError:  # unhashable values (a JSON column's dicts)
            return list(map(fn, values))
        return list(map(table.__getitem__, values))
    return list(map(fn, values))


def json_dicts(values: list[Any], fn: Callable[[Any], str], sort_keys: bool) -> list[str]:
    """[fn(v) for v in values] where fn(v) is json.dumps(v, sort_keys=sort_keys) for a dict v (as a JSON column's
    bind processor and the audit's JSON give it). Dicts of text keys and whole-number values (a questionnaire's
    answers) are formatted per set of keys with one string template, each template checked against fn on its
    first dict; every other value goes through fn."""
    out: list[Any] = [None] * len(values)
    groups: dict[tuple, list[int]] = {}
    for i, v in enumerate(values):
        if v.__class__ is dict:
            groups.setdefault(tuple(v), []).append(i)
        else:
            out[i] = fn(v)
    for keys, idx in groups.items():
        rows = [tuple(values[i].values()) for i in idx]
        fast = all(k.__class__ is str for k in keys) and {x.__class__ for r in rows for x in r} <= {int}
        if fast:
            order = sorted(range(len(keys)), key=keys.__getitem__) if sort_keys else list(range(len(keys)))
            template = "{" + ", ".join(json.dumps(keys[j]).replace("%", "%%") + ": %d" for j in order) + "}"
            pick = (itemgetter(*order) if len(order) > 1 else (lambda r, j=order[0]: (r[j],))) if order else (lambda r: ())
            texts = [template % pick(r) for r in rows]
            fast = texts[0] == fn(values[idx[0]])
        if not fast:
            texts = [fn(values[i]) for i in idx]
        for i, t in zip(idx, texts):
            out[i] = t
    return out
