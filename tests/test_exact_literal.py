"""The exact engine's closed form against a literal implementation written here independently.

The literal version keeps the full ``(n+1) d x (n+1) d`` second moment in the original basis
(no diagonalisation, non-diagonal ``A``), loops over every pair (every edge, every permutation
of the matching draw), applies the step and averaging matrices of that draw and averages with
the draw's probability. It shares nothing with :mod:`hdo_theory.exact.fast` but the estimator
moment constants (tested on their own in test_exact_moments.py). Agreement is to rounding.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from hdo_theory.estimators import EstimatorSpec
from hdo_theory.exact import expected_dynamics
from hdo_theory.objectives.explicit import explicit_quadratic
from hdo_theory.process import PopulationConfig, ProcessConfig
from hdo_theory.process.schedules import schedule_code, schedule_factor
from hdo_theory.process.topology import make_edges


def _problem(n, d, seed=0):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    A = (Q * np.geomspace(1.0, 0.2, d)) @ Q.T
    A = 0.5 * (A + A.T)
    B = rng.standard_normal((n, d))
    X0 = rng.standard_normal((n, d))
    return A, B, X0


def _est_consts(kind, rv, nu, A):
    """(c1, c2, K) with Cov(G | x) = (c1 - 1) g g^T + c1 s2 I + c2 (|g|^2 + d s2) I + K."""
    d = A.shape[0]
    if kind in ("fo", "coord-fd"):
        return 1.0, 0.0, np.zeros((d, d))
    tr, A2 = np.trace(A), A @ A
    six = (tr * tr + 2 * np.trace(A2)) * np.eye(d) + 4 * tr * A + 8 * A2
    if kind == "zo-sphere":
        c1 = 1 - 1 / rv + 2 * d / ((d + 2) * rv)
        c2 = d / ((d + 2) * rv)
        K = 0.25 * nu**2 * d / ((d + 2) * (d + 4)) / rv * six
    else:
        c1, c2 = 1 + 1 / rv, 1 / rv
        K = 0.25 * nu**2 / rv * six if kind == "zo-forward" else np.zeros((d, d))
    return c1, c2, K


class Literal:
    def __init__(self, A, B, n0, noise, cfg, ycoef):
        self.A, self.B, self.n0, self.s2 = A, B, n0, noise**2
        self.n, self.d = B.shape
        self.cfg, self.ycoef = cfg, ycoef
        self.pops = []
        for pc in (cfg.zo, cfg.fo):
            e = pc.estimator
            self.pops.append((pc.lr, _est_consts(e.kind, e.rv, float(e.nu), A)))
        n = self.n
        if cfg.model == "pairwise":
            self.draws = [((i, j), 1 / math.comb(n, 2)) for i, j in itertools.combinations(range(n), 2)]
        elif cfg.model == "graph":
            E = make_edges(cfg.topology, n)
            self.draws = [((int(i), int(j)), 1 / len(E)) for i, j in E]
        else:
            perms = list(itertools.permutations(range(n)))
            self.draws = [(p, 1 / len(perms)) for p in perms]

    def blk(self, a):
        return slice(a * self.d, (a + 1) * self.d)

    def start(self, X0):
        m = np.concatenate([X0.ravel(), np.zeros(self.d)])
        return m, np.outer(m, m), 0.0

    def noise_block(self, a, m, S, eta):
        lr, (c1, c2, K) = self.pops[0 if a < self.n0 else 1]
        A, b, d = self.A, self.B[a], self.d
        ma, Saa = m[self.blk(a)], S[self.blk(a), self.blk(a)]
        Egg = A @ Saa @ A - np.outer(A @ ma, b) - np.outer(b, A @ ma) + np.outer(b, b)
        cov = (c1 - 1) * Egg + c1 * self.s2 * np.eye(d) + c2 * (np.trace(Egg) + d * self.s2) * np.eye(d) + K
        return eta**2 * cov

    def step(self, m, S, W, t):
        cfg, n, d = self.cfg, self.n, self.d
        N = (n + 1) * d
        fac = schedule_factor(schedule_code(cfg.schedule), t, cfg.T, cfg.warmup)
        if self.ycoef is not None:
            a = fac * self.ycoef
            if cfg.model == "matching":
                a = 1 - (1 - a) ** (n // 2)
            Fm = np.eye(N)
            Fm[self.blk(n), self.blk(n)] = (1 - a) * np.eye(d)
            for i in range(n):
                Fm[self.blk(n), self.blk(i)] = np.eye(d) / n
            m, S, W = Fm @ m, Fm @ S @ Fm.T, (1 - a) * W + 1
        comm = t >= cfg.local_steps_warmup
        m2, S2 = np.zeros_like(m), np.zeros_like(S)
        for draw, p in self.draws:
            if cfg.model == "matching":
                pairs = [(draw[2 * k], draw[2 * k + 1]) for k in range(n // 2)]
                movers = list(range(n))
            else:
                pairs, movers = [draw], list(draw)
            L, c, Nz = np.eye(N), np.zeros(N), np.zeros((N, N))
            for a in movers:
                lr = self.pops[0 if a < self.n0 else 1][0]
                eta = lr * fac
                L[self.blk(a), self.blk(a)] -= eta * self.A
                c[self.blk(a)] = eta * self.B[a]
                Nz[self.blk(a), self.blk(a)] = self.noise_block(a, m, S, eta)
            EY = L @ m + c
            EYY = L @ S @ L.T + np.outer(L @ m, c) + np.outer(c, L @ m) + np.outer(c, c) + Nz
            Wn = np.eye(n + 1)
            if comm:
                for i, j in pairs:
                    Wn[[i, i, j, j], [i, j, i, j]] = 0.5
            Wm = np.kron(Wn, np.eye(d))
            m2 += p * (Wm @ EY)
            S2 += p * (Wm @ EYY @ Wm.T)
        return m2, S2, W

    def metrics(self, m, S, W, t):
        n, d, A = self.n, self.d, self.A
        bbar = self.B.mean(axis=0)
        xs = np.linalg.solve(A, bbar)
        fstar = -0.5 * bbar @ xs
        Jn = np.kron(np.ones((1, n)) / n, np.eye(d))  # mu = Jn X
        mx, Sx = m[: n * d], S[: n * d, : n * d]
        Emu, Emumu = Jn @ mx, Jn @ Sx @ Jn.T
        out = {
            "gap": 0.5 * np.trace(A @ Emumu) - bbar @ Emu - fstar,
            "dist_sq": np.trace(Emumu) - 2 * xs @ Emu + xs @ xs,
            "grad_norm_sq": np.trace(A @ A @ Emumu) - 2 * bbar @ A @ Emu + bbar @ bbar,
            "gamma": np.trace(Sx) / n - np.trace(Emumu),
        }
        fs = [0.5 * np.trace(A @ S[self.blk(a), self.blk(a)]) - bbar @ m[self.blk(a)] for a in range(n)]
        out["node_loss"] = fs[self.cfg.fixed_node]
        out["zo_loss"] = np.mean(fs[: self.n0])
        out["fo_loss"] = np.mean(fs[self.n0:])
        mg = 0.0
        for a in range(n):
            ma, Saa = m[self.blk(a)], S[self.blk(a), self.blk(a)]
            b = self.B[a]
            Egg = A @ Saa @ A - np.outer(A @ ma, b) - np.outer(b, A @ ma) + np.outer(b, b)
            mg += np.trace(Egg) + np.trace(self.noise_block(a, m, S, 1.0))
        out["mg"] = mg / n
        if self.ycoef is not None:
            if t == 0:
                out["y_gap"] = out["gap"]
            else:
                Ey, Eyy = m[self.blk(n)] / W, S[self.blk(n), self.blk(n)] / W**2
                out["y_gap"] = 0.5 * np.trace(A @ Eyy) - bbar @ Ey - fstar
        if t >= self.cfg.local_steps_warmup:
            _, S2, _ = self.step(m, S, W, t)
            Sx2 = S2[: n * d, : n * d]
            out["lemma2_cond"] = np.trace(Sx2) / n - np.trace(Jn @ Sx2 @ Jn.T)
        else:
            out["lemma2_cond"] = np.nan
        return out

    def run(self, X0, at):
        m, S, W = self.start(X0)
        rows, t = [], 0
        for target in at:
            while t < target:
                m, S, W = self.step(m, S, W, t)
                t += 1
            rows.append(self.metrics(m, S, W, t))
        return {k: np.array([r[k] for r in rows]) for k in rows[0]}


def _pop(kind, lr, rv=1, nu=0.4):
    return PopulationConfig(EstimatorSpec(kind, rv=rv, nu=nu, batch=1), lr=lr)


CASES = [
    # (n, model, zo kind, fo kind, schedule, warmup, local, topology)
    (4, "pairwise", "zo-forward", "fo", "constant", 0, 0, "complete"),
    (5, "pairwise", "zo-sphere", "coord-fd", "cosine", 3, 2, "complete"),
    (4, "matching", "zo-central", "fo", "constant", 0, 2, "complete"),
    (5, "matching", "zo-forward", "fo", "cosine", 2, 0, "complete"),
    (5, "graph", "zo-directional", "fo", "constant", 2, 1, "ring"),
    (4, "graph", "zo-sphere", "fo", "constant", 0, 0, "star"),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[1]}-n{c[0]}-{c[2]}" for c in CASES])
def test_closed_form_equals_literal_sum_over_draws(case):
    n, model, zo, fo, sched, warm, local, topo = case
    d = 3
    A, B, X0 = _problem(n, d, seed=n)
    noise, n0, T = 0.7, 2, 7
    cfg = ProcessConfig(model=model, topology=topo, T=T, schedule=sched, warmup=warm,
                        local_steps_warmup=local, x0=X0, fixed_node=n - 1,
                        zo=_pop(zo, 0.15, rv=2, nu=0.6), fo=_pop(fo, 0.2))
    obj = explicit_quadratic(A, B, n0, noise)
    at = [0, 1, 2, 4, T]
    r = expected_dynamics(obj, cfg, at=at)
    ell = float(np.linalg.eigvalsh(A).min())
    ycoef = (n0 * 0.15 + (n - n0) * 0.2) / n * ell / (2 * n)
    lit = Literal(A, B, n0, noise, cfg, ycoef).run(X0, at)
    for k, v in lit.items():
        np.testing.assert_allclose(r[k], v, rtol=1e-10, atol=1e-12, err_msg=k)


def test_jump_by_repeated_squaring_equals_stepping():
    from hdo_theory.exact import engine

    n, d = 5, 3
    A, B, X0 = _problem(n, d, seed=3)
    obj = explicit_quadratic(A, B, 2, 0.3)
    for model in ("pairwise", "matching"):
        cfg = ProcessConfig(model=model, T=400, x0=X0, local_steps_warmup=3, warmup=5,
                            zo=_pop("zo-forward", 0.1, rv=3, nu=0.5), fo=_pop("fo", 0.1))
        at = [0, 3, 50, 51, 400]
        r = expected_dynamics(obj, cfg, at=at)
        from hdo_theory.exact import build_fast_model
        from hdo_theory.process import _resolve, problem_facts

        _, _, _, fpar, edges, info = _resolve(obj, cfg, problem_facts(obj))
        fm = build_fast_model(A, B, 2, 0.3, cfg, [info["lr_zo"], info["lr_fo"]],
                              [info["nu_zo"], info["nu_fo"]], float(fpar[1]), edges)
        slow = engine.run(fm, X0, np.array(at), 0, jump=False)
        fast = engine.run(fm, X0, np.array(at), 0, jump=True)
        for k in r.metrics:
            np.testing.assert_allclose(fast[k], slow[k], rtol=1e-9, atol=1e-13, err_msg=k)
            np.testing.assert_allclose(r[k], slow[k], rtol=1e-9, atol=1e-13, err_msg=k)


def test_numba_pairwise_kernel_equals_numpy_closed_form():
    """The pairwise step has a Numba kernel (unbatched states) and the NumPy form (batched
    states, the jump); both routes must agree to rounding, communicating or not."""
    from hdo_theory.exact import build_fast_model
    from hdo_theory.exact import fast as F

    n, d = 6, 4
    A, B, X0 = _problem(n, d, seed=9)
    cfg = ProcessConfig(model="pairwise", T=50, local_steps_warmup=2,
                        zo=_pop("zo-sphere", 0.1, rv=2, nu=0.5), fo=_pop("fo", 0.2))
    fm = build_fast_model(A, B, 3, 0.4, cfg, [0.1, 0.2], [0.5, 0.5], 0.01, np.zeros((0, 2)))
    m, S = F.initial_state(fm, X0)
    for t in range(4):
        fm.use_kernel = True
        mk, Sk = F.step(fm, m, S, t)
        fm.use_kernel = False
        mn, Sn = F.step(fm, m, S, t)
        np.testing.assert_allclose(mk, mn, rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(Sk, Sn, rtol=1e-13, atol=1e-14)
        m, S = mk, Sk
