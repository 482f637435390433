"""The gateway's durable store: TinyDB tables over a crash-safe, append-only journal.

Why not stock TinyDB: `JSONStorage` rewrites the whole file on every write (O(table) per
write, and a torn file if the process dies mid-write), `CachingMiddleware` loses writes
that were already acknowledged, and `Table._update_table` copies the whole table on
every write even in memory. Here:

* `EdgeTable` keeps TinyDB's query API but its writes hand only the changed documents
  to the storage, so a write costs the same at 1k and at 20k documents (a write chosen
  by a `Query` still scans the table to find its documents, as every TinyDB read does;
  address documents by doc id to stay flat).
* `JournalStorage` keeps the data in memory and appends one JSON line per transaction
  to a journal, fsynced before the call returns. At open it loads the last snapshot and
  replays the journal; a torn last line (the process died mid-append) is dropped, never
  a reason to refuse to open. When the journal outgrows the live data it is compacted:
  snapshot to a temp file, fsync, create the next journal, atomic rename, fsync the
  directory, drop the old journal. A crash at any step leaves a state that opens to the
  acknowledged data.
* `EdgeStore` is a `TinyDB` wired to both, plus `batch()` (one fsync for many writes,
  all or nothing), `compact()` and `stats()`.

Files in the store directory: ``LOCK`` (an flock: one process per store),
``snapshot.jsonl`` (header line, one line per document, footer line) and
``journal.<generation>.jsonl`` (one JSON array of operations per line).

Threading: a store is for one thread at a time and is not safe for concurrent writers;
the gateway calls it from one dedicated worker thread (see `edge.persistence`), which
keeps fsync off the event loop and writes in the order they were asked for.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Self, cast

from tinydb import TinyDB
from tinydb.queries import QueryLike
from tinydb.storages import Storage
from tinydb.table import Document, Table

from .errors import EdgeError

__all__ = [
    "EdgeStore",
    "EdgeTable",
    "JournalStorage",
    "StoreCorruptError",
    "StoreError",
    "StoreLockedError",
    "StoreStats",
    "StoredDocument",
]

log = logging.getLogger(__name__)

SNAPSHOT = "snapshot.jsonl"
SNAPSHOT_TMP = "snapshot.jsonl.tmp"
LOCK = "LOCK"
FORMAT = 1
_JOURNAL_RE = re.compile(r"journal\.(\d+)\.jsonl")

# fdatasync is enough for an append: it also flushes the file size, which reading the
# data back needs, and skips the timestamps, which it does not.
_datasync: Callable[[int], None] = getattr(os, "fdatasync", os.fsync)


class StoreError(EdgeError):
    """Root of the store's errors: closed, failed, locked or corrupt."""


class StoreLockedError(StoreError):
    """Another process (or another `EdgeStore` in this one) has the store open."""


class StoreCorruptError(StoreError):
    """The files hold something a crash cannot produce; opening would lose data silently."""


@dataclass(frozen=True, slots=True)
class StoreStats:
    generation: int
    journal_bytes: int
    live_bytes: int
    documents: int
    compactions: int


def _journal_name(generation: int) -> str:
    return f"journal.{generation}.jsonl"


def _encode(document: Mapping[str, Any]) -> str:
    # ASCII output: a byte of the file is a character of the line, so sizes add up.
    return json.dumps(dict(document), separators=(",", ":"))


def _deep_copy(value: Any) -> Any:
    # Values in the store come from json.loads, so dict and list are the only containers.
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _sync_directory(directory: Path) -> None:
    # A create, rename or unlink is durable only once the directory itself is synced.
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---- operations: what one line of the journal is made of ----


@dataclass(frozen=True, slots=True)
class _Put:
    table: str
    doc_id: int
    doc: dict[str, Any]
    encoded: str

    def journal_form(self) -> str:
        return f'["p",{json.dumps(self.table)},{self.doc_id},{self.encoded}]'


@dataclass(frozen=True, slots=True)
class _Delete:
    table: str
    doc_id: int

    def journal_form(self) -> str:
        return f'["d",{json.dumps(self.table)},{self.doc_id}]'


