"""Shared fixtures: small seeded objectives of every kind, built once per test session."""

from __future__ import annotations

import functools

import pytest

from hdo_theory.objectives import make_objective

#: Small problems for exact checks: d = 5, 2 ZO + 3 FO nodes (real data sets fix d and N).
SMALL = dict(d=5, n0=2, n1=3, seed=11, heterogeneity=0.5)


@functools.cache
def _small_objective(name: str, **overrides):
    return make_objective(name, **{**SMALL, **overrides})


@pytest.fixture(scope="session")
def small_objective():
    """``small_objective(name, **overrides)``: a cached :func:`make_objective` with SMALL defaults.

    Cached objects are shared between tests (their ``constants`` are computed once); treat them
    as read-only.
    """
    return _small_objective
