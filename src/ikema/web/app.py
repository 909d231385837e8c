"""The FastAPI application factory: store, templates, security headers, error pages, routers."""

from __future__ import annotations

import asyncio
import gc
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ikema.errors import AllocationExhaustedError, InputError, PermissionDenied, ProtocolError
from ikema.store import database_url as store_database_url
from ikema.web import store_glue
from ikema.web.deps import CsrfError, LockedError, NotAuthenticated, NotFoundError, templates
from ikema.web.randomizer import Randomizer
from ikema.web.security import Settings, utcnow

_HERE = Path(__file__).parent
SQLITE_CONCURRENT_REQUESTS = 4  # requests served at once on SQLite (below the thread pool's 40 and the pool's 15)
POOLED_CONCURRENT_REQUESTS = 4  # per worker process on a server database: a request's CPU is Python under one GIL, so
# a few in flight keep the CPU busy while others wait on the database; 8 added GIL hand-offs (a warm burst of 250
# randomizations on 2 cores, 2 workers: about 4-5 ms of server CPU per request at 2 or 4 in flight, more at 8)

# Content-Security-Policy: everything from this origin only (htmx is vendored), no framing.
_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"


class Admission:
    """ASGI middleware: at most `limit` requests (static files and paths matching `exempt` aside) inside the app at
    once; the rest wait their turn in the event loop, holding neither a thread nor a store connection."""

    def __init__(self, app: ASGIApp, limit: int, exempt: re.Pattern[str] | None = None) -> None:
        self.app, self.gate, self.exempt = app, asyncio.Semaphore(limit), exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/static") or (self.exempt and self.exempt.fullmatch(scope["path"])):
            return await self.app(scope, receive, send)
        async with self.gate:
            await self.app(scope, receive, send)


