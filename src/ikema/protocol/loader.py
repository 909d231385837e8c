"""Read a protocol TOML file into a validated `Protocol`; every problem becomes a ProtocolError naming the key path."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ikema.errors import ProtocolError
from ikema.protocol.models import Protocol

DEFAULT_PATH = Path(__file__).with_name("ikema.toml")


def _key_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _translate(exc: ValidationError, where: str) -> ProtocolError:
    lines = []
    for err in exc.errors():
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        path = _key_path(tuple(p for p in err.get("loc", ()) if not (isinstance(p, str) and "[" in p)))
        if err.get("type") == "missing":
            msg = "missing key"
        elif err.get("type") == "extra_forbidden":
            msg = "unknown key"
        elif "input" in err and err.get("type") not in ("value_error", "assertion_error"):
            msg = f"{msg} (got {err['input']!r})"
        lines.append(f"{path}: {msg}")
    return ProtocolError(f"{where}: " + "; ".join(lines))


def parse_protocol(data: dict[str, Any], where: str = "protocol") -> Protocol:
    """Validate a protocol already read into a dict (`where` names it in errors)."""
    try:
        return Protocol.model_validate(data)
    except ValidationError as exc:
        raise _translate(exc, where) from None


def load_protocol(path: str | Path | None = None) -> Protocol:
    """The protocol in `path` (None = the packaged IKEMA protocol), validated."""
    p = Path(path) if path is not None else DEFAULT_PATH
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProtocolError(f"{p}: cannot read the protocol file ({exc.strerror or exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProtocolError(f"{p}: not valid TOML ({exc})") from None
    return parse_protocol(data, str(p))
