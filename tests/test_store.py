"""The edge store: TinyDB's API through it, reopening, torn journals, compaction, and crashes.

Everything runs on the real filesystem. The crash tests start a writer in a child
process, SIGKILL it mid-writes (some of the kills during compaction) and check that
every write the child acknowledged is there when the store is opened again.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tinydb import Query, TinyDB
from tinydb.storages import MemoryStorage
from tinydb.table import Document

from edge.store import (
    SNAPSHOT,
    SNAPSHOT_TMP,
    EdgeStore,
    StoreCorruptError,
    StoreError,
    StoreLockedError,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
# Twin documents of 1 kB rewritten by the crash writer: garbage that makes it compact
# often, and a snapshot big enough that a compaction takes a while to be killed in.
BALLAST = 2000
Doc = Query()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EdgeStore]:
    with EdgeStore(tmp_path / "store") as opened:
        yield opened


def _journal(path: Path) -> Path:
    (journal,) = path.glob("journal.*.jsonl")
    return journal


def _contents(store: EdgeStore, name: str) -> list[tuple[int, dict[str, Any]]]:
    return [(doc.doc_id, dict(doc)) for doc in store.table(name).all()]


# ---- TinyDB's API through the store ----


def test_insert_and_query(store: EdgeStore) -> None:
    table = store.table("commands")
    assert table.insert({"id": "c1", "status": "pending", "n": 1}) == 1
    assert table.insert_multiple([{"id": "c2", "n": 2}, {"id": "c3", "n": 3}]) == [2, 3]
    assert table.search(Doc.n >= 2) == [{"id": "c2", "n": 2}, {"id": "c3", "n": 3}]
    assert table.get(Doc.id == "c3") == {"id": "c3", "n": 3}
    found = table.get(doc_id=2)
    assert found == {"id": "c2", "n": 2}
    assert found is not None
    assert found.doc_id == 2
    assert table.get(doc_id=99) is None
    assert [d.doc_id for d in table.get(doc_ids=[1, 3])] == [1, 3]
    assert table.contains(Doc.id == "c1")
    assert table.contains(doc_id=3)
    assert not table.contains(doc_id=4)
    assert table.count(Doc.n > 1) == 2
    assert len(table) == 3
    assert store.tables() == {"commands"}


def test_update_remove_upsert_truncate(store: EdgeStore) -> None:
    table = store.table("t")
    table.insert_multiple({"k": k, "v": 0} for k in range(5))
    assert table.update({"v": 1}, Doc.k < 2) == [1, 2]
    assert table.update(lambda doc: doc.update(v=doc["v"] + 10), doc_ids=[2, 3, 42]) == [2, 3]
    assert table.update({"all": True}) == [1, 2, 3, 4, 5]
    assert [d["v"] for d in table.all()] == [1, 11, 10, 0, 0]
    assert table.remove(Doc.k == 4) == [5]
    assert table.remove(doc_ids=[4, 4, 77]) == [4]
    with pytest.raises(RuntimeError, match="truncate"):
        table.remove()
    assert table.upsert({"k": 0, "v": 5}, Doc.k == 0) == [1]
    assert table.upsert({"k": 9, "v": 9}, Doc.k == 9) == [6]
    assert table.upsert(Document({"k": 7}, doc_id=2)) == [2]
    assert table.get(doc_id=2) == {"k": 7, "v": 11, "all": True}
    assert table.upsert(Document({"k": 8}, doc_id=20)) == [20]
    assert table.insert({"k": 10}) == 21
    with pytest.raises(ValueError, match="doc_id"):
        table.upsert({"k": 1})
    with pytest.raises(ValueError, match="already exists"):
        table.insert(Document({"k": 1}, doc_id=20))
    with pytest.raises(ValueError, match="Mapping"):
        table.insert([1, 2])  # type: ignore[arg-type]
    table.truncate()
    assert table.all() == []
    assert table.insert({"again": 1}) == 1  # as in TinyDB, truncate restarts the ids
    assert table.update_multiple([({"m": 1}, Doc.again == 1)]) == [1]
    assert table.all() == [{"again": 1, "m": 1}]


def test_a_failed_write_changes_nothing(store: EdgeStore) -> None:
    table = store.table("t")
    table.insert_multiple([{"n": 1}, {"n": 2}])
    journal_size = _journal(store.path).stat().st_size

    def explode(doc: Any) -> None:
        doc["n"] = -1
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        table.update(explode)
    with pytest.raises(TypeError):
        table.insert_multiple([{"n": 3}, {"n": object()}])
    with pytest.raises(TypeError):
        table.update({"n": object()}, doc_ids=[1])
    assert _contents(store, "t") == [(1, {"n": 1}), (2, {"n": 2})]
    assert _journal(store.path).stat().st_size == journal_size


def test_documents_read_are_copies(store: EdgeStore) -> None:
    table = store.table("t")
    table.insert({"tags": ["a"], "nested": {"x": [1]}})
    first = table.search(Doc.tags.any(["a"]))
    first[0]["tags"].append("leaked")
    first[0]["nested"]["x"].append(2)
    got = table.get(doc_id=1)
    assert got is not None
    got["tags"].append("leaked")
    for doc in table.all():
        doc["tags"].clear()
    # The second search is served from TinyDB's query cache: it must not see the edits either.
    assert table.search(Doc.tags.any(["a"])) == [{"tags": ["a"], "nested": {"x": [1]}}]
    store.close()
    with EdgeStore(store.path) as again:
        assert _contents(again, "t") == [(1, {"tags": ["a"], "nested": {"x": [1]}})]


def test_values_read_back_as_json_would(store: EdgeStore) -> None:
    table = store.table("t")
    table.insert({"tuple": (1, 2), "keys": {1: "one"}})
    # The same now as after a restart, not one thing now and another later.
    assert table.get(doc_id=1) == {"tuple": [1, 2], "keys": {"1": "one"}}


def test_query_cache_follows_drop_table(store: EdgeStore) -> None:
    table = store.table("t")
    table.insert({"n": 1})
    assert table.count(Doc.n == 1) == 1
    store.drop_table("t")
    assert table.count(Doc.n == 1) == 0
    assert "t" not in store.tables()


def test_drop_tables(store: EdgeStore) -> None:
    store.table("a").insert({"x": 1})
    store.table("b").insert({"x": 2})
    store.drop_tables()
    assert store.tables() == set()
    store.close()
    with EdgeStore(store.path) as again:
        assert again.tables() == set()


# ---- the same answers as stock TinyDB ----

_small = st.integers(min_value=0, max_value=5)
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("insert"), _small),
        st.tuples(st.just("insert_multiple"), st.lists(_small, max_size=4)),
        st.tuples(st.just("update"), _small, _small),
        st.tuples(st.just("update_callable"), _small),
        st.tuples(st.just("update_ids"), st.lists(st.integers(1, 12), unique=True), _small),
        st.tuples(st.just("upsert"), _small, _small),
        st.tuples(st.just("remove"), _small),
        st.tuples(st.just("remove_ids"), st.lists(st.integers(1, 12), unique=True)),
        st.tuples(st.just("truncate")),
    ),
    max_size=25,
)


def _bump(doc: Any) -> None:
    doc.update(k=doc["k"] + 1, hits=doc.get("hits", 0) + 1)


# The same call, made on the store's table and on stock TinyDB's, must answer the same.
_CALLS: dict[str, Callable[..., Any]] = {
    "insert": lambda table, k: table.insert({"k": k}),
    "insert_multiple": lambda table, ks: table.insert_multiple([{"k": k} for k in ks]),
    "update": lambda table, k, v: table.update({"v": v}, Doc.k == k),
    "update_callable": lambda table, k: table.update(_bump, Doc.k == k),
    "update_ids": lambda table, ids, v: table.update({"v": v}, doc_ids=ids),
    "upsert": lambda table, k, v: table.upsert({"k": k, "v": v}, Doc.k == k),
    "remove": lambda table, k: table.remove(Doc.k == k),
    "remove_ids": lambda table, ids: table.remove(doc_ids=ids),
    "truncate": lambda table: table.truncate(),
}


def _run(table: Any, op: tuple[Any, ...]) -> Any:
    return _CALLS[op[0]](table, *op[1:])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=_ops)
def test_behaves_like_stock_tinydb(ops: list[tuple[Any, ...]]) -> None:
    reference = TinyDB(storage=MemoryStorage).table("t")
    with tempfile.TemporaryDirectory() as directory:
        with EdgeStore(directory) as store:
            table = store.table("t")
            for op in ops:
                assert _run(table, op) == _run(reference, op), op
                assert _contents(store, "t") == [(d.doc_id, dict(d)) for d in reference.all()]
            expected = _contents(store, "t")
        with EdgeStore(directory) as again:
            assert _contents(again, "t") == expected


# ---- reopening ----


def test_reopen_keeps_data_and_doc_ids_continue(tmp_path: Path) -> None:
    with EdgeStore(tmp_path) as store:
        table = store.table("commands")
        table.insert_multiple({"n": n} for n in range(5))
        table.remove(doc_ids=[5])  # the newest: its id must still not come back
        table.update({"done": True}, doc_ids=[2])
        store.table("empty").truncate()
    with EdgeStore(tmp_path) as store:
        table = store.table("commands")
        assert store.tables() == {"commands", "empty"}
        assert [d.doc_id for d in table.all()] == [1, 2, 3, 4]
        assert table.get(doc_id=2) == {"n": 1, "done": True}
        assert table.insert({"n": 5}) == 6
        store.compact()
        assert table.insert({"n": 6}) == 7
    with EdgeStore(tmp_path) as store:
        assert store.table("commands").insert({"n": 7}) == 8
        assert len(store.table("commands")) == 7
        store.table("commands").remove(doc_ids=[8])
        store.compact()  # now the snapshot must carry the id counter itself
    with EdgeStore(tmp_path) as store:
        assert store.table("commands").insert({"n": 8}) == 9


def test_second_open_is_refused_while_open(tmp_path: Path) -> None:
    with EdgeStore(tmp_path) as store:
        with pytest.raises(StoreLockedError):
            EdgeStore(tmp_path)
        store.table("t").insert({"a": 1})
    with EdgeStore(tmp_path) as store:
        assert len(store.table("t")) == 1


def test_closed_store_refuses_calls(tmp_path: Path) -> None:
    store = EdgeStore(tmp_path)
    table = store.table("t")
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        table.insert({"a": 1})
    with pytest.raises(StoreError, match="closed"):
        table.all()


# ---- torn and damaged files ----


def test_torn_last_line_is_dropped(tmp_path: Path) -> None:
    with EdgeStore(tmp_path) as store:
        store.table("t").insert_multiple([{"n": 1}, {"n": 2}])
        store.table("t").insert({"n": 3})
    journal = _journal(tmp_path)
    good_size = journal.stat().st_size
    with journal.open("ab") as file:
        file.write(b'[["p","t",4,{"n":4}]]')  # complete JSON, but the newline never made it
    with EdgeStore(tmp_path) as store:
        assert [d["n"] for d in store.table("t").all()] == [1, 2, 3]
        assert journal.stat().st_size == good_size
        assert store.table("t").insert({"n": 4}) == 4
    with journal.open("ab") as file:
        file.write(b'[["p","t",5,{"n"')
    with EdgeStore(tmp_path) as store:
        assert [d["n"] for d in store.table("t").all()] == [1, 2, 3, 4]
        store.table("t").insert({"n": 5})
    with EdgeStore(tmp_path) as store:
        assert [d["n"] for d in store.table("t").all()] == [1, 2, 3, 4, 5]


def test_damage_before_the_last_line_is_an_error(tmp_path: Path) -> None:
    with EdgeStore(tmp_path) as store:
        for n in range(3):
            store.table("t").insert({"n": n})
    journal = _journal(tmp_path)
    lines = journal.read_bytes().split(b"\n")
    lines[1] = lines[1][:10]
    journal.write_bytes(b"\n".join(lines))
    with pytest.raises(StoreCorruptError, match="damaged at byte"):
        EdgeStore(tmp_path)


def test_damaged_snapshot_is_an_error(tmp_path: Path) -> None:
    with EdgeStore(tmp_path) as store:
        store.table("t").insert_multiple({"n": n} for n in range(10))
        store.compact()
    snapshot = tmp_path / SNAPSHOT
    snapshot.write_bytes(snapshot.read_bytes()[:-30])
    with pytest.raises(StoreCorruptError, match="snapshot"):
        EdgeStore(tmp_path)


# ---- compaction ----


def test_compaction_keeps_data_and_starts_a_new_journal(tmp_path: Path) -> None:
    with EdgeStore(tmp_path) as store:
        table = store.table("t")
        table.insert_multiple({"n": n} for n in range(100))
        table.remove(Doc.n < 50)
        store.compact()
        assert sorted(p.name for p in tmp_path.iterdir()) == [
            "LOCK",
            "journal.1.jsonl",
            SNAPSHOT,
        ]
        assert _journal(tmp_path).stat().st_size == 0
        table.update({"after": True}, doc_ids=[60])
        expected = _contents(store, "t")
    with EdgeStore(tmp_path) as store:
        assert _contents(store, "t") == expected
        assert store.stats().generation == 1


def test_compaction_runs_by_itself_and_bounds_the_journal(tmp_path: Path) -> None:
    with EdgeStore(tmp_path, compact_ratio=2.0, compact_min_bytes=4096) as store:
        table = store.table("twin")
        table.insert_multiple({"key": k, "v": 0} for k in range(20))
        for i in range(2000):
            table.update({"v": i}, doc_ids=[1 + i % 20])
        stats = store.stats()
        assert stats.compactions > 10
        assert stats.journal_bytes < max(4096, 2 * stats.live_bytes) + 200
        expected = _contents(store, "twin")
    with EdgeStore(tmp_path) as store:
        assert _contents(store, "twin") == expected
        assert {d["v"] for d in store.table("twin").all()} == set(range(1980, 2000))


def test_leftovers_of_an_interrupted_compaction(tmp_path: Path) -> None:
    with EdgeStore(tmp_path) as store:
        table = store.table("t")
        table.insert_multiple({"n": n} for n in range(10))
        old_journal = _journal(tmp_path).read_bytes()
        store.compact()  # generation 1
        table.remove(doc_ids=[1])
        expected = _contents(store, "t")
    # A crash while writing the temp snapshot (after generation 1 was done and used) ...
    (tmp_path / SNAPSHOT_TMP).write_bytes(b'{"format":1,"generation":2,"next_ids":{"t"')
    # ... after the next journal was created, before the rename ...
    (tmp_path / "journal.2.jsonl").touch()
    # ... and an old journal that the crash kept from being removed.
    (tmp_path / "journal.0.jsonl").write_bytes(old_journal)
    with EdgeStore(tmp_path) as store:
        assert _contents(store, "t") == expected
        assert sorted(p.name for p in tmp_path.iterdir()) == ["LOCK", "journal.1.jsonl", SNAPSHOT]


def test_a_newer_journal_with_data_is_an_error(tmp_path: Path) -> None:
    with EdgeStore(tmp_path) as store:
        store.table("t").insert({"n": 1})
    (tmp_path / "journal.5.jsonl").write_bytes(b'[["p","t",2,{"n":2}]]\n')
    with pytest.raises(StoreCorruptError, match="newer"):
        EdgeStore(tmp_path)


# ---- batches ----


def test_batch_is_one_line_and_one_fsync(store: EdgeStore) -> None:
    table = store.table("twin")
    table.insert({"key": "101/door", "open": False})
    journal = _journal(store.path)
    lines_before = journal.read_bytes().count(b"\n")
    with store.batch():
        table.upsert(Document({"key": "101/door", "open": True}, doc_id=1))
        ids = [table.insert({"key": f"10{n}/hvac"}) for n in range(5)]
        # Reads inside the batch see its writes: an upsert must not insert twice.
        assert table.upsert({"key": "100/hvac", "mode": "cool"}, Doc.key == "100/hvac") == [ids[0]]
        assert journal.read_bytes().count(b"\n") == lines_before
    assert journal.read_bytes().count(b"\n") == lines_before + 1
    store.close()
    with EdgeStore(store.path) as again:
        twin = again.table("twin")
        assert len(twin) == 6
        assert twin.get(doc_id=1) == {"key": "101/door", "open": True}
        assert twin.get(Doc.key == "100/hvac") == {"key": "100/hvac", "mode": "cool"}


def test_batch_that_raises_is_undone(store: EdgeStore) -> None:
    table = store.table("t")
    table.insert_multiple([{"n": 1}, {"n": 2}])
    before = _contents(store, "t")
    assert table.count(Doc.n > 0) == 2  # fills the query cache
    journal_size = _journal(store.path).stat().st_size

    def failing_batch() -> None:
        with store.batch():
            table.insert({"n": 3})
            table.update({"n": 20}, doc_ids=[2])
            table.remove(doc_ids=[1])
            store.table("other").insert({"x": 1})
            table.truncate()
            table.insert({"n": 4})
            assert table.count(Doc.n > 0) == 1
            raise KeyError("boom")

    with pytest.raises(KeyError):
        failing_batch()
    assert _contents(store, "t") == before
    assert table.count(Doc.n > 0) == 2
    assert "other" not in store.tables()
    assert _journal(store.path).stat().st_size == journal_size
    assert table.insert({"n": 3}) == 3


def test_inner_batch_that_raises_undoes_only_itself(store: EdgeStore) -> None:
    table = store.table("t")

    def failing_batch() -> None:
        with store.batch():
            table.insert({"n": 2})
            raise KeyError("inner")

    with store.batch():
        table.insert({"n": 1})
        with pytest.raises(KeyError):
            failing_batch()
        table.insert({"n": 3})
    store.close()
    with EdgeStore(store.path) as again:
        assert _contents(again, "t") == [(1, {"n": 1}), (2, {"n": 3})]


def test_an_update_journals_only_its_document(tmp_path: Path) -> None:
    # What makes a write cost the same at any table size: it appends the same bytes.
    appended = []
    for size in (10, 10_000):
        with EdgeStore(tmp_path / str(size)) as store:
            table = store.table("t")
            table.insert_multiple({"n": n, "pad": "x" * 50} for n in range(size))
            journal = _journal(store.path)
            before = journal.stat().st_size
            table.update({"n": -1}, doc_ids=[size // 2])
            table.insert({"n": size})
            appended.append(journal.stat().st_size - before)
    assert appended[0] > 50
    assert appended[1] - appended[0] <= 9  # only the longer numbers: ids and the new "n"


# ---- failing disks (a real file size limit, in a child process) ----

_FAILING_CHILD = textwrap.dedent(
    """
    import json, resource, signal, sys
    from edge.store import EdgeStore, StoreError

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so an over-limit write fails with EFBIG
    report = {}
    with EdgeStore(sys.argv[1], compact_ratio=0.1, compact_min_bytes=0) as store:
        table = store.table("t")
        with store.batch():
            table.insert_multiple({"n": n, "pad": "x" * 1000} for n in range(20))
        store.compact()  # snapshot ~20 kB, journal empty
        report["compactions"] = store.stats().compactions
        limit = 8000
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        # Each update appends ~1 kB and soon asks for a compaction, whose snapshot is
        # over the limit: it must fail without harming the store.
        for i in range(5):
            table.update({"v": i}, doc_ids=[1])
        report["after_failed_compactions"] = store.stats().compactions
        report["journal_bytes"] = store.stats().journal_bytes
        try:
            table.insert({"n": "big", "pad": "y" * 9000})  # the journal write itself fails
        except StoreError as exc:
            report["write_error"] = str(exc)
        try:
            table.all()
        except StoreError as exc:
            report["after"] = str(exc)
    print(json.dumps(report))
    """
)


def test_write_and_compaction_failures(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _FAILING_CHILD, str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["after_failed_compactions"] == report["compactions"]
    assert 5000 < report["journal_bytes"] < 8000  # the five updates, kept
    assert "compaction failed, retrying later" in result.stderr
    assert "journal write failed" in report["write_error"]
    assert "failed earlier" in report["after"]
    assert not (tmp_path / SNAPSHOT_TMP).exists()
    with EdgeStore(tmp_path) as store:
        table = store.table("t")
        assert len(table) == 20  # the over-limit insert was cut short: a torn tail, dropped
        assert table.get(doc_id=1) == {"n": 0, "pad": "x" * 1000, "v": 4}
        assert table.insert({"n": 20}) == 21


# ---- crashes: SIGKILL a writer and check every acknowledged write ----

_WRITER_CHILD = textwrap.dedent(
    """
    import logging, sys
    from edge.store import EdgeStore

    class Announce(logging.Handler):
        def emit(self, record):
            if "compacting" in record.getMessage():
                print("C", flush=True)

    logger = logging.getLogger("edge.store")
    logger.addHandler(Announce())
    logger.setLevel(logging.DEBUG)
    path, base, ballast = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    store = EdgeStore(path, compact_ratio=0.1, compact_min_bytes=0)
    records, counter, twin = store.table("records"), store.table("counter"), store.table("twin")
    print("R", flush=True)
    n = base
    while True:
        print("I", n, records.insert({"n": n}), flush=True)
        counter.update({"n": n}, doc_ids=[1])
        print("U", n, flush=True)
        twin.update({"v": n, "pad": "z" * 1000}, doc_ids=[1 + n % ballast])  # garbage
        if n % 7 == 0:
            with store.batch():
                ids = records.insert_multiple({"n": n, "k": k} for k in range(5))
            print("B", n, *ids, flush=True)
        n += 1
    """
)


class _Writer:
    """The child writer, with its acknowledgements read as they come."""

    def __init__(self, path: Path, base: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER_CHILD, str(path), str(base), str(BALLAST)],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        self._fd = self.proc.stdout.fileno()
        self._buffer = b""
        self.lines: list[list[str]] = []
        self.stderr = ""

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.proc.returncode is None:
            self.kill()

    def read_until(self, stop: Callable[[list[str]], bool], timeout: float = 30.0) -> None:
        """Read lines until `stop(line)` is true for one of them."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self._fd], [], [], max(0.0, remaining))
            chunk = os.read(self._fd, 1 << 16) if ready else b""
            if not chunk:  # end of file (the writer died) or out of time
                self.kill()
                raise AssertionError(f"the writer stalled or died:\n{self.stderr}")
            *complete, self._buffer = (self._buffer + chunk).split(b"\n")
            for raw in complete:
                line = raw.decode().split()
                self.lines.append(line)
                if stop(line):
                    return

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        assert self.proc.stdout is not None
        assert self.proc.stderr is not None
        # What it printed before it died was acknowledged; a half line was not.
        rest = self._buffer + self.proc.stdout.read()
        self.lines += [raw.decode().split() for raw in rest.split(b"\n")[:-1]]
        self.stderr = self.proc.stderr.read().decode()
        self.proc.stdout.close()
        self.proc.stderr.close()