@dataclass(frozen=True, slots=True)
class _Truncate:
    """Empty the table (creating it if needed) and restart its doc ids at 1, as TinyDB does."""

    table: str

    def journal_form(self) -> str:
        return f'["t",{json.dumps(self.table)}]'


@dataclass(frozen=True, slots=True)
class _Drop:
    table: str

    def journal_form(self) -> str:
        return f'["x",{json.dumps(self.table)}]'


_Op = _Put | _Delete | _Truncate | _Drop


def _parse_op(raw: Any) -> _Op:
    match raw:
        case ["p", str(table), int(doc_id), dict(doc)]:
            return _Put(table, doc_id, doc, _encode(doc))
        case ["d", str(table), int(doc_id)]:
            return _Delete(table, doc_id)
        case ["t", str(table)]:
            return _Truncate(table)
        case ["x", str(table)]:
            return _Drop(table)
    raise ValueError(f"not a journal operation: {raw!r:.200}")


@dataclass(slots=True, eq=False)
class _TableData:
    # `docs` is TinyDB's raw table (str doc id -> document), handed to `Table` as is.
    docs: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The same documents as journaled: compaction writes them without re-encoding,
    # and their lengths are the live size that decides when to compact.
    encoded: dict[str, str] = field(default_factory=dict)
    nbytes: int = 0
    # One past the highest doc id ever stored since the last truncate: ids are never
    # reused, not even after the newest documents were removed and the store reopened.
    next_id: int = 1
    # When each document was first put: undoing a removal puts the document back at the
    # end of the dicts, and TinyDB's order (insertion order, as a replay rebuilds it)
    # is then restored from these.
    seq: dict[str, int] = field(default_factory=dict)
    next_seq: int = 0
    out_of_order: bool = False

    def put(self, key: str, doc: dict[str, Any], encoded: str) -> None:
        if key not in self.docs:
            self.seq[key] = self.next_seq
            self.next_seq += 1
        self.nbytes += len(encoded) - len(self.encoded.get(key, ""))
        self.docs[key] = doc
        self.encoded[key] = encoded

    def remove(self, key: str) -> None:
        self.nbytes -= len(self.encoded.pop(key))
        del self.docs[key], self.seq[key]

    def saved(self, key: str) -> tuple[dict[str, Any], str, int] | None:
        if key not in self.docs:
            return None
        return self.docs[key], self.encoded[key], self.seq[key]

    def restore(
        self, key: str, saved: tuple[dict[str, Any], str, int] | None, next_id: int
    ) -> None:
        self.next_id = next_id
        if saved is None:
            self.remove(key)
            return
        doc, encoded, seq = saved
        if key not in self.docs:
            self.out_of_order = True
        self.put(key, doc, encoded)
        self.seq[key] = seq

    def reorder(self) -> None:
        order = sorted(self.docs, key=self.seq.__getitem__)
        self.docs = {key: self.docs[key] for key in order}
        self.encoded = {key: self.encoded[key] for key in order}
        self.out_of_order = False


