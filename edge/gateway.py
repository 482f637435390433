"""The gateway of one property: link, twin, commands and store, composed and run together.

Nothing starts in the constructor: `async with Gateway(...)` opens the store, restores
the twin, connects to the broker and resumes pending commands; leaving the block stops
them all and flushes the twin.
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import Any, Self

from shared.clock import Clock, WallClock
from shared.crypto import open_keyring
from shared.layout import PropertyLayout
from shared.messages import Inbound, Rejection, ThermostatTelemetry, WeatherTelemetry, decode
from shared.tasks import cancel_and_wait
from shared.topics import SITE_ID, Channel, Device, subscription

from .arrival.learning import RoomLearning
from .arrival.service import ArrivalConfig, ArrivalService
from .cloud_client import CloudClient
from .commands import CommandManager, CommandRecord, CommandTiming
from .dispatch.metrics import TaskCollector
from .dispatch.roster import handset_tokens
from .dispatch.service import TaskService
from .handsets import Handsets
from .link import LinkTiming, MqttLink
from .metrics import GatewayMetrics
from .persistence import GatewayStore
from .profile_sync import ProfileSync, SyncTiming
from .profiles import GuestProfiles, ProfileStore
from .settings import EdgeSettings
from .store import StoreError
from .twin import PropertyTwin

__all__ = ["Gateway"]

log = logging.getLogger(__name__)

# Longer than the link's operation timeout: a clean DISCONNECT gets its chance first.
LINK_STOP_TIMEOUT_S = 6.0

# Channels the gateway listens to, with the QoS it asks for; it never subscribes to
# `set`, which it publishes itself. State and status at QoS 1: the persistent session
# keeps them while the gateway is away. Telemetry at QoS 0: a stale reading is worth
# nothing, and QoS 0 saves an acknowledgement per message.
LISTENED = {Channel.STATE: 1, Channel.STATUS: 1, Channel.TELEMETRY: 0}


class Gateway:
    def __init__(
        self,
        settings: EdgeSettings,
        clock: Clock,
        *,
        layout: PropertyLayout | None = None,
        transport_clock: Clock | None = None,
    ) -> None:
        """`clock` is hotel time; `transport_clock` times the network (retries, reconnects).

        They differ under an accelerated hotel clock: a command's acknowledgement still
        takes real milliseconds however fast the simulated day runs.
        """
        self.settings = settings
        self.layout = layout or settings.layout()
        if self.layout.property_id != settings.property_id:
            raise ValueError(
                f"layout is for property {self.layout.property_id!r}, "
                f"settings for {settings.property_id!r}"
            )
        self.property_id = settings.property_id
        self.clock = clock
        transport = transport_clock or WallClock()
        self.metrics = GatewayMetrics()
        self.twin = PropertyTwin(self.layout, clock)
        self.store = GatewayStore(settings.data_dir / self.property_id)
        self.link = MqttLink(
            settings.broker,
            client_id=f"staysync-edge-{self.property_id}",
            subscriptions=[
                (subscription(self.property_id, channel=c), qos) for c, qos in LISTENED.items()
            ],
            on_message=self.handle_message,
            clock=transport,
            metrics=self.metrics,
            timing=LinkTiming(
                reconnect_initial_s=settings.reconnect_initial_s,
                reconnect_max_s=settings.reconnect_max_s,
                keepalive_s=settings.keepalive_s,
            ),
            on_connected=self._on_connected,
        )
        self.commands = CommandManager(
            self.twin,
            self.store,
            self.link,
            transport,
            self.metrics,
            CommandTiming(
                timeout_s=settings.command_timeout_s,
                retry_initial_s=settings.command_retry_initial_s,
                retry_max_s=settings.command_retry_max_s,
                max_pending=settings.max_pending_commands,
            ),
        )
        self.tasks = TaskService.from_settings(settings, self.layout, self.store, clock)
        # Handsets sign in with tokens of their own, hashed in the roster.
        self.handsets = Handsets(
            self.store,
            handset_tokens(settings.staff_file) if settings.staff_file is not None else {},
            clock,
        )
        self.metrics.registry.register(TaskCollector(self.tasks, clock))
        self.profile_store = ProfileStore(self.store)
        self._profiles: GuestProfiles | None = None  # needs the keyring, read at start
        self.profile_sync: ProfileSync | None = None
        self._cloud: CloudClient | None = None
        self.arrivals = ArrivalService(
            clock=clock,
            store=self.store,
            twin=self.twin,
            commands=self.commands,
            tasks=self.tasks,
            learning=RoomLearning(self.store),
            layout=self.layout,
            profiles=lambda: self.profiles,
            sync=lambda: self.profile_sync,
            config=ArrivalConfig.from_settings(settings),
        )
        self._transport = transport
        self._messages = {c: self.metrics.messages.labels(channel=c.value) for c in LISTENED}
        self._site_messages = self.metrics.messages.labels(channel="site")
        self._warned: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        # What has gone wrong and stays wrong until a restart; /health reports it.
        self.faults: list[str] = []

    # ---- lifecycle ----

    async def __aenter__(self) -> Self:
        await self.store.open()  # closes itself if it fails
        try:
            pruned = await self.store.prune_finished(
                self._transport.now() - self.settings.command_retention_s
            )
            if pruned:
                log.info("gateway %s: pruned %d finished commands", self.property_id, pruned)
            restored = self.twin.restore(await self.store.load_twin())
            log.info("gateway %s: restored %d device states", self.property_id, restored)
            revoked = await self.handsets.load()
            if revoked:
                log.info("gateway %s: %d handset tokens revoked", self.property_id, revoked)
            await self.tasks.start()
            await self._start_profiles()
            await self.arrivals.start()
            # Pending commands first: a retained ack that arrives as soon as the link
            # subscribes must find its delivery waiting.
            resumed = await self.commands.resume()
            if resumed:
                log.info("gateway %s: resumed %d pending commands", self.property_id, resumed)
            self._tasks = [
                asyncio.create_task(self.link.run(), name=f"link-{self.property_id}"),
                asyncio.create_task(self._flush_loop(), name=f"twin-flush-{self.property_id}"),
            ]
            if self.profile_sync is not None:
                self._tasks.append(
                    asyncio.create_task(self.profile_sync.run(), name=f"sync-{self.property_id}")
                )
            for task in self._tasks:
                task.add_done_callback(self._task_ended)
        except BaseException:
            await self._stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stop()

    async def _stop(self) -> None:
        self.link.stop()
        link, others = self._tasks[:1], self._tasks[1:]
        await cancel_and_wait(others)
        if link:
            # The link leaves by itself; cancelling is the fallback if the broker hangs.
            await asyncio.wait(link, timeout=LINK_STOP_TIMEOUT_S)
            await cancel_and_wait(link)
        self._tasks = []
        if self._cloud is not None:
            await self._cloud.aclose()
        await self.arrivals.close()
        await self.tasks.close()
        await self.commands.close()
        try:
            await self.store.save_twin(self.twin.dirty_documents())
        except StoreError as exc:
            # The twin is a cache the broker re-sends at the next start: losing the
            # last flush costs nothing, so a full disk must not block the shutdown.
            log.warning("gateway %s: final twin flush failed: %s", self.property_id, exc)
        await self.store.close()

    async def _start_profiles(self) -> None:
        # Reading (or, in development, creating) the key file is disk I/O: off the loop.
        keyring = await asyncio.to_thread(
            open_keyring, self.settings.keyring_path, self.settings.environment
        )
        await self.profile_store.open()
        # The HLC node id is opaque to the cloud: derived from the property under the
        # chain secret, like a pseudonym.
        node = keyring.pseudonym(f"gateway:{self.property_id}")[:16]
        self._profiles = GuestProfiles(
            self.property_id, keyring, self.profile_store, self.clock, node
        )
        if self.settings.cloud_url is not None and self.settings.cloud_token is not None:
            self._cloud = CloudClient(self.settings.cloud_url, self.settings.cloud_token)
            self.profile_sync = ProfileSync(
                self.profile_store,
                self._cloud,
                keyring,
                self._transport,
                SyncTiming(interval_s=self.settings.profile_sync_interval_s),
                hotel_clock=self.clock,
            )

    @property
    def profiles(self) -> GuestProfiles:
        if self._profiles is None:
            raise RuntimeError("guest profiles are available once the gateway has started")
        return self._profiles

    def _task_ended(self, task: asyncio.Task[None]) -> None:
        """A background task that ends on its own is a fault: say so, mark health degraded."""
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self.faults.append(f"{task.get_name()} stopped: {error!r}")
            log.error("gateway %s: %s stopped", self.property_id, task.get_name(), exc_info=error)

    async def _flush_loop(self) -> None:
        while True:
            await self._transport.sleep(self.settings.twin_flush_interval_s)
            docs = self.twin.dirty_documents()
            if not docs:
                continue
            try:
                await self.store.save_twin(docs)
            except StoreError as exc:
                # Only a cache: the broker re-sends retained state; keep the gateway up.
                self.twin.mark_dirty(docs)
                log.warning("gateway %s: twin flush failed: %s", self.property_id, exc)

    # ---- inbound ----

    def handle_message(self, topic: str, payload: bytes, retained: bool = False) -> None:
        """Validate one message and apply it to the twin; bad input is counted, never raised."""
        result = decode(topic, payload)
        if isinstance(result, Rejection):
            self._reject(result.reason.value, result.detail, topic)
            return
        self._apply(result, retained)

    def _apply(self, inbound: Inbound, retained: bool) -> None:
        topic = inbound.topic
        if topic.property_id != self.property_id:
            self._reject("foreign_property", f"property {topic.property_id}", str(topic))
            return
        if topic.room_id == SITE_ID:
            self._apply_site(inbound)
            return
        if not self.twin.has_room(topic.room_id):
            self._reject("unknown_room", f"room {topic.room_id} is not in the layout", str(topic))
            return
        counter = self._messages.get(topic.channel)
        if counter is None:
            self._reject(
                "unexpected_channel", f"the gateway does not take {topic.channel}", str(topic)
            )
            return
        ack = self.twin.apply(topic, inbound.message, retained=retained)
        counter.inc()
        if topic.channel is Channel.STATUS:
            self.metrics.rooms_online.set(self.twin.rooms_online)
        if ack is not None:
            self.commands.on_ack(topic.room_id, topic.device, ack)
        room = self.twin.room(topic.room_id)
        self.tasks.on_twin_change(room, topic.device)
        message = inbound.message
        if isinstance(message, ThermostatTelemetry):
            self.arrivals.on_telemetry(topic.room_id, message.ts, message.temperature_c)
        elif topic.channel is Channel.STATE:
            self.arrivals.on_twin_change(room, topic.device)

    def _apply_site(self, inbound: Inbound) -> None:
        """Property-wide sensors: today the weather station's outdoor temperature."""
        message = inbound.message
        if inbound.topic.device is Device.CONTROLLER:
            return  # the station's own session: online/offline says nothing about the weather
        if inbound.topic.device is Device.WEATHER and isinstance(message, WeatherTelemetry):
            self._site_messages.inc()
            self.arrivals.on_outdoor(self.clock.now(), message.outdoor_c)
            return
        self._reject(
            "unexpected_channel", "the site has only weather telemetry", str(inbound.topic)
        )

    def _reject(self, reason: str, detail: str, topic: str) -> None:
        self.metrics.rejected.labels(reason=reason).inc()
        # The first of each reason loudly; a flood of the same goes to DEBUG.
        level = logging.DEBUG if reason in self._warned else logging.WARNING
        self._warned.add(reason)
        log.log(level, "dropped message on %r: %s (%s)", topic[:200], reason, detail[:200])

    def _on_connected(self) -> None:
        self.commands.on_connected()

    # ---- conveniences for the API, the demo and tests ----

    async def send(self, room_id: str, device: str, params: dict[str, Any]) -> CommandRecord:
        return await self.commands.submit(room_id, device, params)

    async def wait_connected(self) -> None:
        await self.link.wait_connected()
