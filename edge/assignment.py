"""Exact linear sum assignment for dispatch and room recommendation, compiled with numba.

`solve(cost)` pairs rows with columns so that the total cost is minimal. The matrix may
be rectangular; ``cost[i, j] = +inf`` forbids the pair ``(i, j)``. Call `warm_up()` once
at start: it compiles the kernels, or loads them from numba's cache.

Semantics
---------
* **Cardinality first.** The result has as many pairs as any assignment that avoids
  forbidden entries can have (``min(n, m)`` when a full matching exists), and among
  those the smallest total cost. A row (or column) that cannot be served is left out;
  nothing is raised for an infeasible matrix.
* **Ties are first come, first served.** Among all assignments that are optimal in
  that sense, the result is the one whose row-to-column map, read from row 0 upwards,
  is lexicographically smallest, an unassigned row counting as larger than any column:
  row 0 is served if any optimal assignment serves it, by the lowest-index column any
  optimal assignment gives it; then row 1, given row 0's choice; and so on. Order rows
  and columns by arrival and ties go to whoever came first, rows taking precedence.
  (To give columns precedence, pass ``cost.T`` and swap the result.) Two assignments
  tie when their totals agree up to a relative 2**-40 of the dual values (rounding);
  integer-valued costs are computed exactly as long as sums of n costs stay below
  2**40, and then the guarantee is exact.
* **Input.** A 2-D array of real numbers, finite or ``+inf`` (finite costs far from
  the float64 overflow range: duals are sums of costs). NaN and ``-inf`` are rejected
  with a `ValueError` that names the entry.

Method
------
The kernel works on a C-contiguous float64 matrix with no more rows than columns (a
tall matrix is transposed first) and follows Jonker-Volgenant (LAPJV):

1. A start. Square: column reduction and reduction transfer. Rectangular: each row
   takes its cheapest free column (with transfer when rows outnumber half the columns).
   Column duals never rise above zero there, as an unused column requires. Among
   equally cheap columns a free one is taken, which matters for integer costs.
2. Two rounds of augmenting row reduction.
3. Shortest augmenting paths for the rows still free: Dijkstra over dense column
   arrays (O(n^2 m) worst case), written so that the inner loop vectorises.

A row with no augmenting path is skipped; a row without one never gets one later, so
the rows served form a maximum matching, of size k. If k < n the problem is solved
again with n - k extra zero-cost columns: every full assignment of that padded problem
has exactly k real pairs, so its optimum is the cheapest maximum matching, exactly and
without a big-M penalty.

Last, the tie-breaking. With optimal duals (u, v) an assignment is optimal exactly when
it uses only tight edges (zero reduced cost) and covers every column with a nonzero
dual. Rows are visited in order; each tries its tight columns in increasing order and
keeps the first for which alternating paths of tight edges that leave the settled rows
alone restore such an assignment. The tight edges are collected in one vectorised pass
over the matrix; when each row has only its own, the optimum is unique and that is all.
With many ties (integer costs) they are collected on demand instead, for the vertices
a search visits.

The scans are written so that LLVM vectorises them: reductions are split into passes
that each keep one kind of running value (a minimum, an index, a count), and minima go
through LLVM's ``minnum`` with fast-math flags, which numba's ``min`` does not emit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from llvmlite import ir  # type: ignore[import-untyped]
from numba import njit, types
from numba.extending import intrinsic, overload

__all__ = ["Assignment", "solve", "warm_up"]

# Reduced costs within this fraction of the largest dual count as zero (see Semantics).
_TIE_EPS = 2.0**-40
# Bound on the displacement chains of one round of augmenting row reduction: the chains
# shrink a dual by a positive step each time but may take tiny steps on real costs.
_ARR_CHAIN_FACTOR = 2

_OK, _NAN, _NEG_INF = 0, 1, 2

IndexArray = npt.NDArray[np.intp]


@dataclass(frozen=True, eq=False)
class Assignment:
    """The chosen pairs ``(rows[k], cols[k])``, sorted by row, and their total cost.

    Rows and columns that are not listed are unassigned. The arrays are read-only.
    """

    rows: IndexArray
    cols: IndexArray
    total_cost: float

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def col_of_row(self, n_rows: int) -> IndexArray:
        """A dense map ``row -> column`` with -1 for unassigned rows."""
        out = np.full(n_rows, -1, dtype=np.intp)
        out[self.rows] = self.cols
        return out


# --------------------------------------------------------------------------- kernels


@njit(cache=True)
def _first_bad(ci):  # type: ignore[no-untyped-def]
    """Index of the first NaN or -inf in a row known to hold one."""
    for j in range(ci.shape[0]):
        if not ci[j] > -np.inf:  # false for NaN and for -inf
            return j
    return -1


def _fmin_typer(typingctx, a, b):  # type: ignore[no-untyped-def]
    """min(a, b) of two floats that are not NaN, as LLVM's minnum with `nnan` and `nsz`.

    Numba writes min() and ``a if a < b else b`` as a compare and a select that carry
    no fast-math flags, and LLVM then refuses to vectorise a min reduction: it runs
    one element at a time (about 2.3x slower over a row of 400). This form vectorises.
    """
    if a != types.float64 or b != types.float64:
        return None

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        fnty = ir.FunctionType(ir.DoubleType(), [ir.DoubleType(), ir.DoubleType()])
        fn = builder.module.declare_intrinsic("llvm.minnum", [ir.DoubleType()], fnty)
        return builder.call(fn, args, fastmath=("nnan", "nsz"))

    return types.float64(types.float64, types.float64), codegen


def _cttz_typer(typingctx, a):  # type: ignore[no-untyped-def]
    """Number of trailing zero bits of a nonzero int64 (LLVM's cttz)."""
    if a != types.int64:
        return None

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        i64 = ir.IntType(64)
        fnty = ir.FunctionType(i64, [i64, ir.IntType(1)])
        fn = builder.module.declare_intrinsic("llvm.cttz", [i64], fnty)
        return builder.call(fn, [args[0], ir.Constant(ir.IntType(1), 1)])

    return types.int64(types.int64), codegen


# Any: numba's stubs type an intrinsic's call with the typer's signature, context included.
_fmin: Any = intrinsic(_fmin_typer)
_cttz: Any = intrinsic(_cttz_typer)


@njit(cache=True)
def _min_reduced(ci, v, lo, hi):  # type: ignore[no-untyped-def]
    """min(ci[j] - v[j] for lo <= j < hi), +inf if empty. The row holds no NaN."""
    best = np.inf
    for j in range(lo, hi):
        best = _fmin(best, ci[j] - v[j])
    return best


@njit(cache=True)
def _scan_row(ci, v):  # type: ignore[no-untyped-def]
    """(min(ci - v), number of NaN or -inf entries), in one vectorised pass.

    Validation rides along with the first read of the row: it costs no extra trip to
    memory. With a bad entry the minimum is meaningless and must not be used.
    """
    best = np.inf
    bad = np.int64(0)
    for j in range(ci.shape[0]):
        x = ci[j]
        bad += np.int64(not x > -np.inf)  # false for NaN and for -inf
        best = _fmin(best, x - v[j])
    return best, bad


@njit(cache=True)
def _at_min(ci, v, u1, y):  # type: ignore[no-untyped-def]
    """Second pass over a row none of whose reduced costs is below u1 (finite).

    Returns (j1, jf, n_min, above): the first column at u1, the first unassigned one
    there (y < 0; -1 if none), how many columns are at u1, and the smallest reduced
    cost above u1 (+inf if none). The second-smallest reduced cost is u1 if n_min > 1,
    else `above`. Four reductions in one loop, each of which vectorises (a loop that
    tracks a running minimum and its index runs at about a third of their speed).
    """
    m = ci.shape[0]
    j1 = m
    jf = m
    n_min = np.int64(0)
    above = np.inf
    for j in range(m):
        h = ci[j] - v[j]
        at = h == u1
        j1 = min(j1, j if at else m)
        jf = min(jf, j if (at & (y[j] < 0)) else m)  # `&`: `and` would branch
        n_min += np.int64(at)
        above = _fmin(above, h + (np.inf if at else 0.0))  # h > u1 unless at
    return j1, (jf if jf < m else -1), n_min, above


@njit(cache=True)
def _first_reduced(ci, v, val, skip):  # type: ignore[no-untyped-def]
    """First j != skip with ci[j] - v[j] == val, or -1.

    An integer min over the row instead of an early exit: it vectorises, and the row
    was just read, so the second pass is cheap. (The scans here are split into such
    passes because a loop that tracks a running minimum and its index runs at about a
    third of their speed.)
    """
    m = ci.shape[0]
    k = m
    for j in range(m):
        k = min(k, j if ((ci[j] - v[j] == val) & (j != skip)) else m)
    return k if k < m else -1


@njit(cache=True)
def _first_free_reduced(ci, v, val, y):  # type: ignore[no-untyped-def]
    """First unassigned column j (y[j] < 0) with ci[j] - v[j] == val, or -1."""
    m = ci.shape[0]
    k = m
    for j in range(m):
        k = min(k, j if ((ci[j] - v[j] == val) & (y[j] < 0)) else m)
    return k if k < m else -1


@njit(cache=True)
def _reduce_rows(c, x, y, v, free):  # type: ignore[no-untyped-def]
    """Greedy start for n < m: each row takes its first cheapest column that is free.

    Preferring a free column among equally cheap ones matters with integer costs,
    where most rows' minima tie: it leaves little for the later phases.

    When rows are more than half the columns, collisions are common and the
    reduction transfer of LAPJV pays off (an assigned column's dual drops by the gap
    to the row's next-cheapest entry, so other rows look elsewhere first); with fewer
    rows it costs more than it saves (measured at the dispatch shapes). Duals only
    go down from zero, as the rectangular problem needs.

    Also validates each row. Returns (n_free, i, j): (i, j) a NaN or -inf entry, or -1.
    """
    n, m = c.shape
    transfer = 2 * n > m
    n_free = 0
    for i in range(n):
        ci = c[i]
        u1, bad = _scan_row(ci, v)
        if bad:
            return n_free, i, _first_bad(ci)
        j1 = -1
        if u1 < np.inf and transfer:
            _, j1, n_min, above = _at_min(ci, v, u1, y)
        elif u1 < np.inf:  # one reduction instead of four: the second pass is half the time
            j1 = _first_reduced(ci, v, u1, -1)
            if y[j1] >= 0:
                j1 = _first_free_reduced(ci, v, u1, y)
        if j1 >= 0:
            x[i] = j1
            y[j1] = i
            if transfer and n_min == 1 and above < np.inf:
                v[j1] -= above - u1
        else:
            free[n_free] = i
            n_free += 1
    return n_free, -1, -1


@njit(cache=True)
def _reduce_columns(c, x, y, v, free):  # type: ignore[no-untyped-def]
    """LAPJV's start for square matrices: column reduction, then reduction transfer.

    Every column's dual is its minimum. Each row in turn takes the first column that
    is still free and of which it is a minimum (with integer costs many rows tie for
    a column's minimum; this spreads them), and transfers its reduction to it: the
    column's dual drops by the gap to the row's next-cheapest reduced cost.

    Also validates each row. Returns (n_free, i, j): (i, j) a NaN or -inf entry, or -1.
    """
    n, m = c.shape
    for j in range(m):
        v[j] = np.inf
    for i in range(n):
        ci = c[i]
        bad = np.int64(0)
        for j in range(m):  # row by row, branch-free: column minima of a C-order matrix
            cij = ci[j]
            bad += np.int64(not cij > -np.inf)  # false for NaN and for -inf
            v[j] = min(v[j], cij)
        if bad:
            return 0, i, _first_bad(ci)
    for j in range(m):
        if v[j] == np.inf:
            v[j] = 0.0  # a column nobody may take: the augmentation will find out
    n_free = 0
    for i in range(n):
        ci = c[i]
        _, j1, n_min, above = _at_min(ci, v, 0.0, y)
        if j1 < 0:
            free[n_free] = i
            n_free += 1
            continue
        x[i] = j1
        y[j1] = i
        if n_min == 1 and above < np.inf:
            v[j1] -= above
    return n_free, -1, -1


@njit(cache=True)
def _augmenting_row_reduction(c, x, y, v, free, n_free):  # type: ignore[no-untyped-def]
    """Two rounds of LAPJV's augmenting row reduction; returns the rows still free.

    A free row takes its cheapest column (in reduced cost) and lowers that column's
    dual to its second-cheapest, displacing the previous owner, which then tries again.
    Duals only decrease, so a column that was never assigned keeps a zero dual.
    """
    n, m = c.shape
    for _ in range(2):
        k = 0
        prv = n_free
        n_free = 0
        # Chains can crawl in tiny steps on real costs; the shortest paths finish them.
        chain_budget = _ARR_CHAIN_FACTOR * n + 16
        while k < prv:
            i = free[k]
            k += 1
            ci = c[i]
            u1 = _min_reduced(ci, v, 0, m)
            if u1 == np.inf:
                # No allowed column at all: the augmentation phase will skip it.
                free[n_free] = i
                n_free += 1
                continue
            j1, _, n_min, above = _at_min(ci, v, u1, y)
            u2 = u1 if n_min > 1 else above
            i0 = y[j1]
            lowered = v[j1] - (u2 - u1)
            # Compare the new dual, not u1 < u2: a gap below v's precision is a tie.
            lowers = u2 < np.inf and lowered < v[j1]
            if lowers:
                v[j1] = lowered
            elif i0 >= 0:
                if u2 == np.inf:
                    # The only allowed column is taken: leave it to the shortest paths.
                    free[n_free] = i
                    n_free += 1
                    continue
                # Tie between the cheapest columns: take a free one if there is one,
                # else the second (as LAPJV does).
                jf = _first_free_reduced(ci, v, u2, y)
                j1 = jf if jf >= 0 else _first_reduced(ci, v, u2, j1)
                i0 = y[j1]
            x[i] = j1
            y[j1] = i
            if i0 >= 0:
                x[i0] = -1
                if lowers and chain_budget > 0:
                    chain_budget -= 1
                    k -= 1
                    free[k] = i0
                else:
                    free[n_free] = i0
                    n_free += 1
    return n_free


@njit(cache=True, fastmath={"nnan", "nsz"})
def _relax(ci, w, h, dd, pred, i):  # type: ignore[no-untyped-def]
    """Relax every column through row i; returns the smallest pending distance.

    Contiguous and branch-free so that it vectorises: settled columns have w = -inf,
    which makes their candidate distance +inf. No NaN can occur (hence `nnan`).
    """
    best = np.inf
    for j in range(ci.shape[0]):
        cred = ci[j] - w[j] - h
        old = dd[j]
        better = cred < old
        new = cred if better else old
        dd[j] = new
        pred[j] = i if better else pred[j]
        best = _fmin(best, new)
    return best


@njit(cache=True)
def _shortest_path(c, start, y, v, dd, w, dist, pred, ready, scan):  # type: ignore[no-untyped-def]
    """Dijkstra from row `start` to a free column in reduced costs, over dense arrays.

    Returns (column, n_ready, distance); column is -1 when no free column is reachable.
    `ready[:n_ready]` are the settled columns and `dist` their distances.
    """
    m = c.shape[1]
    ci = c[start]
    best = np.inf
    for j in range(m):
        w[j] = v[j]
        dj = ci[j] - v[j]
        dd[j] = dj
        pred[j] = start
        best = _fmin(best, dj)
    n_ready = 0
    while True:
        if best == np.inf:
            return -1, n_ready, best  # every pending column is forbidden
        # All columns at the current distance: a free one ends the search at once.
        cnt = 0
        for j in range(m):
            if dd[j] == best:
                scan[cnt] = j
                cnt += 1
        for k in range(cnt):
            if y[scan[k]] < 0:
                return scan[k], n_ready, best
        for k in range(cnt):
            j = scan[k]
            dist[j] = best
            dd[j] = np.inf
            w[j] = -np.inf
            ready[n_ready] = j
            n_ready += 1
        reached = best
        best = np.inf
        for k in range(cnt):
            j = scan[k]
            i = y[j]
            # u_i - distance: the row's dual is implicit, c[i, x_i] - v[x_i].
            h = c[i, j] - v[j] - reached
            best = _fmin(best, _relax(c[i], w, h, dd, pred, i))


@njit(cache=True)
def _augment(c, x, y, v, free, n_free):  # type: ignore[no-untyped-def]
    """Shortest augmenting path for every free row; returns how many rows had none."""
    m = c.shape[1]
    dd = np.empty(m)
    w = np.empty(m)
    dist = np.empty(m)
    pred = np.empty(m, np.int64)
    ready = np.empty(m, np.int64)
    scan = np.empty(m, np.int64)
    n_failed = 0
    for k in range(n_free):
        start = free[k]
        j, n_ready, reached = _shortest_path(c, start, y, v, dd, w, dist, pred, ready, scan)
        if j < 0:
            n_failed += 1  # no augmenting path now means none later either
            continue
        for r in range(n_ready):
            jr = ready[r]
            v[jr] += dist[jr] - reached
        while True:
            i = pred[j]
            y[j] = i
            prev = x[i]
            x[i] = j
            if i == start:
                break
            j = prev
    return n_failed


@njit(cache=True)
def _jv(c):  # type: ignore[no-untyped-def]
    """Jonker-Volgenant on a matrix with n <= m.

    Returns (bad_i, bad_j, failed, x, y, v): (bad_i, bad_j) a NaN or -inf entry (the
    rest is then meaningless) or (-1, -1); `failed` the rows with no augmenting path.
    """
    n, m = c.shape
    x = np.full(n, -1, np.int64)
    y = np.full(m, -1, np.int64)
    v = np.zeros(m)
    free = np.empty(n, np.int64)
    if n == m:
        n_free, bad_i, bad_j = _reduce_columns(c, x, y, v, free)
    else:
        n_free, bad_i, bad_j = _reduce_rows(c, x, y, v, free)
    if bad_i >= 0:
        return bad_i, bad_j, 0, x, y, v
    n_free = _augmenting_row_reduction(c, x, y, v, free, n_free)
    n_failed = _augment(c, x, y, v, free, n_free) if n_free > 0 else 0
    return -1, -1, n_failed, x, y, v


# The tie-breaking below walks the graph of tight edges (zero reduced cost). Its
# adjacency lists (ascending) live in a pool; start/length have a row per side (0: P,
# 1: Q) and give each vertex's list, start -1 meaning "not listed yet".
#
# On random real costs there are a few hundred tight edges: all are listed up front, in
# one vectorised pass over the matrix, and when each row has only its own the optimum
# is unique and that is all. The graph is then the tuple (pool, start, length). With
# many ties (integer costs) listing them all would cost more than the search, which
# visits few vertices: past a limit, lists are made on first use, and a vectorised
# scan per row tells whether it has a candidate at all. The graph is then
# (pool, start, length, c, u, v, tol, tr, used), and the search is compiled a second
# time for it: a check for unlisted vertices in the search's inner loops costs a third
# of the time of the tie-breaking on random costs, where it is never needed.
_P, _Q = 0, 1
# Rows of the search scratch array.
_SEEN_P, _SEEN_Q, _PRED_P, _PRED_Q, _QUEUE = 0, 1, 2, 3, 4
# _list_all_tight outcomes.
_LISTED, _UNIQUE, _TOO_MANY = 0, 1, 2


@njit(cache=True)
def _write_bits(pool, w, base, bits):  # type: ignore[no-untyped-def]
    """Append base + (position of each set bit of `bits`), ascending; returns the new end."""
    while bits != 0:
        pool[w] = base + _cttz(bits)
        w += 1
        bits &= bits - 1  # clear the lowest set bit
    return w


@njit(cache=True)
def _row_tight(ci, v, thr, pool, w):  # type: ignore[no-untyped-def]
    """Append the columns j with ci[j] - v[j] <= thr; returns the new end.

    64 entries at a time: a vectorised loop sets one bit per tight entry, and only the
    set bits are visited (a row has a few tight entries out of hundreds).
    """
    nc = ci.shape[0]
    for b in range(0, nc, 64):
        bits = np.int64(0)
        for j in range(b, min(b + 64, nc)):
            bits |= np.int64(ci[j] - v[j] <= thr) << (j - b)
        w = _write_bits(pool, w, b, bits)
    return w


def _ensure_listed(graph: Any, side: int, k: int) -> None:
    """List vertex k of `side` if the graph is built on demand (numba only)."""
    raise NotImplementedError


@overload(_ensure_listed)
def _ensure_listed_impl(graph, side, k):  # type: ignore[no-untyped-def]
    if len(graph) == 3:  # all listed up front
        return lambda graph, side, k: None

    def impl(graph, side, k):  # type: ignore[no-untyped-def]
        if graph[1][side, k] < 0:
            _list_tight(graph, side, k)

    return impl


def _maybe_candidate(graph: Any, p: int, q_end: int, owner_of_q: Any) -> bool:
    """False only if P-vertex p surely has no candidate (numba only)."""
    raise NotImplementedError


@overload(_maybe_candidate)
def _maybe_candidate_impl(graph, p, q_end, owner_of_q):  # type: ignore[no-untyped-def]
    if len(graph) == 3:  # p's list is at hand, and short
        return lambda graph, p, q_end, owner_of_q: True
    return lambda graph, p, q_end, owner_of_q: _has_candidate(graph, p, q_end, owner_of_q)  # noqa: PLW0108


@njit(cache=True)
def _neighbours(graph, side, k):  # type: ignore[no-untyped-def]
    """(start, length) in the pool of the tight neighbours of vertex k of `side`, sorted."""
    _ensure_listed(graph, side, k)
    return graph[1][side, k], graph[2][side, k]


@njit(cache=True)
def _list_tight(graph, side, k):  # type: ignore[no-untyped-def]
    """List the tight neighbours of vertex k of `side` at the end of the pool.

    P-vertices are internal rows unless `tr`; a row's tight columns are those with
    c[i, j] - v[j] <= u[i] + tol, the same test from both sides.
    """
    pool, start, length, c, u, v, tol, tr, used = graph
    w = used[0]
    start[side, k] = w
    if (side == _P) != tr:  # the tight columns of row k
        w = _row_tight(c[k], v, u[k] + tol, pool, w)
    else:  # the tight rows of column k: a strided scan
        vk = v[k]
        nr = c.shape[0]
        for b in range(0, nr, 64):
            bits = np.int64(0)
            for i in range(b, min(b + 64, nr)):
                bits |= np.int64(c[i, k] - vk <= u[i] + tol) << (i - b)
            w = _write_bits(pool, w, b, bits)
    length[side, k] = w - start[side, k]
    used[0] = w


@njit(cache=True)
def _list_all_tight(c, x, u, v, tol, tr, pool, start, length, limit):  # type: ignore[no-untyped-def]
    """List every tight edge, rows' lists then columns'; returns _LISTED, _UNIQUE or
    _TOO_MANY (then nothing is listed: more than `limit` edges).

    A vectorised count per row comes first: most rows' only tight entry is their own,
    (i, x[i]); only the others are read again. The columns' lists follow by a counting
    sort, which keeps them ascending too.
    """
    nr, nc = c.shape
    rs, cs = (_Q, _P) if tr else (_P, _Q)  # the sides of internal rows and columns
    w = 0
    for i in range(nr):
        ci = c[i]
        thr = u[i] + tol
        n_tight = np.int64(0)
        for j in range(nc):
            n_tight += np.int64(ci[j] - v[j] <= thr)
        if w + n_tight > limit:
            for k in range(i):
                start[rs, k] = -1
            return _TOO_MANY
        start[rs, i] = w
        if n_tight == 1:
            pool[w] = x[i]
            w += 1
        else:
            w = _row_tight(ci, v, thr, pool, w)
        length[rs, i] = w - start[rs, i]
    if w == nr:
        return _UNIQUE  # every row's only tight edge is its own
    for j in range(nc):
        length[cs, j] = 0
    for t in range(w):
        length[cs, pool[t]] += 1
    e = w
    for j in range(nc):
        start[cs, j] = e
        e += length[cs, j]
    fill = start[cs].copy()
    for i in range(nr):
        for t in range(start[rs, i], start[rs, i] + length[rs, i]):
            j = pool[t]
            pool[fill[j]] = i
            fill[j] += 1
    return _LISTED


@njit(cache=True)
def _has_candidate(graph, p, q_end, owner_of_q):  # type: ignore[no-untyped-def]
    """Does P-vertex p have a tight edge to some Q < q_end not held by a settled P?

    One vectorised pass over part of p's row (or column). Most vertices have none.
    """
    c, u, v, tol, tr = graph[3], graph[4], graph[5], graph[6], graph[7]
    cnt = np.int64(0)
    if tr:
        vp = v[p]
        for q in range(q_end):
            o = owner_of_q[q]
            cnt += np.int64((c[q, p] - vp <= u[q] + tol) & ((o < 0) | (o >= p)))
    else:
        cp = c[p]
        thr = u[p] + tol
        for q in range(q_end):
            o = owner_of_q[q]
            cnt += np.int64((cp[q] - v[q] <= thr) & ((o < 0) | (o >= p)))
    return cnt > 0


@njit(cache=True)
def _set(arr, which, idx, val, log, log_n):  # type: ignore[no-untyped-def]
    """arr[idx] = val, logged as (which array, index, old value) so it can be undone."""
    k = log_n[0]
    log[k, 0] = which
    log[k, 1] = idx
    log[k, 2] = arr[idx]
    log_n[0] = k + 1
    arr[idx] = val


@njit(cache=True)
def _undo(mate_p, mate_q, log, log_n):  # type: ignore[no-untyped-def]
    for k in range(log_n[0] - 1, -1, -1):
        if log[k, 0] == _P:
            mate_p[log[k, 1]] = log[k, 2]
        else:
            mate_q[log[k, 1]] = log[k, 2]
    log_n[0] = 0


@njit(cache=True)
def _rematch_p(s, prefer, p, mate_p, mate_q, must_p, graph, work, stamp, log, log_n):  # type: ignore[no-untyped-def]
    """Give P-vertex s a partner again by an alternating path of tight edges.

    Breadth-first over P-vertices after p (the settled ones and p keep theirs). The
    path ends at a free Q, or at a Q whose owner may be left uncovered. With `prefer`
    (a Q that must be covered again) the search goes on until it reaches that one,
    which closes a cycle; only if it cannot does another end do. Returns success.
    """
    pool = graph[0]
    seen_p, seen_q, pred_q, queue = work[_SEEN_P], work[_SEEN_Q], work[_PRED_Q], work[_QUEUE]
    seen_p[s] = stamp
    queue[0] = s
    head, tail = 0, 1
    found = -1
    fallback = -1
    while head < tail and found < 0:
        a = queue[head]
        head += 1
        first, count = _neighbours(graph, _P, a)
        for t in range(first, first + count):
            b = pool[t]
            owner = mate_q[b]
            if seen_q[b] == stamp or 0 <= owner <= p:
                continue
            seen_q[b] = stamp
            pred_q[b] = a
            if owner < 0 or not must_p[owner]:
                if prefer < 0 or b == prefer:
                    found = b
                    break
                if fallback < 0:
                    fallback = b
            if owner >= 0 and seen_p[owner] != stamp:
                seen_p[owner] = stamp
                queue[tail] = owner
                tail += 1
    if found < 0:
        found = fallback
    if found < 0:
        return False
    b = found
    if mate_q[b] >= 0:
        _set(mate_p, _P, mate_q[b], -1, log, log_n)  # the owner lets go of b
    while True:
        a = pred_q[b]
        prev = mate_p[a]
        _set(mate_p, _P, a, b, log, log_n)
        _set(mate_q, _Q, b, a, log, log_n)
        if a == s:
            return True
        b = prev


@njit(cache=True)
def _rematch_q(t, p, mate_p, mate_q, must_q, graph, work, stamp, log, log_n):  # type: ignore[no-untyped-def]
    """Give Q-vertex t a partner again among the P-vertices after p.

    The path ends at an uncovered P, or frees a Q that may be left uncovered.
    """
    pool = graph[0]
    seen_p, seen_q, pred_p, pred_q, queue = (
        work[_SEEN_P],
        work[_SEEN_Q],
        work[_PRED_P],
        work[_PRED_Q],
        work[_QUEUE],
    )
    seen_q[t] = stamp
    queue[0] = t
    head, tail = 0, 1
    found = -1
    while head < tail and found < 0:
        b = queue[head]
        head += 1
        first, count = _neighbours(graph, _Q, b)
        for r in range(first, first + count):
            a = pool[r]
            if a <= p or seen_p[a] == stamp:
                continue
            seen_p[a] = stamp
            pred_p[a] = b
            b2 = mate_p[a]
            if b2 < 0 or not must_q[b2]:
                found = a
                break
            if seen_q[b2] != stamp:
                seen_q[b2] = stamp
                pred_q[b2] = a
                queue[tail] = b2
                tail += 1
    if found < 0:
        return False
    a = found
    if mate_p[a] >= 0:
        _set(mate_q, _Q, mate_p[a], -1, log, log_n)  # a lets go of its old partner
    while True:
        b = pred_p[a]
        _set(mate_p, _P, a, b, log, log_n)
        _set(mate_q, _Q, b, a, log, log_n)
        if b == t:
            return True
        a = pred_q[b]


@njit(cache=True)
def _try_move(p, q, mate_p, mate_q, must_p, must_q, graph, work, stamp, log, log_n):  # type: ignore[no-untyped-def]
    """Give q to p and re-cover what must stay covered; undone unless it all works.

    p's old partner q0 and q's old owner p2 lose their partners. p2 looks for a new one
    first (preferring q0, which closes a cycle), then q0 if it is still uncovered.
    Returns (moved, stamp).
    """
    q0 = mate_p[p]
    p2 = mate_q[q]
    _set(mate_p, _P, p, q, log, log_n)
    _set(mate_q, _Q, q, p, log, log_n)
    if q0 >= 0:
        _set(mate_q, _Q, q0, -1, log, log_n)
    if p2 >= 0:
        _set(mate_p, _P, p2, -1, log, log_n)
    ok = True
    if p2 >= 0 and must_p[p2]:
        stamp += 1
        prefer = q0 if (q0 >= 0 and must_q[q0]) else -1
        ok = _rematch_p(p2, prefer, p, mate_p, mate_q, must_p, graph, work, stamp, log, log_n)
    if ok and q0 >= 0 and mate_q[q0] < 0 and must_q[q0]:
        stamp += 1
        ok = _rematch_q(q0, p, mate_p, mate_q, must_q, graph, work, stamp, log, log_n)
    if ok:
        log_n[0] = 0
    else:
        _undo(mate_p, mate_q, log, log_n)
    return ok, stamp


@njit(cache=True)
def _row_duals(c, x, v):  # type: ignore[no-untyped-def]
    """Row duals implied by the matching (u_i = c[i, x_i] - v[x_i]) and the tie tolerance."""
    nr, nc = c.shape
    u = np.empty(nr)
    scale = 0.0
    for i in range(nr):
        u[i] = c[i, x[i]] - v[x[i]]
        scale = max(scale, abs(u[i]))
    for j in range(nc):
        scale = max(scale, abs(v[j]))
    return u, scale * _TIE_EPS


@njit(cache=True)
def _lexicographic(c, x, y, v, m_real, tr):  # type: ignore[no-untyped-def]
    """Turn an optimal assignment into the lexicographically smallest optimal one.

    P are the caller's rows (internal rows, or internal columns when the caller's
    matrix was transposed: `tr`), Q the caller's columns. An assignment is optimal iff
    it uses tight edges only, covers every internal row, and covers every internal
    column with a nonzero dual. Virtual columns (index >= m_real) mean "unassigned".
    Each P in order tries its tight Q in increasing order and keeps the first one for
    which the displaced vertices can be re-covered without touching settled P.
    """
    nr, nc = c.shape
    u, tol = _row_duals(c, x, v)
    n_max = max(nr, nc)
    limit = 2 * (nr + nc)
    pool = np.empty(2 * limit, np.int32)
    start = np.full((2, n_max), -1, np.int64)
    length = np.zeros((2, n_max), np.int64)
    listed = _list_all_tight(c, x, u, v, tol, tr, pool, start, length, limit)
    if listed == _UNIQUE:
        return
    col_must = np.empty(nc, np.bool_)
    for j in range(nc):
        col_must[j] = nr == nc or v[j] < -tol
    row_must = np.ones(nr, np.bool_)
    if tr:
        mate_p, mate_q, must_p, must_q = y, x, col_must, row_must
        n_p_real, n_q_real = m_real, nr
    else:
        mate_p, mate_q, must_p, must_q = x, y, row_must, col_must
        n_p_real, n_q_real = nr, m_real
    state = (mate_p, mate_q, must_p, must_q, n_p_real, n_q_real)
    if listed == _LISTED:
        _search((pool, start, length), state)
    else:
        pool = np.empty(2 * nr * nc, np.int32)  # worst case; pages are touched as used
        used = np.zeros(1, np.int64)
        _search((pool, start, length, c, u, v, tol, tr, used), state)


@njit(cache=True)
def _search(graph, state):  # type: ignore[no-untyped-def]
    """Each P in order tries its tight Q in increasing order (see _lexicographic)."""
    mate_p, mate_q, must_p, must_q, n_p_real, n_q_real = state
    pool = graph[0]
    n_max = graph[1].shape[1]
    work = np.zeros((5, n_max), np.int64)
    log = np.empty((4 * n_max + 16, 3), np.int64)
    log_n = np.zeros(1, np.int64)
    stamp = 0
    for p in range(n_p_real):
        q0 = mate_p[p]
        q_end = q0 if 0 <= q0 < n_q_real else n_q_real
        if not _maybe_candidate(graph, p, q_end, mate_q):
            continue
        first, count = _neighbours(graph, _P, p)
        for t in range(first, first + count):
            q = pool[t]
            if q >= q_end:
                break  # sorted: no better column left
            if 0 <= mate_q[q] < p:
                continue  # q belongs to a settled P
            moved, stamp = _try_move(
                p, q, mate_p, mate_q, must_p, must_q, graph, work, stamp, log, log_n
            )
            if moved:
                break


@njit(cache=True)
def _solve_kernel(c, tr):  # type: ignore[no-untyped-def]
    """Solve `c` (n <= m, C-contiguous float64); `tr` says the caller's matrix is c.T.

    Returns (err, i, j, total, pairs): pairs[0] the caller's rows (ascending) and
    pairs[1] their columns. One array out, since each returned array costs about a
    microsecond to hand to Python.
    """
    n, m = c.shape
    work = c
    while True:  # one call site each for _jv and _lexicographic: less code to compile
        bad_i, bad_j, n_failed, x, y, v = _jv(work)
        if bad_i >= 0:
            err = _NAN if np.isnan(c[bad_i, bad_j]) else _NEG_INF
            return err, bad_i, bad_j, 0.0, np.empty((2, 0), np.intp)
        if n_failed == 0:
            break
        # No full matching: n - k virtual zero-cost columns absorb the unservable rows;
        # the padded problem always has a full matching, so this runs at most once.
        work = np.zeros((n, m + n_failed))
        for i in range(n):  # a loop: numba takes seconds to compile the slice assignment
            for j in range(m):
                work[i, j] = c[i, j]
    _lexicographic(work, x, y, v, m, tr)
    k = 0
    for i in range(n):
        k += x[i] < m
    pairs = np.empty((2, k), np.intp)
    total = 0.0
    k = 0
    if tr:
        for j in range(m):
            i = y[j]
            if i >= 0:
                pairs[0, k] = j
                pairs[1, k] = i
                total += c[i, j]
                k += 1
    else:
        for i in range(n):
            j = x[i]
            if j < m:
                pairs[0, k] = i
                pairs[1, k] = j
                total += c[i, j]
                k += 1
    return _OK, -1, -1, total, pairs


# ------------------------------------------------------------------------ public API

_F64 = np.dtype(np.float64)
_NO_PAIRS = np.empty((2, 0), dtype=np.intp)
_NO_PAIRS.setflags(write=False)


def solve(cost: npt.ArrayLike) -> Assignment:
    """Minimum-cost assignment of rows to columns; see the module doc for the semantics.

    Raises `ValueError` for a matrix that is not 2-D, not real-valued, or holds NaN or
    -inf. ``+inf`` marks a forbidden pair. Solving takes microseconds at dispatch
    sizes, so this wrapper is kept lean: the checks are identity tests where possible.
    """
    arr = np.asarray(cost)
    if arr.dtype is not _F64 and arr.dtype.kind not in "biuf":
        raise ValueError(f"cost must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"cost must be a 2-D matrix, got shape {arr.shape}")
    n, m = arr.shape
    if n == 0 or m == 0:
        return Assignment(_NO_PAIRS[0], _NO_PAIRS[1], 0.0)
    tr = n > m
    work = arr.T if tr else arr
    flags = work.flags
    if work.dtype is not _F64 or not (flags.c_contiguous and flags.writeable):
        # numba compiles read-only arrays as a separate type: copy those too.
        work = np.array(work, dtype=np.float64, order="C")
    err, ei, ej, total, pairs = _solve_kernel(work, tr)
    if err != _OK:
        i, j = (ej, ei) if tr else (ei, ej)
        what = "NaN" if err == _NAN else "-inf"
        raise ValueError(
            f"cost[{i}, {j}] is {what}; costs must be finite, or +inf for a forbidden pair"
        )
    pairs.setflags(write=False)
    return Assignment(pairs[0], pairs[1], total)


def warm_up() -> float:
    """Compile (or load from numba's cache) every kernel; returns the seconds it took.

    Call once at gateway start so that the first dispatch round does not pay for it.
    """
    t0 = time.perf_counter()
    square = np.array([[4.0, 1.0, 3.0], [2.0, 0.0, 5.0], [3.0, 2.0, 2.0]])
    solve(square)  # square, full matching
    solve(square[:2])  # wide
    solve(square[:, :2])  # tall: transposed internally
    partial = square.copy()
    partial[:, 0] = np.inf
    solve(partial)  # no full matching: the padded second pass
    solve(np.zeros((3, 8)))  # ties everywhere: the tie-breaking lists edges on demand
    return time.perf_counter() - t0
