"""Durable single-record writes per second: the edge store against SQLite and stock TinyDB.

Run it as ``python -m bench.store``. Each write must be durable (fsynced) before the next
one starts. Every engine runs in the same temp directory, so on the same disk, in the
same run. The measurements are interleaved in rounds, and the median round is reported,
so a slow patch of the disk does not land on one engine only.

* edge store: `edge.store.EdgeStore`, inserts and updates addressed by doc id (the way
  `edge.persistence` writes), plus two reference rows: updates grouped 100 per
  `batch()`, and updates chosen by a `Query`, which scans the table.
* SQLite: stdlib sqlite3, WAL mode, ``synchronous=FULL``, autocommit (one transaction
  per write), the documents as JSON text under an integer primary key.
* stock TinyDB: `JSONStorage` (rewrites the whole file per write). It is slow, so it
  runs one short round with a capped number of writes.

Inserts are removed again after every timed slice (untimed), so a table stays at its
nominal size. The goals are computed from the figures: flat from 1k to 20k records
(20k rate ≥ 0.8 × 1k rate), and at least 0.5 × SQLite.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from tinydb import Query, TinyDB
from tinydb.version import __version__ as tinydb_version

from edge.store import EdgeStore

SIZES = (1_000, 20_000)
FLAT_GOAL = 0.8
SQLITE_GOAL = 0.5


def document(n: int) -> dict[str, Any]:
    """A twin document shaped like the gateway's (`edge.twin`), about 250 bytes."""
    state = {"ts": 1_767_225_600.0 + n, "mode": "heat", "setpoint_c": 21.5, "temperature_c": 19.25}
    return {
        "key": f"{1000 + n // 8}/dev{n % 8}",
        "room": str(1000 + n // 8),
        "device": f"dev{n % 8}",
        "state": json.dumps(state),
        "online": True,
        "last_seen": 1_767_225_600.0 + n,
    }


def rate(write: Callable[[int], None], seconds: float, max_writes: int) -> tuple[float, int]:
    """Writes per second of `write(i)` for about `seconds` (or `max_writes` writes)."""
    done = 0
    started = time.perf_counter()
    while True:
        write(done)
        done += 1
        elapsed = time.perf_counter() - started
        if elapsed >= seconds or done >= max_writes:
            return done / elapsed, done


# ---- the engines: each seeded with `size` documents ----


class Edge:
    def __init__(self, path: Path, size: int) -> None:
        self.store = EdgeStore(path)
        self.table = self.store.table("twin")
        with self.store.batch():
            self.table.insert_multiple(document(n) for n in range(size))
        self.size = size
        self.added: list[int] = []
        self.rng = random.Random(size)

    def insert(self, i: int) -> None:
        self.added.append(self.table.insert(document(self.size + i)))

    def update(self, i: int) -> None:
        self.table.update(document(i), doc_ids=[self.rng.randrange(1, self.size + 1)])

    def update_batch(self, i: int) -> None:
        with self.store.batch():
            for k in range(100):
                self.table.update(document(i + k), doc_ids=[self.rng.randrange(1, self.size + 1)])

    def update_by_query(self, i: int) -> None:
        key = document(self.rng.randrange(self.size))["key"]
        self.table.update({"last_seen": float(i)}, Query().key == key)

    def reset(self) -> None:
        self.table.remove(doc_ids=self.added)
        self.added.clear()

    def close(self) -> None:
        self.store.close()


class Sqlite:
    def __init__(self, path: Path, size: int) -> None:
        self.db = sqlite3.connect(path / "bench.db", isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("CREATE TABLE twin (id INTEGER PRIMARY KEY, doc TEXT NOT NULL)")
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT INTO twin (doc) VALUES (?)",
                ((json.dumps(document(n)),) for n in range(size)),
            )
        self.size = size
        self.rng = random.Random(size)

    def insert(self, i: int) -> None:
        self.db.execute("INSERT INTO twin (doc) VALUES (?)", (json.dumps(document(self.size + i)),))

    def update(self, i: int) -> None:
        self.db.execute(
            "UPDATE twin SET doc = ? WHERE id = ?",
            (json.dumps(document(i)), self.rng.randrange(1, self.size + 1)),
        )

    def reset(self) -> None:
        self.db.execute("DELETE FROM twin WHERE id > ?", (self.size,))

    def close(self) -> None:
        self.db.close()


class StockTinyDB:
    def __init__(self, path: Path, size: int) -> None:
        self.db = TinyDB(path / "bench.json")
        self.table = self.db.table("twin")
        self.table.insert_multiple(document(n) for n in range(size))
        self.size = size
        self.added: list[int] = []
        self.rng = random.Random(size)

    def insert(self, i: int) -> None:
        self.added.append(self.table.insert(document(self.size + i)))

    def update(self, i: int) -> None:
        self.table.update(document(i), doc_ids=[self.rng.randrange(1, self.size + 1)])

    def reset(self) -> None:
        if self.added:
            self.table.remove(doc_ids=self.added)
            self.added.clear()

    def close(self) -> None:
        self.db.close()


class Disk:
    """The floor under everything: append one line and fdatasync it."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path / "raw.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.line = json.dumps(document(0)).encode() + b"\n"

    def append(self, i: int) -> None:
        os.write(self.fd, self.line)
        os.fdatasync(self.fd)

    def close(self) -> None:
        os.close(self.fd)


# ---- measuring ----


@dataclass
class Cell:
    engine: str
    operation: str
    size: int | None
    write: Callable[[int], None]
    reset: Callable[[], None] | None = None
    writes_per_call: int = 1
    max_calls: int = 1_000_000
    rates: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.rates)


def run_rounds(groups: list[list[Cell]], rounds: int, seconds: float) -> None:
    """Time every cell once per round; cells of a group run back to back, in random order.

    Other work on the machine comes and goes; what is compared (edge and SQLite on the
    same records) shares the same moment, and no cell always runs first.
    """
    rng = random.Random(7)
    for _ in range(rounds):
        for group in rng.sample(groups, len(groups)):
            for cell in rng.sample(group, len(group)):
                calls_per_s, _ = rate(cell.write, seconds, cell.max_calls)
                cell.rates.append(calls_per_s * cell.writes_per_call)
                if cell.reset is not None:
                    cell.reset()


def paired(numerator: Cell, denominator: Cell) -> float:
    """Median over rounds of the ratio within each round."""
    return statistics.median(a / b for a, b in zip(numerator.rates, denominator.rates, strict=True))


@contextmanager
def directory(base: str | None) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="staysync-bench-", dir=base) as path:
        yield Path(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", help="where to put the files (default: the system temp dir)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.25, help="length of one timed slice")
    args = parser.parse_args()
    # Wide enough for the table when the output goes to a file or a pipe.
    console = Console(width=None if sys.stdout.isatty() else 120)
    started = time.perf_counter()

    with directory(args.dir) as root:
        console.print(
            f"[bold]bench.store[/]: {args.rounds} rounds × {args.seconds} s slices in {root}; "
            f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
            f"TinyDB {tinydb_version}, {os.cpu_count()} CPUs"
        )
        engines: dict[tuple[str, int], Any] = {}
        for size in SIZES:
            for name, kind in (("edge", Edge), ("sqlite", Sqlite), ("tinydb", StockTinyDB)):
                (root / f"{name}-{size}").mkdir()
                engines[name, size] = kind(root / f"{name}-{size}", size)
        disk = Disk(root)

        groups: list[list[Cell]] = [[Cell("disk", "append + fdatasync", None, disk.append)]]
        for size in SIZES:
            edge, sqlite = engines["edge", size], engines["sqlite", size]
            batch = "update by id, 100 per batch()"
            groups += [
                [
                    Cell("edge", "insert", size, edge.insert, edge.reset),
                    Cell("sqlite", "insert", size, sqlite.insert, sqlite.reset),
                ],
                [
                    Cell("edge", "update by id", size, edge.update),
                    Cell("sqlite", "update by id", size, sqlite.update),
                ],
                [Cell("edge", batch, size, edge.update_batch, writes_per_call=100)],
                [Cell("edge", "update by Query (scan)", size, edge.update_by_query, max_calls=200)],
            ]
        run_rounds(groups, args.rounds, args.seconds)
        # Stock TinyDB rewrites the whole file per write: one round, few writes.
        slow = []
        for size in SIZES:
            stock = engines["tinydb", size]
            slow += [
                [Cell("tinydb", "insert", size, stock.insert, stock.reset, max_calls=60)],
                [Cell("tinydb", "update by id", size, stock.update, max_calls=60)],
            ]
        run_rounds(slow, 1, 1.0)
        cells = [cell for group in groups + slow for cell in group]
        compactions = {size: engines["edge", size].store.stats().compactions for size in SIZES}
        # A compaction is the one write-path cost that grows with the data: show it.
        compaction_ms = {}
        for size in SIZES:
            store = engines["edge", size].store
            begun = time.perf_counter()
            store.compact()
            elapsed_ms = (time.perf_counter() - begun) * 1000
            engines["edge", size].update(0)  # into the empty journal: one write's bytes
            stats = store.stats()
            compaction_ms[size] = elapsed_ms, stats.live_bytes, stats.journal_bytes
        for engine in engines.values():
            engine.close()
        disk.close()

    report(console, cells, compactions)
    for size, (ms, live, line) in compaction_ms.items():
        console.print(
            f"edge store at {size // 1000}k records: one compaction takes {ms:.0f} ms "
            f"({live / 1e6:.1f} MB live); it runs by itself once the journal exceeds "
            f"max(2 × live, 1 MiB), i.e. every {max(2 * live, 1 << 20) / line:,.0f} "
            f"single-document writes ({line} journal bytes each)"
        )
    console.print(f"total bench time {time.perf_counter() - started:.1f} s")


def report(console: Console, cells: list[Cell], compactions: dict[int, int]) -> None:
    by_key = {(c.engine, c.operation, c.size): c for c in cells}
    table = Table(
        title="durable writes/s (median of rounds; each write fsynced before the next)",
        caption="ratios: median over rounds of the ratio within a round",
    )
    table.add_column("engine")
    table.add_column("operation")
    for size in SIZES:
        table.add_column(f"{size // 1000}k records", justify="right")
    table.add_column("20k ÷ 1k", justify="right")
    for size in SIZES:
        table.add_column(f"÷ SQLite {size // 1000}k", justify="right")

    disk = by_key["disk", "append + fdatasync", None]
    table.add_row("disk", disk.operation, f"{disk.median:,.0f}", "", "", "", "")
    flat: dict[str, float] = {}
    vs_sqlite: dict[tuple[str, int], float] = {}
    for engine, operation in dict.fromkeys((c.engine, c.operation) for c in cells if c.size):
        small, large = (by_key[engine, operation, size] for size in SIZES)
        ratios = []
        for size in SIZES:
            sqlite = by_key.get(("sqlite", operation, size))
            if engine == "edge" and sqlite is not None:
                vs_sqlite[operation, size] = paired(by_key[engine, operation, size], sqlite)
                ratios.append(f"{vs_sqlite[operation, size]:.2f}×")
            elif engine != "sqlite" and sqlite is not None:
                ratios.append(f"{by_key[engine, operation, size].median / sqlite.median:.2f}×")
            else:
                ratios.append("")
        if engine == "edge":
            flat[operation] = paired(large, small)
        table.add_row(
            engine,
            operation,
            f"{small.median:,.0f}",
            f"{large.median:,.0f}",
            f"{paired(large, small):.2f}" if len(large.rates) == len(small.rates) else "",
            *ratios,
        )
    console.print(table)
    console.print(f"edge store compactions during the run: {compactions}")

    goals = ("insert", "update by id")
    flat_met = min(flat[op] for op in goals) >= FLAT_GOAL
    sqlite_met = min(vs_sqlite.values()) >= SQLITE_GOAL
    console.print(
        f"goal: flat from 1k to 20k records (20k ≥ {FLAT_GOAL}× 1k): "
        f"{'[green]met[/]' if flat_met else '[red]not met[/]'} ("
        + ", ".join(f"{op} {flat[op]:.2f}×" for op in goals)
        + ")"
    )
    worst = min(vs_sqlite, key=vs_sqlite.__getitem__)
    console.print(
        f"goal: ≥ {SQLITE_GOAL}× SQLite (WAL, synchronous=FULL): "
        f"{'[green]met[/]' if sqlite_met else '[red]not met[/]'} "
        f"(lowest {vs_sqlite[worst]:.2f}×, {worst[0]} at {worst[1] // 1000}k)"
    )


if __name__ == "__main__":
    main()
