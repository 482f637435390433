"""Guest profiles on the edge: sealed observations, their keys, and the outbox to the cloud.

The gateway keeps a guest's profile as the cloud does, sealed: observations under the
guest's data key, the data key wrapped by the chain key. Reading a profile unwraps the
key and opens the observations in memory; nothing is stored in plaintext. Erasing a
guest deletes the wrapped key and everything sealed under it (crypto-shredding).

Every new observation is written, in one durable batch, to the local cache and to the
outbox; `ProfileSync` (edge/profile_sync.py) empties the outbox to the cloud and fills
the cache from it. An observation id never changes, so a re-sent batch is a no-op at the
cloud: the outbox may deliver twice, never lose.

All store work runs on the gateway store's worker thread (`GatewayStore.run`); tables
are addressed by doc id from indexes built at open, so writes stay O(1).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from typing import Any

from shared.clock import Clock
from shared.crypto import (
    ChainKeyring,
    DataKey,
    open_observation,
    seal_observation,
    unwrap,
    wrap,
)
from shared.preferences import (
    HybridClock,
    Observation,
    ObservationKind,
    Preference,
    PreferenceValue,
    effective_preferences,
)
from shared.sync import PullResponse, SealedObservation, WrappedKey

from .persistence import GatewayStore
from .store import EdgeStore

__all__ = ["GuestProfiles", "OutboxItem", "ProfileStore"]

log = logging.getLogger(__name__)

KEYS = "profile_keys"
OBSERVATIONS = "profile_observations"
CURSORS = "profile_cursors"
OUTBOX = "outbox"
DEAD = "outbox_refused"
ERASED = "profile_erased"  # tombstones: pseudonym and the erased profile's key version


@dataclass(frozen=True, slots=True)
class OutboxItem:
    doc_id: int
    kind: str  # "key" or "observation"
    pseudonym: str
    body: str  # the shared.sync model's JSON


class ProfileStore:
    """The profile tables in the gateway's store, with their in-memory indexes."""

    def __init__(self, store: GatewayStore) -> None:
        self._store = store
        self._keys: dict[str, int] = {}  # pseudonym -> doc id
        self._observations: dict[str, int] = {}  # observation id -> doc id
        self._by_guest: defaultdict[str, list[int]] = defaultdict(list)
        self._cursors: dict[str, int] = {}  # pseudonym -> doc id
        # Erased guests: the newest data-key version their erased profile used. A guest
        # who comes back starts a new profile under a later version (the cloud refuses
        # the old ones for good).
        self._erased: dict[str, tuple[int, int]] = {}  # pseudonym -> (doc id, version)

    async def open(self) -> None:
        await self._store.run(self._build_indexes)

    def _build_indexes(self, db: EdgeStore) -> None:
        self._keys = {doc["pseudonym"]: doc.doc_id for doc in db.table(KEYS).all()}
        for doc in db.table(OBSERVATIONS).all():
            self._observations[doc["id"]] = doc.doc_id
            self._by_guest[doc["pseudonym"]].append(doc.doc_id)
        self._cursors = {doc["pseudonym"]: doc.doc_id for doc in db.table(CURSORS).all()}
        self._erased = {
            doc["pseudonym"]: (doc.doc_id, int(doc["version"])) for doc in db.table(ERASED).all()
        }

    def erased_version(self, pseudonym: str) -> int | None:
        """The data-key version an erased guest's old profile reached; None if never erased."""
        found = self._erased.get(pseudonym)
        return found[1] if found is not None else None

    # ---- reads ----

    async def key(self, pseudonym: str) -> WrappedKey | None:
        doc_id = self._keys.get(pseudonym)
        if doc_id is None:
            return None
        doc = await self._store.run(lambda db: db.table(KEYS).get(doc_id=doc_id))
        return WrappedKey.model_validate_json(doc["body"]) if doc is not None else None

    async def sealed(self, pseudonym: str) -> list[SealedObservation]:
        doc_ids = list(self._by_guest.get(pseudonym, ()))

        def read(db: EdgeStore) -> list[Any]:
            table = db.table(OBSERVATIONS)
            return [table.get(doc_id=doc_id) for doc_id in doc_ids]

        return [
            SealedObservation.model_validate_json(d["body"])
            for d in await self._store.run(read)
            if d
        ]

    async def cursors(self, pseudonyms: list[str]) -> dict[str, int]:
        def read(db: EdgeStore) -> dict[str, int]:
            table = db.table(CURSORS)
            found = {}
            for pseudonym in pseudonyms:
                doc_id = self._cursors.get(pseudonym)
                doc = table.get(doc_id=doc_id) if doc_id is not None else None
                found[pseudonym] = int(doc["cursor"]) if doc else 0
            return found

        return await self._store.run(read)

    async def outbox(self, limit: int) -> list[OutboxItem]:
        def read(db: EdgeStore) -> list[OutboxItem]:
            docs = sorted(db.table(OUTBOX).all(), key=lambda d: d.doc_id)[:limit]
            return [OutboxItem(d.doc_id, d["kind"], d["pseudonym"], d["body"]) for d in docs]

        return await self._store.run(read)

    # ---- writes (each durable when it returns) ----

    async def record(self, key: WrappedKey | None, sealed: SealedObservation) -> None:
        """Cache the observation (and a new guest's key) and queue both for the cloud."""

        def write(db: EdgeStore) -> None:
            with db.batch():
                if key is not None:
                    self._put_key(db, key)
                    db.table(OUTBOX).insert(_outbox("key", key))
                self._put_observation(db, sealed)
                db.table(OUTBOX).insert(_outbox("observation", sealed))

        await self._store.run(write)

    async def dead_letter(self, items: list[OutboxItem], reason: str) -> None:
        """Move items the cloud refuses for good out of the way, kept for an operator."""

        def write(db: EdgeStore) -> None:
            with db.batch():
                for item in items:
                    db.table(DEAD).insert(
                        {
                            "kind": item.kind,
                            "pseudonym": item.pseudonym,
                            "body": item.body,
                            "reason": reason,
                        }
                    )
                db.table(OUTBOX).remove(doc_ids=[item.doc_id for item in items])

        await self._store.run(write)

    async def done(self, items: list[OutboxItem]) -> None:
        doc_ids = [item.doc_id for item in items]
        await self._store.run(lambda db: db.table(OUTBOX).remove(doc_ids=doc_ids))

    async def apply_pull(self, response: PullResponse) -> int:
        """Take in what the cloud sent; return how many observations were new here."""

        def write(db: EdgeStore) -> int:
            added = 0
            with db.batch():
                for key in response.keys:
                    current = self._read_key(db, key.pseudonym)
                    # A rotation re-wraps under a newer chain-key version, and a guest who
                    # came back after an erasure has a newer data key: take either.
                    if (
                        current is None
                        or current.data_key_version < key.data_key_version
                        or current.chain_key_version < key.chain_key_version
                    ):
                        self._put_key(db, key)
                for page in response.pages:
                    for sealed in page.observations:
                        if sealed.id not in self._observations:
                            self._put_observation(db, sealed)
                            added += 1
                    self._put_cursor(db, page.pseudonym, page.next_cursor)
                for notice in response.erased:
                    # Sent on every pull while the erasure stands: once is enough.
                    done_through = self.erased_version(notice.pseudonym) or 0
                    if done_through < notice.erased_key_version:
                        self._purge(db, notice.pseudonym, notice.erased_key_version)
            return added

        return await self._store.run(write)

    async def purge(self, pseudonym: str, erased_version: int | None = None) -> None:
        """Forget an erased guest; `erased_version` is the cloud's word on the newest
        data-key version of the erased profile, if it said."""

        def write(db: EdgeStore) -> None:
            with db.batch():
                self._purge(db, pseudonym, erased_version)

        await self._store.run(write)

    async def replace_key(
        self, key: WrappedKey, resealed: list[SealedObservation], obsolete: list[OutboxItem]
    ) -> None:
        """Adopt the cloud's key for a guest, with the observations sealed again under it."""

        def write(db: EdgeStore) -> None:
            with db.batch():
                self._put_key(db, key)
                table = db.table(OBSERVATIONS)
                for sealed in resealed:
                    table.update(
                        {"body": sealed.model_dump_json()}, doc_ids=[self._observations[sealed.id]]
                    )
                db.table(OUTBOX).remove(doc_ids=[item.doc_id for item in obsolete])
                for sealed in resealed:
                    db.table(OUTBOX).insert(_outbox("observation", sealed))

        await self._store.run(write)

    # ---- on the store thread ----

    def _read_key(self, db: EdgeStore, pseudonym: str) -> WrappedKey | None:
        doc_id = self._keys.get(pseudonym)
        doc = db.table(KEYS).get(doc_id=doc_id) if doc_id is not None else None
        return WrappedKey.model_validate_json(doc["body"]) if doc else None

    def _put_key(self, db: EdgeStore, key: WrappedKey) -> None:
        doc = {"pseudonym": key.pseudonym, "body": key.model_dump_json()}
        doc_id = self._keys.get(key.pseudonym)
        if doc_id is None:
            self._keys[key.pseudonym] = db.table(KEYS).insert(doc)
        else:
            db.table(KEYS).update(doc, doc_ids=[doc_id])

    def _put_observation(self, db: EdgeStore, sealed: SealedObservation) -> None:
        doc = {"id": sealed.id, "pseudonym": sealed.pseudonym, "body": sealed.model_dump_json()}
        doc_id = db.table(OBSERVATIONS).insert(doc)
        self._observations[sealed.id] = doc_id
        self._by_guest[sealed.pseudonym].append(doc_id)

    def _put_cursor(self, db: EdgeStore, pseudonym: str, cursor: int) -> None:
        doc = {"pseudonym": pseudonym, "cursor": cursor}
        doc_id = self._cursors.get(pseudonym)
        if doc_id is None:
            self._cursors[pseudonym] = db.table(CURSORS).insert(doc)
        else:
            db.table(CURSORS).update(doc, doc_ids=[doc_id])

    def _purge(self, db: EdgeStore, pseudonym: str, erased_version: int | None = None) -> None:
        """Drop what is held of the guest under data-key version `erased_version` or older
        (everything, if the cloud did not say): the erased profile goes, and a profile the
        guest started again since, under a newer version, stays."""
        held = self._read_key(db, pseudonym)
        through = erased_version
        if through is None:
            through = held.data_key_version if held is not None else 1
        through = max(through, self.erased_version(pseudonym) or 1)
        tomb = self._erased.get(pseudonym)
        doc = {"pseudonym": pseudonym, "version": through}
        if tomb is None:
            self._erased[pseudonym] = (db.table(ERASED).insert(doc), through)
        else:
            db.table(ERASED).update(doc, doc_ids=[tomb[0]])
            self._erased[pseudonym] = (tomb[0], through)
        if held is not None and held.data_key_version <= through:
            key_id = self._keys.pop(pseudonym)
            db.table(KEYS).remove(doc_ids=[key_id])
        table = db.table(OBSERVATIONS)
        gone = []
        for doc_id in self._by_guest.get(pseudonym, []):
            found = table.get(doc_id=doc_id)
            sealed = SealedObservation.model_validate_json(found["body"]) if found else None
            if sealed is None or sealed.data_key_version <= through:
                gone.append(doc_id)
                if sealed is not None:
                    self._observations.pop(sealed.id, None)
        if gone:
            table.remove(doc_ids=gone)
            kept = [d for d in self._by_guest.get(pseudonym, []) if d not in set(gone)]
            self._by_guest[pseudonym] = kept
        if pseudonym not in self._keys:
            # Nothing of the guest is left: the next pull starts from the beginning.
            self._by_guest.pop(pseudonym, None)
            cursor_id = self._cursors.pop(pseudonym, None)
            if cursor_id is not None:
                db.table(CURSORS).remove(doc_ids=[cursor_id])
        queued = [
            d.doc_id
            for d in db.table(OUTBOX).all()
            if d["pseudonym"] == pseudonym and _version_of(d) <= through
        ]
        if queued:
            db.table(OUTBOX).remove(doc_ids=queued)
        refused = [
            d.doc_id
            for d in db.table(DEAD).all()
            if d.get("pseudonym") == pseudonym and _version_of(d) <= through
        ]
        if refused:  # what the cloud refused is still the guest's data: it goes too
            db.table(DEAD).remove(doc_ids=refused)


