"""Commands to room devices, delivered until the device acknowledges them or time runs out.

A command is journaled durably before `submit` returns (that return is the gateway's
acknowledgement to the caller), published on the device's ``set`` topic with QoS 1 and
re-published with exponential backoff until the device's retained ``state`` echoes its
id. A command still unacknowledged at its deadline ends `failed`, with the reason. After
a broker reconnect every pending command is re-sent at once; after a gateway restart the
journal's pending commands are delivered again (the device ignores an id it already
applied, so a re-send is harmless).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

from shared.clock import Clock, wait_event
from shared.messages import (
    CommandAck,
    SetParams,
    command_model,
    encode,
    set_model,
    settable_devices,
)
from shared.tasks import cancel_and_wait
from shared.topics import Channel, Device, RoomTopic

from .errors import InvalidCommand, NotConnected, Overloaded, UnknownCommand, UnknownDevice
from .metrics import GatewayMetrics
from .store import StoreError
from .twin import PropertyTwin

__all__ = [
    "REFUSED",
    "CommandJournal",
    "CommandManager",
    "CommandRecord",
    "CommandStatus",
    "CommandTiming",
    "Publisher",
]

log = logging.getLogger(__name__)
RECENT_RECORDS = 10_000  # finished commands kept in memory for status queries
REFUSED = "device refused: "  # how a failure reason starts when the device said no


class CommandStatus(StrEnum):
    PENDING = "pending"
    ACKED = "acked"
    FAILED = "failed"


class CommandRecord(BaseModel):
    """A command as journaled and as the API shows it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    room_id: str
    device: Device
    params: dict[str, Any]
    status: CommandStatus
    created_at: float
    deadline: float
    updated_at: float
    attempts: int = 0
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class CommandTiming:
    timeout_s: float = 30.0
    retry_initial_s: float = 1.0
    retry_max_s: float = 8.0
    # Each pending command is a task and a journal entry: bound them, so a flood of
    # requests while the broker is down is refused (503) instead of growing without end.
    max_pending: int = 10_000


class CommandJournal(Protocol):
    async def save(self, record: CommandRecord) -> None: ...
    async def get(self, command_id: str) -> CommandRecord | None: ...
    async def pending(self) -> list[CommandRecord]: ...


class Publisher(Protocol):
    @property
    def connected(self) -> bool: ...
    async def publish(
        self, topic: str, payload: bytes, *, qos: int, retain: bool = False, timeout_s: float
    ) -> None: ...


@dataclass(slots=True)
class _Delivery:
    record: CommandRecord
    payload: bytes
    signal: asyncio.Event = field(default_factory=asyncio.Event)  # an ack or a reconnect
    ack: CommandAck | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def acked(self) -> bool:
        # A method, not a property: the ack arrives from another task between checks,
        # and a method call keeps type checkers from narrowing it away.
        return self.ack is not None


