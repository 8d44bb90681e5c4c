"""Verify your own lemma: the sharper bias bound of the forward difference, as a claim.

Run it through the verifier with ``hdo-theory verify --plugin examples/my_lemma.py --only
my.sharper-bias``, or as a script (``python examples/my_lemma.py``).
"""

import math

from hdo_theory.estimators import EstimatorSpec
from hdo_theory.estimators.monte_carlo import estimator_stats
from hdo_theory.objectives import make_objective
from hdo_theory.verification import Record, claim


def sharper_bias_bound(nu, L, d):
    """My Lemma 1: ``||grad f_nu(x) - grad f(x)|| <= nu L sqrt(d)`` (Gaussian smoothing of an
    L-smooth f; from ``grad f_nu(x) = E grad f(x + nu u)`` and ``E||u|| <= sqrt(d)``)."""
    return nu * L * math.sqrt(d)


@claim("my.sharper-bias", reference="My Lemma 1", bound="nu L sqrt(d)")
def sharper_bias(ctx):
    """bias ||E G - grad f^i|| of zo-forward on logistic regression, for two nu"""
    obj = make_objective("logistic", d=8, seed=ctx.seed)
    draws = ctx.pick(20_000, 200_000)
    records = []
    x = obj.random_point(ctx.seed)
    for nu in (0.05, 0.2):
        res = estimator_stats(obj, 0, x, EstimatorSpec("zo-forward", 1, nu), draws,
                              ctx.seed_for("my.sharper-bias", nu))
        bound = sharper_bias_bound(nu, obj.constants.L, obj.d)
        records.append(Record.from_stats(res, "bias", bound, "My Lemma 1: nu L sqrt(d)"))
    return records


if __name__ == "__main__":
    from hdo_theory.verification import run_verification

    result = run_verification(["my.sharper-bias"], log=lambda msg: None)
    for r in result.records:
        print(f"{r.quantity} at nu={r.config['nu']}: {r.estimate.value:.3g} <= {r.bound:.3g}: "
              f"{r.decision.verdict}")
