"""Benchmark of the dispatch assignment solver against scipy, lap and lapjv.

Run as ``python -m bench.dispatch_solver``. For each shape it solves the same random
uniform matrices (fixed seed) with every solver that is installed, interleaving the
solvers repeat by repeat so that machine noise hits them alike, and prints the median
time per solve. It checks that all solvers reach the same optimal cost, measures the
numba compile time (cold cache in a fresh process) and the cached start-up time, and
ends with one verdict line per speed goal, computed from the numbers it just measured.

Peers and how they are called:

* scipy: ``scipy.optimize.linear_sum_assignment(c)``.
* lap: ``lap.lapjv(c, extend_cost=True)`` for rectangular matrices.
* lapjv: ``lapjv.lapjv(c)`` solves square matrices only and by default computes in
  float32; a rectangular matrix is padded with zero rows to a square one (a zero row
  takes a leftover column at no cost, so the optimum is unchanged) and the padding is
  timed as part of the call. ``lapjv-f64`` is the same with ``force_doubles=True``.

Costs are re-evaluated in float64 on the original matrix for every solver's pairs.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.assignment import solve, warm_up

FloatMatrix = npt.NDArray[np.float64]
Pairs = tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]
Solver = Callable[[FloatMatrix], Pairs]

# (rows, cols, repeats); dispatch shapes have fewer staff (rows) than tasks.
SHAPES: list[tuple[int, int, int]] = [
    (20, 50, 300),
    (60, 400, 100),
    (300, 400, 30),
    (500, 2000, 15),
    (200, 200, 50),
    (2000, 2000, 5),
]
FASTER_THAN_ALL = [(20, 50), (60, 400), (300, 400), (500, 2000)]
WITHIN_2X = [(200, 200), (2000, 2000)]
SEED = 20_260_101
REL_TOL = 1e-6
ROOT = Path(__file__).resolve().parent.parent


def _ours(c: FloatMatrix) -> Pairs:
    a = solve(c)
    return a.rows, a.cols


def _scipy() -> Solver | None:
    try:
        from scipy.optimize import linear_sum_assignment
    except ImportError:
        return None

    def run(c: FloatMatrix) -> Pairs:
        r, k = linear_sum_assignment(c)
        return r, k

    return run


def _lap() -> Solver | None:
    try:
        lap: Any = importlib.import_module("lap")
    except ImportError:
        return None

    def run(c: FloatMatrix) -> Pairs:
        _, x, _ = lap.lapjv(c, extend_cost=c.shape[0] != c.shape[1])
        rows = np.flatnonzero(x >= 0)
        return rows, x[rows]

    return run


def _lapjv(force_doubles: bool) -> Solver | None:
    try:
        lapjv: Any = importlib.import_module("lapjv")
    except ImportError:
        return None

    def run(c: FloatMatrix) -> Pairs:
        n, m = c.shape
        if n == m:
            sq = c
        elif n < m:
            sq = np.zeros((m, m))
            sq[:n] = c
        else:
            sq = np.zeros((n, n))
            sq[:, :m] = c
        x, _, _ = lapjv.lapjv(sq, force_doubles=force_doubles)
        rows = np.arange(min(n, m)) if n <= m else np.flatnonzero(x < m)
        cols = x[: min(n, m)] if n <= m else x[rows]
        return rows, cols.astype(np.intp)

    return run


@dataclass
class Result:
    median_ms: float | None  # None: not installed
    cost_ok: bool = True


def _pairs_cost(c: FloatMatrix, pairs: Pairs) -> float:
    rows, cols = pairs
    if len(rows) != min(c.shape) or len(set(cols.tolist())) != len(cols):
        return float("nan")  # not a full matching
    return float(c[rows, cols].sum())


def _bench_shape(
    solvers: dict[str, Solver | None], n: int, m: int, repeats: int, rng: np.random.Generator
) -> dict[str, Result]:
    mats = [rng.random((n, m)) for _ in range(3)]
    installed = {name: f for name, f in solvers.items() if f is not None}
    times: dict[str, list[float]] = {name: [] for name in installed}
    ok = dict.fromkeys(installed, True)
    for c in mats:  # warm-up, and the optimum check on each matrix
        costs = {name: _pairs_cost(c, f(c)) for name, f in installed.items()}
        best = costs["ours"]
        for name, value in costs.items():
            if not abs(value - best) <= REL_TOL * abs(best):
                ok[name] = False
    for r in range(repeats):
        c = mats[r % len(mats)]
        for name, f in installed.items():
            t0 = time.perf_counter()
            f(c)
            times[name].append(time.perf_counter() - t0)
    out = {name: Result(None) for name in solvers}
    for name, ts in times.items():
        out[name] = Result(statistics.median(ts) * 1e3, ok[name])
    return out


def _subprocess_seconds(cache_dir: str) -> tuple[float, float]:
    """(import seconds, warm_up seconds) in a fresh interpreter using `cache_dir`."""
    code = (
        "import time; t0 = time.perf_counter(); import edge.assignment as a; "
        "t1 = time.perf_counter(); a.warm_up(); t2 = time.perf_counter(); "
        "print(t1 - t0, t2 - t1)"
    )
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    res = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    imp, warm = (float(s) for s in res.stdout.split())
    return imp, warm


def _fmt(ms: float | None) -> str:
    if ms is None:
        return "n/a"
    return f"{ms:.3f}" if ms < 10 else f"{ms:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply repeat counts")
    parser.add_argument("--no-compile", action="store_true", help="skip the compile timing")
    args = parser.parse_args(argv)

    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, seed {SEED}")
    solvers: dict[str, Solver | None] = {
        "ours": _ours,
        "scipy": _scipy(),
        "lap": _lap(),
        "lapjv": _lapjv(force_doubles=False),
        "lapjv-f64": _lapjv(force_doubles=True),
    }
    for name, f in solvers.items():
        if f is None:
            print(f"{name}: not installed, not measured")

    if not args.no_compile:
        with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache:
            imp, cold = _subprocess_seconds(cache)
            _, warm = _subprocess_seconds(cache)
        print(
            f"numba: import {imp:.2f} s; warm_up() with an empty cache (compile) {cold:.2f} s, "
            f"from the cache in a fresh process {warm:.2f} s"
        )
    warm_up()

    rng = np.random.default_rng(SEED)
    names = list(solvers)
    header = f"{'shape':>10} " + " ".join(f"{n:>10}" for n in names) + "   (median ms per solve)"
    print(header)
    results: dict[tuple[int, int], dict[str, Result]] = {}
    all_ok = True
    for n, m, repeats in SHAPES:
        res = _bench_shape(solvers, n, m, max(3, int(repeats * args.scale)), rng)
        results[(n, m)] = res
        cells = []
        for name in names:
            cell = _fmt(res[name].median_ms)
            if not res[name].cost_ok:
                cell += "!"
                all_ok = False
            cells.append(f"{cell:>10}")
        print(f"{f'{n}x{m}':>10} " + " ".join(cells))
    print("lapjv, lapjv-f64: rectangular matrices padded with zero rows to square (timed).")
    print(
        "costs: all solvers reach the same optimum within 1e-6 relative"
        if all_ok
        else "costs: MISMATCH, marked '!' (pairs differ from our optimum)"
    )

    def peers(shape: tuple[int, int]) -> dict[str, float]:
        return {
            k: r.median_ms
            for k, r in results[shape].items()
            if k != "ours" and r.median_ms is not None
        }

    for shape in FASTER_THAN_ALL:
        ours = results[shape]["ours"].median_ms
        assert ours is not None
        p = peers(shape)
        best_name = min(p, key=p.__getitem__)
        met = all(ours < t for t in p.values())
        print(
            f"goal {shape[0]}x{shape[1]}: faster than every peer: {'MET' if met else 'NOT MET'} "
            f"(ours {_fmt(ours)} ms, fastest peer {best_name} {_fmt(p[best_name])} ms, "
            f"{p[best_name] / ours:.2f}x)"
        )
    for shape in WITHIN_2X:
        ours = results[shape]["ours"].median_ms
        assert ours is not None
        p = peers(shape)
        best_name = min(p, key=p.__getitem__)
        met = ours <= 2 * p[best_name]
        print(
            f"goal {shape[0]}x{shape[1]}: within 2x of the fastest peer: "
            f"{'MET' if met else 'NOT MET'} (ours {_fmt(ours)} ms, fastest peer {best_name} "
            f"{_fmt(p[best_name])} ms, ratio {ours / p[best_name]:.2f})"
        )
    return 0 if all_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
