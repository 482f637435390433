"""The composition root: the `staysync` command and the demo wire the packages together.

`shared`, `edge`, `cloud` and `firmware_sim` stay independent of each other (edge and
cloud never import each other); only this package may import all of them.
"""