class SecurityHeaders:
    """ASGI middleware: CSP, no framing, no sniffing, same-origin referrers and no caching of pages (each header
    only where the response did not set it). Plain ASGI rather than @app.middleware("http"), which costs a task and
    a stream per request."""

    _ALWAYS = ((b"content-security-policy", _CSP.encode()), (b"x-frame-options", b"DENY"),
               (b"x-content-type-options", b"nosniff"),
               # same-origin, not no-referrer: under no-referrer Chromium sends `Origin: null` on form POSTs, which
               # the CSRF guard's origin check must refuse; same-origin still keeps patient URLs from other sites.
               (b"referrer-policy", b"same-origin"))

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        extra = self._ALWAYS if scope["path"].startswith("/static") else (*self._ALWAYS, (b"cache-control", b"no-store"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                have = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in extra if k not in have]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(
    database_url: str | None = None, *, settings: Settings | None = None, clock: Callable[[], datetime] | None = None
) -> FastAPI:
    """Build the web app on the store at `database_url` (None: IKEMA_DATABASE_URL, else the store's default)."""
    url = store_database_url(database_url)
    app = FastAPI(
        title="ikema EDC",
        version="1",
        description="Sites, blinded outcome assessors and data managers of the IKEMA trial (NCT03275285).",
        docs_url="/api/v1/docs",
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    app.state.engine = store_glue.init(url)
    app.state.sessions = store_glue.sessions(app.state.engine)
    app.state.settings = settings or Settings()
    app.state.clock = clock or utcnow
    app.state.randomizer = Randomizer(app.state.sessions)
    app.mount("/static", StaticFiles(directory=_HERE / "static"), name="static")

    from ikema.web import api, api_writes, dashboards, export, pages, views

    app.include_router(views.router)
    app.include_router(pages.router)
    app.include_router(dashboards.router)
    app.include_router(api.router)
    app.include_router(api_writes.router)
    app.include_router(export.router)

    # Admission: a request holds its store connection from its first query to its end, across several hops through
    # the thread pool. Admitting more requests than the thread pool (40) and the connection pool (15) can carry lets
    # the connection holders starve for a thread while the others wait for a connection (seen: on SQLite 150 of 200
    # concurrent randomizations failed; on PostgreSQL a burst of 250 took 60 s and 74 hit the pool's timeout). SQLite
    # also takes its write lock at BEGIN (the IRT's serialization), so it admits fewer.
    sqlite = app.state.engine.dialect.name == "sqlite"
    # The randomization API is exempt: its requests wait for their process's Randomizer (ikema.web.randomizer), which
    # serves all those pending in one transaction from one thread and connection.
    app.add_middleware(Admission, limit=SQLITE_CONCURRENT_REQUESTS if sqlite else POOLED_CONCURRENT_REQUESTS,
                       exempt=api.RANDOMIZE_PATH)
    app.add_middleware(SecurityHeaders)

    def _is_api(request: Request) -> bool:
        return request.url.path.startswith("/api/")

    def _page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
        user = getattr(request.state, "user", None)
        csrf = getattr(user, "csrf_token", None)  # API principals have none; pages need it for the log-out form
        return templates.TemplateResponse(
            request, "error.html", {"title": title, "message": message, "user": user, "csrf": csrf}, status_code=status
        )

    @app.exception_handler(NotAuthenticated)
    async def _unauth(request: Request, exc: NotAuthenticated):
        if _is_api(request):
            return JSONResponse({"detail": "Not authenticated"}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        if request.headers.get("HX-Request"):
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        nxt = request.url.path if request.method == "GET" else "/"
        return RedirectResponse(f"/login?next={nxt}&expired={int(exc.expired)}", status_code=303)

    def _refusal(status: int, title: str):
        """A handler of a refusal whose message is the exception's: JSON {"detail"} for the API, a page otherwise."""
        async def handle(request: Request, exc: Exception):
            if _is_api(request):
                return JSONResponse({"detail": str(exc)}, status_code=status)
            return _page(request, status, title, str(exc))
        return handle

    # LockedError: the form is locked; InputError: an edit check of ikema.conduct that a route did not map to its
    # form's field, still the user's input; ProtocolError: the protocol file cannot be read
    for exc_type, status, title in ((PermissionDenied, 403, "Forbidden"), (CsrfError, 403, "Forbidden"),
                                    (LockedError, 423, "Locked"), (InputError, 422, "Invalid value"),
                                    (ProtocolError, 503, "Protocol unavailable")):
        app.add_exception_handler(exc_type, _refusal(status, title))

    @app.exception_handler(NotFoundError)
    async def _notfound(request: Request, exc: NotFoundError):
        if _is_api(request):
            return JSONResponse({"detail": "Not found"}, status_code=404)
        return _page(request, 404, "Not found", "No such page or patient.")

    @app.exception_handler(AllocationExhaustedError)
    async def _exhausted(request: Request, exc: AllocationExhaustedError):
        if _is_api(request):
            return JSONResponse({"detail": str(exc), "stratum": exc.stratum}, status_code=409)
        return _page(request, 409, "Allocation list used up", str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        if _is_api(request):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        return _page(request, exc.status_code, "Error", str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        # loc, msg and type: the ValidationError schema the OpenAPI document promises for a 422
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "value_error")} for e in exc.errors()]
        if _is_api(request):
            return JSONResponse({"detail": errors}, status_code=422)
        text = "; ".join(f"{'.'.join(str(x) for x in e['loc'][1:])}: {e['msg']}" for e in errors)
        return _page(request, 422, "Invalid request", text)

    return app


def serving_app(database_url: str | None = None) -> FastAPI:
    """create_app for a server process (`ikema serve`, each worker): then every object made so far (the modules, the
    app) leaves the garbage collector's generations (gc.freeze), so that a full collection during a burst of requests
    walks only what the requests made (about 120 ms of CPU in the middle of a request otherwise, seen in a burst of
    randomizations)."""
    app = create_app(database_url)
    gc.freeze()
    return app
