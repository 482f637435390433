"""The staff roster file: who works at the property, with skills and shifts.

A JSON list, e.g.::

    [{"id": "anna", "name": "Anna", "skills": ["housekeeping"],
      "specialities": ["ironing"], "shift": {"start": "07:00", "end": "15:00"}},
     {"id": "mo", "skills": ["first_aid", "front_desk"], "supervisor": true}]

Going on and off duty is live state (the handset, or the API), kept in the store; the
roster only says who exists and what they can do.

A person's handset signs in with a bearer token of its own; the roster keeps only its
SHA-256 (``"token_sha256": "<64 hex>"``, made by ``staysync edge handset-token``), so the
file can be read by whoever runs the gateway without handing out anyone's access.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from pathlib import Path

from pydantic import BaseModel, ConfigDict, TypeAdapter, field_validator

from .model import Shift, Skill, Staff

__all__ = [
    "RosterEntry",
    "handset_tokens",
    "load_roster",
    "new_handset_token",
    "parse_roster",
    "token_digest",
]

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class _ShiftSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    start: str
    end: str

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError(f"{value!r} is not a time of day as HH:MM")
        return value


def _seconds(hhmm: str) -> float:
    hours, minutes = hhmm.split(":")
    return int(hours) * 3600.0 + int(minutes) * 60.0


class RosterEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str = ""
    skills: frozenset[Skill]
    specialities: frozenset[str] = frozenset()
    shift: _ShiftSpec | None = None
    supervisor: bool = False
    token_sha256: str | None = None  # the handset's token, hashed

    @field_validator("token_sha256")
    @classmethod
    def _hex_digest(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[0-9a-f]{64}", value):
            raise ValueError("token_sha256 is the 64 hex digits of a SHA-256")
        return value

    def staff(self) -> Staff:
        shift = (
            Shift(start_s=_seconds(self.shift.start), end_s=_seconds(self.shift.end))
            if self.shift is not None
            else None
        )
        return Staff(
            id=self.id,
            name=self.name or self.id,
            skills=self.skills,
            specialities=self.specialities,
            shift=shift,
            supervisor=self.supervisor,
        )


_ROSTER = TypeAdapter(list[RosterEntry])


def _entries(data: bytes | str) -> list[RosterEntry]:
    entries = _ROSTER.validate_json(data)
    seen: set[str] = set()
    tokens: set[str] = set()
    for entry in entries:
        if entry.id in seen:
            raise ValueError(f"staff id {entry.id!r} appears twice in the roster")
        seen.add(entry.id)
        if entry.token_sha256 is not None:
            if entry.token_sha256 in tokens:
                raise ValueError(f"staff {entry.id!r} shares a handset token with another")
            tokens.add(entry.token_sha256)
    return entries


def parse_roster(data: bytes | str) -> list[Staff]:
    return [entry.staff() for entry in _entries(data)]


def load_roster(path: Path) -> list[Staff]:
    return parse_roster(path.read_bytes())


def handset_tokens(path: Path) -> dict[str, str]:
    """SHA-256 of each handset token → the person it signs in."""
    entries = _entries(path.read_bytes())
    return {e.token_sha256: e.id for e in entries if e.token_sha256 is not None}


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_handset_token() -> tuple[str, str]:
    """A fresh token for one handset and its digest for the roster."""
    token = secrets.token_urlsafe(32)
    return token, token_digest(token)