def _check_acknowledged(path: Path, lines: list[list[str]]) -> None:
    with EdgeStore(path) as store:
        records = {d.doc_id: dict(d) for d in store.table("records").all()}
        for line in lines:
            match line:
                case ["I", n, doc_id]:
                    assert records.get(int(doc_id)) == {"n": int(n)}, line
                case ["B", n, *ids]:
                    for k, doc_id in enumerate(ids):
                        assert records.get(int(doc_id)) == {"n": int(n), "k": k}, line
        updates = [int(line[1]) for line in lines if line[0] == "U"]
        counter = store.table("counter").get(doc_id=1)
        assert counter is not None
        assert counter["n"] >= max(updates, default=-1)
        # Whatever was not acknowledged is there whole or not at all: a batch is one line.
        batches: dict[int, int] = {}
        for doc in records.values():
            if "k" in doc:
                batches[doc["n"]] = batches.get(doc["n"], 0) + 1
        assert set(batches.values()) <= {5}
        assert len(store.table("twin")) == BALLAST
        names = sorted(p.name for p in path.iterdir())
        assert SNAPSHOT_TMP not in names
        assert len([name for name in names if name.startswith("journal.")]) == 1


_STEP_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from edge.store import EdgeStore

    path, kill_at = sys.argv[1], int(sys.argv[2])
    store = EdgeStore(path)
    table = store.table("t")
    table.remove(doc_ids=range(1, 11))
    table.update({"v": 1}, doc_ids=[11, 12])
    table.insert({"n": "new"})
    print("acked", flush=True)
    seen = 0

    def crash_at_step(event, args):
        # Every create, rename and removal in the store directory is a step; die just
        # before the chosen one.
        global seen
        if event in ("open", "os.rename", "os.remove") and str(args[0]).startswith(path):
            seen += 1
            if seen == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

    sys.addaudithook(crash_at_step)
    store.compact()
    print("compacted", flush=True)
    """
)


def test_a_crash_at_every_step_of_compaction(tmp_path: Path) -> None:
    step = 0
    while True:
        step += 1
        path = tmp_path / str(step)
        with EdgeStore(path) as store:
            store.table("t").insert_multiple({"n": n} for n in range(50))
            store.compact()
            store.table("t").insert({"n": 50})
        child = subprocess.run(
            [sys.executable, "-c", _STEP_CHILD, str(path), str(step)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert child.stdout.startswith("acked"), child.stderr
        with EdgeStore(path) as store:
            docs = {d.doc_id: dict(d) for d in store.table("t").all()}
            expected: dict[int, dict[str, Any]] = {i + 1: {"n": i} for i in range(10, 51)}
            expected[52] = {"n": "new"}
            expected[11]["v"] = expected[12]["v"] = 1
            assert docs == expected, f"crash before step {step}"
            assert store.table("t").insert({"n": "after"}) == 53
        if child.returncode == 0:
            assert child.stdout.split() == ["acked", "compacted"]
            break
        assert child.returncode == -signal.SIGKILL, child.stderr
    assert step >= 5  # temp snapshot, next journal, directory sync, rename, old journal


def _interrupted_compaction(path: Path) -> bool:
    return (path / SNAPSHOT_TMP).exists() or len(list(path.glob("journal.*.jsonl"))) > 1


@pytest.mark.slow
def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    rng = random.Random(20260101)
    with EdgeStore(tmp_path) as store:
        store.table("counter").insert({"n": -1})
        store.table("twin").insert_multiple({"v": 0, "pad": "z" * 1000} for _ in range(BALLAST))
    # Every third kill lands at a random acknowledgement, the others a few milliseconds
    # into a compaction (one takes ~10 ms here); rounds go on until three of those are
    # seen to have cut a compaction short, or this test would prove less than it says.
    interrupted = 0
    for round_ in range(16):
        with _Writer(tmp_path, base=round_ * 1_000_000) as writer:
            writer.read_until(lambda line: line == ["R"])
            if round_ % 3 == 0:
                target = round_ * 1_000_000 + rng.randrange(50, 600)

                def reached(line: list[str], target: int = target) -> bool:
                    return line[:1] == ["I"] and int(line[1]) >= target

                writer.read_until(reached)
            else:
                writer.read_until(lambda line: line[:1] == ["I"])
                writer.read_until(lambda line: line == ["C"])
                time.sleep(rng.uniform(0.001, 0.01))
            writer.kill()
        assert writer.proc.returncode == -signal.SIGKILL
        acked = [line for line in writer.lines if line[0] in "IUB"]
        assert len(acked) > 10, writer.lines[:5]
        interrupted += _interrupted_compaction(tmp_path)
        _check_acknowledged(tmp_path, writer.lines)
        if interrupted >= 3 and round_ >= 5:
            break
    assert interrupted >= 3
