"""The cloud's exceptions: one root, one subclass per cause, each mapped to an HTTP status.

Messages name the problem (the guest, the observation id, the role) so that a gateway's
log line or an operator's terminal says what to fix without reading the server log.
"""

from __future__ import annotations

from datetime import datetime

__all__ = [
    "CloudError",
    "DuplicateMismatch",
    "ForeignProperty",
    "GuestErased",
    "InvalidRequest",
    "KeyConflict",
    "MissingKey",
    "NotAuthenticated",
    "NotFound",
    "NotPermitted",
    "RotationConflict",
    "SchemaOutOfDate",
]


class CloudError(Exception):
    """Root of every error the cloud raises on purpose."""


class NotAuthenticated(CloudError):
    """No token, an unknown token or a revoked one (401)."""


class NotPermitted(CloudError):
    """A valid token that may not do this (403)."""


class ForeignProperty(NotPermitted):
    def __init__(self, gateway_property: str, observation_id: str, property_id: str) -> None:
        super().__init__(
            f"observation {observation_id} is for property {property_id!r}, but this "
            f"gateway's token is scoped to property {gateway_property!r}"
        )
        self.observation_id = observation_id


class NotFound(CloudError):
    """404."""


class GuestErased(CloudError):
    """The guest, or the profile a key version belongs to, was erased (crypto-shredded):
    410 Gone, for good. A returning guest may enrol again under a newer data-key version
    (``erased_key_version`` + 1 or later): a new profile."""

    def __init__(
        self, pseudonym: str, erased_at: datetime, erased_key_version: int | None = None
    ) -> None:
        again = (
            f"; a guest who enrols again starts a new profile under a data key of version "
            f"{erased_key_version + 1} or later"
            if erased_key_version is not None
            else ""
        )
        super().__init__(
            f"guest {pseudonym} was erased at {erased_at.isoformat()}: "
            f"purge any cached copy and do not push it again{again}"
        )
        self.pseudonym = pseudonym
        self.erased_at = erased_at
        self.erased_key_version = erased_key_version


class Conflict(CloudError):
    """The request contradicts what is stored (409)."""


class DuplicateMismatch(Conflict):
    def __init__(self, observation_id: str) -> None:
        super().__init__(
            f"observation {observation_id} is already stored with different content; "
            "an observation id may be pushed again only with identical content"
        )
        self.observation_id = observation_id


class MissingKey(Conflict):
    def __init__(self, pseudonym: str, data_key_version: int) -> None:
        super().__init__(
            f"guest {pseudonym} has no wrapped data key at version {data_key_version}: "
            f"PUT /v1/guests/{pseudonym}/key first, so no stored ciphertext is unreadable"
        )


class KeyConflict(Conflict):
    """A wrapped key that contradicts the stored one (first write wins)."""


class RotationConflict(Conflict):
    """A rotation step out of turn: none running, one already running, keys left."""


class InvalidRequest(CloudError):
    """Well-formed JSON that asks for something impossible (422)."""


class SchemaOutOfDate(CloudError):
    """The database is not at the migration head; the service refuses to start."""
