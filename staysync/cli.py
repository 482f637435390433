"""The `staysync` command: the one place that composes the packages.

`edge` and `cloud` never import each other; this composition root may import all of
them. Each package contributes its commands through a `register(app)` function.
"""

from __future__ import annotations

import typer

from cloud.cli import register as register_cloud
from edge.cli import register as register_edge
from firmware_sim.cli import register as register_sim
from staysync.demo import register as register_demo
from staysync.keys import register as register_keys

app = typer.Typer(
    no_args_is_help=True, help="StaySync: hotel rooms ready when the guest opens the door."
)

register_demo(app)
register_sim(app)
register_edge(app)
register_keys(app)
register_cloud(app)
