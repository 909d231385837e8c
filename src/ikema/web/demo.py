"""Demo users for `ikema serve --demo`: one per role (site roles at the demo trial's busiest site)."""

from __future__ import annotations

import secrets

from fastapi import FastAPI
from sqlalchemy import select

from ikema.web import auth, store_glue, trial
from ikema.web.models import WebUser
from ikema.web.permissions import ROLES, SITE_ROLES

_NAMES = {
    "admin": "Alex Admin", "investigator": "Dr Ines Investigator", "coordinator": "Cora Coordinator",
    "pharmacist": "Phil Pharmacist", "assessor": "Asa Assessor (blinded)", "data_manager": "Dana DataManager",
    "monitor": "Mo Monitor", "statistician": "Stan Statistician",
}


def demo_password() -> str:
    """A fresh random password that passes the policy."""
    return "ikema-" + secrets.token_urlsafe(9)


def ensure_demo_users(app: FastAPI) -> list[tuple[str, str, str | None, str]]:
    """Create (or reset the password of) demo.<role> users; returns (user, role, site, password) rows."""
    out = []
    with app.state.sessions() as db:
        sites = trial.sites(db)
        site = sites[0] if sites else "101"
        for role in ROLES:
            username = f"demo.{role}"
            password = demo_password()
            user_site = site if role in SITE_ROLES else None
            user = db.scalar(select(WebUser).where(WebUser.username == username))
            if user is None:
                auth.create_user(db, username, role, password, site=user_site, full_name=_NAMES[role], by="demo", now=app.state.clock())
            else:
                auth.set_password(db, user, password, "demo", app.state.clock())
                if user.failed_logins or user.locked_until is not None or not user.active:
                    with store_glue.acting(db, "demo", "demo account reset at serve --demo"):
                        user.failed_logins, user.locked_until, user.active = 0, None, True
                        db.flush()
                user_site = user.site
            out.append((username, role, user_site, password))
        db.commit()
    return out
