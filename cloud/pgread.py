"""The gateway read path on PostgreSQL: one statement, one round trip, per request.

`vault.pull` and `vault.read_page` answer on both engines with a transaction of four
round trips (BEGIN, guests and keys, pages, audit INSERT; then COMMIT) and build every
observation as a pydantic object in Python before serializing it. On PostgreSQL this
module answers the same requests with a single statement run in autocommit:

- a data-modifying CTE writes the audit rows (one per live guest served) in the same
  statement, hence the same transaction, as the read: no access without its row. The
  statement is its own transaction, and psycopg returns its rows only after the server's
  ReadyForQuery, i.e. after the commit (and its WAL flush, with synchronous_commit on)
  succeeded: a response is never sent for a read whose audit row was not made durable.
  If the INSERT fails, the statement fails and the caller gets an error, not data.
- one statement sees one snapshot, so a pull that overlaps an erasure sees each guest
  whole or erased (what REPEATABLE READ gives the generic path).
- PostgreSQL builds each page's and key's JSON (`json_build_object`, base64 by
  ``encode``); Python only joins the per-guest fragments. The wire shape is that of
  `shared.sync.PullResponse` / `ObservationPage`; tests parse every response with those
  models and compare it with the generic path's on the same rows.

The statement is fixed text with bound parameters, so psycopg prepares it server-side
after a few executions on a connection (its ``prepare_threshold``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from shared.sync import ErasureNotice

from .audit import Action, Purpose
from .auth import Principal
from .errors import GuestErased, NotFound
from .vault import PullLimits

__all__ = ["PullBody", "pull", "read_page"]


def _b64(column: str) -> str:
    # encode(..., 'base64') breaks lines every 76 characters; the wire has none.
    return f"translate(encode({column}, 'base64'), E'\\n', '')"


_OBSERVATION_JSON = (
    "json_build_object('id', o.id, 'pseudonym', o.pseudonym, 'property_id', o.property_id, "
    f"'data_key_version', o.data_key_version, 'nonce', {_b64('o.nonce')}, "
    f"'ciphertext', {_b64('o.ciphertext')})"
)
_KEY_JSON = (
    "json_build_object('pseudonym', k.pseudonym, 'data_key_version', k.data_key_version, "
    "'chain_key_id', k.chain_key_id, 'chain_key_version', k.chain_key_version, "
    f"'wrapped', {_b64('k.wrapped')})"
)

# One row per requested guest, in pseudonym order: whether the vault knows it, when it
# was erased, its page (JSON of an ObservationPage; NULL if erased) and its wrapped keys
# (a JSON array of WrappedKey, NULL if none or erased). The per-guest page size follows
# PullLimits.per_guest over the guests not erased (unknown ones included). Only constant
# fragments are formatted in; every value is a bound parameter.
_STATEMENT = f"""
WITH wanted AS (
    SELECT w.pseudonym, w.after, g.pseudonym IS NOT NULL AS known, g.erased_at,
        g.erased_key_version, g.last_erased_at
    FROM unnest(%(pseudonyms)s::text[], %(afters)s::bigint[]) AS w (pseudonym, after)
    LEFT JOIN guests AS g ON g.pseudonym = w.pseudonym
),
per_guest AS (
    SELECT least(%(page_limit)s::integer, greatest(1, %(max_observations)s::integer
        / greatest(count(*) FILTER (WHERE erased_at IS NULL), 1)::integer)) AS n
    FROM wanted
),
audited AS (
    INSERT INTO audit_log (at, actor, role, pseudonym, purpose, action)
    SELECT %(at)s, %(actor)s, %(role)s, pseudonym, %(purpose)s, %(action)s
    FROM wanted WHERE known AND erased_at IS NULL
    ORDER BY pseudonym COLLATE "C"
)
SELECT
    w.pseudonym,
    w.known,
    w.erased_at,
    w.erased_key_version,
    w.last_erased_at,
    CASE WHEN w.erased_at IS NULL THEN json_build_object(
        'pseudonym', w.pseudonym,
        'observations', coalesce(p.observations, '[]'::json),
        'next_cursor', coalesce(p.last_seq, w.after),
        'more', coalesce(p.more, false)
    )::text END AS page,
    CASE WHEN w.known AND w.erased_at IS NULL THEN (
        SELECT json_agg({_KEY_JSON} ORDER BY k.data_key_version)::text
        FROM wrapped_keys AS k WHERE k.pseudonym = w.pseudonym
    ) END AS keys
