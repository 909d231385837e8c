"""Group commit of the randomization API: each server process hands its concurrent randomization requests to one
Randomizer, which serves every request pending when it becomes free in one transaction (the way databases absorb a
burst of commits): the bearer tokens and the patients' sites in one query each, then ikema.conduct's randomize_many.

A request gets exactly the answer it gets alone: 401 for a token that is unknown, expired or revoked or whose user is
disabled (read from the store in this batch's transaction, never cached), 403 for a role that may not randomize, 404
for another site's patient or none, 409 with the reason for a refusal (not screened, not eligible, the stratum's list
used up), and one request's refusal fails no other. A lone request is served at once (a batch of one). The waiting
requests hold no thread and no database connection: the batch runs in the Randomizer's own thread.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from ikema.errors import IkemaError
from ikema.web import auth, store_glue
from ikema.web.deps import NotAuthenticated, NotFoundError
from ikema.web.permissions import can_see_site, require

MAX_BATCH = 200  # requests per transaction: bounds a transaction's locks and statement sizes


class Randomizer:
    """One process's randomization batcher: `await submit(token, usubjid, now)` gives the allocation dict or raises
    the request's own error (NotAuthenticated, PermissionDenied, NotFoundError, EligibilityError,
    AllocationExhaustedError)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self._lock = threading.Lock()
        self._pending: list[tuple[str | None, str, datetime, asyncio.Future, asyncio.AbstractEventLoop]] = []
        self._running = False
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="ikema-randomizer")

    async def submit(self, token: str | None, usubjid: str, now: datetime) -> dict[str, Any]:
        """Randomize `usubjid` for the caller of `token` at `now`, in the next batch."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        with self._lock:
            self._pending.append((token, usubjid, now, fut, loop))
            start, self._running = not self._running, True
        if start:
            self._thread.submit(self._drain)
        out = await fut
        if isinstance(out, BaseException):
            raise out
        return out

    def _drain(self) -> None:
        """Serve batches until none is pending (in the Randomizer's thread)."""
        while True:
            with self._lock:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                if not batch:
                    self._running = False
                    return
            try:
                results: list[Any] = self._serve([(t, u, n) for t, u, n, _, _ in batch])
            except BaseException as exc:  # the store failed: every request of the batch gets the error (HTTP 500)
                results = [exc] * len(batch)
            for (*_, fut, loop), result in zip(batch, results, strict=True):
                try:
                    loop.call_soon_threadsafe(_settle, fut, result)
                except RuntimeError:  # that request's event loop is closed: nobody waits for the answer
                    pass

    def _serve(self, batch: list[tuple[str | None, str, datetime]]) -> list[dict[str, Any] | Exception]:
        """Every request's allocation or error, in one transaction (one per round of randomize_many)."""
        with self.sessions() as db:
            callers = auth.resolve_tokens(db, [(token, now) for token, _, now in batch])
            sites = store_glue.subject_sites(db, sorted({u for _, u, _ in batch}))
            out: list[dict[str, Any] | Exception | None] = []
            go: list[int] = []
            for i, ((_, usubjid, _), user) in enumerate(zip(batch, callers)):
                try:  # in the order of the one-at-a-time route: api_user (401), require (403), require_site_authority (404)
                    if user is None:
                        raise NotAuthenticated()
                    require(user, "randomize")
                    if usubjid not in sites or not can_see_site(user, sites[usubjid]):
                        raise NotFoundError(usubjid)
                except IkemaError as exc:
                    out.append(exc)
                    continue
                out.append(None)
                go.append(i)
            if go:
                done = store_glue.randomize_many(db, [(batch[i][1], callers[i].username, batch[i][2]) for i in go])  # type: ignore[union-attr]
                for i, result in zip(go, done, strict=True):
                    out[i] = result
            else:
                db.rollback()
        return out  # type: ignore[return-value]


def _settle(fut: asyncio.Future, result: Any) -> None:
    if not fut.done():  # the client may have gone away
        fut.set_result(result)
