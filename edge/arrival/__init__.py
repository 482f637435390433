"""Arrival pre-conditioning: what the gateway must know to have a room ready at the door."""

from edge.arrival.thermal import (
    PLAUSIBLE_TAU_S,
    PRIOR,
    ThermalEstimate,
    ThermalEstimator,
    ThermalSample,
    holdable,
    lead_time_s,
)

__all__ = [
    "PLAUSIBLE_TAU_S",
    "PRIOR",
    "ThermalEstimate",
    "ThermalEstimator",
    "ThermalSample",
    "holdable",
    "lead_time_s",
]
