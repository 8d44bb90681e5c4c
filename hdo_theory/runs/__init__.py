"""Runs of the process at scale: the option schema shared by ``run`` and sweeps, and sweeps."""
