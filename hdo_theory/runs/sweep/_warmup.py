"""Imported by the sweep's forkserver (``set_forkserver_preload``): warms the Numba kernels
once so that forked workers start warm. See :func:`hdo_theory.runs.sweep.warm_up`."""

from hdo_theory.runs.sweep import warm_up

warm_up()
