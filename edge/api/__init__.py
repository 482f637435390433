"""The gateway's HTTP API: operators and (later) handsets, the guest page and the PMS."""

from .app import create_app

__all__ = ["create_app"]
