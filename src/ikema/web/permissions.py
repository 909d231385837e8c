"""The one server-side permission table (role x action) and the site scope of each role.

Every page, API route and export calls `require(user, action)`; a button hidden in a template is never the
permission. Roles and actions are data here so that tests can iterate the whole table.
"""

from __future__ import annotations

from typing import Protocol

from ikema.errors import PermissionDenied

ROLES: tuple[str, ...] = (
    "admin",
    "investigator",
    "coordinator",
    "pharmacist",
    "assessor",
    "data_manager",
    "monitor",
    "statistician",
)

# Roles that work at one site and see only that site's patients (site required when the user is created).
SITE_ROLES: frozenset[str] = frozenset({"investigator", "coordinator", "pharmacist"})
# Roles that may be given a site to narrow them (a monitor covering one site); without one they see all sites.
OPTIONAL_SITE_ROLES: frozenset[str] = frozenset({"monitor"})
# The blinded role: its views are built from an allow-list (ikema.web.blinding), never by hiding fields.
BLINDED_ROLES: frozenset[str] = frozenset({"assessor"})

ACTIONS: dict[str, str] = {
    "subjects.view": "list and open patients (site roles: own site only)",
    "review.view": "blinded review of response data (built from the assessor allow-list)",
    "arm.view": "see the arm, randomization number, stratum and dosing calendar",
    "screening.enter": "screen a candidate",
    "randomize": "randomize an eligible patient",
    "assessment.view": "see disease-assessment values (response data)",
    "assessment.enter": "enter or change disease assessments",
    "ae.view": "see adverse events",
    "ae.enter": "enter or change adverse events",
    "exposure.view": "see drug administrations and doses",
    "exposure.enter": "enter or change drug administrations",
    "disposition.enter": "record end of treatment, withdrawal, contacts and death",
    "lab.import": "import laboratory results (a central laboratory's CSV transfer)",
    "odm.import": "import clinical data from a CDISC ODM 1.3 file",
    "verdict.view": "see the independent assessor verdicts",
    "verdict.enter": "record an independent response verdict (blinded assessor)",
    "query.view": "see data queries",
    "query.raise": "open a query on a field",
    "query.answer": "answer a query (site)",
    "query.close": "close or re-open a query (data management)",
    "sdv.mark": "mark a field source-data verified",
    "lock.set": "lock or unlock a form",
    "casebook.sign": "e-sign a patient's casebook (investigator)",
    "audit.view": "read the audit trail",
    "users.manage": "create users and change roles",
    "export": "download data exports",
    "allocation.view": "see the allocation list's positions used and left per stratum (no arm)",
}

_ALL_VIEW = {"subjects.view", "arm.view", "assessment.view", "ae.view", "exposure.view", "query.view", "verdict.view"}

PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset({"subjects.view", "arm.view", "audit.view", "users.manage"}),
    "investigator": frozenset(
        _ALL_VIEW
        | {"screening.enter", "randomize", "assessment.enter", "ae.enter", "exposure.enter", "disposition.enter", "lab.import",
           "query.answer", "casebook.sign"}
    ),
    "coordinator": frozenset(
        _ALL_VIEW | {"screening.enter", "randomize", "assessment.enter", "ae.enter", "exposure.enter", "disposition.enter",
                     "lab.import", "query.answer"}
    ),
    "pharmacist": frozenset({"subjects.view", "arm.view", "exposure.view", "exposure.enter", "query.view", "query.answer"}),
    "assessor": frozenset({"review.view", "verdict.enter"}),
    "data_manager": frozenset(_ALL_VIEW | {"query.raise", "query.close", "lock.set", "audit.view", "export", "allocation.view", "lab.import", "odm.import"}),
    "monitor": frozenset(_ALL_VIEW | {"query.raise", "sdv.mark"}),
    "statistician": frozenset(_ALL_VIEW | {"export"}),
}


class HasRole(Protocol):
    """Anything with a role and an optional site (a web user)."""

    role: str
    site: str | None


def allowed(role: str, action: str) -> bool:
    """True when the role may perform the action (unknown actions are refused)."""
    if action not in ACTIONS:
        raise KeyError(f"unknown action {action!r}")
    return action in PERMISSIONS.get(role, frozenset())


def require(user: HasRole, action: str) -> None:
    """Raise PermissionDenied unless the user's role allows the action."""
    if not allowed(user.role, action):
        raise PermissionDenied(f"role {user.role!r} may not {ACTIONS[action]}")


def site_scope(user: HasRole) -> str | None:
    """The only site this user may see, or None for all sites."""
    if user.role in SITE_ROLES or (user.role in OPTIONAL_SITE_ROLES and user.site):
        return user.site
    return None


def can_see_site(user: HasRole, site: str | None) -> bool:
    """True when a patient of that site is inside the user's scope."""
    scope = site_scope(user)
    return scope is None or scope == site
