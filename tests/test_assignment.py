"""Properties of the exact assignment solver: optimality against scipy, validity,
the partial-matching semantics, input validation and the tie-breaking guarantee."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment

from edge.assignment import Assignment, solve, warm_up

FloatMatrix = npt.NDArray[np.float64]

# The first call compiles (or loads) the numba kernels, hence no deadline.
PROPERTY = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])
SMALL = settings(deadline=None, max_examples=250, suppress_health_check=[HealthCheck.too_slow])

# Costs whose sums are exact in float64, so optimal totals can be compared with ==.
EXACT_KINDS = ("ints", "few-ints", "dyadic")
KINDS = (*EXACT_KINDS, "reals", "few-reals")
PENALTY = 1e6  # stands in for +inf in scipy; larger than any total of the costs below


@dataclass(frozen=True)
class Case:
    cost: FloatMatrix
    kind: str

    @property
    def exact(self) -> bool:
        return self.kind in EXACT_KINDS


def _values(rng: np.random.Generator, kind: str, shape: tuple[int, int]) -> FloatMatrix:
    if kind == "ints":
        return rng.integers(-50, 51, shape).astype(np.float64)
    if kind == "few-ints":  # many ties
        return rng.integers(0, 3, shape).astype(np.float64)
    if kind == "dyadic":
        return rng.integers(-16, 17, shape) / 8.0
    if kind == "reals":
        return rng.uniform(-10.0, 10.0, shape)
    return rng.choice(np.array([0.1, 0.7, 1.3]), shape)  # few-reals: ties, inexact sums


@st.composite
def cases(draw: st.DrawFn, max_side: int = 40, full: bool = True) -> Case:
    """A random matrix; with `full`, +inf entries never rule out a full matching."""
    n = draw(st.integers(1, max_side))
    m = draw(st.integers(1, max_side))
    kind = draw(st.sampled_from(KINDS))
    inf_share = draw(st.sampled_from([0.0, 0.0, 0.3, 0.7, 0.95]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    cost = _values(rng, kind, (n, m))
    forbid = rng.random((n, m)) < inf_share
    if full:
        k = min(n, m)
        forbid[rng.permutation(n)[:k], rng.permutation(m)[:k]] = False
    cost[forbid] = np.inf
    return Case(cost, kind)


def _check_valid(cost: FloatMatrix, a: Assignment) -> None:
    n, m = cost.shape
    assert a.rows.shape == a.cols.shape
    assert a.rows.dtype == np.intp
    assert a.cols.dtype == np.intp
    assert np.all(np.diff(a.rows) > 0), "rows sorted, each at most once"
    assert len(set(a.cols.tolist())) == len(a), "each column at most once"
    assert np.all((a.rows >= 0) & (a.rows < n))
    assert np.all((a.cols >= 0) & (a.cols < m))
    assert np.all(np.isfinite(cost[a.rows, a.cols])), "no forbidden pair"
    assert a.total_cost == pytest.approx(float(cost[a.rows, a.cols].sum()), rel=1e-12, abs=1e-9)


def _assert_same_total(ours: float, ref: float, exact: bool) -> None:
    if exact:
        assert ours == ref
    else:
        assert ours == pytest.approx(ref, rel=1e-9, abs=1e-9)


# ------------------------------------------------------------------- optimality


@PROPERTY
@given(cases())
def test_total_matches_scipy_when_a_full_matching_exists(case: Case) -> None:
    c = case.cost
    a = solve(c)
    _check_valid(c, a)
    assert len(a) == min(c.shape)
    r, k = linear_sum_assignment(c)
    _assert_same_total(a.total_cost, float(c[r, k].sum()), case.exact)


@PROPERTY
@given(cases())
def test_transposed_matrix_has_the_same_optimum(case: Case) -> None:
    a = solve(case.cost)
    b = solve(case.cost.T)
    assert len(a) == len(b)
    _assert_same_total(a.total_cost, b.total_cost, case.exact)


@PROPERTY
@given(cases(full=False))
def test_partial_matching_maximises_pairs_then_minimises_cost(case: Case) -> None:
    """scipy with a huge finite penalty in place of +inf has the same semantics."""
    c = np.where(np.isinf(case.cost), np.inf, np.round(case.cost * 8))  # exact integers
    a = solve(c)
    _check_valid(c, a)
    penal = np.where(np.isinf(c), PENALTY, c)
    r, k = linear_sum_assignment(penal)
    n_penalised = int(np.isinf(c[r, k]).sum())
    assert len(a) == min(c.shape) - n_penalised
    assert a.total_cost == float(penal[r, k].sum()) - PENALTY * n_penalised


def test_rows_and_columns_that_cannot_be_served_are_left_out() -> None:
    inf = np.inf
    c = np.array(
        [
            [inf, inf, inf],  # row 0 may take nothing
            [5.0, 1.0, inf],
            [inf, 2.0, inf],  # rows 1 and 2 compete for column 1
        ]
    )
    a = solve(c)
    # Two pairs are possible only as (1, 0) and (2, 1); column 2 nobody may take.
    assert a.rows.tolist() == [1, 2]
    assert a.cols.tolist() == [0, 1]
    assert a.total_cost == 7.0
    assert a.col_of_row(3).tolist() == [-1, 0, 1]


def test_cardinality_beats_cost() -> None:
    # Taking the cheap pair (0, 0) would leave row 1 without a column.
    c = np.array([[0.0, 100.0], [1.0, np.inf]])
    a = solve(c)
    assert a.rows.tolist() == [0, 1]
    assert a.cols.tolist() == [1, 0]
    assert a.total_cost == 101.0


def test_cheapest_maximum_matching_when_no_full_one_exists() -> None:
    # One column for two rows: the cheaper row gets it, whatever its index.
    c = np.array([[10.0], [1.0]])
    a = solve(c)
    assert (a.rows.tolist(), a.cols.tolist(), a.total_cost) == ([1], [0], 1.0)


def test_all_forbidden_and_empty_matrices_give_no_pairs() -> None:
    for c in (np.full((3, 4), np.inf), np.zeros((0, 5)), np.zeros((5, 0)), np.zeros((0, 0))):
        a = solve(c)
        assert len(a) == 0
        assert a.total_cost == 0.0
        assert a.rows.dtype == np.intp


def test_known_small_problem() -> None:
    c = np.array([[4.0, 1.0, 3.0], [2.0, 0.0, 5.0], [3.0, 2.0, 2.0]])
    a = solve(c)
    assert a.rows.tolist() == [0, 1, 2]
    assert a.cols.tolist() == [1, 0, 2]
    assert a.total_cost == 5.0


def _with_forbidden(rng: np.random.Generator, c: FloatMatrix, share: float) -> FloatMatrix:
    """`c` with a share of pairs forbidden, never those of one random full matching."""
    n, m = c.shape
    forbid = rng.random((n, m)) < share
    k = min(n, m)
    forbid[rng.permutation(n)[:k], rng.permutation(m)[:k]] = False
    return np.where(forbid, np.inf, c)


@pytest.mark.parametrize(
    ("n", "m"),
    [(20, 50), (60, 400), (300, 400), (200, 200), (400, 300), (400, 60), (500, 2000)],
)
def test_dispatch_sizes_match_scipy(n: int, m: int) -> None:
    """Bench shapes, tall ones too, with and without forbidden pairs."""
    rng = np.random.default_rng(n * 1000 + m)
    uniform = rng.random((n, m))
    ints = rng.integers(0, 10, (n, m)).astype(np.float64)
    for c in (uniform, ints, _with_forbidden(rng, uniform, 0.3), _with_forbidden(rng, ints, 0.9)):
        a = solve(c)
        _check_valid(c, a)
        assert len(a) == min(n, m)
        r, k = linear_sum_assignment(c)
        assert a.total_cost == pytest.approx(float(c[r, k].sum()), rel=1e-12)


@PROPERTY
@given(
    st.integers(1, 12),
    st.integers(2, 12),
    st.sampled_from(KINDS),
    st.sampled_from([0.0, 0.3, 0.8]),
    st.integers(0, 2**32 - 1),
)
def test_tall_and_wide_matrices_with_forbidden_pairs_match_scipy(
    short: int, ratio: int, kind: str, inf_share: float, seed: int
) -> None:
    """Far from square both ways (up to 1:12), the transposed path included."""
    rng = np.random.default_rng(seed)
    wide = _with_forbidden(rng, _values(rng, kind, (short, short * ratio)), inf_share)
    for c in (wide, np.ascontiguousarray(wide.T)):
        a = solve(c)
        _check_valid(c, a)
        assert len(a) == short
        r, k = linear_sum_assignment(c)
        _assert_same_total(a.total_cost, float(c[r, k].sum()), kind in EXACT_KINDS)


# ----------------------------------------------------------------- tie-breaking


def _brute_force(c: FloatMatrix) -> tuple[int, float, tuple[int, ...]]:
    """Most pairs, then least cost, then the lexicographically smallest row->column map
    (unassigned sorting after every column), by enumerating all partial matchings."""
    n, m = c.shape
    unassigned = m  # sorts after every real column
    best: tuple[int, float, tuple[int, ...]] | None = None

    def walk(i: int, used: int, picks: list[int], cost: float) -> None:
        nonlocal best
        if i == n:
            card = sum(p != unassigned for p in picks)
            key = (-card, cost, tuple(picks))
            if best is None or key < (-best[0], best[1], best[2]):
                best = (card, cost, tuple(picks))
            return
        for j in range(m):
            if not used >> j & 1 and np.isfinite(c[i, j]):
                walk(i + 1, used | 1 << j, [*picks, j], cost + float(c[i, j]))
        walk(i + 1, used, [*picks, unassigned], cost)

    walk(0, 0, [], 0.0)
    assert best is not None
    return best


@SMALL
@given(
    st.integers(1, 5),
    st.integers(1, 5),
    st.sampled_from([2, 3, 5]),
    st.sampled_from([0.0, 0.2, 0.5]),
    st.integers(0, 2**32 - 1),
)
def test_ties_go_to_the_lexicographically_smallest_optimum(
    n: int, m: int, levels: int, inf_share: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    c = rng.integers(0, levels, (n, m)).astype(np.float64)
    c[rng.random((n, m)) < inf_share] = np.inf
    a = solve(c)
    _check_valid(c, a)
    card, cost, picks = _brute_force(c)
    got = a.col_of_row(n)
    assert (len(a), a.total_cost) == (card, cost)
    assert tuple(int(j) if j >= 0 else m for j in got) == picks


def _best_with_prefix(c: FloatMatrix, fixed: dict[int, int]) -> tuple[int, float]:
    """(pairs, cost) of the best assignment whose rows in `fixed` take the given column
    (-1: unassigned), via scipy on a padded matrix (one private dummy column per row)."""
    n, m = c.shape
    big = PENALTY * 1e3  # forbidden; larger than any total below
    padded = np.full((n, m + n), big)
    padded[:, :m] = np.where(np.isinf(c), big, c)
    padded[np.arange(n), m + np.arange(n)] = PENALTY  # "unassigned" costs PENALTY
    for i, j in fixed.items():
        keep = padded[i, j] if j >= 0 else PENALTY
        padded[i] = big
        padded[i, j if j >= 0 else m + i] = keep
    r, k = linear_sum_assignment(padded)
    total = float(padded[r, k].sum())
    unassigned = round(total // PENALTY)
    return n - unassigned, total - unassigned * PENALTY


def _check_no_earlier_column(c: FloatMatrix) -> None:
    """Row by row, fixing the answer's earlier rows: no lower column (nor being served,
    for an unserved row) is still optimal. An independent check of the guarantee."""
    n, m = c.shape
    got = solve(c).col_of_row(n)
    best = _best_with_prefix(c, {})
    fixed: dict[int, int] = {}
    for p in range(n):
        taken = {j for j in fixed.values() if j >= 0}
        for q in range(m if got[p] < 0 else got[p]):
            if q not in taken and np.isfinite(c[p, q]):
                assert _best_with_prefix(c, {**fixed, p: q}) != best, (p, q)
        fixed[p] = int(got[p])
    assert _best_with_prefix(c, fixed) == best


@settings(deadline=None, max_examples=40)
@given(st.integers(1, 10), st.integers(1, 10), st.integers(0, 2**32 - 1))
def test_no_row_could_take_an_earlier_column_at_medium_size(n: int, m: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    c = rng.integers(0, 3, (n, m)).astype(np.float64)
    c[rng.random((n, m)) < 0.3] = np.inf
    _check_no_earlier_column(c)


@pytest.mark.parametrize(("n", "m"), [(24, 40), (40, 24), (30, 30), (8, 60), (60, 8)])
@pytest.mark.parametrize("inf_share", [0.0, 0.3])
def test_no_row_could_take_an_earlier_column_at_larger_sizes(
    n: int, m: int, inf_share: float
) -> None:
    """Many ties (three cost levels), wide and tall, a full matching or not."""
    rng = np.random.default_rng(n * 100 + m + int(inf_share * 10))
    c = rng.integers(0, 3, (n, m)).astype(np.float64)
    c[rng.random((n, m)) < inf_share] = np.inf
    _check_no_earlier_column(c)


def test_all_equal_costs_pair_rows_and_columns_in_order() -> None:
    for shape in [(4, 4), (3, 6), (6, 3)]:
        a = solve(np.full(shape, 7.0))
        k = min(shape)
        assert a.rows.tolist() == list(range(k))
        assert a.cols.tolist() == list(range(k))


def test_first_come_first_served_dispatch() -> None:
    # Two staff (rows, by arrival), four tasks (columns, by arrival), equal costs except
    # that staff 1 cannot do task 0: staff 0 takes task 0, staff 1 the next task, 1.
    c = np.array([[3.0, 3.0, 3.0, 3.0], [np.inf, 3.0, 3.0, 3.0]])
    a = solve(c)
    assert a.cols.tolist() == [0, 1]
    # Reordering the tasks reorders the result the same way: ties follow arrival.
    order = [3, 1, 2, 0]
    b = solve(c[:, order])
    assert [order[j] for j in b.cols.tolist()] == [3, 1]


def test_earlier_row_is_served_when_only_one_can_be() -> None:
    a = solve(np.array([[2.0], [2.0], [2.0]]))
    assert (a.rows.tolist(), a.cols.tolist()) == ([0], [0])


def test_same_input_same_answer() -> None:
    rng = np.random.default_rng(7)
    c = rng.integers(0, 3, (30, 45)).astype(np.float64)
    first = solve(c)
    for _ in range(3):
        again = solve(c.copy())
        assert np.array_equal(first.rows, again.rows)
        assert np.array_equal(first.cols, again.cols)


# ------------------------------------------------------------------- input


@pytest.mark.parametrize(
    ("shape", "where", "value", "word"),
    [
        ((3, 4), (1, 2), np.nan, "NaN"),
        ((3, 4), (2, 0), -np.inf, "-inf"),
        ((5, 2), (4, 1), np.nan, "NaN"),  # tall: the solver transposes, the message does not
        ((5, 2), (3, 0), -np.inf, "-inf"),
    ],
)
def test_nan_and_negative_infinity_are_rejected(
    shape: tuple[int, int], where: tuple[int, int], value: float, word: str
) -> None:
    c = np.ones(shape)
    c[where] = value
    with pytest.raises(ValueError, match=rf"cost\[{where[0]}, {where[1]}\] is {word}"):
        solve(c)


@pytest.mark.parametrize(
    ("cost", "match"),
    [
        (np.ones(3), "2-D"),
        (np.ones((2, 2, 2)), "2-D"),
        (np.ones((2, 2), dtype=complex), "real numbers"),
        (np.array([["a", "b"]]), "real numbers"),
        (np.array([[1.0, None]], dtype=object), "real numbers"),
    ],
)
def test_malformed_input_is_rejected(cost: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        solve(cost)  # type: ignore[arg-type]


def test_other_real_inputs_are_accepted() -> None:
    base = np.array([[4.0, 1.0, 3.0], [2.0, 0.0, 5.0], [3.0, 2.0, 2.0]])
    readonly = base.copy()
    readonly.setflags(write=False)
    wide = np.zeros((3, 6))
    wide[:, ::2] = base
    for c in (
        base.tolist(),
        base.astype(np.int32),
        base.astype(np.float32),
        np.asfortranarray(base),
        readonly,
        wide[:, ::2],  # strided view
    ):
        assert solve(c).total_cost == 5.0
    assert solve([[True, False], [False, True]]).total_cost == 0.0
    assert not readonly.flags.writeable  # the caller's array is left alone


def test_result_is_read_only() -> None:
    a = solve(np.eye(3))
    assert not a.rows.flags.writeable
    assert not a.cols.flags.writeable
    with pytest.raises(AttributeError):
        a.total_cost = 0.0  # type: ignore[misc]


def test_warm_up_reports_seconds() -> None:
    assert warm_up() >= 0.0
