"""The results of a gossip-process run: recorded trajectories plus everything needed to redo it.

File format (decided): a single NumPy ``.npz`` archive (no extra dependency, loads without
pickle) holding

* ``t``: int64 ``(n_rec,)``, the step counts at which records were taken (interactions for the
  pairwise and graph models, rounds for the matching model);
* ``diverged_at``: int64 ``(R,)``, the step count at which each replica diverged, ``-1`` if never;
* ``metric__<name>``: float64 ``(R, n_rec)`` for every recorded metric (NaN after divergence).
  A metric that was not recorded (all NaN: the process fills every metric it does not record
  with NaN) is not stored: on load it is absent, and ``results[name]`` names it and the
  metrics that were recorded. Files written by version 0.1, which stored those all-NaN arrays,
  still load (the all-NaN arrays are dropped the same way);
* ``state__<name>``: optional final-state arrays (e.g. ``X`` of shape ``(R, n, d)``);
* ``meta_json``: a unicode scalar, the JSON document with ``format``, ``config``, ``seed``,
  ``version``, ``constants``, ``objective_meta`` and ``info``. Floats go through Python's
  ``repr`` (exact round trip), NaN/inf as JSON's ``NaN``/``Infinity`` extension, NumPy arrays
  inside the metadata as ``{"__ndarray__": list, "dtype": str, "shape": list}``.

Saving is atomic: the archive is written to a temporary file in the target directory, flushed
and fsynced, then moved into place with :func:`os.replace`, so an interrupted save leaves either
the old file or the new one, never a truncated one.

Long format (benchopt-style): :meth:`Results.to_long` returns columns
``replica, step, interactions, parallel_time, metric, value`` (one row per replica, record and
metric; ``t``, the 0.1 name of ``step``, is kept as well). With the ``export`` extra
(``pip install 'hdo-theory[export]'``: pandas and xarray) :meth:`Results.to_pandas` gives that
table as a DataFrame and :meth:`Results.to_xarray` a Dataset with one ``(replica, step)``
variable per recorded metric.
"""

from __future__ import annotations

import errno
import json
import math
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hdo_theory.atomic import atomic_file
from hdo_theory.errors import HDOInputError
from hdo_theory.serialize import from_jsonable, jsonable

FORMAT = "hdo-theory-results/1"

__all__ = ["Results", "FORMAT", "EXPORT_EXTRA", "load_results", "fit_loglog_slope"]

EXPORT_EXTRA = "export"  # pyproject.toml's optional dependencies holding pandas and xarray


def _not_recorded(v: np.ndarray) -> bool:
    """A metric the process did not record: every value NaN (an empty record set counts as
    recorded, there is nothing to tell)."""
    v = np.asarray(v)
    return v.size > 0 and bool(np.all(np.isnan(v)))


