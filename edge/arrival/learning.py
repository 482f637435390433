"""Per-room thermal learning fed by the twin, and the property's outdoor temperature.

The gateway learns each room from what it hears and nothing else: every thermostat
reading (telemetry, or a state with its temperature) becomes a `ThermalSample` with the
thermostat's current action and the outdoor temperature of the site sensor
(`staysync/<property>/site/weather/telemetry`). Without an outdoor reading no sample is
taken: the passive drift could not be told from the HVAC's work.

Estimators survive restarts: learning a room takes days of its history, so their state
is written to the store (table `thermal`) by `save_dirty`, which the arrival service
calls on its planner tick.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from typing import Any

from edge.persistence import GatewayStore, upsert_keyed
from edge.store import EdgeStore
from shared.messages import HvacAction

from .thermal import ThermalEstimate, ThermalEstimator, ThermalSample

__all__ = ["OutdoorReadings", "RoomLearning"]

THERMAL = "thermal"
# An outdoor reading older than this is not the outdoor temperature any more.
OUTDOOR_STALE_S = 2 * 3600.0
OUTDOOR_MEAN_S = 3600.0


class OutdoorReadings:
    """The site's outdoor temperature: the latest reading and a recent mean."""

    def __init__(self) -> None:
        self._readings: deque[tuple[float, float]] = deque(maxlen=512)

    def observe(self, ts: float, temperature_c: float) -> None:
        if self._readings and ts <= self._readings[-1][0]:
            return  # late or repeated reading
        self._readings.append((ts, temperature_c))

    def latest(self, now: float) -> float | None:
        if not self._readings:
            return None
        ts, value = self._readings[-1]
        return value if now - ts <= OUTDOOR_STALE_S else None

    def mean(self, now: float) -> float | None:
        """The mean over the last hour (what a lead time over the next hours should use)."""
        recent = [v for ts, v in self._readings if now - ts <= OUTDOOR_MEAN_S]
        if not recent:
            return self.latest(now)
        return sum(recent) / len(recent)


def _to_doc(estimator: ThermalEstimator) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for f in dataclasses.fields(estimator):
        value = getattr(estimator, f.name)
        if isinstance(value, ThermalSample):
            value = {**dataclasses.asdict(value), "action": value.action.value}
        elif isinstance(value, ThermalEstimate):
            value = dataclasses.asdict(value)
        elif isinstance(value, tuple):
            value = list(value)
        doc[f.name] = value
    return doc


def _from_doc(doc: dict[str, Any]) -> ThermalEstimator:
    values = dict(doc)
    for name in ("_last", "_anchor"):
        sample = values.get(name)
        if sample is not None:
            values[name] = ThermalSample(**{**sample, "action": HvacAction(sample["action"])})
    if "prior" in values:
        values["prior"] = ThermalEstimate(**values["prior"])
    if "_theta" in values:
        values["_theta"] = tuple(values["_theta"])
    known = {f.name for f in dataclasses.fields(ThermalEstimator)}
    estimator = ThermalEstimator(**{k: v for k, v in values.items() if k in known and k[0] != "_"})
    for key, value in values.items():
        if key in known and key[0] == "_":
            setattr(estimator, key, value)
    return estimator


class RoomLearning:
    """One `ThermalEstimator` per room, fed from the twin's thermostat readings."""

    def __init__(self, store: GatewayStore) -> None:
        self._store = store
        self.outdoor = OutdoorReadings()
        self._estimators: dict[str, ThermalEstimator] = {}
        self._dirty: set[str] = set()
        self._ids: dict[str, int] = {}

    def observe(
        self, room_id: str, ts: float, temperature_c: float, action: HvacAction | None
    ) -> bool:
        """Take one reading of a room; True if it completed an interval of the fit."""
        outdoor = self.outdoor.latest(ts)
        if outdoor is None or action is None:
            return False
        estimator = self._estimators.get(room_id)
        if estimator is None:
            estimator = self._estimators[room_id] = ThermalEstimator()
        self._dirty.add(room_id)
        return estimator.add(ThermalSample(ts, temperature_c, action, outdoor))

    def estimate(self, room_id: str) -> ThermalEstimate:
        estimator = self._estimators.get(room_id)
        return estimator.estimate() if estimator is not None else ThermalEstimator().estimate()

    async def load(self) -> int:
        return await self._store.run(self._load)

    def _load(self, db: EdgeStore) -> int:
        for doc in db.table(THERMAL).all():
            try:
                self._estimators[doc["room_id"]] = _from_doc(doc["estimator"])
            except (KeyError, TypeError, ValueError):
                continue  # an estimator that no longer reads is relearned, not fatal
            self._ids[doc["room_id"]] = doc.doc_id
        return len(self._estimators)

    async def save_dirty(self) -> int:
        dirty, self._dirty = self._dirty, set()
        docs = [(r, {"room_id": r, "estimator": _to_doc(self._estimators[r])}) for r in dirty]
        if docs:
            try:
                await self._store.run(lambda db: self._save(db, docs))
            except BaseException:
                self._dirty |= dirty
                raise
        return len(docs)

    def _save(self, db: EdgeStore, docs: list[tuple[str, dict[str, Any]]]) -> None:
        upsert_keyed(db, THERMAL, self._ids, docs)
