"""The `staysync` command: the one place that composes the packages.

`edge` and `cloud` never import each other; this composition root may import all of
them, lazily, so that `staysync sim` does not load the gateway and vice versa.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    no_args_is_help=True, help="StaySync: hotel rooms ready when the guest opens the door."
)


def _register() -> None:
    # Imported here, not at the top, so each package's import cost is paid only by its command.
    from edge.cli import register as register_edge
    from firmware_sim.cli import register as register_sim
    from staysync.demo import register as register_demo

    register_demo(app)
    register_sim(app)
    register_edge(app)


_register()
