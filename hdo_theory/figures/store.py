"""What a figure needs, how it is run, and how it is stored and read back.

A figure needs a set of *runs*; each :class:`RunSpec` is a JSON-able description (objective,
process configuration, replicas, seed) with a content hash. Results live in one folder, one file
per run, named ``<run id>.npz`` (a :class:`~hdo_theory.results.Results`) or ``<run id>.json``
(an estimator-statistics table, format :data:`TABLE_FORMAT`). Every stored file carries its
spec's hash (``info["figure_run"]`` of a Results, the ``"spec_hash"`` key of a table), so a file
made for another configuration (a stale quick run, a foreign file under the same name) is
recognised and never plotted.

Kinds of run:

* ``process``: :func:`hdo_theory.process.simulate` of one configuration.
* ``checkpointed``: the same process, cut into segments at ``checkpoints``; at each one the
  held-out loss and accuracy (:meth:`Objective.heldout_metrics`) of the averaged model ``mu``
  (and optionally the per-population mean over node models) are evaluated from the segment's
  final state. Segment ``k`` of replica ``r`` starts from the node models where segment
  ``k - 1`` stopped and draws from ``SeedSequence(seed).spawn(R)[r].spawn(K)[k]``: a Markov
  continuation of the same process (the gossip process has no other state for a constant
  schedule without momentum, which is enforced). Recorded metrics are stitched on one time
  axis; ``val_*`` are NaN except at checkpoints.
* ``estimator-table``: rows of :func:`hdo_theory.estimator_stats.estimator_stats`.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from hdo_theory.errors import HDOInputError

TABLE_FORMAT = "hdo-theory-figure-table/1"
RUN_KINDS = ("process", "checkpointed", "estimator-table")

__all__ = ["RunSpec", "TABLE_FORMAT", "MissingResults", "load_run", "execute", "Runner"]


def _canon(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=repr)


@dataclass(frozen=True)
class RunSpec:
    """One run a figure needs. ``params`` is JSON-able and fully determines the result."""

    id: str
    kind: str
    params: dict = field(default_factory=dict, compare=False)

    @property
    def filename(self) -> str:
        return f"{self.id}.json" if self.kind == "estimator-table" else f"{self.id}.npz"

    @property
    def spec_hash(self) -> str:
        doc = _canon({"kind": self.kind, "params": self.params})
        return hashlib.sha1(doc.encode()).hexdigest()[:16]


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
    if spec.kind == "estimator-table":
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            return None, f"{path}: unreadable ({exc.__class__.__name__})"
        if not isinstance(doc, dict) or doc.get("format") != TABLE_FORMAT:
            return None, f"{path}: not an hdo-theory figure table"
        if doc.get("spec_hash") != spec.spec_hash:
            return None, f"{path}: made for another configuration (spec hash differs)"
        if not isinstance(doc.get("rows"), list):
            return None, f"{path}: table has no rows"
        return doc, None
    from hdo_theory.results import Results

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

        key = _canon(kw)
        if key not in self._objectives:
            kw = dict(kw)
            self._objectives[key] = make_objective(kw.pop("name"), **kw)
        return self._objectives[key]

    def execute(self, spec: RunSpec):
        if spec.kind == "process":
            out = self._process(spec.params)
        elif spec.kind == "checkpointed":
            out = self._checkpointed(spec.params)
        elif spec.kind == "estimator-table":
            return self._table(spec)
        else:
            raise HDOInputError(
                f"run kind must be one of {', '.join(RUN_KINDS)}, got {spec.kind!r}")
        out.info["figure_run"] = {"id": spec.id, "kind": spec.kind, "spec_hash": spec.spec_hash}
        return out

    def _process(self, p: dict):
        from hdo_theory.process import ProcessConfig, simulate

        obj = self.objective(p["objective"])
        cfg = ProcessConfig.from_dict(p["config"])
        return simulate(obj, cfg, replicas=int(p["replicas"]), seed=int(p["seed"]),
                        progress=self.progress)

    def _checkpointed(self, p: dict):
        from hdo_theory.process import ProcessConfig, simulate
        from hdo_theory.results import Results

        obj = self.objective(p["objective"])
        cfg = ProcessConfig.from_dict(p["config"])
        if cfg.schedule != "constant" or cfg.zo.momentum or cfg.fo.momentum or cfg.warmup:
            raise HDOInputError("checkpointed runs need a constant schedule without momentum "
                                "or warm-up (segments would reset that state)")
        cps = sorted({int(c) for c in p["checkpoints"]} | {cfg.T})
        if cps[0] <= 0 or cps[-1] != cfg.T:
            raise HDOInputError(f"checkpoints must lie in [1, T={cfg.T}]")
        R, seed = int(p["replicas"]), int(p["seed"])
        per_node = bool(p.get("per_node_val", False))
        isolated = cfg.local_steps_warmup >= cfg.T
        n0, n = obj.n0, obj.n
        bounds = [0] + cps
        K = len(cps)
        first: list = []

        def one_replica(r):
            seg_seeds = np.random.SeedSequence(seed).spawn(R)[r].spawn(K)
            X = None
            ts, mets, div = [], {}, -1
            val = {k: [] for k in _VAL_NAMES}
            for k in range(K):
                T_k = bounds[k + 1] - bounds[k]
                seg = replace(
                    cfg, T=T_k, x0=X if X is not None else cfg.x0,
                    record=max(1, min(T_k, int(p.get("record", 1)))),
                    local_steps_warmup=T_k if isolated else 0,
                )
                s = int(seg_seeds[k].generate_state(1)[0])
                res = simulate(obj, seg, replicas=1, seed=s, keep_state=True, threads=1)
                if r == 0 and k == 0:
                    first.append(res)
                sl = slice(0 if k == 0 else 1, None)  # segment k's t=0 repeats k-1's end
                ts.append(res.t[sl] + bounds[k])
                for name, v in res.metrics.items():
                    mets.setdefault(name, []).append(v[0, sl])
                X = res.state["X"][0]
                if res.diverged_at[0] >= 0 and div < 0:
                    div = int(res.diverged_at[0] + bounds[k])
                vals = _heldout(obj, X, n0, n, per_node) if div < 0 else _nan_val()
                for name in _VAL_NAMES:
                    val[name].append(vals[name])
                if div >= 0:
                    X = np.zeros_like(X)  # later segments are meaningless; keep shapes
            return (np.concatenate(ts), {k: np.concatenate(v) for k, v in mets.items()},
                    val, div)

        # replicas are independent; the kernels release the GIL, so threads run them in parallel
        from concurrent.futures import ThreadPoolExecutor

        import numba

        workers = max(1, min(R, int(numba.config.NUMBA_NUM_THREADS)))
        with ThreadPoolExecutor(max_workers=workers) as ex:
            rows = list(ex.map(one_replica, range(R)))
        x_first = first[0]
        info0 = dict(x_first.info)
        t = rows[0][0]
        metrics = {name: np.stack([rw[1][name] for rw in rows]) for name in rows[0][1]}
        idx = np.searchsorted(t, cps)
        # held-out metrics at t = 0 (the common start) too
        X0 = _start_models(obj, cfg)
        v0 = _heldout(obj, X0, n0, n, per_node)
        for name in _VAL_NAMES:
            arr = np.full((R, t.shape[0]), np.nan)
            arr[:, 0] = v0[name]
            for r, rw in enumerate(rows):
                arr[r, idx] = rw[2][name]
            metrics[name] = arr
        for r, rw in enumerate(rows):
            if rw[3] >= 0:
                for name in metrics:
                    metrics[name][r, t > rw[3]] = np.nan
        info = dict(info0)
        info.update(replicas=R, checkpoints=cps, segments=K,
                    segment_seeds="SeedSequence(seed).spawn(R)[r].spawn(K)[k].generate_state(1)[0]")
        return Results(t=t, metrics=metrics, diverged_at=np.array([rw[3] for rw in rows]),
                       config=cfg.as_dict(), seed=seed, version=x_first.version,
                       constants=x_first.constants, objective_meta=x_first.objective_meta,
                       info=info)

    def _table(self, spec: RunSpec) -> dict:
        from hdo_theory.estimator_stats import estimator_stats
        from hdo_theory.estimators import EstimatorSpec

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


_VAL_NAMES = ("val_loss", "val_acc", "val_loss_zo", "val_acc_zo", "val_loss_fo", "val_acc_fo")


def _nan_val() -> dict:
    return {k: math.nan for k in _VAL_NAMES}


def _heldout(obj, X, n0, n, per_node) -> dict:
    """Held-out (loss, accuracy) at the averaged model, and per population over node models."""
    out = _nan_val()
    out["val_loss"], out["val_acc"] = obj.heldout_metrics(X.mean(axis=0))
    if per_node:
        for tag, nodes in (("zo", range(0, n0)), ("fo", range(n0, n))):
            if len(nodes):
                m = np.array([obj.heldout_metrics(X[i]) for i in nodes])
                out[f"val_loss_{tag}"], out[f"val_acc_{tag}"] = m.mean(axis=0)
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
    if spec.kind != "estimator-table":
        return data.save(path)
    with atomic_file(path, "w") as fh:
        json.dump(data, fh, allow_nan=True, default=_json_default)
    return path


def _json_default(o):
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    return repr(o)


def execute(spec: RunSpec, runner: Runner | None = None):
    return (runner or Runner()).execute(spec)
