"""The data cut download for data managers and statisticians: `ikema cut`'s folder (sdtm/, adam/, cut.json) as a
zip, made by ikema.pipeline from the store the application serves. Every download is an audit row (EXPORT)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from ikema.errors import InputError
from ikema.web import store_glue
from ikema.web.auth import Principal
from ikema.web.deps import current_user, get_db
from ikema.web.permissions import require
from ikema.web.views import page

router = APIRouter(include_in_schema=False)


def _cutoffs() -> dict[str, str]:
    from ikema.protocol import load_protocol

    return {k: str(v) for k, v in load_protocol().cutoffs.items()}


@router.get("/export", response_class=HTMLResponse)
def export_page(request: Request, user: Principal = Depends(current_user)):
    """The form of a data cut: cut date and, optionally, the moment the data are taken as they stood."""
    require(user, "export")
    return page(request, "export.html", user, error=None, values={}, cutoffs=_cutoffs())


@router.get("/export/cut.zip")
def export_cut(request: Request, date: str = "", as_of: str = "", user: Principal = Depends(current_user),
               db: Session = Depends(get_db)):
    """The zip of a data cut at `date` (as of `as_of`); the download is audited."""
    from ikema.pipeline import cut_from_session, store_label, zip_folder

    require(user, "export")
    with tempfile.TemporaryDirectory(prefix="ikema-export-") as tmp:
        try:
            info = cut_from_session(db, date, Path(tmp) / "cut", store_label(str(db.get_bind().url)), as_of or None)
        except InputError as exc:
            db.rollback()
            return page(request, "export.html", user, status_code=422, error=str(exc),
                        values={"date": date, "as_of": as_of}, cutoffs=_cutoffs())
        data = zip_folder(Path(tmp) / "cut")
    db.rollback()  # the cut only read; the audit row goes in its own transaction
    store_glue.event(db, user.username, "EXPORT", "data_cut", info["cut_date"],
                     f"data cut {info['cut_date']} as of {info['as_of']} downloaded ({len(info['sha256'])} files)")
    db.commit()
    name = f"{info['study']}-cut-{info['cut_date']}.zip"
    return Response(data, media_type="application/zip", headers={"Content-Disposition": f'attachment; filename="{name}"'})