class CommandManager:
    def __init__(
        self,
        twin: PropertyTwin,
        journal: CommandJournal,
        publisher: Publisher,
        clock: Clock,
        metrics: GatewayMetrics,
        timing: CommandTiming | None = None,
    ) -> None:
        self._twin = twin
        self._journal = journal
        self._publisher = publisher
        self._clock = clock
        self._metrics = metrics
        self._timing = timing or CommandTiming()
        self._pending: dict[str, _Delivery] = {}
        self._recent: OrderedDict[str, CommandRecord] = OrderedDict()

    # ---- the public side ----

    async def submit(self, room_id: str, device: str, params: dict[str, Any]) -> CommandRecord:
        """Validate, journal durably and start delivering; returns the pending record."""
        room = self._twin.room(room_id)
        if len(self._pending) >= self._timing.max_pending:
            raise Overloaded(
                f"{len(self._pending)} commands are already waiting for acknowledgement; "
                "retry once they are delivered"
            )
        settable = _settable(room_id, device)
        announced = room.announced_devices
        if announced and settable not in announced:
            raise UnknownDevice(room_id, device, [str(d) for d in announced])
        try:
            # JSON mode keeps strict types yet takes enum values as their strings.
            checked = set_model(settable).model_validate_json(json.dumps(params))
        except ValidationError as exc:
            raise InvalidCommand(_explain(settable, exc)) from None
        now = self._clock.now()
        record = CommandRecord(
            id=uuid.uuid4().hex,
            room_id=room_id,
            device=settable,
            params=checked.model_dump(mode="json", exclude_none=True),
            status=CommandStatus.PENDING,
            created_at=now,
            deadline=now + self._timing.timeout_s,
            updated_at=now,
        )
        await self._journal.save(record)
        self._start(record, checked)
        return record

    async def get(self, command_id: str) -> CommandRecord:
        delivery = self._pending.get(command_id)
        if delivery is not None:
            return delivery.record
        record = self._recent.get(command_id) or await self._journal.get(command_id)
        if record is None:
            raise UnknownCommand(command_id)
        return record

    async def wait(self, command_id: str) -> CommandRecord:
        """The command's final record, once it is acknowledged or has failed."""
        delivery = self._pending.get(command_id)
        if delivery is not None:
            await delivery.done.wait()
            return delivery.record
        return await self.get(command_id)

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    # ---- fed by the gateway ----

    def on_ack(self, room_id: str, device: Device, ack: CommandAck) -> None:
        delivery = self._pending.get(ack.command_id)
        if delivery is None or delivery.record.room_id != room_id:
            return  # an old echo in retained state, or a duplicate: nothing waits for it
        # The room controller answers for a device the room does not have.
        if device not in (delivery.record.device, Device.CONTROLLER):
            return
        if delivery.ack is None:
            delivery.ack = ack
            delivery.signal.set()

    def on_connected(self) -> None:
        """The link (re)connected: re-send everything still pending right away."""
        for delivery in self._pending.values():
            delivery.signal.set()

    async def resume(self) -> int:
        """Deliver the commands a previous run journaled but never saw acknowledged."""
        records = await self._journal.pending()
        for record in records:
            try:
                params = set_model(record.device).model_validate_json(json.dumps(record.params))
            except ValidationError as exc:
                # A schema tightened since it was journaled: end it, don't refuse to start.
                failed = record.model_copy(
                    update={
                        "status": CommandStatus.FAILED,
                        "reason": f"no longer valid: {_explain(record.device, exc)}",
                        "updated_at": self._clock.now(),
                    }
                )
                await self._journal.save(failed)
                continue
            self._start(record, params)
        return len(records)

    async def close(self) -> None:
        await cancel_and_wait(d.task for d in self._pending.values() if d.task is not None)

    # ---- delivery ----

    def _start(self, record: CommandRecord, params: SetParams) -> None:
        command = command_model(record.device)(
            command_id=record.id, ts=record.created_at, params=params
        )
        delivery = _Delivery(record, encode(command))
        self._pending[record.id] = delivery
        self._metrics.commands_pending.set(len(self._pending))
        delivery.task = asyncio.create_task(self._deliver(delivery), name=f"command-{record.id}")

    async def _deliver(self, delivery: _Delivery) -> None:
        record = delivery.record
        topic = str(RoomTopic(self._twin.property_id, record.room_id, record.device, Channel.SET))
        delay = self._timing.retry_initial_s
        attempts = record.attempts
        while not delivery.acked():
            remaining = record.deadline - self._clock.now()
            if remaining <= 0:
                reason = (
                    f"no acknowledgement from {record.room_id}/{record.device} within "
                    f"{self._timing.timeout_s:g} s after {attempts} send(s)"
                )
                await self._finish(delivery, CommandStatus.FAILED, attempts, reason)
                return
            # Cleared before publishing: a reconnect during the publish must wake us.
            delivery.signal.clear()
            if self._publisher.connected:
                try:
                    await self._publisher.publish(
                        topic, delivery.payload, qos=1, timeout_s=min(delay, remaining)
                    )
                    attempts += 1
                    self._metrics.command_sends.inc()
                except NotConnected:
                    pass  # the reconnect will signal us
            if delivery.acked():
                break
            await wait_event(delivery.signal, self._clock, min(delay, remaining))
            delay = min(delay * 2, self._timing.retry_max_s)
        ack = delivery.ack
        assert ack is not None  # the loop above leaves only with an ack
        if ack.applied:
            await self._finish(delivery, CommandStatus.ACKED, attempts, None)
        else:
            await self._finish(delivery, CommandStatus.FAILED, attempts, f"{REFUSED}{ack.reason}")

    async def _finish(
        self, delivery: _Delivery, status: CommandStatus, attempts: int, reason: str | None
    ) -> None:
        record = delivery.record.model_copy(
            update={
                "status": status,
                "attempts": attempts,
                "reason": reason,
                "updated_at": self._clock.now(),
            }
        )
        # Durable first: whoever learns the outcome can rely on it surviving a crash.
        try:
            await self._journal.save(record)
        except StoreError as exc:
            # The outcome stands; only its record is lost. The journal still says
            # pending, so the next start re-sends it and the device, which applies an
            # id once, acknowledges it again: nothing is applied twice or lost.
            log.error("command %s: outcome %s not journaled: %s", record.id, status, exc)
            record = record.model_copy(update={"reason": f"{reason or status}; not journaled"})
        delivery.record = record
        del self._pending[record.id]
        self._recent[record.id] = record
        if len(self._recent) > RECENT_RECORDS:
            self._recent.popitem(last=False)
        self._metrics.commands.labels(outcome=status.value).inc()
        self._metrics.commands_pending.set(len(self._pending))
        if status is CommandStatus.FAILED:
            log.warning(
                "command %s to %s/%s failed: %s", record.id, record.room_id, record.device, reason
            )
        delivery.done.set()


def _settable(room_id: str, device: str) -> Device:
    try:
        parsed = Device(device)
        set_model(parsed)
    except (ValueError, KeyError):
        raise UnknownDevice(room_id, device, [str(d) for d in settable_devices()]) from None
    return parsed


def _explain(device: Device, exc: ValidationError) -> str:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'params'}: {err['msg']}"
        for err in exc.errors(include_url=False)
    )
    return f"invalid {device} command: {problems}"
