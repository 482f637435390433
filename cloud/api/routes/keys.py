"""Wrapped data keys, pushed by the gateway that made a guest's data key."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from cloud import vault
from cloud.api.deps import GatewayDep, PseudonymPath, SessionDep
from cloud.sqltypes import utcnow
from shared.sync import WrappedKey

router = APIRouter(prefix="/v1", tags=["keys"])


@router.put(
    "/guests/{pseudonym}/key",
    status_code=status.HTTP_200_OK,
    responses={
        201: {"description": "the guest's first key at this data-key version"},
        409: {"description": "another key is stored: the first write wins"},
        410: {"description": "the guest was erased"},
    },
)
def put_key(
    pseudonym: PseudonymPath,
    key: WrappedKey,
    gateway: GatewayDep,
    session: SessionDep,
    response: Response,
) -> WrappedKey:
    """Store the guest's wrapped data key; the same key again is a no-op (200)."""
    stored, created = vault.put_key(session, gateway, pseudonym, key, utcnow())
    session.commit()
    if created:
        response.status_code = status.HTTP_201_CREATED
    return stored
