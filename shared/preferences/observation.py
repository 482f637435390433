"""One observation of a guest's preference: the unit of the append-only profile log.

An observation is never changed or deleted once made (erasure is crypto-shredding of the
whole profile, not editing). Its id makes re-sending harmless: every copy of the log is a
set keyed by id, and two properties that both forward the same observation add it once.
"""

from __future__ import annotations

import hashlib
from datetime import time
from enum import StrEnum
from typing import Annotated
from uuid import UUID, uuid4

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shared.preferences.catalogue import (
    CATALOGUE,
    PreferenceValue,
    key_spec,
    validate,
    validate_time_of_day,
)
from shared.preferences.hlc import HlcStamp

__all__ = ["Observation", "ObservationKind"]

Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
# Opaque to this code: the cloud derives it (an HMAC of the loyalty identity); base64
# and hex both fit.
Pseudonym = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.=+/\-]{1,128}$")]


class ObservationKind(StrEnum):
    """Where an observation comes from, in rising order of authority (`precedence`)."""

    DECLARED = "declared"  # at booking: the form, the booking channel, an assistant
    NOTED = "noted"  # by staff during a stay
    OBSERVED = "observed"  # from the room's devices: what the guest actually did
    CONFIRMED = "confirmed"  # by the guest, asked explicitly ("24 °C on record, adjust?")

    @property
    def is_statement(self) -> bool:
        """Words about the preference rather than the guest's own behaviour or confirmation."""
        return self in (ObservationKind.DECLARED, ObservationKind.NOTED)


class Observation(BaseModel):
    """What was seen or said about one preference key of one guest, during one stay."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: UUID = Field(default_factory=uuid4)
    pseudonym: Pseudonym
    key: str
    value: PreferenceValue
    kind: ObservationKind
    stay_id: Id
    property_id: Id
    stamp: HlcStamp
    time_of_day: time | None = None

    @field_validator("key")
    @classmethod
    def _known_key(cls, key: str) -> str:
        key_spec(key)
        return key

    @field_validator("value", mode="before")
    @classmethod
    def _valid_value(cls, value: object, info: ValidationInfo) -> object:
        # Runs before pydantic's own parsing so that the catalogue sees the value as sent
        # (a bool is refused, not read as 1.0) and returns its canonical form.
        key = info.data.get("key")
        if key is None:  # the key was refused already; that error says it all
            return value
        return validate(key, value)

    @field_validator("time_of_day", mode="before")
    @classmethod
    def _whole_minutes(cls, value: object) -> time | None:
        return None if value is None else validate_time_of_day(value)

    @model_validator(mode="after")
    def _time_only_where_it_matters(self) -> Observation:
        if self.time_of_day is not None and not key_spec(self.key).timed:
            raise ValueError(
                f"{self.key} takes no time of day (timed keys: "
                + ", ".join(sorted(k for k, spec in CATALOGUE.items() if spec.timed))
                + ")"
            )
        return self

    def canonical_json(self) -> bytes:
        """The observation as bytes that depend only on its content.

        Fields in declaration order, values in canonical form (sorted tags, whole-minute
        times, floats for numbers), so equal observations give equal bytes everywhere.
        """
        return self.model_dump_json().encode()

    def digest(self) -> bytes:
        """SHA-256 of `canonical_json`: a stable tie-break between copies of one id."""
        return hashlib.sha256(self.canonical_json()).digest()
