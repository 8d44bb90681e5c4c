"""What a figure needs, how it is run, and how it is stored and read back.

A figure needs a set of *runs*; each :class:`RunSpec` is a JSON-able description (objective,
process configuration, replicas, seed) with a content hash. Results live in one folder, one file
per run, named ``<run id>.npz`` (a :class:`~.process.results.Results`) or ``<run id>.json``
(an estimator-statistics table, format :data:`TABLE_FORMAT`). Every stored file carries its
spec's hash (``info["figure_run"]`` of a Results, the ``"spec_hash"`` key of a table), so a file
made for another configuration (a stale quick run, a foreign file under the same name) is
recognised and never plotted.

Kinds of run:

* ``process``: :func:`hdo_theory.process.simulate` of one configuration.
  Held-out loss and accuracy of the mean model ``mu_t`` are recorded by the process itself
  (``heldout_loss``, ``heldout_acc``; NaN for synthetic objectives). With ``node_heldout``
  (used for isolated single workers, whose ``mu_t`` is no worker's model) the run also stores
  the held-out loss and accuracy of each population's node models averaged over its nodes,
  ``heldout_{loss,acc}_{zo,fo}``, at the start and at the final state only (NaN in between
  and after a divergence). (Runs of the former ``checkpointed`` kind, which cut the process
  into segments to evaluate held-out metrics, have other specs and hashes: their files are
  reported as made for another configuration and re-run.)
* ``estimator-table``: rows of :func:`hdo_theory.estimators.monte_carlo.estimator_stats`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hdo_theory.errors import HDOInputError
from hdo_theory.serialize import canonical_json, content_hash, jsonable

TABLE_FORMAT = "hdo-theory-figure-table/1"
EXACT_FORMAT = "hdo-theory-figure-exact/1"
RUN_KINDS = ("process", "estimator-table", "exact-curve")
#: kinds stored as JSON documents (the others are Results .npz files)
_JSON_KINDS = {"estimator-table": TABLE_FORMAT, "exact-curve": EXACT_FORMAT}

__all__ = ["RunSpec", "TABLE_FORMAT", "MissingResults", "load_run", "execute", "Runner"]


@dataclass(frozen=True)
class RunSpec:
    """One run a figure needs. ``params`` is JSON-able and fully determines the result."""

    id: str
    kind: str
    params: dict = field(default_factory=dict, compare=False)

    @property
    def filename(self) -> str:
        return f"{self.id}.json" if self.kind in _JSON_KINDS else f"{self.id}.npz"

    @property
    def spec_hash(self) -> str:
        return content_hash({"kind": self.kind, "params": self.params}, length=16,
                            algorithm="sha1", default=repr)


class MissingResults(HDOInputError):
    """A figure needs runs the results folder does not hold (or holds only unusable files)."""


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


def load_run(spec: RunSpec, folder) -> tuple[object | None, str | None]:
    """``(data, None)`` if ``folder`` holds a usable file for ``spec``; ``(None, None)`` if it has
    none; ``(None, reason)`` if the file is corrupt, foreign or made for another configuration
    (``reason`` names the file)."""
    path = Path(folder) / spec.filename
    if not path.exists():
        return None, None
    if spec.kind in _JSON_KINDS:
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            return None, f"{path}: unreadable ({exc.__class__.__name__})"
        if not isinstance(doc, dict) or doc.get("format") != _JSON_KINDS[spec.kind]:
            return None, f"{path}: not an hdo-theory figure {spec.kind}"
        if doc.get("spec_hash") != spec.spec_hash:
            return None, f"{path}: made for another configuration (spec hash differs)"
        body = "rows" if spec.kind == "estimator-table" else "configs"
        if not isinstance(doc.get(body), list):
            return None, f"{path}: {spec.kind} has no {body}"
        return doc, None
    from hdo_theory.process.results import Results

    try:
        res = Results.load(path)
    except HDOInputError as exc:
        return None, str(exc) if str(path) in str(exc) else f"{path}: {exc}"
    except Exception as exc:  # any other damage: report by name, never half-plot
        return None, f"{path}: unreadable ({exc.__class__.__name__})"
    tag = res.info.get("figure_run") if isinstance(res.info, dict) else None
    if not isinstance(tag, dict) or tag.get("spec_hash") != spec.spec_hash:
        return None, f"{path}: made for another configuration (spec hash differs)"
    return res, None


# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------


class Runner:
    """Executes run specs, caching objectives (their constants can take seconds to compute)."""

    def __init__(self, progress: bool = False):
        self._objectives: dict[str, object] = {}
        self.progress = progress

    def objective(self, kw: dict):
        from hdo_theory.objectives import make_objective

        key = canonical_json(kw, default=repr)
        if key not in self._objectives:
            kw = dict(kw)
            self._objectives[key] = make_objective(kw.pop("name"), **kw)
        return self._objectives[key]

    def execute(self, spec: RunSpec):
        if spec.kind == "process":
            out = self._process(spec.params)
        elif spec.kind == "estimator-table":
            return self._table(spec)
        elif spec.kind == "exact-curve":
            return self._exact(spec)
        else:
            raise HDOInputError(
                f"run kind must be one of {', '.join(RUN_KINDS)}, got {spec.kind!r}")
        out.info["figure_run"] = {"id": spec.id, "kind": spec.kind, "spec_hash": spec.spec_hash}
        return out

    def _process(self, p: dict):
        from hdo_theory.process import ProcessConfig, simulate

        obj = self.objective(p["objective"])
        cfg = ProcessConfig.from_dict(p["config"])
        per_node = bool(p.get("node_heldout", False))
        res = simulate(obj, cfg, replicas=int(p["replicas"]), seed=int(p["seed"]),
                       progress=self.progress, keep_state=per_node)
        if per_node:
            res.metrics.update(_node_heldout(obj, cfg, res))
            res.state.clear()  # only needed for the evaluation above; keeps the file small
        return res

    def _table(self, spec: RunSpec) -> dict:
        from hdo_theory.estimators import EstimatorSpec
        from hdo_theory.estimators.monte_carlo import estimator_stats

        rows = []
        for row in spec.params["rows"]:
            obj = self.objective(row["objective"])
            x = obj.random_point(int(row.get("point_seed", 0)), float(row.get("point_scale", 1.0)))
            batch = row["batch"] if row["batch"] != "shard" else obj.shard_size(row["node"])
            es = EstimatorSpec(row["kind"], rv=int(row["rv"]), nu=float(row["nu"]),
                               batch=int(batch))
            st = estimator_stats(obj, int(row["node"]), x, es, int(row["draws"]), int(row["seed"]),
                                 progress=False)
            out = dict(row)
            out["batch"] = int(batch)
            for key in ("bias", "second_moment", "centered_moment"):
                e = st[key]
                out[key] = {k: e.get(k) for k in ("value", "ci", "exact", "bound", "bound_name",
                                                   "sharper_bound", "sharper_bound_name")}
            out["point"] = st["point"]
            rows.append(out)
        return {"format": TABLE_FORMAT, "id": spec.id, "spec_hash": spec.spec_hash,
                "params": spec.params, "rows": rows}


    def _exact(self, spec: RunSpec) -> dict:
        """Exact expectations (:func:`hdo_theory.exact.expected_dynamics`) at the last step of
        every configuration of ``spec.params["configs"]``, with the objective's constants."""
        from hdo_theory.exact import expected_dynamics
        from hdo_theory.process import ProcessConfig, problem_facts

        obj = self.objective(spec.params["objective"])
        rows = []
        for d in spec.params["configs"]:
            cfg = ProcessConfig.from_dict(d)
            r = expected_dynamics(obj, cfg, [cfg.T])
            rows.append({"T": int(cfg.T), "lr": float(cfg.zo.lr),
                         **{k: float(r[k][-1]) for k in spec.params["metrics"]}})
        c = obj.constants
        facts = problem_facts(obj)
        x0 = ProcessConfig.from_dict(spec.params["configs"][0]).x0
        x0 = obj.random_point(0) if x0 is None else np.asarray(x0, dtype=float)
        xs = np.asarray(facts["x_star"], dtype=float)
        s = np.asarray(c.s_sq(1), dtype=float)
        consts = {"n0": int(obj.n0), "n1": int(obj.n1), "d": int(obj.d), "L": float(c.L),
                  "ell": float(c.ell), "varsigma0_sq": float(c.varsigma0_sq),
                  "varsigma1_sq": float(c.varsigma1_sq), "sum_s_sq0": float(s[: obj.n0].sum()),
                  "sum_s_sq1": float(s[obj.n0:].sum()),
                  "f0_gap": float(obj.value(x0) - facts["f_star"]),
                  "dist0_sq": float(np.sum((x0 - xs) ** 2))}
        return {"format": EXACT_FORMAT, "id": spec.id, "spec_hash": spec.spec_hash,
                "params": spec.params, "configs": rows, "constants": consts}


