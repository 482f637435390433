"""The staff roster file: who works at the property, with skills and shifts.

A JSON list, e.g.::

    [{"id": "anna", "name": "Anna", "skills": ["housekeeping"],
      "specialities": ["ironing"], "shift": {"start": "07:00", "end": "15:00"}},
     {"id": "mo", "skills": ["first_aid", "front_desk"], "supervisor": true}]

Going on and off duty is live state (the handset, or the API), kept in the store; the
roster only says who exists and what they can do.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, TypeAdapter, field_validator

from .model import Shift, Skill, Staff

__all__ = ["RosterEntry", "load_roster", "parse_roster"]

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


def parse_roster(data: bytes | str) -> list[Staff]:
    entries = _ROSTER.validate_json(data)
    seen: set[str] = set()
    for entry in entries:
        if entry.id in seen:
            raise ValueError(f"staff id {entry.id!r} appears twice in the roster")
        seen.add(entry.id)
    return [entry.staff() for entry in entries]


def load_roster(path: Path) -> list[Staff]:
    return parse_roster(path.read_bytes())
