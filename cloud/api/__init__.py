"""The cloud's HTTP API: gateways sync, HQ erases, rotates and audits."""

from .app import create_app

__all__ = ["create_app"]
