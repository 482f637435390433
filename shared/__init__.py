"""Contracts that the edge, the cloud and the simulator all speak."""
