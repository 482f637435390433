"""The dispatcher's tunables, with their units; one frozen value, passed in."""

from __future__ import annotations

from dataclasses import dataclass, field

from .model import Priority, Relevance
from .trips import TripCapacity

__all__ = ["DispatchPolicy"]


@dataclass(frozen=True, slots=True)
class DispatchPolicy:
    """How a round weighs travel, load, priority and waiting; all costs in seconds.

    A pair's cost is the expected arrival time at each of the trip's rooms, plus a
    steeper slope for time past a task's due time, plus the person's load, minus the
    trip's bonus. The bonus (class, relevance, time already waited) decides *which*
    trips are served when people are scarce; the arrival times decide *who* serves them.
    """

    capacity: TripCapacity = field(default_factory=TripCapacity)
    # A person still busy for at most this long may be planned for their next trip; a
    # later round may still move it to someone else until they accept.
    horizon_s: float = 60.0
    # Another room's task joins a trip only if the merge pays (`trips._pays`), weighed
    # within this much work per round (routes scheduled × (people considered + 25); each
    # candidate merge schedules the pool twice); past it, merges go on pressure alone
    # (`python -m bench.dispatch_round` shows a round's time against that).
    weigh_merges_budget: int = 20_000
    load_weight_s: float = 15.0  # per task the person has accepted and not finished
    stickiness_s: float = 30.0  # keep an unaccepted plan unless another is this much better
    declined_penalty_s: float = 1800.0  # per task the person let time out (see costs)
    # Bonus per task: an urgent task outranks an hour of waiting by standard ones; a
    # preference-linked one ranks like a plain one that has waited 5 or 10 minutes longer.
    class_bonus_s: dict[Priority, float] = field(
        default_factory=lambda: {Priority.URGENT: 3600.0, Priority.STANDARD: 0.0}
    )
    relevance_bonus_s: dict[Relevance, float] = field(
        default_factory=lambda: {
            Relevance.HIGH: 600.0,
            Relevance.NORMAL: 300.0,
            Relevance.NONE: 0.0,
        }
    )
    wait_weight: float = 1.0  # bonus per second already waited: old tasks first
    late_weight: float = 2.0  # extra cost per second of arrival past the due time
    # Preemption: urgent work may take a person off non-urgent work when that arrives
    # sooner by more than this penalty; bounded per person (per duty period) and per task.
    preempt_penalty_s: float = 120.0
    max_preemptions_per_person: int = 2
    max_preemptions_per_task: int = 1
