"""The FastAPI application factory: store, templates, security headers, error pages, routers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from ikema.errors import AllocationExhaustedError, InputError, PermissionDenied, ProtocolError
from ikema.store import database_url as store_database_url
from ikema.web import store_glue
from ikema.web.deps import CsrfError, LockedError, NotAuthenticated, NotFoundError, templates
from ikema.web.security import Settings, utcnow

_HERE = Path(__file__).parent
SQLITE_CONCURRENT_REQUESTS = 4  # requests served at once on SQLite (below the thread pool's 40 and the pool's 15)

# Content-Security-Policy: everything from this origin only (htmx is vendored), no framing.
_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"


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
    app.mount("/static", StaticFiles(directory=_HERE / "static"), name="static")

    from ikema.web import api, api_writes, dashboards, export, pages, views

    app.include_router(views.router)
    app.include_router(pages.router)
    app.include_router(dashboards.router)
    app.include_router(api.router)
    app.include_router(api_writes.router)
    app.include_router(export.router)

    if app.state.engine.dialect.name == "sqlite":
        # SQLite takes its write lock at BEGIN (the IRT's serialization), so a request holds it from its first query
        # to its commit. Admitting more requests than the thread pool and connection pool can carry lets the lock
        # holder starve for a thread while the others wait on its lock (seen: 150 of 200 concurrent randomizations
        # failed). Admitting at most this many at once keeps one thread and one connection for each of them.
        admit = asyncio.Semaphore(SQLITE_CONCURRENT_REQUESTS)

        @app.middleware("http")
        async def _sqlite_admission(request: Request, call_next):
            if request.url.path.startswith("/static"):
                return await call_next(request)
            async with admit:
                return await call_next(request)

    @app.middleware("http")
    async def _headers(request: Request, call_next):
        response: Response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", _CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        # same-origin, not no-referrer: under no-referrer Chromium sends `Origin: null` on form POSTs, which the
        # CSRF guard's origin check must refuse; same-origin still keeps patient URLs from other sites.
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if not request.url.path.startswith("/static"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

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

    @app.exception_handler(PermissionDenied)
    async def _forbidden(request: Request, exc: PermissionDenied):
        if _is_api(request):
            return JSONResponse({"detail": str(exc)}, status_code=403)
        return _page(request, 403, "Forbidden", str(exc))

    @app.exception_handler(CsrfError)
    async def _csrf(request: Request, exc: CsrfError):
        if _is_api(request):
            return JSONResponse({"detail": str(exc)}, status_code=403)
        return _page(request, 403, "Forbidden", str(exc))

    @app.exception_handler(NotFoundError)
    async def _notfound(request: Request, exc: NotFoundError):
        if _is_api(request):
            return JSONResponse({"detail": "Not found"}, status_code=404)
        return _page(request, 404, "Not found", "No such page or patient.")

    @app.exception_handler(LockedError)
    async def _locked(request: Request, exc: LockedError):
        if _is_api(request):
            return JSONResponse({"detail": str(exc)}, status_code=423)
        return _page(request, 423, "Locked", str(exc))

    @app.exception_handler(AllocationExhaustedError)
    async def _exhausted(request: Request, exc: AllocationExhaustedError):
        if _is_api(request):
            return JSONResponse({"detail": str(exc), "stratum": exc.stratum}, status_code=409)
        return _page(request, 409, "Allocation list used up", str(exc))

    @app.exception_handler(InputError)
    async def _bad_input(request: Request, exc: InputError):
        # an edit check of ikema.conduct that a route did not map to its form's field: still the user's input (422)
        if _is_api(request):
            return JSONResponse({"detail": str(exc)}, status_code=422)
        return _page(request, 422, "Invalid value", str(exc))

    @app.exception_handler(ProtocolError)
    async def _noprotocol(request: Request, exc: ProtocolError):
        if _is_api(request):
            return JSONResponse({"detail": str(exc)}, status_code=503)
        return _page(request, 503, "Protocol unavailable", str(exc))

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
