"""One exception family for the whole package; messages name the record, field, value and what was expected."""

from __future__ import annotations


class IkemaError(Exception):
    """Base of every error ikema raises on purpose; the CLI prints its message without a traceback."""


class ProtocolError(IkemaError):
    """The protocol file is malformed or inconsistent."""


class InputError(IkemaError):
    """An input file or record breaks its contract (wrong column, type, range)."""


class EligibilityError(IkemaError):
    """A subject may not be randomized (unscreened, ineligible)."""


class StoreError(IkemaError):
    """The store refused a write (locked record, missing reason, integrity)."""


class AllocationExhaustedError(StoreError):
    """The allocation list of a subject's stratum has no unused position left (the IRT cannot randomize)."""

    def __init__(self, message: str, stratum: str | None = None) -> None:
        super().__init__(message)
        self.stratum = stratum


class PermissionDenied(IkemaError):
    """The user's role does not allow the action."""


def input_error(file: str, record: object, field: str, value: object, expected: str) -> InputError:
    """Build an InputError whose message names file, record, field, value and what was expected."""
    return InputError(f"{file}: record {record}, field {field}: got {value!r}, expected {expected}")
