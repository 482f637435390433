"""Keeps the gateway's profile cache and the cloud in step: push the outbox, pull updates.

The gateway always initiates (it sits behind the hotel's NAT). With the cloud down it
keeps working from its cache and its outbox grows; when the cloud is back every
observation arrives, and a batch sent twice is a no-op there (ids), so an outage loses
and duplicates nothing. It pulls the profiles of the guests expected within the
prefetch window (48 h) and refreshes every cached guest, which is also how it learns of
an erasure and purges its copy.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from shared.clock import Clock, wait_event
from shared.crypto import ChainKeyring, open_observation, seal_observation, unwrap
from shared.sync import MAX_BATCH, SealedObservation, WrappedKey

from .cloud_client import (
    CloudClient,
    CloudConflict,
    CloudGone,
    CloudRejected,
    CloudUnavailable,
    Purpose,
)
from .profiles import OutboxItem, ProfileStore

__all__ = ["ProfileSync", "SyncTiming"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SyncTiming:
    interval_s: float = 30.0  # between rounds when nothing new is queued
    retry_initial_s: float = 1.0  # after a failed round, doubling up to retry_max_s
    retry_max_s: float = 300.0
    prefetch_window_s: float = 48 * 3600.0  # pull the profiles of arrivals this far ahead


class ProfileSync:
    def __init__(
        self,
        store: ProfileStore,
        client: CloudClient,
        keyring: ChainKeyring,
        clock: Clock,
        timing: SyncTiming | None = None,
        hotel_clock: Clock | None = None,
    ) -> None:
        """`clock` times the network (retries, the sync interval); `hotel_clock` is the
        clock of the arrival times given to `expect` (they differ in a simulation)."""
        self._store = store
        self._client = client
        self._keyring = keyring
        self._clock = clock
        self._hotel_clock = hotel_clock or clock
        self._timing = timing or SyncTiming()
        self._expected: dict[str, float] = {}  # pseudonym -> arrival time (hotel clock)
        self._cached: set[str] = set()
        self._wake = asyncio.Event()

    def expect(self, pseudonym: str, arrival_at: float) -> None:
        """A guest is due (from the PMS): pull their profile before they arrive."""
        self._expected[pseudonym] = arrival_at
        self._wake.set()

    def forget(self, pseudonym: str) -> None:
        self._expected.pop(pseudonym, None)

    def nudge(self) -> None:
        """Something was queued: sync soon rather than at the next interval."""
        self._wake.set()

    async def run(self) -> None:
        delay = self._timing.retry_initial_s
        while True:
            self._wake.clear()
            try:
                await self.sync_once()
            except CloudUnavailable as exc:
                log.warning("cloud unavailable (%s); retrying in %.0f s", exc, delay)
                await wait_event(self._wake, self._clock, delay)
                delay = min(delay * 2, self._timing.retry_max_s)
                continue
            delay = self._timing.retry_initial_s
            await wait_event(self._wake, self._clock, self._timing.interval_s)

    async def sync_once(self) -> tuple[int, int]:
        """Push the whole outbox, then pull; returns (observations pushed, pulled)."""
        pushed = 0
        while True:
            sent = await self.push_once()
            if sent == 0:
                break
            pushed += sent
        return pushed, await self.pull_once()

    async def push_once(self) -> int:
        """Send the oldest outbox items (keys before the observations sealed under them)."""
        items = await self._store.outbox(MAX_BATCH)
        if not items:
            return 0
        sent = 0
        batch: list[OutboxItem] = []
        for item in items:
            if item.kind == "key":
                await self._flush(batch)
                sent += len(batch)
                batch = []
                if not await self._push_key(item):
                    return sent + 1  # the outbox changed under us: start again from its head
            else:
                batch.append(item)
        await self._flush(batch)
        return sent + len(batch)

    async def pull_once(self, purpose: Purpose = Purpose.SYNC) -> int:
        horizon = self._hotel_clock.now() + self._timing.prefetch_window_s
        wanted = sorted({p for p, at in self._expected.items() if at <= horizon} | self._cached)
        if not wanted:
            return 0
        pulled = 0
        for start in range(0, len(wanted), MAX_BATCH):
            chunk = wanted[start : start + MAX_BATCH]
            more = True
            while more:
                cursors = await self._store.cursors(chunk)
                response = await self._client.pull(cursors, purpose)
                pulled += await self._store.apply_pull(response)
                served = {page.pseudonym for page in response.pages}
                for notice in response.erased:
                    if notice.pseudonym not in served:  # erased now, not come back since
                        self._cached.discard(notice.pseudonym)
                        self._expected.pop(notice.pseudonym, None)
                self._cached.update(served)
                more = any(page.more for page in response.pages)
        return pulled

    async def _flush(self, batch: list[OutboxItem]) -> None:
        if not batch:
            return
        observations = [SealedObservation.model_validate_json(i.body) for i in batch]
        try:
            await self._client.push_observations(observations)
        except CloudGone as exc:
            # One guest of the batch was erased: drop what we hold of them, and only of
            # them; the others go in the next push.
            if exc.pseudonym is None:
                log.error("push refused as erased without naming the guest: %s", exc.detail)
                await self._store.dead_letter(batch, str(exc))
                return
            log.info("push refused: a guest was erased; their cached copy is purged")
            await self._store.purge(exc.pseudonym, exc.erased_key_version)
            return
        except CloudRejected as exc:
            # Retrying cannot help; keep the items for an operator instead of looping.
            log.error("cloud refused %d observations: %s", len(batch), exc)
            await self._store.dead_letter(batch, str(exc))
            return
        await self._store.done(batch)
        self._cached.update(i.pseudonym for i in batch)

    async def _push_key(self, item: OutboxItem) -> bool:
        """Push one wrapped key; False if a conflict made us rewrite the outbox."""
        key = WrappedKey.model_validate_json(item.body)
        try:
            await self._client.put_key(key)
        except CloudConflict:
            await self._adopt_cloud_key(key, item)
            return False
        except CloudGone as exc:
            await self._store.purge(key.pseudonym, exc.erased_key_version)
            return False
        await self._store.done([item])
        return True

    async def _adopt_cloud_key(self, ours: WrappedKey, item: OutboxItem) -> None:
        """Another gateway enrolled this guest first: its key wins, ours is dropped, and
        what we sealed under ours is sealed again under the cloud's (never sent yet,
        since an observation leaves only after its key was accepted)."""
        response = await self._client.pull({ours.pseudonym: 0}, Purpose.SYNC)
        theirs = next(k for k in response.keys if k.pseudonym == ours.pseudonym)
        old_key, new_key = unwrap(ours, self._keyring), unwrap(theirs, self._keyring)
        queued = [
            i for i in await self._store.outbox(MAX_BATCH * 10) if i.pseudonym == ours.pseudonym
        ]
        resealed = []
        for queued_item in queued:
            if queued_item.kind != "observation":
                continue
            sealed = SealedObservation.model_validate_json(queued_item.body)
            resealed.append(
                seal_observation(
                    open_observation(sealed, old_key),
                    observation_id=sealed.id,
                    pseudonym=sealed.pseudonym,
                    property_id=sealed.property_id,
                    data_key=new_key,
                )
            )
        await self._store.replace_key(theirs, resealed, queued)  # `item` is among them
        await self._store.apply_pull(response)
        log.info("guest %s…: adopted the cloud's data key", ours.pseudonym[:8])