class JournalStorage(Storage):
    """TinyDB storage: data in memory, every change appended to an fsynced journal.

    Made for `EdgeTable` (through `EdgeStore`), which writes by document. `read` returns
    the live data, not a copy, and must be treated as read-only; `write` (used by
    `TinyDB.drop_table` and `drop_tables`) may only drop tables.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        compact_ratio: float = 2.0,
        compact_min_bytes: int = 1 << 20,
    ) -> None:
        if compact_ratio <= 0:
            raise ValueError(f"compact_ratio must be positive, got {compact_ratio}")
        if compact_min_bytes < 0:
            raise ValueError(f"compact_min_bytes must not be negative, got {compact_min_bytes}")
        super().__init__()
        self.path = Path(path)
        self.compact_ratio = compact_ratio
        self.compact_min_bytes = compact_min_bytes
        # Bumped on every change (and on rollback) so that query caches know to drop out.
        self.revision = 0
        self._tables: dict[str, _TableData] = {}
        self._generation = 0
        self._journal_bytes = 0
        self._compactions = 0
        self._retry_compaction_at = 0
        self._depth = 0
        self._undo: list[Callable[[], None]] = []
        self._pending: list[str] = []
        self._closed = False
        self._failure: BaseException | None = None
        self._lock_fd = -1
        self._fd = -1
        try:
            self._open()
        except BaseException:
            self._release()
            raise

    # ---- opening: lock, snapshot, journal replay, leftovers of interrupted compactions ----

    def _open(self) -> None:
        if not self.path.is_dir():
            self.path.mkdir(mode=0o700, parents=True)
            _sync_directory(self.path.parent)
        self._lock_fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreLockedError(f"store {self.path} is open elsewhere") from None
        with contextlib.suppress(FileNotFoundError):
            (self.path / SNAPSHOT_TMP).unlink()  # a compaction that died before its rename
        if (self.path / SNAPSHOT).exists():
            self._load_snapshot(self.path / SNAPSHOT)
        for entry in self.path.iterdir():
            match = _JOURNAL_RE.fullmatch(entry.name)
            if match is None or int(match[1]) == self._generation:
                continue
            # Older: the snapshot already holds it. Newer and empty: created by a
            # compaction that died before its rename. Newer with data: not ours to guess.
            if int(match[1]) > self._generation and entry.stat().st_size > 0:
                raise StoreCorruptError(
                    f"{entry} is newer than snapshot generation {self._generation}"
                )
            entry.unlink()
        journal = self.path / _journal_name(self._generation)
        created = not journal.exists()
        self._fd = os.open(journal, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        if created:
            _sync_directory(self.path)
        self._journal_bytes = self._replay(journal)

    def _load_snapshot(self, path: Path) -> None:
        with path.open("rb") as file:
            lines = file.read().split(b"\n")
        try:
            header = json.loads(lines[0])
            footer = json.loads(lines[-2])
            if header.get("format") != FORMAT or lines[-1] != b"":
                raise ValueError("unknown format or no final newline")
            if footer != {"documents": len(lines) - 3}:
                raise ValueError(f"footer {footer} does not match {len(lines) - 3} documents")
            self._generation = int(header["generation"])
            for name, next_id in header["next_ids"].items():
                self._tables[name] = _TableData(next_id=int(next_id))
            for line in lines[1:-2]:
                name, doc_id, doc = json.loads(line)
                self._tables[name].put(str(int(doc_id)), doc, _encode(doc))
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            # A snapshot is renamed into place only after its fsync: a crash cannot tear it.
            raise StoreCorruptError(f"snapshot {path} is damaged: {exc}") from exc

    def _replay(self, journal: Path) -> int:
        """Apply the journal; return the length of its valid part, cutting off a torn tail."""
        data = journal.read_bytes()
        good = 0
        while good < len(data):
            end = data.find(b"\n", good)
            line = data[good:] if end < 0 else data[good:end]
            try:
                if end < 0:
                    raise ValueError("no final newline")
                ops = [_parse_op(raw) for raw in json.loads(line)]
            except (ValueError, TypeError) as exc:
                # Only the last line can be torn: each line is appended only after the
                # previous one was fsynced. Anything after a bad line means real damage.
                if end >= 0 and end + 1 < len(data):
                    raise StoreCorruptError(
                        f"{journal} is damaged at byte {good}, before its last line: {exc}"
                    ) from exc
                log.warning(
                    "store %s: dropping the torn last %d bytes of %s (a write that was "
                    "never acknowledged)",
                    self.path,
                    len(data) - good,
                    journal.name,
                )
                # Cut it off now, or the next append would be glued onto the fragment.
                os.ftruncate(self._fd, good)
                os.fsync(self._fd)
                break
            for op in ops:
                self._apply(op, None)
            good = end + 1
        return good

    # ---- what EdgeTable reads ----

    def docs(self, table: str) -> dict[str, dict[str, Any]]:
        """The live documents of `table` (str doc id -> document); read-only."""
        self._check_usable()
        data = self._tables.get(table)
        return data.docs if data is not None else {}

    def next_id(self, table: str) -> int:
        data = self._tables.get(table)
        return data.next_id if data is not None else 1

    def has_table(self, table: str) -> bool:
        return table in self._tables

    # ---- what EdgeTable writes; each call is one transaction unless inside batch() ----

    def put(self, table: str, documents: Iterable[tuple[int, Mapping[str, Any]]]) -> None:
        ops: list[_Op] = []
        for doc_id, document in documents:
            encoded = _encode(document)
            # Keep what a replay would give back (tuples become lists, keys strings...),
            # so that the data seen now and after a restart are the same.
            ops.append(_Put(table, doc_id, json.loads(encoded), encoded))
        self._transact(ops)

    def delete(self, table: str, doc_ids: Iterable[int]) -> None:
        self._transact([_Delete(table, doc_id) for doc_id in doc_ids])

    def truncate(self, table: str) -> None:
        self._transact([_Truncate(table)])

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Group writes into one journal line and one fsync, written when the block ends.

        Writes inside the block are visible to reads inside it at once. If the block
        raises, its writes are undone (memory and journal); blocks nest, and an inner
        block that raises undoes only its own writes.
        """
        self._check_usable()
        marks = len(self._undo), len(self._pending)
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            if self._failure is None and not self._closed:
                self._rollback_to(*marks)
            raise
        self._depth -= 1
        if self._depth == 0:
            self._flush()

    def _transact(self, ops: list[_Op]) -> None:
        self._check_usable()
        if not ops:
            return
        marks = len(self._undo), len(self._pending)
        try:
            for op in ops:
                self._apply(op, self._undo)
                self._pending.append(op.journal_form())
        except BaseException:
            self._rollback_to(*marks)
            raise
        if self._depth == 0:
            self._flush()

    def _apply(self, op: _Op, undo: list[Callable[[], None]] | None) -> None:
        self.revision += 1
        match op:
            case _Put(name, doc_id, doc, encoded):
                data = self._tables.get(name)
                if data is None:
                    data = _TableData()
                    self._set_table(name, data, undo)
                key = str(doc_id)
                if undo is not None:
                    undo.append(partial(data.restore, key, data.saved(key), data.next_id))
                data.put(key, doc, encoded)
                data.next_id = max(data.next_id, doc_id + 1)
            case _Delete(name, doc_id):
                data = self._tables.get(name)
                key = str(doc_id)
                if data is None or key not in data.docs:
                    return
                if undo is not None:
                    undo.append(partial(data.restore, key, data.saved(key), data.next_id))
                data.remove(key)
            case _Truncate(name):
                self._set_table(name, _TableData(), undo)
            case _Drop(name):
                if name in self._tables:
                    self._set_table(name, None, undo)

    def _set_table(
        self, name: str, data: _TableData | None, undo: list[Callable[[], None]] | None
    ) -> None:
        if undo is not None:
            undo.append(partial(self._restore_table, name, self._tables.get(name)))
        self._restore_table(name, data)

    def _restore_table(self, name: str, data: _TableData | None) -> None:
        if data is None:
            self._tables.pop(name, None)
        else:
            self._tables[name] = data

    def _rollback_to(self, undo_mark: int, pending_mark: int) -> None:
        while len(self._undo) > undo_mark:
            self._undo.pop()()
        for data in self._tables.values():
            if data.out_of_order:
                data.reorder()
        del self._pending[pending_mark:]
        self.revision += 1

    def _flush(self) -> None:
        if not self._pending:
            return
        line = ("[" + ",".join(self._pending) + "]\n").encode()
        try:
            _write_all(self._fd, line)
            _datasync(self._fd)
        except BaseException as exc:
            # After a failed write or fsync the file's state is unknown (and Linux may
            # have dropped the dirty pages): undo in memory and refuse further use; a
            # reopen replays what really reached the disk.
            self._rollback_to(0, 0)
            self._failure = exc
            if isinstance(exc, OSError):
                raise StoreError(f"store {self.path}: journal write failed: {exc}") from exc
            raise
        self._journal_bytes += len(line)
        self._pending.clear()
        self._undo.clear()
        if self._compaction_due():
            self._auto_compact()

    # ---- compaction ----

    def live_bytes(self) -> int:
        return sum(data.nbytes for data in self._tables.values())

    def _compaction_due(self) -> bool:
        return self._journal_bytes >= max(
            self.compact_min_bytes,
            self._retry_compaction_at,
            self.compact_ratio * self.live_bytes(),
        )

    def _auto_compact(self) -> None:
        try:
            self._compact()
        except StoreError:
            if self._failure is not None:
                raise
            # The write before this already reached the disk; only the clean-up failed
            # (disk full, say). Keep journaling and try again a little later.
            log.warning("store %s: compaction failed, retrying later", self.path, exc_info=True)
            self._retry_compaction_at = self._journal_bytes + max(self.compact_min_bytes, 1)

    def compact(self) -> None:
        """Rewrite the snapshot from memory and start an empty journal."""
        self._check_usable()
        if self._depth:
            raise StoreError("compact() cannot run inside batch()")
        self._compact()

    def _compact(self) -> None:
        started = time.perf_counter()
        generation = self._generation + 1
        tmp = self.path / SNAPSHOT_TMP
        journal = self.path / _journal_name(generation)
        log.debug("store %s: compacting %d journal bytes", self.path, self._journal_bytes)
        fd = -1
        try:
            size = self._write_snapshot(tmp, generation)
            fd = os.open(journal, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
            _sync_directory(self.path)
            # The commit point: rename is atomic, and if it raises it did not happen.
            os.replace(tmp, self.path / SNAPSHOT)
        except OSError as exc:
            # Nothing is switched yet: the old snapshot and journal are still the store.
            if fd >= 0:
                os.close(fd)
                journal.unlink(missing_ok=True)
            tmp.unlink(missing_ok=True)
            raise StoreError(f"store {self.path}: compaction failed: {exc}") from exc
        old_fd, old_generation = self._fd, self._generation
        self._fd, self._generation, self._journal_bytes = fd, generation, 0
        self._retry_compaction_at = 0
        self._compactions += 1
        os.close(old_fd)
        try:
            _sync_directory(self.path)
        except OSError as exc:
            # Unknown whether the rename is durable; both outcomes open correctly, but
            # writing on would bet on one of them.
            self._failure = exc
            raise StoreError(f"store {self.path}: syncing the compaction failed: {exc}") from exc
        try:
            (self.path / _journal_name(old_generation)).unlink()
        except OSError:
            log.warning("store %s: could not remove the old journal", self.path, exc_info=True)
        log.info(
            "store %s: compacted to generation %d, %d bytes, in %.3f s",
            self.path,
            generation,
            size,
            time.perf_counter() - started,
        )

    def _write_snapshot(self, path: Path, generation: int) -> int:
        next_ids = {name: data.next_id for name, data in self._tables.items()}
        count = 0
        with path.open("wb") as file:
            header = {"format": FORMAT, "generation": generation, "next_ids": next_ids}
            file.write(json.dumps(header, separators=(",", ":")).encode() + b"\n")
            for name, data in self._tables.items():
                prefix = f"[{json.dumps(name)},"
                file.writelines(
                    f"{prefix}{key},{encoded}]\n".encode() for key, encoded in data.encoded.items()
                )
                count += len(data.encoded)
            file.write(json.dumps({"documents": count}).encode() + b"\n")
            file.flush()
            os.fsync(file.fileno())
            return file.tell()

    # ---- TinyDB's Storage interface ----

    def read(self) -> dict[str, dict[str, Any]]:
        self._check_usable()
        # A fresh outer dict: TinyDB.drop_table deletes from what it reads, then writes it.
        return {name: data.docs for name, data in self._tables.items()}

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        for name, docs in data.items():
            if name not in self._tables or docs is not self._tables[name].docs:
                raise StoreError(
                    "JournalStorage.write only drops tables; write documents through EdgeTable"
                )
        self._transact([_Drop(name) for name in self._tables if name not in data])

    def close(self) -> None:
        if self._closed:
            return
        if self._depth:
            raise StoreError("close() cannot run inside batch()")
        self._closed = True
        self._release()

    def _release(self) -> None:
        for fd in (self._fd, self._lock_fd):  # the lock goes last, with its descriptor
            if fd >= 0:
                os.close(fd)
        self._fd = self._lock_fd = -1

    def _check_usable(self) -> None:
        if self._closed:
            raise StoreError(f"store {self.path} is closed")
        if self._failure is not None:
            raise StoreError(
                f"store {self.path} failed earlier ({self._failure!r}); reopen it"
            ) from self._failure

    def stats(self) -> StoreStats:
        return StoreStats(
            generation=self._generation,
            journal_bytes=self._journal_bytes,
            live_bytes=self.live_bytes(),
            documents=sum(len(data.docs) for data in self._tables.values()),
            compactions=self._compactions,
        )


class StoredDocument(Document):
    """A document read from the store; a deep copy, so editing it leaves the store alone."""

    def __init__(self, value: Mapping[str, Any], doc_id: int) -> None:
        super().__init__(_deep_copy(value), doc_id)


class EdgeTable(Table):
    """A TinyDB table whose writes journal only the documents they change.

    Inserts, updates and removals by doc id cost the same whatever the table size.
    Writes chosen by a query scan the table for matches (as TinyDB's reads do) but still
    journal only the matches. `update_multiple` and ``persist_empty`` go through TinyDB's
    whole-table updater: correct, but O(table). Doc ids are never reused; `truncate`
    restarts them at 1, as in TinyDB.
    """

    document_class = StoredDocument

    def __init__(
        self,
        storage: Storage,
        name: str,
        cache_size: int = Table.default_query_cache_capacity,
        persist_empty: bool = False,
    ) -> None:
        if not isinstance(storage, JournalStorage):
            raise TypeError(f"EdgeTable needs a JournalStorage, not {type(storage).__name__}")
        self._journal = storage
        self._cache_revision = storage.revision
        super().__init__(storage, name, cache_size, persist_empty)

    # ---- reads: TinyDB's own, over the live documents ----

    def _read_table(self) -> dict[str, Mapping[str, Any]]:
        return cast(dict[str, Mapping[str, Any]], self._journal.docs(self.name))

    def search(self, cond: QueryLike) -> list[Document]:
        if self._cache_revision != self._journal.revision:
            # Another table instance wrote, or a batch was rolled back.
            self.clear_cache()
            self._cache_revision = self._journal.revision
        # TinyDB hands the cached objects themselves to every caller: copy them.
        return [StoredDocument(doc, doc.doc_id) for doc in super().search(cond)]

    # ---- writes ----

    def insert(self, document: Mapping[str, Any]) -> int:
        return self.insert_multiple([document])[0]

    def insert_multiple(self, documents: Iterable[Mapping[str, Any]]) -> list[int]:
        existing = self._journal.docs(self.name)
        next_id = self._journal.next_id(self.name)
        puts: dict[int, Mapping[str, Any]] = {}
        for document in documents:
            if not isinstance(document, Mapping):
                raise ValueError("Document is not a Mapping")
            if isinstance(document, Document):
                doc_id = int(document.doc_id)
                if str(doc_id) in existing or doc_id in puts:
                    raise ValueError(f"Document with ID {doc_id} already exists")
            else:
                doc_id = next_id
            next_id = max(next_id, doc_id + 1)
            puts[doc_id] = document
        self._journal.put(self.name, puts.items())
        return list(puts)

    def update(
        self,
        fields: Mapping[str, Any] | Callable[[MutableMapping[str, Any]], None],
        cond: QueryLike | None = None,
        doc_ids: Iterable[int] | None = None,
    ) -> list[int]:
        docs = self._journal.docs(self.name)
        if doc_ids is not None:
            # As in TinyDB 4.9: ids that are not in the table are skipped.
            targets = [doc_id for doc_id in doc_ids if str(doc_id) in docs]
        elif cond is not None:
            targets = [int(key) for key, doc in docs.items() if cond(doc)]
        else:
            targets = [int(key) for key in docs]
        changed: dict[int, dict[str, Any]] = {}
        for doc_id in targets:
            doc = changed[doc_id] if doc_id in changed else docs[str(doc_id)]
            if callable(fields):
                # It may edit nested values in place: give it a copy, so that if it
                # raises halfway, or the write fails, the store has not changed.
                doc = _deep_copy(doc)
                fields(doc)
                changed[doc_id] = doc
            else:
                changed[doc_id] = {**doc, **fields}
        self._journal.put(self.name, changed.items())
        return targets

    def upsert(self, document: Mapping[str, Any], cond: QueryLike | None = None) -> list[int]:
        # TinyDB checks for its `document_class`; a caller's Document is the base class.
        doc_ids = [document.doc_id] if isinstance(document, Document) else None
        if doc_ids is None and cond is None:
            raise ValueError(
                "If you don't specify a search query, you must specify a doc_id. "
                "Hint: use a table.Document object."
            )
        updated = self.update(document, cond, doc_ids)
        return updated or [self.insert(document)]

    def remove(
        self, cond: QueryLike | None = None, doc_ids: Iterable[int] | None = None
    ) -> list[int]:
        docs = self._journal.docs(self.name)
        if doc_ids is not None:
            removed = [doc_id for doc_id in dict.fromkeys(doc_ids) if str(doc_id) in docs]
        elif cond is not None:
            removed = [int(key) for key, doc in docs.items() if cond(doc)]
        else:
            raise RuntimeError("Use truncate() to remove all documents")
        self._journal.delete(self.name, removed)
        return removed

    def truncate(self) -> None:
        self._journal.truncate(self.name)

    def _update_table(self, updater: Callable[[dict[int, Mapping[str, Any]]], None]) -> None:
        # TinyDB's updaters edit documents in place, so they get copies, and what they
        # changed is found by comparison.
        docs = self._journal.docs(self.name)
        table: dict[int, Mapping[str, Any]] = {int(k): _deep_copy(v) for k, v in docs.items()}
        updater(table)
        with self._journal.batch():
            if not self._journal.has_table(self.name):
                self._journal.truncate(self.name)
            self._journal.delete(self.name, [int(k) for k in docs if int(k) not in table])
            self._journal.put(
                self.name, [(i, doc) for i, doc in table.items() if docs.get(str(i)) != doc]
            )


class EdgeStore(TinyDB):
    """A TinyDB on a directory, durable when each call returns.

    ``EdgeStore(path)`` creates the directory if needed and takes an exclusive lock on
    it (`StoreLockedError` if another store has it). Tables come from
    ``store.table(name)``; ``with store.batch():`` makes many writes durable with one
    fsync, all or nothing. Compaction runs by itself when the journal grows past
    `compact_ratio` times the live data (and past `compact_min_bytes`); `compact()`
    forces one. Use it as a context manager or call `close()`.

    Not thread-safe: call it from one thread (the gateway's store worker).
    """

    table_class = EdgeTable

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        compact_ratio: float = 2.0,
        compact_min_bytes: int = 1 << 20,
    ) -> None:
        super().__init__(
            path,
            storage=JournalStorage,
            compact_ratio=compact_ratio,
            compact_min_bytes=compact_min_bytes,
        )

    @property
    def journal(self) -> JournalStorage:
        return cast(JournalStorage, self.storage)

    @property
    def path(self) -> Path:
        return self.journal.path

    def table(self, name: str, **kwargs: Any) -> EdgeTable:
        return cast(EdgeTable, super().table(name, **kwargs))

    def batch(self) -> contextlib.AbstractContextManager[None]:
        return self.journal.batch()

    def compact(self) -> None:
        self.journal.compact()

    def stats(self) -> StoreStats:
        return self.journal.stats()

    def __enter__(self) -> Self:
        return self
