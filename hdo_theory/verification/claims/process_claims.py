"""Claims on the gossip process (docs/theory.md section 4): Lemmas 2, 3/16, 11/17, 14, 19, and the
exact contraction facts run through the real process kernel.

Each lemma is an inequality between expectations that is *linear* in them, so per replica the
difference ``LHS - RHS`` (same replica, same recorded step) is an unbiased estimate of
``E LHS - E RHS``; the decision is on the replica mean of that difference (the record's
``margin``), averaged over the recorded steps (the average of valid per-step inequalities is
valid). ``E[Gamma_{t+1} | X_t]`` comes from the process's ``lemma2_cond`` probe (the pair choice
averaged in closed form, estimator noise sampled), ``M^G_t`` from its ``mg`` probe.
"""

from __future__ import annotations

import math

import numpy as np

from hdo_theory.estimators import EstimatorSpec
from hdo_theory.process import PopulationConfig, ProcessConfig
from hdo_theory.verification import bounds as B
from hdo_theory.verification import stats as S
from hdo_theory.verification.claims import _common as C
from hdo_theory.verification.claims.registry import Claim, Record, register


def pop(kind, eta, batch=1, rv=1, nu="theorem"):
    spec = EstimatorSpec(kind, rv=rv, nu=nu if kind != "fo" else 1e-3, batch=batch)
    return PopulationConfig(spec, lr=eta)


#: the objectives of the process lemmas: convex -> (name, kwargs)
_SETTINGS = {True: ("quadratic", dict(d=8, n0=4, n1=4, condition=2.0, heterogeneity=0.5)),
             False: ("cosine-wells", dict(d=8, n0=4, n1=4, heterogeneity=0.5))}


def _setting(ctx, convex: bool):
    name, kw = _SETTINGS[convex]
    return C.objective(ctx, name, **kw)


def _sim_cfg(T, eta):
    return ProcessConfig(T=T, zo=pop("zo-forward", eta), fo=pop("fo", eta), record=T // 60,
                         record_lemma2=True, record_nodes=False)


def _sim_configs(convexities):
    def configs(ctx):
        T = ctx.pick(3000, 20000)
        return [C.planned(*_SETTINGS[cv], _sim_cfg(T, eta), label=f"eta={eta}")
                for cv in convexities for eta in ETAS]
    return configs


def _run_sim(ctx, convex, eta):
    key = ("lemma-sim", convex, eta, ctx.scale)
    if key in ctx.cache:
        return ctx.cache[key]
    obj = _setting(ctx, convex)
    T = ctx.pick(3000, 20000)
    R = ctx.pick(40, 400)
    cfg = _sim_cfg(T, eta)
    seed = ctx.seed_for("lemma-sim", int(convex), int(eta * 1e6))
    res = C.simulate(ctx, obj, cfg, replicas=R, seed=seed)
    p = C.bound_params(obj, eta, T=T)
    ctx.cache[key] = (obj, res, p, seed, cfg)
    return ctx.cache[key]


ETAS = (0.004, 0.016, 0.08)


def _lemma_records(ctx, claim_id, ref, convex, rhs_fn, lhs_name, statement, label):
    recs = []
    for eta in ETAS:
        obj, res, p, seed, cfg = _run_sim(ctx, convex, eta)
        ok = res.diverged_at < 0
        M = {k: res[k][ok] for k in ("gamma", "mg", "lemma2_cond", "gap", "grad_norm_sq")}
        # records k = 0 .. n_rec-2 (the last record's lemma2_cond refers to beyond T)
        sl = slice(0, res.t.shape[0] - 1)
        lhs = M[lhs_name][:, sl]
        rhs = rhs_fn(p, M, sl)
        diff = np.nanmean(lhs - rhs, axis=1)
        ball_out, ball = C.ball_check(obj, res)
        outside = B.violated_conditions(p, statement) + ball_out
        conf = {"objective": obj.name, "d": obj.d, "n0": obj.n0, "n1": obj.n1, "eta": eta,
                "nu": eta / math.sqrt(obj.d), "T": cfg.T, "replicas": int(ok.sum()),
                "record_every": int(res.t[1] - res.t[0]), "L": p.L, "ell": p.ell,
                "varsigma0_sq": p.varsigma0_sq, "varsigma1_sq": p.varsigma1_sq,
                "sum_s_sq0": p.sum_s_sq0, "sum_s_sq1": p.sum_s_sq1,
                "constants_source": p.extra.get("constants_source"),
                "diverged": int((~ok).sum()), **ball}
        recs.append(Record(
            claim_id, ref, f"{label}, averaged over recorded steps",
            S.mean_estimate(np.nanmean(lhs, axis=1)), float(np.nanmean(rhs)),
            f"{ref} right-hand side (replica mean)", config=conf, seed=seed,
            outside=outside, margin=S.mean_estimate(diff)))
        if convex and claim_id == "lemma2":
            _gamma_figure(ctx, "gamma_convex", res, p, M, sl, eta)
        if not convex and claim_id == "lemma17":
            _gamma_figure(ctx, "gamma_nonconvex", res, p, M, sl, eta)
    return recs


