"""Shared fixtures: small seeded objectives of every kind, built once per test session."""

from __future__ import annotations

import functools

import pytest

from hdo_theory.objectives import REAL_DATA_SHAPES, make_objective

#: Small problems for exact checks: d = 5, 2 ZO + 3 FO nodes (real data sets fix d and N).
SMALL = dict(d=5, n0=2, n1=3, seed=11, heterogeneity=0.5)


@functools.cache
def _small_objective(name: str, **overrides):
    base = {k: v for k, v in SMALL.items() if not (k == "d" and name in REAL_DATA_SHAPES)}
    return make_objective(name, **{**base, **overrides})


@pytest.fixture(scope="session")
def small_objective():
    """``small_objective(name, **overrides)``: a cached :func:`make_objective` with SMALL defaults.

    Cached objects are shared between tests (their ``constants`` are computed once); treat them
    as read-only.
    """
    return _small_objective
