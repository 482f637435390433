"""The task service's tables in the gateway's store: `tasks` and `staff`.

Calls run on the gateway store's single worker thread (`GatewayStore.run`), so they are
ordered with the gateway's own writes and never block the event loop. Documents are
addressed by doc id, never by a query (a query scans the table): a task's id *is* its
doc id, which the store hands out and never reuses, and staff doc ids are indexed by
staff id at load.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tinydb.table import Document

from edge.persistence import GatewayStore
from edge.store import EdgeStore

from .model import Staff, Task

__all__ = ["TaskStore"]

TASKS = "tasks"
STAFF = "staff"


class TaskStore:
    def __init__(self, store: GatewayStore) -> None:
        self._store = store
        self._staff_ids: dict[str, int] = {}

    async def load(self) -> tuple[list[Task], list[Staff]]:
        return await self._store.run(self._load)

    def _load(self, db: EdgeStore) -> tuple[list[Task], list[Staff]]:
        tasks = [Task.model_validate(doc) for doc in db.table(TASKS).all()]
        staff_docs = db.table(STAFF).all()
        self._staff_ids = {doc["id"]: doc.doc_id for doc in staff_docs}
        return tasks, [Staff.model_validate(doc) for doc in staff_docs]

    async def create(self, build: Callable[[int], Task]) -> Task:
        """Journal a new task whose id is the next doc id; durable when this returns."""
        return await self._store.run(lambda db: self._create(db, build))

    def _create(self, db: EdgeStore, build: Callable[[int], Task]) -> Task:
        task = build(db.journal.next_id(TASKS))
        db.table(TASKS).insert(Document(_doc(task), doc_id=task.id))
        return task

    async def save(self, tasks: Sequence[Task] = (), staff: Sequence[Staff] = ()) -> None:
        """Write changed tasks and staff in one transaction (one fsync, all or nothing)."""
        if tasks or staff:
            await self._store.run(lambda db: self._save(db, tasks, staff))

    def _save(self, db: EdgeStore, tasks: Sequence[Task], staff: Sequence[Staff]) -> None:
        task_table, staff_table = db.table(TASKS), db.table(STAFF)
        with db.batch():
            for task in tasks:
                task_table.upsert(Document(_doc(task), doc_id=task.id))
            for person in staff:
                doc = person.model_dump(mode="json")
                doc_id = self._staff_ids.get(person.id)
                if doc_id is None:
                    self._staff_ids[person.id] = staff_table.insert(doc)
                else:
                    staff_table.upsert(Document(doc, doc_id=doc_id))

    async def prune(self, task_ids: Sequence[int]) -> None:
        if task_ids:
            await self._store.run(lambda db: db.table(TASKS).remove(doc_ids=list(task_ids)))


def _doc(task: Task) -> dict[str, Any]:
    return task.model_dump(mode="json")