def _gamma_figure(ctx, key, res, p, M, sl, eta):
    if eta != ETAS[1]:
        return
    t = res.t[sl]
    env = {"Lemma 2 RHS": np.mean(_rhs2(p, M, sl), axis=0)}
    if p.ell > 0:
        env["Lemma 11 RHS"] = np.mean(_rhs11(p, M, sl), axis=0)
    else:
        env["Lemma 17 RHS"] = np.mean(_rhs17(p, M, sl), axis=0)
    ctx.figures[key] = {"t": t.tolist(), "gamma": np.mean(M["lemma2_cond"][:, sl], 0).tolist(),
                        "envelopes": {k: v.tolist() for k, v in env.items()},
                        "title": f"E[Gamma_(t+1)|X_t] vs one-step bounds, eta={eta}"}


def _rhs2(p, M, sl):
    return B.lemma2_gamma_next(p, M["gamma"][:, sl], M["mg"][:, sl])


def _rhs11(p, M, sl):
    return B.lemma11_gamma_next(p, M["gamma"][:, sl], M["gap"][:, sl])


def _rhs17(p, M, sl):
    return B.lemma17_gamma_next(p, M["gamma"][:, sl], M["grad_norm_sq"][:, sl])


def _rhs3(p, M, sl):
    return B.lemma3_mg(p, M["gamma"][:, sl], M["gap"][:, sl])


def _rhs16(p, M, sl):
    return B.lemma16_mg(p, M["gamma"][:, sl], M["grad_norm_sq"][:, sl])


_GRID = {"quick": "eta in {0.004, 0.016, 0.08} (0.08 breaks the Lemma 11/17 cap), T = 3000 "
                  "interactions, 40 replicas, every 50th step recorded",
         "full": "eta in {0.004, 0.016, 0.08}, T = 20000, 400 replicas"}
_CVX = ("quadratic d = 8, n0 = n1 = 4, condition 2, heterogeneity 0.5; zo-forward b = 1, "
        "nu = eta/sqrt(d)")
_NCVX = "cosine-wells d = 8, n0 = n1 = 4, heterogeneity 0.5; zo-forward b = 1, nu = eta/sqrt(d)"


def _both(ctx, cid, ref, rhs, lhs, stmt, label):
    return (_lemma_records(ctx, cid, ref, True, rhs, lhs, stmt, label)
            + _lemma_records(ctx, cid, ref, False, rhs, lhs, stmt, label))


register(Claim("lemma2", "Lemma 2", "E Gamma_{t+1} (process probe) minus the Lemma 2 RHS, "
               "per replica, averaged over recorded steps", f"{_CVX}; {_NCVX}", _GRID,
               "(1 - 1/(2n)) E Gamma_t + (4/n) eta^2 E M^G_t",
               lambda ctx: _both(ctx, "lemma2", "Lemma 2", _rhs2, "lemma2_cond", "lemma2",
                                 "E Gamma_{t+1}"), configs=_sim_configs((True, False))))
