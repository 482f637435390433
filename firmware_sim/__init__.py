"""A simulated property: room controllers and their devices on MQTT."""
