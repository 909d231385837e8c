"""The web application's data cut export: the zip of `ikema cut`'s folder for data managers and statisticians,
refused to every other role, every download audited."""

from __future__ import annotations

from sqlalchemy import select


def _complete_screening(world) -> None:
    """The route-matrix world screens with weight and height only: add the age and sex a site's screening form
    always records (a correction with a reason, audited)."""
    from ikema.store import Subject, acting

    with world.app.state.sessions() as db:
        with acting(db, "fixture", "screening completed for the export test"):
            for s in db.scalars(select(Subject)):
                s.screening = {**s.screening, "age": 61, "sex": "F"}
            db.flush()
        db.commit()


def test_export_downloads_an_audited_cut_for_data_managers_only(world):
    """The data cut zip (sdtm/, adam/, cut.json) for the data manager; refused to the assessor and site staff; the
    download is an audit row; a date after today is refused with the page's message."""
    import io
    import json
    import zipfile
    from datetime import date

    _complete_screening(world)
    url = f"/export/cut.zip?date={date.today().isoformat()}"
    for role in ("assessor", "investigator", "coordinator", "pharmacist", "monitor"):
        assert world.call(role, "GET", url).status_code == 403, role
    r = world.call("data_manager", "GET", url)
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip", r.text[:300]
    z = zipfile.ZipFile(io.BytesIO(r.content))
    names = set(z.namelist())
    assert {"cut.json", "sdtm/dm.csv", "sdtm/lb.xpt", "sdtm/rs.xpt", "adam/adsl.csv", "adam/adtte.xpt"} <= names
    # no patient of the world is dosed yet: all are in the ITT population, none in the safety population
    import pandas as pd

    adsl = pd.read_csv(io.BytesIO(z.read("adam/adsl.csv")), keep_default_na=False)
    assert len(adsl) == len(world.randomized) and set(adsl["ITTFL"]) == {"Y"}
    assert set(adsl["TRTSDT"]) == {""} and set(adsl["SAFFL"]) == {"N"}
    info = json.loads(z.read("cut.json"))
    assert info["rows"]["sdtm"]["DM"] == len(world.randomized) and info["sha256"]["sdtm/dm.csv"]
    rows = world.call("data_manager", "GET", "/api/v1/audit").json()
    assert any(a["action"] == "EXPORT" and a["user"] == "u_data_manager" for a in rows)
    bad = world.call("statistician", "GET", "/export/cut.zip?date=2999-01-01")
    assert bad.status_code == 422 and "after today" in bad.text
