"""The arrival bench's own arithmetic, on a handful of arrivals: the oracle row really is
the floor of a room ready at the door, and standby saves over eco before the door."""

from __future__ import annotations

from bench.arrival import ORACLE, TOLERANCE_C, draw_arrivals, simulate


def test_the_oracle_is_the_floor_and_standby_saves_over_eco() -> None:
    arrivals, _ = draw_arrivals(4, seed=11)
    for arrival in arrivals:
        result = simulate(arrival)
        for scenario in (result.at_eta, result.eco):
            oracle = scenario[ORACLE]
            assert abs(oracle.door_c - arrival.target_c) <= TOLERANCE_C
            for policy in ("staysync", "always"):
                outcome = scenario[policy]
                if abs(outcome.door_c - arrival.target_c) <= TOLERANCE_C:
                    # Started no later than the latest start that works: never cheaper.
                    assert oracle.door_energy_j <= outcome.door_energy_j * (1 + 1e-9)
            # Every row runs to the same end; the door comes first.
            assert all(o.door_energy_j <= o.energy_j for o in scenario.values())
        # The deeper setback never costs more before the door (same room, same day).
        assert result.at_eta["check-in"].door_energy_j <= result.eco["check-in"].door_energy_j
        assert result.at_eta[ORACLE].door_energy_j <= result.eco[ORACLE].door_energy_j * 1.001