def _version_of(item: Mapping[str, Any]) -> int:
    """The data-key version an outbox item (a key or an observation) is under."""
    body = json.loads(item["body"])
    return int(body["data_key_version"])


def _outbox(kind: str, model: WrappedKey | SealedObservation) -> dict[str, str]:
    return {"kind": kind, "pseudonym": model.pseudonym, "body": model.model_dump_json()}


class GuestProfiles:
    """Record what is learned about a guest and read their effective preferences."""

    def __init__(
        self,
        property_id: str,
        keyring: ChainKeyring,
        store: ProfileStore,
        clock: Clock,
        node_id: str,
    ) -> None:
        self.property_id = property_id
        self._keyring = keyring
        self._store = store
        self._clock = clock
        self.hlc = HybridClock(node_id, clock)

    def pseudonym(self, loyalty_id: str) -> str:
        return self._keyring.pseudonym(loyalty_id)

    async def record(
        self,
        loyalty_id: str,
        key: str,
        value: PreferenceValue,
        kind: ObservationKind,
        stay_id: str,
        time_of_day: time | None = None,
    ) -> Observation:
        """Seal and store one observation; it reaches the cloud through the outbox."""
        pseudonym = self.pseudonym(loyalty_id)
        wrapped = await self._store.key(pseudonym)
        new_key: WrappedKey | None = None
        if wrapped is None:
            # A guest erased before starts a new profile under a later data-key version.
            data_key = DataKey.generate(version=(self._store.erased_version(pseudonym) or 0) + 1)
            new_key = wrapped = wrap(data_key, self._keyring, pseudonym)
        else:
            data_key = unwrap(wrapped, self._keyring)
        observation = Observation(
            pseudonym=pseudonym,
            key=key,
            value=value,
            kind=kind,
            stay_id=stay_id,
            property_id=self.property_id,
            stamp=self.hlc.now(),
            time_of_day=time_of_day,
        )
        sealed = seal_observation(
            observation.canonical_json(),
            observation_id=observation.id,
            pseudonym=pseudonym,
            property_id=self.property_id,
            data_key=data_key,
        )
        await self._store.record(new_key, sealed)
        return observation

    async def observations(self, pseudonym: str) -> list[Observation]:
        """The guest's observations, opened in memory; none once the guest is erased.

        Opening (AES-GCM and parsing, a few ms for a long profile) runs off the event
        loop; the hybrid clock takes the stamps back on it."""
        wrapped = await self._store.key(pseudonym)
        if wrapped is None:
            return []
        sealed = await self._store.sealed(pseudonym)
        opened = await asyncio.to_thread(self._open, pseudonym, wrapped, sealed)
        for observation in opened:
            self.hlc.observe(observation.stamp)
        return opened

    def _open(
        self, pseudonym: str, wrapped: WrappedKey, sealed: list[SealedObservation]
    ) -> list[Observation]:
        data_key = unwrap(wrapped, self._keyring)
        opened = []
        for one in sealed:
            if one.data_key_version != data_key.version:
                # Under another profile's key (one erased, or a race between two
                # gateways enrolling the guest): not readable with this one.
                log.warning("observation %s is under another data key: skipped", one.id)
                continue
            observation = Observation.model_validate_json(open_observation(one, data_key))
            # The envelope is authenticated; the content must agree with it.
            if str(observation.id.hex) != one.id or observation.pseudonym != pseudonym:
                log.warning("observation %s does not match its envelope: skipped", one.id)
                continue
            opened.append(observation)
        return opened

    async def preferences(self, loyalty_id: str) -> dict[str, Preference]:
        observations = await self.observations(self.pseudonym(loyalty_id))
        # The engine is pure Python over the whole log: off the loop too.
        return await asyncio.to_thread(effective_preferences, observations, self._clock.now())
