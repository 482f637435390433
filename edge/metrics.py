"""The gateway's Prometheus metrics, in a registry of its own (no process-global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["GatewayMetrics"]


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.messages = Counter(
            "staysync_mqtt_messages",
            "MQTT messages accepted into the twin, by channel",
            ["channel"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "staysync_mqtt_rejected",
            "MQTT messages dropped, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.commands = Counter(
            "staysync_commands",
            "Commands by final outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.command_sends = Counter(
            "staysync_command_sends",
            "Command publications, first sends and retries",
            registry=self.registry,
        )
        self.reconnects = Counter(
            "staysync_mqtt_connects",
            "Successful broker connections (more than one means reconnects)",
            registry=self.registry,
        )
        self.connected = Gauge(
            "staysync_mqtt_connected", "1 while the broker link is up", registry=self.registry
        )
        self.rooms_online = Gauge(
            "staysync_rooms_online", "Rooms whose controller is online", registry=self.registry
        )
        self.commands_pending = Gauge(
            "staysync_commands_pending", "Commands awaiting acknowledgement", registry=self.registry
        )

    def rejected_count(self, reason: str) -> float:
        value = self.registry.get_sample_value("staysync_mqtt_rejected_total", {"reason": reason})
        return value or 0.0