FROM wanted AS w
CROSS JOIN per_guest
LEFT JOIN LATERAL (
    SELECT
        json_agg({_OBSERVATION_JSON} ORDER BY o.seq) FILTER (WHERE o.rn <= per_guest.n)
            AS observations,
        max(o.seq) FILTER (WHERE o.rn <= per_guest.n) AS last_seq,
        count(*) > per_guest.n AS more
    FROM (
        SELECT obs.*, row_number() OVER (ORDER BY obs.seq) AS rn
        FROM observations AS obs
        WHERE obs.pseudonym = w.pseudonym AND obs.seq > w.after
        ORDER BY obs.seq
        LIMIT per_guest.n + 1
    ) AS o
) AS p ON w.known AND w.erased_at IS NULL
ORDER BY w.pseudonym COLLATE "C"
"""  # noqa: S608


def _run(
    engine: Engine,
    reader: Principal,
    cursors: Mapping[str, int],
    purpose: Purpose,
    action: Action,
    page_limit: int,
    max_observations: int,
    now: datetime,
) -> list[_Row]:
    ordered = sorted(cursors)
    params = {
        "pseudonyms": ordered,
        "afters": [cursors[p] for p in ordered],
        "page_limit": page_limit,
        "max_observations": max_observations,
        "at": now,
        "actor": reader.actor,
        "role": reader.role,
        "purpose": purpose.value,
        "action": action.value,
    }
    return [_Row(*row) for row in _execute(engine, params)]


class _Row(NamedTuple):
    pseudonym: str
    known: bool
    erased_at: datetime | None
    erased_key_version: int | None
    last_erased_at: datetime | None
    page: str | None
    keys: str | None


def _execute(engine: Engine, params: dict[str, Any]) -> list[Any]:
    """The statement on a pooled driver connection. SQLAlchemy's Connection and result
    layers cost ~0.4 ms of CPU a request here, for nothing this path uses; what they
    would do on an error is done here: driver errors are raised as SQLAlchemy's (the
    app answers OperationalError with 503), and a connection the server dropped is
    discarded instead of going back to the pool."""
    dbapi_error = engine.dialect.loaded_dbapi.Error
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        try:
            cursor.execute(_STATEMENT, params)
            return list(cursor.fetchall())
        finally:
            cursor.close()
    except dbapi_error as exc:
        dropped = engine.dialect.is_disconnect(exc, raw.dbapi_connection, None)
        if dropped:
            # As SQLAlchemy does: a server that dropped one connection (a restart) has
            # dropped them all, so the whole pool is renewed, not one connection a read.
            raw.invalidate(exc)
            engine.dispose(close=False)
        raise DBAPIError.instance(
            _STATEMENT,
            params,
            exc,
            dbapi_error,
            dialect=engine.dialect,
            connection_invalidated=dropped,
        ) from exc
    finally:
        raw.close()


@dataclass(frozen=True, slots=True)
class PullBody:
    """A serialized `PullResponse` and the number of live guests it served."""

    json: bytes
    served: int


def pull(
    engine: Engine,
    gateway: Principal,
    cursors: Mapping[str, int],
    purpose: Purpose,
    limits: PullLimits,
    now: datetime,
) -> PullBody:
    """`vault.pull` in one statement; ``engine`` must be in autocommit."""
    rows = _run(
        engine,
        gateway,
        cursors,
        purpose,
        Action.PULL,
        limits.page_limit,
        limits.max_observations,
        now,
    )
    pages = [row.page for row in rows if row.page is not None]
    # Each guest's keys come as a JSON array: strip its brackets to splice the elements.
    keys = [row.keys[1:-1] for row in rows if row.keys is not None]
    # A notice for every guest ever erased: erased now, or come back since (a gateway
    # that was away must still purge the old profile).
    erased = [
        ErasureNotice.model_construct(
            pseudonym=row.pseudonym,
            erased_at=when.astimezone(UTC),
            erased_key_version=row.erased_key_version or 1,
        ).model_dump_json()
        for row in rows
        if (when := row.erased_at or row.last_erased_at) is not None
    ]
    body = (
        f'{{"pages":[{",".join(pages)}],"keys":[{",".join(keys)}],"erased":[{",".join(erased)}]}}'
    )
    served = sum(1 for row in rows if row.known and row.erased_at is None)
    return PullBody(body.encode(), served)


def read_page(
    engine: Engine,
    reader: Principal,
    pseudonym: str,
    after: int,
    limit: int,
    purpose: Purpose,
    now: datetime,
) -> bytes:
    """`vault.read_page` in one statement: a serialized `ObservationPage`."""
    (row,) = _run(
        engine, reader, {pseudonym: after}, purpose, Action.READ_OBSERVATIONS, limit, limit, now
    )
    if not row.known:
        raise NotFound(f"the vault has no profile for guest {pseudonym}")
    if row.erased_at is not None:
        raise GuestErased(pseudonym, row.erased_at.astimezone(UTC), row.erased_key_version)
    assert row.page is not None  # a known guest not erased has a page
    return row.page.encode()
