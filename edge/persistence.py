"""The gateway's use of its store: the command journal and the persisted twin.

Every store call runs on one dedicated worker thread: disk I/O and fsync stay off the
event loop, and one thread keeps writes in the order they were asked for. Documents
are addressed by TinyDB doc id (kept in an index built at open), never by a query,
because a TinyDB query scans the whole table and would make each write O(table).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from tinydb.table import Document

from .commands import CommandRecord, CommandStatus
from .store import EdgeStore

__all__ = ["GatewayStore", "upsert_keyed"]

T = TypeVar("T")

COMMANDS = "commands"
TWIN = "twin"


def upsert_keyed(
    db: EdgeStore, table: str, ids: dict[str, int], docs: list[tuple[str, dict[str, Any]]]
) -> None:
    """Insert or replace documents addressed by a key, in one transaction; `ids` (key →
    doc id, built at load) is kept up to date, so no write ever scans the table."""
    target = db.table(table)
    with db.batch():
        for key, doc in docs:
            doc_id = ids.get(key)
            if doc_id is None:
                ids[key] = target.insert(doc)
            else:
                target.upsert(Document(doc, doc_id=doc_id))


class GatewayStore:
    """Implements the command journal (`edge.commands.CommandJournal`) and twin persistence."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._executor: ThreadPoolExecutor | None = None
        self._store: EdgeStore | None = None
        self._command_ids: dict[str, int] = {}
        self._twin_ids: dict[str, int] = {}

    async def _run(self, fn: Callable[[], T]) -> T:
        if self._executor is None:
            raise RuntimeError("the gateway store is not open")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def run(self, fn: Callable[[EdgeStore], T]) -> T:
        """Run `fn` on the store's worker thread, for components that keep tables of their own."""
        return await self._run(lambda: fn(self._db))

    @property
    def _db(self) -> EdgeStore:
        if self._store is None:
            raise RuntimeError("the gateway store is not open")
        return self._store

    async def open(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edge-store")
        try:
            self._store = await self._run(lambda: EdgeStore(self._directory))
            self._command_ids = await self._run(lambda: self._index(COMMANDS, "id"))
            self._twin_ids = await self._run(lambda: self._index(TWIN, "key"))
        except BaseException:
            await self.close()  # a locked or corrupt store must not leave the thread behind
            raise

    async def close(self) -> None:
        if self._executor is None:
            return
        store = self._store
        if store is not None:
            await self._run(store.close)
        self._store = None
        self._executor.shutdown(wait=True)
        self._executor = None

    def _index(self, table: str, field: str) -> dict[str, int]:
        return {doc[field]: doc.doc_id for doc in self._db.table(table).all()}

    # ---- the command journal ----

    async def save(self, record: CommandRecord) -> None:
        await self._run(lambda: self._save_command(record))

    def _save_command(self, record: CommandRecord) -> None:
        table = self._db.table(COMMANDS)
        doc = record.model_dump(mode="json")
        doc_id = self._command_ids.get(record.id)
        if doc_id is None:
            self._command_ids[record.id] = table.insert(doc)
        else:
            table.upsert(Document(doc, doc_id=doc_id))

    async def get(self, command_id: str) -> CommandRecord | None:
        doc_id = self._command_ids.get(command_id)
        if doc_id is None:
            return None
        doc = await self._run(lambda: self._db.table(COMMANDS).get(doc_id=doc_id))
        return CommandRecord.model_validate(doc) if doc is not None else None

    async def pending(self) -> list[CommandRecord]:
        docs = await self._run(lambda: self._db.table(COMMANDS).all())
        records = [CommandRecord.model_validate(doc) for doc in docs]
        return sorted(
            (r for r in records if r.status is CommandStatus.PENDING), key=lambda r: r.created_at
        )

    async def prune_finished(self, before: float) -> int:
        """Drop acknowledged and failed commands last updated before `before`."""
        return await self._run(lambda: self._prune_finished(before))

    def _prune_finished(self, before: float) -> int:
        table = self._db.table(COMMANDS)
        old = [
            doc
            for doc in table.all()
            if doc["status"] != CommandStatus.PENDING and doc["updated_at"] < before
        ]
        if old:
            table.remove(doc_ids=[doc.doc_id for doc in old])
            for doc in old:
                del self._command_ids[doc["id"]]
        return len(old)

    # ---- the twin ----

    async def load_twin(self) -> list[dict[str, Any]]:
        return [dict(doc) for doc in await self._run(lambda: self._db.table(TWIN).all())]

    async def save_twin(self, docs: list[dict[str, Any]]) -> None:
        if docs:
            await self._run(lambda: self._save_twin(docs))

    def _save_twin(self, docs: list[dict[str, Any]]) -> None:
        table = self._db.table(TWIN)
        with self._db.batch():  # one fsync for the whole flush
            for doc in docs:
                doc_id = self._twin_ids.get(doc["key"])
                if doc_id is None:
                    self._twin_ids[doc["key"]] = table.insert(doc)
                else:
                    table.upsert(Document(doc, doc_id=doc_id))
