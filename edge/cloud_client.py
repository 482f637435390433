"""The gateway's HTTPS client of the chain cloud; the gateway always initiates (it sits
behind the hotel's NAT). Only `shared.sync` models cross this boundary."""

from __future__ import annotations

import logging
from enum import StrEnum

import httpx
from pydantic import SecretStr, ValidationError

from shared.sync import (
    PullRequest,
    PullResponse,
    PushResult,
    SealedObservation,
    SealedObservationBatch,
    WrappedKey,
)

from .errors import EdgeError

__all__ = [
    "CloudClient",
    "CloudConflict",
    "CloudError",
    "CloudGone",
    "CloudRejected",
    "CloudUnavailable",
    "Purpose",
]

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 10.0


class Purpose(StrEnum):
    """Why the gateway reads a profile; the cloud writes it in its audit log."""

    ARRIVAL = "arrival"
    SYNC = "sync"
    SERVICE = "service"


class CloudError(EdgeError):
    """Root of the cloud client's errors."""


class CloudUnavailable(CloudError):
    """Network trouble or a 5xx: try again later, nothing was decided."""


class CloudRejected(CloudError):
    """A 4xx the gateway cannot fix by retrying (a bug or a misconfiguration)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"cloud refused ({status}): {detail}")
        self.status = status
        self.detail = detail


class CloudConflict(CloudRejected):
    """409: the cloud keeps something else under that name (another gateway's key)."""


class CloudGone(CloudRejected):
    """410: the guest was erased. The cloud names the guest and the newest data-key
    version of the erased profile (a new profile must use a later one)."""

    def __init__(
        self,
        status: int,
        detail: str,
        pseudonym: str | None = None,
        erased_key_version: int | None = None,
    ) -> None:
        super().__init__(status, detail)
        self.pseudonym = pseudonym
        self.erased_key_version = erased_key_version


class CloudClient:
    """One gateway's session with the cloud, authenticated by its bearer token."""

    def __init__(
        self,
        base_url: str,
        token: SecretStr,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token.get_secret_value()}"},
            timeout=REQUEST_TIMEOUT_S,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def push_observations(self, observations: list[SealedObservation]) -> PushResult:
        body = SealedObservationBatch(observations=observations)
        response = await self._send("POST", "/v1/observations", body.model_dump_json())
        return PushResult.model_validate_json(response.content)

    async def put_key(self, key: WrappedKey) -> WrappedKey:
        response = await self._send("PUT", f"/v1/guests/{key.pseudonym}/key", key.model_dump_json())
        return WrappedKey.model_validate_json(response.content)

    async def pull(self, cursors: dict[str, int], purpose: Purpose) -> PullResponse:
        body = PullRequest(cursors=cursors)
        response = await self._send(
            "POST", "/v1/pull", body.model_dump_json(), headers={"X-Purpose": purpose.value}
        )
        return PullResponse.model_validate_json(response.content)

    async def _send(
        self, method: str, path: str, body: str, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        try:
            response = await self._http.request(
                method,
                path,
                content=body,
                headers={"Content-Type": "application/json", **(headers or {})},
            )
        except httpx.HTTPError as exc:
            raise CloudUnavailable(f"{method} {path}: {exc!r}") from exc
        if response.status_code >= 500:
            raise CloudUnavailable(f"{method} {path}: {response.status_code}")
        if response.status_code == 410:
            gone = _body(response)
            version = gone.get("erased_key_version")
            pseudonym = gone.get("pseudonym")
            raise CloudGone(
                410,
                _detail(response),
                pseudonym=pseudonym if isinstance(pseudonym, str) else None,
                erased_key_version=version if isinstance(version, int) else None,
            )
        if response.status_code >= 400:
            kind = CloudConflict if response.status_code == 409 else CloudRejected
            raise kind(response.status_code, _detail(response))
        return response


def _body(response: httpx.Response) -> dict[str, object]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail", response.text)
    except (ValueError, AttributeError, ValidationError):
        detail = response.text
    return str(detail)[:500]