def _optional(module: str, method: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise HDOInputError(f"Results.{method}() needs {module}: pip install "
                            f"'hdo-theory[{EXPORT_EXTRA}]'") from None


def fit_loglog_slope(t, values) -> float:
    """Least-squares slope of ``log(values)`` against ``log(t)`` over points with ``t > 0`` and
    finite positive values; NaN with fewer than two such points or a single distinct ``t``
    (:func:`hdo_theory.verification.stats.loglog_fit`, the package's one log-log fit)."""
    from hdo_theory.verification.stats import loglog_fit

    return loglog_fit(t, values)[0]


@dataclass
class Results:
    """Recorded trajectories of ``R`` replicas of one configuration.

    Attributes
    ----------
    t: int64 ``(n_rec,)`` step counts (interactions, or rounds for ``model="matching"``).
    metrics: name -> float64 ``(R, n_rec)``.
    diverged_at: int64 ``(R,)``, ``-1`` if the replica never diverged.
    config: the full :class:`~hdo_theory.process.ProcessConfig` as a dict.
    seed: the run's root seed (replica ``r`` uses ``SeedSequence(seed).spawn(R)[r]``).
    version: package version that produced the run.
    constants: the objective's constants (``objective.constants.as_dict()``) or what was known.
    objective_meta: ``objective.meta``, enough to regenerate the objective.
    info: run facts: ``n``, ``n0``, ``n1``, ``d``, ``interactions_per_step``, resolved learning
        rates and radii, ``spectral_gap``, ``x_star`` / ``f_star`` source, wall time ...
    state: optional final-state arrays (``X``: ``(R, n, d)``).
    """

    t: np.ndarray
    metrics: dict[str, np.ndarray]
    diverged_at: np.ndarray
    config: dict = field(default_factory=dict)
    seed: int = 0
    version: str = ""
    constants: dict = field(default_factory=dict)
    objective_meta: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    state: dict[str, np.ndarray] = field(default_factory=dict)

    # -- access ---------------------------------------------------------------------------
    @property
    def R(self) -> int:
        return int(self.diverged_at.shape[0])

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.metrics)

    @property
    def recorded(self) -> tuple[str, ...]:
        """The metrics that were recorded (not all NaN), in record order."""
        return tuple(k for k, v in self.metrics.items() if not _not_recorded(v))

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.metrics:
            rec = ", ".join(self.recorded) or "none"
            raise HDOInputError(f"metric {name!r} was not recorded in these results "
                                f"(recorded: {rec})")
        return self.metrics[name]

    def __contains__(self, name: str) -> bool:
        return name in self.metrics

    @property
    def interactions(self) -> np.ndarray:
        """Pairwise interactions done at each record (``t * floor(n/2)`` for matching rounds)."""
        return self.t * int(self.info.get("interactions_per_step", 1))

    @property
    def parallel_time(self) -> np.ndarray:
        """Interactions divided by ``n`` (docs/theory.md section 1: parallel time is ``T / n``)."""
        n = int(self.info.get("n", 1))
        return self.interactions / n

    @property
    def n_diverged(self) -> int:
        return int(np.sum(self.diverged_at >= 0))

    def mean(self, name: str) -> np.ndarray:
        """Mean over replicas at each record, ignoring NaN (diverged replicas)."""
        v = self[name]
        with np.errstate(all="ignore"):
            cnt = np.sum(np.isfinite(v), axis=0)
            s = np.nansum(v, axis=0)
            return np.where(cnt > 0, s / np.maximum(cnt, 1), np.nan)

    def final(self, name: str) -> np.ndarray:
        """The last record of every replica (NaN for replicas that diverged)."""
        return self[name][:, -1]

    def rate(self, name: str = "gap") -> float:
        """Log-log slope of the mean of ``name`` over the last decade of records (``t`` in
        ``[t_max / 10, t_max]``), over the replicas that never diverged: one fixed set of
        replicas (a replica diverging inside the decade would otherwise shrink the set the
        mean is taken over from one record to the next). NaN when every replica diverged."""
        tmax = self.t[-1] if self.t.size else 0
        sel = self.t >= max(1, tmax / 10.0)
        keep = self.diverged_at < 0
        if not np.any(keep):
            return math.nan
        v = self[name][keep][:, sel]
        with np.errstate(all="ignore"):
            cnt = np.sum(np.isfinite(v), axis=0)
            m = np.where(cnt > 0, np.nansum(v, axis=0) / np.maximum(cnt, 1), np.nan)
        return fit_loglog_slope(self.t[sel], m)

    def summary(self) -> dict:
        """Final mean gap, its rate over the last decade, final consensus Gamma, divergences.

        Every statistic says how many replicas it covers: ``final_<name>_replicas`` (replicas
        with a finite last record, the ones the mean is over), ``rate_replicas`` (the replicas
        that never diverged, the fixed set :meth:`rate` fits), ``diverged`` and
        ``diverged_at`` (the sorted step counts at which replicas diverged).
        """
        out = {"R": self.R, "T": int(self.t[-1]) if self.t.size else 0}
        for name in ("gap", "dist_sq", "gamma", "y_gap", "loss_spread"):
            if name in self.metrics:
                out[f"final_{name}"] = float(self.mean(name)[-1]) if self.t.size else math.nan
                out[f"final_{name}_replicas"] = (
                    int(np.sum(np.isfinite(self[name][:, -1]))) if self.t.size else 0
                )
        out["rate_gap"] = self.rate("gap") if "gap" in self.metrics else math.nan
        out["rate_dist_sq"] = self.rate("dist_sq") if "dist_sq" in self.metrics else math.nan
        out["rate_replicas"] = self.R - self.n_diverged
        out["diverged"] = self.n_diverged
        out["diverged_at"] = sorted(int(s) for s in self.diverged_at if s >= 0)
        return out

    # -- long format and exports -----------------------------------------------------------
    def _long_names(self, names) -> list[str]:
        if names is None:
            return list(self.recorded)
        names = [names] if isinstance(names, str) else list(names)
        for name in names:
            self[name]  # a name that is not a metric raises here, naming what was recorded
        return names

    def to_long(self, names=None) -> dict[str, np.ndarray]:
        """Columns ``replica, step, interactions, parallel_time, metric, value`` with one row
        per (replica, record, metric); ``t`` is the same column as ``step`` (its 0.1 name).

        ``step`` is the step count of the record (interactions, or rounds for
        ``model="matching"``), ``interactions`` the pairwise interactions done by then and
        ``parallel_time`` those divided by ``n``. ``pandas.DataFrame(results.to_long())``
        gives the benchopt-style long table (:meth:`to_pandas`). Metrics that were not
        recorded (all NaN) are left out unless named.
        """
        names = self._long_names(names)
        R, n_rec = self.R, self.t.shape[0]
        rows = R * n_rec * len(names)
        step = np.tile(np.asarray(self.t, dtype=np.int64), R * len(names))
        inter = np.tile(np.asarray(self.interactions, dtype=np.int64), R * len(names))
        ptime = np.tile(np.asarray(self.parallel_time, dtype=np.float64), R * len(names))
        replica = np.tile(np.repeat(np.arange(R, dtype=np.int64), n_rec), len(names))
        metric = np.repeat(np.array(names, dtype=object), R * n_rec) if names else \
            np.zeros(0, object)
        value = (np.concatenate([np.asarray(self[k], dtype=np.float64).reshape(-1)
                                 for k in names]) if names else np.zeros(0))
        assert value.shape == (rows,)
        return {
            "replica": replica,
            "step": step,
            "t": step,
            "interactions": inter,
            "parallel_time": ptime,
            "metric": metric,
            "value": value,
        }

    def to_pandas(self, names=None):
        """The long table as a :class:`pandas.DataFrame` with columns ``replica, step,
        interactions, parallel_time, metric, value`` (see :meth:`to_long`); needs the
        ``export`` extra. ``df.pivot_table(index="step", columns="metric", values="value")``
        gives the replica means."""
        pd = _optional("pandas", "to_pandas")
        long = self.to_long(names)
        cols = ("replica", "step", "interactions", "parallel_time", "metric", "value")
        df = pd.DataFrame({c: long[c] for c in cols})
        df["metric"] = df["metric"].astype(str)
        return df

    def attributes(self) -> dict:
        """The run's description as flat attributes (netCDF-safe): ``format``, ``seed``,
        ``version``, and ``config``, ``constants``, ``objective_meta``, ``info`` as JSON
        strings (the format of the saved metadata: exact floats, NaN and arrays tagged)."""

        def js(o) -> str:
            return json.dumps(jsonable(o, nonfinite="keep", arrays="tagged"), allow_nan=True,
                              sort_keys=True)

        return {
            "format": FORMAT,
            "seed": int(self.seed),
            "version": str(self.version),
            "config": js(self.config),
            "constants": js(self.constants),
            "objective_meta": js(self.objective_meta),
            "info": js(self.info),
        }

    def to_xarray(self, names=None):
        """An :class:`xarray.Dataset` with one variable per recorded metric (or per name in
        ``names``), dims ``("replica", "step")``; coordinates ``replica``, ``step`` (step
        counts), ``t`` (the same, its 0.1 name), ``interactions``, ``parallel_time`` and
        ``diverged_at`` (per replica, -1 if never); attributes from :meth:`attributes` (the
        configuration, constants, objective and run facts as JSON strings, seed, version).
        Needs the ``export`` extra. ``json.loads(ds.attrs["config"])`` gives the
        configuration back."""
        xr = _optional("xarray", "to_xarray")
        names = self._long_names(names)
        step = np.asarray(self.t, dtype=np.int64)
        coords = {
            "replica": np.arange(self.R, dtype=np.int64),
            "step": step,
            "t": ("step", step),
            "interactions": ("step", np.asarray(self.interactions, dtype=np.int64)),
            "parallel_time": ("step", np.asarray(self.parallel_time, dtype=np.float64)),
            "diverged_at": ("replica", np.asarray(self.diverged_at, dtype=np.int64)),
        }
        data = {k: (("replica", "step"), np.asarray(self[k], dtype=np.float64)) for k in names}
        ds = xr.Dataset(data, coords=coords, attrs=self.attributes())
        ds["step"].attrs["long_name"] = ("rounds" if self.config.get("model") == "matching"
                                         else "interactions") + " done (the step count)"
        ds["parallel_time"].attrs["long_name"] = "interactions / n"
        return ds

    # -- persistence ----------------------------------------------------------------------
    def _meta(self) -> dict:
        return {
            "format": FORMAT,
            "config": self.config,
            "seed": self.seed,
            "version": self.version,
            "constants": self.constants,
            "objective_meta": self.objective_meta,
            "info": self.info,
            "metric_names": list(self.recorded),
            "state_names": list(self.state),
        }

    def save(self, path) -> Path:
        """Write the results to ``path`` (``.npz``) atomically; returns the path."""
        path = Path(path)
        if path.suffix != ".npz":
            raise HDOInputError(f"out must be a .npz file path, got {str(path)!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = json.dumps(jsonable(self._meta(), nonfinite="keep", arrays="tagged"), allow_nan=True)
        arrays = {
            "t": np.asarray(self.t, dtype=np.int64),
            "diverged_at": np.asarray(self.diverged_at, dtype=np.int64),
            "meta_json": np.array(meta),
        }
        for k in self.recorded:  # a metric that was not recorded (all NaN) is not stored
            arrays[f"metric__{k}"] = np.asarray(self.metrics[k], dtype=np.float64)
        for k, v in self.state.items():
            arrays[f"state__{k}"] = np.asarray(v)
        with atomic_file(path, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        return path

    @classmethod
    def load(cls, path) -> Results:
        """Read results written by :meth:`save` (exact round trip of every recorded metric;
        a metric that was not recorded is absent), or by version 0.1 of the package.

        A file that is missing, empty, truncated, damaged (a flipped byte fails the archive's
        CRC or decompression), a ``.npz`` without the results metadata, or not an archive at
        all raises one :class:`HDOInputError` naming the file and what is wrong with it.
        """
        path = Path(path)
        if not path.exists():
            raise HDOInputError(f"results file {str(path)!r} does not exist")
        if not path.is_file():
            raise HDOInputError(f"results file {str(path)!r} is not a regular file")
        try:
            return cls._read(path)
        except _Unreadable as exc:
            raise HDOInputError(f"results file {str(path)!r}: cannot read it: {exc}") from None
        except (EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError,
                RuntimeError) as exc:  # zipfile: an unsupported flag bit, "encrypted"
            raise HDOInputError(
                f"results file {str(path)!r}: cannot read it: truncated or damaged archive "
                f"({_reason(exc)})"
            ) from None
        except OSError as exc:
            why = exc.strerror or _reason(exc)
            if exc.errno not in (errno.EACCES, errno.EPERM, errno.EIO):
                why = f"truncated or damaged archive ({why})"  # e.g. a seek to a bad offset
            raise HDOInputError(f"results file {str(path)!r}: cannot read it: {why}") from None
        except (KeyError, ValueError, TypeError, AttributeError, IndexError,
                OverflowError) as exc:
            raise HDOInputError(
                f"results file {str(path)!r}: cannot read it: damaged contents ({_reason(exc)})"
            ) from None

    @classmethod
    def _read(cls, path: Path) -> Results:
        with open(path, "rb") as fh:
            head = fh.read(4)
        if not head:
            raise _Unreadable("the file is empty (0 bytes)")
        if head != b"PK\x03\x04":
            raise _Unreadable("not a .npz archive (an hdo-theory results file is one)")
        with np.load(path, allow_pickle=False) as z:
            if "meta_json" not in z.files:
                raise _Unreadable("not an hdo-theory results file (no meta_json entry)")
            try:
                meta = from_jsonable(json.loads(str(z["meta_json"][()])))
            except json.JSONDecodeError as exc:
                raise _Unreadable(f"damaged metadata ({_reason(exc)})") from None
            if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                fmt = meta.get("format") if isinstance(meta, dict) else None
                raise _Unreadable(f"not an hdo-theory results file (format {fmt!r}, "
                                  f"expected {FORMAT!r})")
            missing = [k for k in _META_KEYS if k not in meta]
            if missing:
                raise _Unreadable(f"damaged metadata (no {missing[0]!r})")
            names = meta["metric_names"]
            state_names = meta.get("state_names", [])
            for key in ("t", "diverged_at", *(f"metric__{k}" for k in names),
                        *(f"state__{k}" for k in state_names)):
                if key not in z.files:
                    raise _Unreadable(f"damaged contents (no {key!r} entry)")
            metrics = {k: z[f"metric__{k}"] for k in names}
            state = {k: z[f"state__{k}"] for k in state_names}
            t = z["t"]
            div = z["diverged_at"]
        if t.ndim != 1 or div.ndim != 1:
            raise _Unreadable(f"damaged contents (t has shape {t.shape}, diverged_at "
                              f"{div.shape}; both must be vectors)")
        for k, v in metrics.items():
            if v.shape != (div.shape[0], t.shape[0]):
                raise _Unreadable(f"damaged contents (metric {k!r} has shape {v.shape}, "
                                  f"expected {(div.shape[0], t.shape[0])})")
        # a 0.1 file stored the metrics that were not recorded as all-NaN arrays: drop them
        metrics = {k: v for k, v in metrics.items() if not _not_recorded(v)}
        return cls(
            t=t,
            metrics=metrics,
            diverged_at=div,
            config=meta["config"],
            seed=meta["seed"],
            version=meta["version"],
            constants=meta["constants"],
            objective_meta=meta["objective_meta"],
            info=meta["info"],
            state=state,
        )


_META_KEYS = ("config", "seed", "version", "constants", "objective_meta", "info", "metric_names")


class _Unreadable(Exception):
    """Why a file is not a readable results file (turned into HDOInputError by load)."""


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    kind = "zlib.error" if isinstance(exc, zlib.error) else type(exc).__name__
    return f"{kind}: {text}" if text else kind


def load_results(path) -> Results:
    """Shorthand for :meth:`Results.load`."""
    return Results.load(path)