def _node_heldout(obj, cfg, res) -> dict:
    """Per population, held-out (loss, accuracy) averaged over its node models, at the start
    (first record) and the final state (last record); NaN elsewhere and for diverged replicas."""
    R, n0, n = res.R, obj.n0, obj.n
    start = _start_models(obj, cfg)
    out = {}
    for tag, nodes in (("zo", range(0, n0)), ("fo", range(n0, n))):
        if not len(nodes):
            continue
        loss = np.full((R, res.t.shape[0]), np.nan)
        acc = np.full_like(loss, np.nan)
        m0 = np.mean([obj.heldout_metrics(start[i]) for i in nodes], axis=0)
        loss[:, 0], acc[:, 0] = m0
        for r in range(R):
            if res.diverged_at[r] < 0:
                X = res.state["X"][r]
                loss[r, -1], acc[r, -1] = np.mean([obj.heldout_metrics(X[i]) for i in nodes],
                                                  axis=0)
        out[f"heldout_loss_{tag}"], out[f"heldout_acc_{tag}"] = loss, acc
    return out


def _start_models(obj, cfg):
    if cfg.x0 is None:
        x0 = obj.random_point(0)
    else:
        x0 = np.asarray(cfg.x0, dtype=float)
    return np.tile(x0, (obj.n, 1)) if x0.ndim == 1 else x0


def save_run(spec: RunSpec, data, folder) -> Path:
    """Store ``data`` (Results or table dict) for ``spec`` in ``folder`` (atomic)."""
    from hdo_theory.atomic import atomic_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / spec.filename
    if spec.kind not in _JSON_KINDS:
        return data.save(path)
    with atomic_file(path, "w") as fh:
        json.dump(jsonable(data, nonfinite="keep"), fh, allow_nan=True)
    return path


def execute(spec: RunSpec, runner: Runner | None = None):
    return (runner or Runner()).execute(spec)
