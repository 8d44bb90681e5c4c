"""Bring your own data: logistic regression on your arrays, split among ZO and FO nodes.

The same from the command line: save the arrays (``numpy.savez("mine.npz", X=X, y=y)``) and
run ``hdo-theory run --data mine.npz --data-kind logistic --T 2000``.
"""

import numpy as np

from hdo_theory.estimators import EstimatorSpec
from hdo_theory.objectives import from_arrays
from hdo_theory.process import PopulationConfig, ProcessConfig, simulate

rng = np.random.default_rng(0)
X = np.c_[rng.standard_normal((200, 4)), np.ones(200)]  # 4 features and an intercept
y = (X[:, 0] - X[:, 1] + 0.3 * rng.standard_normal(200) > 0).astype(int)  # labels 0/1

# i.i.d. shards, and a non-i.i.d. split: the 2 ZO nodes see one class each
obj = from_arrays("logistic", X, y, n0=2, n1=2)
by_class = [np.flatnonzero(y == 0), np.flatnonzero(y == 1)]
skewed = from_arrays("logistic", X, y, n0=2, n1=2,
                     partition=by_class + [np.arange(0, 200, 2), np.arange(1, 200, 2)])
print(obj.describe(), "L =", round(obj.constants.L, 3), "ell =", round(obj.constants.ell, 4))

cfg = ProcessConfig(T=2000, zo=PopulationConfig(EstimatorSpec("zo-forward", nu=1e-3), lr=0.05),
                    fo=PopulationConfig(EstimatorSpec("fo"), lr=0.05))
for name, o in (("i.i.d.", obj), ("one class per ZO node", skewed)):
    res = simulate(o, cfg, replicas=4, seed=1)
    print(f"{name}: final gap f - f* = {np.mean(res.final('gap')):.4g}")