register(Claim("lemma3", "Lemma 3", "E M^G_t minus the Lemma 3 RHS", _CVX, _GRID,
               "Lemma 3 as printed (f-gap term)",
               lambda ctx: _lemma_records(ctx, "lemma3", "Lemma 3", True, _rhs3, "mg", "lemma3",
                                          "E M^G_t"), configs=_sim_configs((True,))))
register(Claim("lemma16", "Lemma 16", "E M^G_t minus the Lemma 16 RHS", f"{_NCVX}; {_CVX}",
               _GRID, "Lemma 16 as printed (gradient-norm term)",
               lambda ctx: _both(ctx, "lemma16", "Lemma 16", _rhs16, "mg", "lemma16",
                                 "E M^G_t"), configs=_sim_configs((False, True))))
register(Claim("lemma11", "Lemma 11", "E Gamma_{t+1} minus the Lemma 11 RHS", _CVX, _GRID,
               "Lemma 11 as printed; eta <= 1/(14 L sqrt(d+4))",
               lambda ctx: _lemma_records(ctx, "lemma11", "Lemma 11", True, _rhs11,
                                          "lemma2_cond", "lemma11", "E Gamma_{t+1}"),
               configs=_sim_configs((True,))))
register(Claim("lemma17", "Lemma 17", "E Gamma_{t+1} minus the Lemma 17 RHS", f"{_NCVX}; {_CVX}",
               _GRID, "Lemma 17 as printed; eta <= 1/(10 L sqrt(d+4))",
               lambda ctx: _both(ctx, "lemma17", "Lemma 17", _rhs17, "lemma2_cond", "lemma17",
                                 "E Gamma_{t+1}"), configs=_sim_configs((False, True))))


# ---------------------------------------------------------------------------------------------
# One step from a spread-out state: Lemma 14, Lemma 19, exact facts through the kernel
# ---------------------------------------------------------------------------------------------


def _one_step_cfg(ctx, convex, eta, model="pairwise", steps=1):
    obj = _setting(ctx, convex)
    rng = ctx.rng("spread", int(convex))
    X0 = obj.random_point(ctx.seed_for("spread-c", int(convex))) + 0.5 * rng.standard_normal(
        (obj.n, obj.d))
    nu = "theorem" if eta > 0 else 1e-3  # eta = 0: pure averaging, nu is irrelevant
    cfg = ProcessConfig(T=steps, model=model, zo=pop("zo-forward", eta, nu=nu),
                        fo=pop("fo", eta), record=1, record_nodes=False, record_lemma2=True,
                        x0=X0, record_y=False)
    return obj, X0, cfg


def _one_step(ctx, convex, eta, model="pairwise", steps=1, R=None):
    obj, X0, cfg = _one_step_cfg(ctx, convex, eta, model, steps)
    R = R or ctx.pick(1000, 20000)
    seed = ctx.seed_for("one-step", int(convex), int(eta * 1e6), model, steps)
    res = C.simulate(ctx, obj, cfg, replicas=R, seed=seed, keep_state=True)
    return obj, X0, res, seed


def _one_step_configs(grid):
    def configs(ctx):
        return [C.planned(*_SETTINGS[cv], _one_step_cfg(ctx, cv, eta, model, steps)[2],
                          label=f"eta={eta}, {model}, steps={steps}")
                for cv, eta, model, steps in grid]
    return configs


_LEMMA14_19_GRID = [(cv, eta, "pairwise", 1) for cv in (True, False) for eta in (0.01, 0.1)]
_EXACT_KERNEL_GRID = [(True, 0.0, model, steps) for model in ("pairwise", "matching")
                      for steps in (1, 3)]


