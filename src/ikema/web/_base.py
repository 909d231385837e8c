"""The declarative Base the web tables live on (the store's, so its audit hook covers them)."""
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Temporary until ikema.store lands."""
