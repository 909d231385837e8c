"""Column-at-a-time value mapping for the store's bulk paths (audit JSON, bind and result processing): a function
applied once per distinct value, then looked up per row in C (map over a dict), instead of once per row."""

from __future__ import annotations

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
            return [fn(v) for v in values]
        return list(map(table.__getitem__, values))
    return [fn(v) for v in values]
