"""The per-property gateway: MQTT link, room twin, commands, store and APIs."""
