"""Learning-rate schedules: the theorem's rates, cosine annealing, warm-up, bad parameters."""

import math

import numpy as np
import pytest

from hdo_theory.errors import HDOInputError
from hdo_theory.process.schedules import (
    cosine_factor,
    lr_factors,
    schedule_code,
    theorem_convex_lr,
    theorem_nonconvex_lr,
)


def test_theorem_rates():
    assert theorem_convex_lr(8, 1000, 0.5) == pytest.approx(4 * 8 * math.log(1000) / (1000 * 0.5))
    assert theorem_nonconvex_lr(8, 10, 1000) == pytest.approx(8 / math.sqrt(10 * 1000))


@pytest.mark.parametrize(
    "args, match",
    [((8, 1000, 0.0), "ell"), ((8, 1, 0.5), "T"), ((1, 1000, 0.5), "n"), ((8, 1000, None), "ell")],
)
def test_theorem_convex_rejects_what_it_cannot_use(args, match):
    with pytest.raises(HDOInputError, match=match):
        theorem_convex_lr(*args)


def test_theorem_nonconvex_rejects_bad_sizes():
    with pytest.raises(HDOInputError, match="d"):
        theorem_nonconvex_lr(4, 0, 100)


def test_cosine_and_warmup_factors():
    T = 100
    f = lr_factors("cosine", T)
    assert f[0] == 1.0 and np.all(np.diff(f) < 0) and f[-1] > 0
    assert np.allclose(f, [cosine_factor(t, T) for t in range(T)], rtol=0, atol=1e-15)
    w = lr_factors("constant", T, warmup=10)
    assert np.allclose(w[:10], np.arange(1, 11) / 10) and np.all(w[10:] == 1.0)
    # the theorem schedules are constant rates inside the kernel
    assert schedule_code("theorem-convex") == schedule_code("constant")


def test_unknown_schedule():
    with pytest.raises(HDOInputError, match="schedule"):
        lr_factors("step", 10)
    with pytest.raises(HDOInputError, match="warmup"):
        lr_factors("constant", 10, warmup=11)
