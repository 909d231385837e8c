"""Query life cycle with owners, locks with reasons, SDV marks voided by a changed value."""

from __future__ import annotations

import pytest

from ikema.errors import PermissionDenied
from ikema.web import dm
from ikema.web.auth import Principal
from ikema.web.models import QueryEvent


@pytest.fixture()
def db(tmp_path, kit):
    app = kit.make_app(tmp_path)
    with app.state.sessions() as s:
        yield s, kit.Clock()


DM = Principal(1, "dana", "Dana", "data_manager", None)
SITE = Principal(2, "cora", "Cora", "coordinator", "101")
MON = Principal(3, "mo", "Mo", "monitor", None)
REF = dm.FieldRef("IKEMA-101-001", "assessment", 7, "value")


def test_query_life_cycle_and_owners(db):
    s, clock = db
    with pytest.raises(PermissionDenied):
        dm.raise_query(s, SITE, REF, "why?", clock())
    q = dm.raise_query(s, DM, REF, "Value looks high: please check the source.", clock())
    assert q.status == "open"
    with pytest.raises(PermissionDenied):
        dm.step_query(s, SITE, q, "close", "closing it myself", clock())  # the site cannot close
    with pytest.raises(dm.WorkflowError, match="comment is required"):
        dm.step_query(s, SITE, q, "answer", "  ", clock())
    dm.step_query(s, SITE, q, "answer", "Transcription checked: value is correct.", clock())
    assert q.status == "answered"
    with pytest.raises(dm.WorkflowError, match="cannot answer"):
        dm.step_query(s, SITE, q, "answer", "again", clock())
    dm.step_query(s, DM, q, "close", "Accepted.", clock())
    with pytest.raises(dm.WorkflowError, match="closed: cannot answer"):
        dm.step_query(s, SITE, q, "answer", "more", clock())  # closed is immutable except by re-opening
    dm.step_query(s, DM, q, "reopen", "Source disagrees after all.", clock())
    assert q.status == "open"
    assert [e.action for e in dm.query_history(s, q.id)] == ["open", "answer", "close", "reopen"]
    assert s.query(QueryEvent).count() == 4


def test_lock_needs_role_and_reason(db):
    s, clock = db
    with pytest.raises(PermissionDenied):
        dm.set_lock(s, SITE, REF.usubjid, "assessment", True, "done", clock())
    with pytest.raises(dm.WorkflowError, match="reason"):
        dm.set_lock(s, DM, REF.usubjid, "assessment", True, " ", clock())
    dm.set_lock(s, DM, REF.usubjid, "assessment", True, "cycle 1 clean", clock())
    assert dm.is_locked(s, REF.usubjid, "assessment") and not dm.is_locked(s, REF.usubjid, "ae")
    with pytest.raises(dm.FormLocked, match="locked"):
        dm.ensure_unlocked(s, REF.usubjid, "assessment")
    dm.set_lock(s, DM, REF.usubjid, "assessment", False, "correction needed", clock())
    dm.ensure_unlocked(s, REF.usubjid, "assessment")


def test_sdv_void_when_value_changes(db):
    s, clock = db
    dm.mark_sdv(s, MON, REF, "2.5", clock())
    key = (REF.form, REF.record_id, REF.field)
    assert key in dm.sdv_state(s, REF.usubjid, {key: "2.5"})
    assert key not in dm.sdv_state(s, REF.usubjid, {key: "2.6"})
