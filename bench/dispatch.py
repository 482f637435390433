"""Dispatch benchmark, both tables in one run: (a) the assignment solver against its peers,
(b) a simulated hotel day, StaySync's dispatcher against greedy and FCFS.

Run as ``python -m bench.dispatch``; ``--solver-scale`` and ``--no-compile`` are passed
to (a) (`bench.dispatch_solver`), (b) is `bench.dispatch_day` at its calibrated demand.
"""

from __future__ import annotations

import argparse
import time

from bench import dispatch_day, dispatch_solver


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solver-scale", type=float, default=1.0, help="(a): repeat counts x")
    parser.add_argument("--no-compile", action="store_true", help="(a): skip the compile timing")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    print("(a) assignment solver: edge.assignment.solve against its peers")
    solver_args = ["--scale", str(args.solver_scale)] + (
        ["--no-compile"] if args.no_compile else []
    )
    status = dispatch_solver.main(solver_args)
    print()
    print("(b) a simulated hotel day")
    status |= dispatch_day.main([])
    print(f"both tables in {time.perf_counter() - started:.0f} s")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
