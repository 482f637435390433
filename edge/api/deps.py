"""Dependencies shared by the routes: the running gateway and the operator's token check."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from edge.dispatch.roster import token_digest
from edge.gateway import Gateway

_bearer = HTTPBearer(auto_error=False)


def get_gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


GatewayDep = Annotated[Gateway, Depends(get_gateway)]


def require_operator(
    gateway: GatewayDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    expected = gateway.settings.operator_token
    if expected is None:  # development without a token: the settings refuse this in production
        return
    given = credentials.credentials if credentials is not None else ""
    if given and secrets.compare_digest(given.encode(), expected.get_secret_value().encode()):
        return
    if gateway.handsets.signed_in(given):
        # A valid handset, but no operator: it must not sign its person out on a 401.
        raise HTTPException(status.HTTP_403_FORBIDDEN, "a handset may not use operator routes")
    raise HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "a valid operator token is required (Authorization: Bearer <token>)",
        headers={"WWW-Authenticate": "Bearer"},
    )


Operator = Depends(require_operator)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who calls: the operator (`staff_id` None, may act for anyone) or one person's
    handset (may act only for that person)."""

    staff_id: str | None
    token_sha256: str | None = None  # a handset's: to see it was not revoked since

    def may_act_for(self, staff_id: str | None) -> None:
        if self.staff_id is not None and staff_id != self.staff_id:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"this handset signs in {self.staff_id} and acts for them only",
            )


def identify(
    gateway: GatewayDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """The operator's token, or a handset's own (its SHA-256 is in the staff roster)."""
    given = credentials.credentials if credentials is not None else ""
    expected = gateway.settings.operator_token
    if expected is None and credentials is None:
        return Caller(None)  # development without a token: the settings refuse it elsewhere
    if (
        expected is not None
        and given
        and secrets.compare_digest(given.encode(), expected.get_secret_value().encode())
    ):
        return Caller(None)
    staff_id = gateway.handsets.who(given)
    if staff_id is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a valid operator or handset token is required (Authorization: Bearer <token>)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return Caller(staff_id, token_digest(given))


CallerDep = Annotated[Caller, Depends(identify)]


def require_pms(
    gateway: GatewayDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """The PMS integration's own token: it may post events, and nothing else."""
    expected = gateway.settings.pms_token
    if expected is None:  # development only: the settings require it in production
        return
    given = credentials.credentials if credentials is not None else ""
    if not given or not secrets.compare_digest(
        given.encode(), expected.get_secret_value().encode()
    ):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a valid PMS token is required (Authorization: Bearer <token>)",
            headers={"WWW-Authenticate": "Bearer"},
        )


Pms = Depends(require_pms)
