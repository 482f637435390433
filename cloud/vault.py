"""The vault's gateway-facing operations: push, pull, read, wrapped keys and identities.

Each function works inside the caller's transaction and does not commit: the route
commits after the whole request succeeded (and with it the audit rows).

Cursor safety on PostgreSQL: a writer locks the rows of the guests it adds observations
to (``SELECT ... FOR UPDATE``, in pseudonym order, so two writers never deadlock) before
it takes sequence numbers. Two transactions adding to one guest therefore commit in the
order of their numbers, and a reader that has seen number n of a guest will never later
find a smaller, newly committed one for that guest: ``after=n`` misses nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Insert,
    String,
    Table,
    and_,
    any_,
    bindparam,
    column,
    func,
    select,
    tuple_,
    values,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from shared.sync import (
    ErasureNotice,
    ObservationPage,
    PullRequest,
    PullResponse,
    PushResult,
    SealedIdentity,
    SealedObservation,
    SealedObservationBatch,
    WrappedKey,
)

from . import audit, rotation
from .audit import Action, Purpose
from .auth import Principal
from .errors import (
    DuplicateMismatch,
    ForeignProperty,
    GuestErased,
    InvalidRequest,
    KeyConflict,
    MissingKey,
    NotFound,
)
from .models import Guest, IdentityRow, Observation, WrappedKeyRow
from .wire import check_sealed, check_wrapped, sealed_observation, wrapped_key

__all__ = [
    "PullLimits",
    "lock_guests",
    "pull",
    "push",
    "put_identity",
    "put_key",
    "read_identity",
    "read_page",
]

_OBSERVATIONS: Table = Observation.__table__  # type: ignore[assignment]
_GUESTS: Table = Guest.__table__  # type: ignore[assignment]
_KEYS: Table = WrappedKeyRow.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class PullLimits:
    page_limit: int  # observations of one guest in one page
    max_observations: int  # observations in one pull response

    def per_guest(self, guests: int) -> int:
        return max(1, min(self.page_limit, self.max_observations // max(guests, 1)))


def _among(session: Session, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """``column IN (values)``; on PostgreSQL ``column = ANY(:array)``, one parameter.

    A push names up to 1,000 ids and hundreds of guests: as an IN list each is a
    placeholder, and psycopg parses a statement that long again on every execution (its
    cache takes short statements only), which cost more CPU than the rest of the push.
    """
    if session.get_bind().dialect.name == "postgresql":
        array = bindparam(None, list(values), type_=postgresql.ARRAY(column.type))
        return cast(ColumnElement[bool], column == any_(array))
    return cast(ColumnElement[bool], column.in_(values))


def _insert(session: Session, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that can say ON CONFLICT DO NOTHING on this engine."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def lock_guests(
    session: Session, pseudonyms: Iterable[str], *, create_at: datetime | None = None
) -> dict[str, Guest]:
    """Lock the guests' rows for this transaction; with create_at, create missing ones."""
    ordered = sorted(set(pseudonyms))
    if not ordered:
        return {}
    if create_at is not None:
        session.execute(
            _insert(session, _GUESTS).on_conflict_do_nothing(index_elements=["pseudonym"]),
            [{"pseudonym": p, "created_at": create_at} for p in ordered],
        )
    found = session.execute(
        select(Guest)
        .where(_among(session, Guest.pseudonym, ordered))
        .order_by(Guest.pseudonym)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalars()
    return {guest.pseudonym: guest for guest in found}


def _refuse_erased(guests: Iterable[Guest]) -> None:
    for guest in guests:
        if guest.erased_at is not None:
            raise GuestErased(guest.pseudonym, guest.erased_at, guest.erased_key_version)


def _refuse_erased_version(guest: Guest, data_key_version: int) -> None:
    """A key, observation or identity under a data-key version of an erased profile: a
    gateway that still holds what was erased. Refused for good, even after the guest
    enrolled again (under a newer version)."""
    erased_through = guest.erased_key_version
    if erased_through is not None and data_key_version <= erased_through:
        erased_at = guest.erased_at or guest.last_erased_at
        assert erased_at is not None  # both are set by every erasure
        raise GuestErased(guest.pseudonym, erased_at, erased_through)


def _content(obs: SealedObservation) -> tuple[Any, ...]:
    return (obs.pseudonym, obs.property_id, obs.data_key_version, obs.nonce, obs.ciphertext)


def _stored_content(session: Session, ids: Sequence[str]) -> dict[str, tuple[Any, ...]]:
    rows = session.execute(
        select(
            Observation.id,
            Observation.pseudonym,
            Observation.property_id,
            Observation.data_key_version,
            Observation.nonce,
            Observation.ciphertext,
        ).where(_among(session, Observation.id, ids))
    )
    return {
        row.id: (
            row.pseudonym,
            row.property_id,
            row.data_key_version,
            bytes(row.nonce),
            bytes(row.ciphertext),
        )
        for row in rows
    }


def push(
    session: Session, gateway: Principal, batch: SealedObservationBatch, now: datetime
) -> PushResult:
    """Store new observations; an id already stored with the same content is a no-op."""
    unique: dict[str, SealedObservation] = {}
    for obs in batch.observations:
        if obs.property_id != gateway.property_id:
            raise ForeignProperty(gateway.property_id or "", obs.id, obs.property_id)
        check_sealed(f"observation {obs.id}", obs.nonce, obs.ciphertext)
        seen = unique.setdefault(obs.id, obs)
        if seen is not obs and _content(seen) != _content(obs):
            raise DuplicateMismatch(obs.id)

    guests = lock_guests(session, (obs.pseudonym for obs in unique.values()))
    _refuse_erased(guests.values())
    for obs in unique.values():
        if (guest := guests.get(obs.pseudonym)) is not None:
            _refuse_erased_version(guest, obs.data_key_version)
    needed = {(obs.pseudonym, obs.data_key_version) for obs in unique.values()}
    have = {
        (row.pseudonym, row.data_key_version)
        for row in session.execute(
            select(WrappedKeyRow.pseudonym, WrappedKeyRow.data_key_version).where(
                _among(session, WrappedKeyRow.pseudonym, list(guests))
            )
        )
    }
    if missing := sorted(needed - have):
        raise MissingKey(*missing[0])

    stored = _stored_content(session, list(unique))
    for obs_id, content in stored.items():
        if content != _content(unique[obs_id]):
            raise DuplicateMismatch(obs_id)
    fresh = [obs for obs_id, obs in unique.items() if obs_id not in stored]
    inserted: set[str] = set()
    if fresh:
        inserted = _insert_observations(session, fresh, now)
        # An id another transaction stored between our check and our insert (a retry
        # racing the original): a duplicate too, if the content is the same.
        raced = [obs.id for obs in fresh if obs.id not in inserted]
        for obs_id, content in _stored_content(session, raced).items():
            if content != _content(unique[obs_id]):
                raise DuplicateMismatch(obs_id)
    return PushResult(accepted=len(inserted), duplicates=len(batch.observations) - len(inserted))


_INSERTED_COLUMNS = ("id", "pseudonym", "property_id", "data_key_version", "nonce", "ciphertext")


def _insert_observations(
    session: Session, fresh: Sequence[SealedObservation], now: datetime
) -> set[str]:
    """Insert the observations, skipping ids stored meanwhile; the ids inserted.

    On PostgreSQL one INSERT ... SELECT FROM unnest(arrays), a parameter per column:
    a multi-row VALUES list would be thousands of placeholders that psycopg parses again
    on every push (see `_among`)."""
    if session.get_bind().dialect.name == "postgresql":
        c = _OBSERVATIONS.c
        arrays = [
            bindparam(
                None,
                [getattr(obs, name) for obs in fresh],
                type_=postgresql.ARRAY(c[name].type),
            )
            for name in _INSERTED_COLUMNS
        ]
        rows = func.unnest(*arrays).table_valued(*_INSERTED_COLUMNS).render_derived()
        source = select(
            *(rows.c[name] for name in _INSERTED_COLUMNS),
            bindparam(None, now, type_=c.received_at.type),
        )
        stmt: Insert = (
            postgresql.insert(_OBSERVATIONS)
            .from_select([*_INSERTED_COLUMNS, "received_at"], source)
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(c.id)
        )
        return set(session.execute(stmt).scalars())
    stmt = (
        sqlite.insert(_OBSERVATIONS)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(_OBSERVATIONS.c.id)
    )
    values = [
        {**{name: getattr(obs, name) for name in _INSERTED_COLUMNS}, "received_at": now}
        for obs in fresh
    ]
    return set(session.execute(stmt, values).scalars())


# The read path's statements, built once: Core columns of the tables (no ORM layer) and
# bound parameters, so a request only binds values. They are immutable.
_obs = _OBSERVATIONS.c
_guest = _GUESTS.c
_key = _KEYS.c
_PAGE_COLUMNS = (
    _obs.seq,
    _obs.id,
    _obs.pseudonym,
    _obs.property_id,
    _obs.data_key_version,
    _obs.nonce,
    _obs.ciphertext,
)
_GUESTS_AND_KEYS = (
    select(
        _guest.pseudonym,
        _guest.erased_at,
        _guest.last_erased_at,
        _guest.erased_key_version,
        _key.data_key_version,
        _key.chain_key_id,
        _key.chain_key_version,
        _key.wrapped,
    )
    .select_from(_GUESTS.outerjoin(_KEYS, _key.pseudonym == _guest.pseudonym))
    .where(_guest.pseudonym.in_(bindparam("pseudonyms", expanding=True)))
    .order_by(_guest.pseudonym, _key.data_key_version)
)
_ONE_PAGE = (
    select(*_PAGE_COLUMNS)
    .where(_obs.pseudonym == bindparam("pseudonym"), _obs.seq > bindparam("after"))
    .order_by(_obs.seq)
    .limit(bindparam("limit"))
)
_ERASED_AT = select(_guest.erased_at, _guest.erased_key_version).where(
    _guest.pseudonym == bindparam("pseudonym")
)


def _guests_and_keys(
    session: Session, pseudonyms: Sequence[str]
) -> tuple[dict[str, datetime | None], dict[str, list[WrappedKey]], list[ErasureNotice]]:
    """Which of the guests the vault knows (with their erasure time), their wrapped keys,
    and a notice for each guest ever erased (erased now, or come back since), in one
    query."""
    erased_at: dict[str, datetime | None] = {}
    keys: dict[str, list[WrappedKey]] = {}
    notices: dict[str, ErasureNotice] = {}
    for row in session.execute(_GUESTS_AND_KEYS, {"pseudonyms": list(pseudonyms)}):
        erased_at[row.pseudonym] = row.erased_at
        when = row.erased_at or row.last_erased_at
        if when is not None and row.pseudonym not in notices:
            notices[row.pseudonym] = ErasureNotice.model_construct(
                pseudonym=row.pseudonym,
                erased_at=when,
                erased_key_version=row.erased_key_version or 1,
            )
        if row.data_key_version is not None and row.erased_at is None:
            keys.setdefault(row.pseudonym, []).append(wrapped_key(row))
    return erased_at, keys, list(notices.values())


def _pages(session: Session, cursors: dict[str, int], per_guest: int) -> dict[str, ObservationPage]:
    """Each guest's observations after its cursor, at most per_guest, in one query."""
    if not cursors:
        return {}
    if len(cursors) == 1:
        ((pseudonym, after),) = cursors.items()
        rows = session.execute(
            _ONE_PAGE, {"pseudonym": pseudonym, "after": after, "limit": per_guest + 1}
        ).all()
    else:
        wanted = (
            values(column("pseudonym", String), column("after", BigInteger), name="cursors")
            .data(list(cursors.items()))
            .cte("cursors")
        )
        ranked = (
            select(
                *_PAGE_COLUMNS,
                func.row_number().over(partition_by=_obs.pseudonym, order_by=_obs.seq).label("rn"),
            )
            .join(wanted, and_(wanted.c.pseudonym == _obs.pseudonym, _obs.seq > wanted.c.after))
            .subquery()
        )
        rows = session.execute(
            select(ranked)
            .where(ranked.c.rn <= per_guest + 1)
            .order_by(ranked.c.pseudonym, ranked.c.seq)
        ).all()
    grouped: dict[str, list[Any]] = {pseudonym: [] for pseudonym in cursors}
    for row in rows:
        grouped[row.pseudonym].append(row)
    pages = {}
    for pseudonym, found in grouped.items():
        page = found[:per_guest]
        pages[pseudonym] = ObservationPage.model_construct(
            pseudonym=pseudonym,
            observations=[sealed_observation(row) for row in page],
            next_cursor=page[-1].seq if page else cursors[pseudonym],
            more=len(found) > per_guest,
        )
    return pages


def pull(
    session: Session,
    gateway: Principal,
    request: PullRequest,
    purpose: Purpose,
    limits: PullLimits,
    now: datetime,
) -> PullResponse:
    """Pages after each cursor, the guests' wrapped keys, and notices of erased guests.

    A guest the vault does not know gets an empty page (no key): its profile starts with
    the first push. Erased guests get a notice and nothing else.
    """
    cursors = request.cursors
    erased_at, keys, erased = _guests_and_keys(session, sorted(cursors))
    live = {p: after for p, after in sorted(cursors.items()) if erased_at.get(p) is None}
    pages = _pages(session, live, limits.per_guest(len(live)))
    served = [p for p in live if p in erased_at]
    audit.record(session, gateway, purpose, Action.PULL, served, now)
    return PullResponse.model_construct(
        pages=list(pages.values()),
        keys=[key for p in served for key in keys.get(p, ())],
        erased=erased,
    )


def _live_guest(session: Session, pseudonym: str) -> None:
    found = session.execute(_ERASED_AT, {"pseudonym": pseudonym}).first()
    if found is None:
        raise NotFound(f"the vault has no profile for guest {pseudonym}")
    if found.erased_at is not None:
        raise GuestErased(pseudonym, found.erased_at, found.erased_key_version)


def read_page(
    session: Session,
    reader: Principal,
    pseudonym: str,
    after: int,
    limit: int,
    purpose: Purpose,
    now: datetime,
) -> ObservationPage:
    """One guest's observations after the cursor (404 unknown, 410 erased)."""
    _live_guest(session, pseudonym)
    page = _pages(session, {pseudonym: after}, limit)[pseudonym]
    audit.record(session, reader, purpose, Action.READ_OBSERVATIONS, [pseudonym], now)
    return page


def put_key(
    session: Session, writer: Principal, pseudonym: str, key: WrappedKey, now: datetime
) -> tuple[WrappedKey, bool]:
    """Store a guest's wrapped data key; True if it was new.

    First write wins: two gateways that meet a new guest at once may each make a data
    key, and the loser must use the winner's (it gets 409 and pulls it). The exception is
    a running rotation, where a key at the old chain-key version may be replaced by the
    same data key wrapped under the new one.
    """
    if key.pseudonym != pseudonym:
        raise InvalidRequest(
            f"the key is for guest {key.pseudonym} but was sent to /v1/guests/{pseudonym}/key"
        )
    check_wrapped(key)
    (guest,) = lock_guests(session, [pseudonym], create_at=now).values()
    # An erased guest enrols again with a key newer than any of the erased profiles':
    # a new profile. An older or equal version is what was erased (410).
    _refuse_erased_version(guest, key.data_key_version)
    if guest.erased_at is not None and guest.erased_key_version is None:
        _refuse_erased([guest])  # not reached: every erasure records the version
    reenrol = guest.erased_at is not None
    # The rotation row is locked before the key row, in the order the key officer's
    # re-wrap takes them, so the two never deadlock.
    running = rotation.active(session, lock=True)
    in_use = rotation.versions_in_use(session, running)
    if in_use and key.chain_key_version not in in_use:
        raise KeyConflict(
            f"chain-key version {key.chain_key_version} is not in use: wrap guest "
            f"{pseudonym}'s data key under version {max(in_use)}"
        )
    row = session.execute(
        select(WrappedKeyRow)
        .where(
            WrappedKeyRow.pseudonym == pseudonym,
            WrappedKeyRow.data_key_version == key.data_key_version,
        )
        .with_for_update()
    ).scalar_one_or_none()
    if row is None:
        session.add(
            WrappedKeyRow(
                pseudonym=pseudonym,
                data_key_version=key.data_key_version,
                chain_key_id=key.chain_key_id,
                chain_key_version=key.chain_key_version,
                wrapped=key.wrapped,
                updated_at=now,
            )
        )
        if reenrol:
            guest.erased_at = None
            audit.record(session, writer, Purpose.ENROLMENT, Action.REENROL, [pseudonym], now)
        session.flush()
        return key, True
    if wrapped_key(row) == key:
        return key, False
    if (
        running is not None
        and row.chain_key_version == running.from_version
        and key.chain_key_version == running.to_version
    ):
        rotation.apply_rewrap(session, running, [(row, key)], now)
        return key, False
    raise KeyConflict(
        f"guest {pseudonym} already has a wrapped data key at version "
        f"{key.data_key_version} (chain key {row.chain_key_id} v{row.chain_key_version}); "
        "the first write wins: pull that key and use it"
    )


def put_identity(
    session: Session, writer: Principal, pseudonym: str, identity: SealedIdentity, now: datetime
) -> bool:
    """Store (or replace) the guest's sealed identity; True if it was new."""
    if identity.pseudonym != pseudonym:
        raise InvalidRequest(
            f"the identity is for guest {identity.pseudonym} but was sent to "
            f"/v1/guests/{pseudonym}/identity"
        )
    check_sealed(f"the identity of guest {pseudonym}", identity.nonce, identity.ciphertext)
    guests = lock_guests(session, [pseudonym])
    _refuse_erased(guests.values())
    for guest in guests.values():
        _refuse_erased_version(guest, identity.data_key_version)
    has_key = session.execute(
        select(WrappedKeyRow.id).where(
            tuple_(WrappedKeyRow.pseudonym, WrappedKeyRow.data_key_version)
            == (pseudonym, identity.data_key_version)
        )
    ).first()
    if has_key is None:
        raise MissingKey(pseudonym, identity.data_key_version)
    row = session.get(IdentityRow, pseudonym)
    created = row is None
    if row is None:
        row = IdentityRow(pseudonym=pseudonym)
        session.add(row)
    row.data_key_version = identity.data_key_version
    row.nonce = identity.nonce
    row.ciphertext = identity.ciphertext
    row.updated_at = now
    session.flush()
    return created


def read_identity(
    session: Session, reader: Principal, pseudonym: str, purpose: Purpose, now: datetime
) -> SealedIdentity:
    _live_guest(session, pseudonym)
    row = session.get(IdentityRow, pseudonym)
    if row is None:
        raise NotFound(f"the vault has no identity for guest {pseudonym}")
    audit.record(session, reader, purpose, Action.READ_IDENTITY, [pseudonym], now)
    return SealedIdentity.model_construct(
        pseudonym=pseudonym,
        data_key_version=row.data_key_version,
        nonce=bytes(row.nonce),
        ciphertext=bytes(row.ciphertext),
    )
