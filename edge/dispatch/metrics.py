"""The task service's Prometheus metrics, read from its state when scraped.

A collector, not counters bumped along the code paths: the service's task list is the
truth, so what a dashboard shows cannot drift from what the handsets see, and a restart
loses nothing (counts restart from the tasks kept in the store, which Prometheus reads
as a counter reset).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from shared.clock import Clock

from .model import TaskStatus
from .service import TaskService

__all__ = ["TaskCollector"]

_OPEN = (TaskStatus.NEW, TaskStatus.ASSIGNED, TaskStatus.ACCEPTED, TaskStatus.ESCALATED)


class TaskCollector(Collector):
    def __init__(self, service: TaskService, clock: Clock) -> None:
        self._service = service
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        now = self._clock.now()
        tasks = self._service.tasks()
        open_tasks = GaugeMetricFamily(
            "staysync_tasks_open",
            "Tasks not yet done or cancelled, by status and skill",
            labels=["status", "skill"],
        )
        for (status, skill), n in Counter(
            (t.status.value, t.skill.value) for t in tasks if t.is_open
        ).items():
            open_tasks.add_metric([status, skill], n)
        yield open_tasks
        oldest = GaugeMetricFamily(
            "staysync_tasks_oldest_waiting_seconds",
            "Age of the oldest task nobody has started, by skill (absent if none)",
            labels=["skill"],
        )
        ages: dict[str, float] = {}
        for t in tasks:
            if t.status in _OPEN:
                ages[t.skill.value] = max(ages.get(t.skill.value, 0.0), now - t.created_at)
        for skill, age in ages.items():
            oldest.add_metric([skill], age)
        yield oldest
        # A gauge, not a counter: the tasks kept shrink when old ones are pruned at a
        # restart, which a counter would show as a reset and a burst of starts.
        started = GaugeMetricFamily(
            "staysync_tasks_started_kept",
            "Tasks started, among those kept (7 days), by priority and whether within target",
            labels=["priority", "within_target"],
        )
        counts = Counter(
            (t.priority.value, str(t.started_at - t.created_at <= t.priority.target_s).lower())
            for t in tasks
            if t.started_at is not None
        )
        for (priority, within), n in counts.items():
            started.add_metric([priority, within], n)
        yield started
        on_duty = sum(s.staff.on_duty for s in self._service.staff())
        yield GaugeMetricFamily("staysync_staff_on_duty", "People on duty", value=on_duty)
