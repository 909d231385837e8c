"""ikema.store: the audited trial database (SQLAlchemy 2 models, Alembic migrations, append-only audit trail)."""

from ikema.store.db import acting, database_url, init_db, make_engine, session_factory, session_scope
from ikema.store.models import (
    ADASample, AdverseEvent, AllocationEntry, AuditEntry, Base, Death, DiseaseAssessment, Disposition,
    DrugAdministration, LabResult, PKSample, Questionnaire, Randomization, ScreeningResult, Site, Subject,
    SubsequentTherapy, User,
)

__all__ = [
    "acting", "database_url", "init_db", "make_engine", "session_factory", "session_scope",
    "ADASample", "AdverseEvent", "AllocationEntry", "AuditEntry", "Base", "Death", "DiseaseAssessment", "Disposition",
    "DrugAdministration", "LabResult", "PKSample", "Questionnaire", "Randomization", "ScreeningResult", "Site",
    "Subject", "SubsequentTherapy", "User",
]