def _run_lemma14_19(ctx, which):
    recs = []
    for convex in (True, False):
        for eta in (0.01, 0.1):
            obj, X0, res, seed = _one_step(ctx, convex, eta)
            d = obj.d
            mu0 = X0.mean(axis=0)
            mu1 = res.state["X"].mean(axis=1)
            step = mu1 - mu0
            p = C.bound_params(obj, eta)
            ball_out, ball = C.ball_check(obj, res)
            conf = {"objective": obj.name, "d": d, "n0": obj.n0, "n1": obj.n1, "eta": eta,
                    "nu": eta / math.sqrt(d), "replicas": res.R, "steps": 1, **ball}
            if which == "lemma14":
                lhs = np.sum(step**2, axis=1)
                rhs = B.lemma14_mean_step(p, res["mg"][:, 0])
                recs.append(Record("lemma14", "Lemma 14", "E||mu_1 - mu_0||^2",
                                   S.mean_estimate(lhs), float(np.mean(rhs)),
                                   "4 eta^2 E M^G_0 / n^2", config=conf, seed=seed,
                                   outside=ball_out, margin=S.mean_estimate(lhs - rhs)))
            else:
                g = obj.grad(mu0)
                inner = step @ g
                nu = eta / math.sqrt(d)
                Best, _ = _avg_bias_at(ctx, obj, X0, nu)
                gamma0 = float(np.mean(np.sum((X0 - mu0) ** 2, axis=1)))
                rhs = B.lemma19_inner(p, float(g @ g), Best.value, gamma0)
                recs.append(Record("lemma19", "Lemma 19", "E<grad f(mu_0), mu_1 - mu_0>",
                                   S.mean_estimate(inner), rhs,
                                   "-(eta/n)||grad f||^2 + (2eta/n)B^2 + (2L^2 eta/n)Gamma",
                                   config=dict(conf, B=Best.value, gamma0=gamma0), seed=seed,
                                   outside=ball_out))
    return recs


def _avg_bias_at(ctx, obj, X, nu):
    from hdo_theory.verification.claims.estimator_claims import _avg_bias

    return _avg_bias(ctx, obj, X, nu, ctx.pick(1000, 10000), ("l19", obj.name, nu))


_ONE = {"quick": "eta in {0.01, 0.1}, one interaction from a fixed spread-out state, "
                 "1000 replicas", "full": "same, 20000 replicas"}
register(Claim("lemma14", "Lemma 14", "E||mu_{t+1} - mu_t||^2 after one interaction",
               f"{_CVX}; {_NCVX}", _ONE, "4 eta^2 E M^G_t / n^2",
               lambda ctx: _run_lemma14_19(ctx, "lemma14"),
               configs=_one_step_configs(_LEMMA14_19_GRID)))
register(Claim("lemma19", "Lemma 19", "E<grad f(mu_t), mu_{t+1} - mu_t> after one interaction "
               "(B measured antithetically at the state)", f"{_CVX}; {_NCVX}", _ONE,
               "-(eta/n) E||grad f(mu_t)||^2 + (2 eta/n) B^2 + (2 L^2 eta/n) E Gamma_t",
               lambda ctx: _run_lemma14_19(ctx, "lemma19"),
               configs=_one_step_configs(_LEMMA14_19_GRID)))


def _run_exact_kernel(ctx):
    recs = []
    for model, n_fac in (("pairwise", B.exact_pairwise_contraction),
                         ("matching", B.exact_matching_contraction)):
        for steps in (1, 3):
            obj, X0, res, seed = _one_step(ctx, True, 0.0, model=model, steps=steps)
            g0 = float(res["gamma"][0, 0])
            est = S.mean_estimate(res["gamma"][:, -1] / g0)
            recs.append(Record("exact.kernel", f"docs/theory.md#exact-facts ({model}), "
                               "through the process kernel", f"E Gamma_{steps} / Gamma_0", est,
                               n_fac(obj.n) ** steps, f"exact contraction^{steps}", relation="eq",
                               config={"model": model, "n": obj.n, "d": obj.d, "steps": steps,
                                       "replicas": res.R, "eta": 0.0}, seed=seed))
    return recs


register(Claim("exact.kernel", "docs/theory.md#exact-facts (process kernel)",
               "E Gamma_t / Gamma_0 with eta = 0 run through hdo_theory.process (metamorphic: "
               "same identity as exact.pairwise / exact.matching, different code)",
               "quadratic d = 8, n = 8 (models only average)",
               {"quick": "pairwise and matching, t in {1, 3}, 1000 replicas",
                "full": "same, 20000 replicas"},
               "(1 - 1/(n-1))^t; (1 - n/(2(n-1)))^t", _run_exact_kernel,
               configs=_one_step_configs(_EXACT_KERNEL_GRID)))
