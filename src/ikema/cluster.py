"""Independent tasks on an existing Dask cluster: design-simulation chunks and `ikema twin` replicates.

Each task's result is handed back with its index as it completes, so callers put results in order (same seeds,
same output as a local run) and advance a progress bar meanwhile.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from ikema.errors import InputError

ADDRESS_SCHEMES = ("tcp://", "tls://", "inproc://", "ws://", "wss://", "ucx://")


class ClusterError(InputError):
    """A Dask scheduler address that is malformed or cannot be reached."""


def map_on_cluster(scheduler: str, func: Callable[[Any], Any], items: Sequence[Any],
                   done: Callable[[int, Any], None]) -> None:
    """func(item) for every item on the Dask cluster at `scheduler` (e.g. tcp://host:8786); done(index, result) each."""
    from dask.distributed import Client, as_completed

    if not str(scheduler).startswith(ADDRESS_SCHEMES):
        raise ClusterError(f"scheduler: got {scheduler!r}, expected a Dask scheduler address such as tcp://HOST:8786")
    try:
        client = Client(scheduler, timeout="20s")
    except OSError as exc:
        raise ClusterError(f"scheduler: got {scheduler!r}, expected a reachable Dask scheduler ({exc})") from None
    with client:
        futures = client.map(func, list(items), pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        for f in as_completed(futures):
            done(index[f.key], f.result())
