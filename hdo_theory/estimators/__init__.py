"""Gradient estimators (docs/theory.md section 3): the estimator table, :class:`EstimatorSpec`.

:data:`ESTIMATORS` (rows :class:`EstimatorInfo`, added with :func:`register_estimator`) is the one
place an estimator is declared: its kernel code, whether it is zeroth order, its mean, its bias
bound, whether Lemma 5 applies and its closed-form moments. Names, CLI choices, figure panels
and test parametrisations are derived from it (:func:`estimator_names` and friends).

The Numba kernel :func:`~hdo_theory.estimators.kernels.estimate` computes every estimator;
:mod:`.closed_forms` holds their exact moments and :mod:`.monte_carlo` their Monte Carlo
statistics (bias, moments, intervals) against closed forms and the paper's bounds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from hdo_theory.errors import HDOInputError, check_choice, check_float, check_int
from hdo_theory.estimators import closed_forms as cf
from hdo_theory.estimators.kernels import (
    DIRECTION_BLOCK,
    EST_COORD_FD,
    EST_FO,
    EST_PLUGIN_BASE,
    EST_ZO_CENTRAL,
    EST_ZO_DIRECTIONAL,
    EST_ZO_FORWARD,
    EST_ZO_SPHERE,
    batch_losses_along,
    direction_buffer,
    estimate,
)
from hdo_theory.limits import MAX_RV
from hdo_theory.objectives.kernels import batch_grad, batch_jvp, batch_loss
from hdo_theory.rng import bounded_index, standard_normals
from hdo_theory.verification import bounds

__all__ = [
    "DIRECTION_BLOCK",
    "EST_PLUGIN_BASE",
    "MEANS",
    "batch_grad",
    "batch_jvp",
    "batch_loss",
    "batch_losses_along",
    "bounded_index",
    "kernel_data",
    "standard_normals",
    "ESTIMATORS",
    "ESTIMATOR_CODES",
    "ESTIMATOR_NAMES",
    "ZO_ESTIMATORS",
    "BiasBound",
    "EstimatorInfo",
    "EstimatorSpec",
    "estimator_codes",
    "estimator_info",
    "estimator_names",
    "estimators_where",
    "register_estimator",
    "unregister_estimator",
    "zo_estimator_names",
    "direction_buffer",
    "estimate",
    "estimate_once",
    "resolve_nu",
]

# ---------------------------------------------------------------------------------------------
# The estimator table: one row per estimator, the single place an estimator is declared
# ---------------------------------------------------------------------------------------------

#: What an estimator's mean ``E G`` is (the target of ``bias_vs_target`` in estimator_stats).
MEANS = ("grad f", "grad f_nu", "grad f_ball", "unknown")
_MEAN_LABELS = {"grad f": "grad f^i(x)", "grad f_nu": "grad f^i_nu (Gaussian smoothing)",
                "grad f_ball": "grad of ball-smoothed f^i", "unknown": "unknown"}


@dataclass(frozen=True)
class BiasBound:
    """A bound on ``||E G - grad f^i(x)||``: ``bound(nu, L, d)``, its name, and an optional
    sharper bound ``sharper(nu, L, d)``. ``needs_L=False`` for bounds that hold without ``L``
    (the unbiased estimators: 0)."""

    name: str
    bound: Callable[[float, float, int], float]
    sharper: Callable[[float, float, int], float] | None = None
    needs_L: bool = True


UNBIASED = BiasBound("unbiased (exact mean grad f^i)", lambda nu, L, d: 0.0, needs_L=False)
GAUSSIAN_SMOOTHING_BIAS = BiasBound("Lemma 1 item 4", bounds.lemma1_smoothing_bias,
                                    bounds.sharper_smoothing_bias)
BALL_SMOOTHING_BIAS = BiasBound("ball smoothing: L nu",
                                lambda nu, L, d: bounds.sphere_smoothing_bias(nu, L))
COORDINATE_FD_BIAS = BiasBound("central differences: sqrt(d) L nu / 2",
                               bounds.coordinate_fd_bias)


@dataclass(frozen=True)
class EstimatorInfo:
    """One row of the estimator table.

    name: the registry name (``EstimatorSpec.kind``, CLI ``--estimator``).
    code: the branch constant of :func:`~hdo_theory.estimators.kernels.estimate`.
    zero_order: uses function values (or JVPs) only; False only for ``fo``.
    random_directions: draws ``rv`` random directions per call (False: ``rv`` is ignored).
    mean: what ``E G`` is, one of :data:`MEANS`; ``mean_label`` names it in reports
        (default: the standard label of ``mean``).
    bias_bound: the :class:`BiasBound` on ``||E G - grad f^i||``, or None if none is known.
    lemma5: whether the Lemma 5 moment bounds (6), (7) apply.
    moments: closed-form moments ``moments(objective, node, x, rv, nu, batch) -> dict | None``
        (see :func:`.closed_forms.exact_moments`), or None.
    description: one line for docs and ``--help``.
    kernel: a plugin's Numba kernel (``code >= EST_PLUGIN_BASE``; see :func:`register_estimator`),
        None for the built-ins.
    source: where a plugin comes from, for sweep workers to re-import it: a module name when
        the kernel's module is importable by name, else the absolute path of its file (None for
        the built-ins).
    """

    name: str
    code: int
    zero_order: bool
    mean: str
    bias_bound: BiasBound | None
    lemma5: bool
    moments: Callable | None
    description: str
    random_directions: bool = True
    mean_label: str = ""
    kernel: Callable | None = None
    source: str | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise HDOInputError(f"estimator name must be a non-empty string, got {self.name!r}")
        check_choice(f"mean of estimator {self.name!r}", self.mean, MEANS)
        if not self.mean_label:
            object.__setattr__(self, "mean_label", _MEAN_LABELS[self.mean])

    @property
    def unbiased(self) -> bool:
        return self.bias_bound is UNBIASED


#: name -> row, in registration order (the built-ins first). Add rows with register_estimator.
ESTIMATORS: dict[str, EstimatorInfo] = {}


def register_estimator(info, kernel=None, *, zero_order: bool = True, mean: str = "unknown",
                       random_directions: bool = True, bias_bound: BiasBound | None = None,
                       lemma5: bool = False, moments: Callable | None = None,
                       description: str = "", mean_label: str = "") -> EstimatorInfo:
    """Add an estimator to :data:`ESTIMATORS` (run time or import time).

    Two forms:

    * ``register_estimator(EstimatorInfo(...))``: a row with a built-in kernel code (the
      built-ins use this);
    * ``register_estimator("my-est", kernel, zero_order=True, mean="grad f_nu", ...)``: an
      estimator plugin, ``kernel`` a Numba-compiled function (``@numba.njit``) with the plugin
      signature (docs/api.md, "Estimator plugins")::

          kernel(obj, batch, x, rng, nu, rv, out, U, xtmp) -> evaluations

      It writes one draw, the average over its own ``rv`` directions, into ``out``, draws its
      randomness only from ``rng`` (:func:`standard_normals`, :func:`bounded_index` or the
      Numba-supported methods of the generator), may use ``U`` (a ``(DIRECTION_BLOCK, d)``
      array) and ``xtmp`` (length ``d``) as scratch, evaluates the minibatch loss only through
      :func:`batch_loss`, :func:`batch_grad`, :func:`batch_jvp`, :func:`batch_losses_along` (a
      block of directions in one pass over the minibatch) on ``obj`` and ``batch``, and
      returns how many of those evaluations it used. ``mean`` is one of :data:`MEANS`.

    The kernel is compiled once on a tiny least-squares input at registration, so a wrong
    signature fails here with one line. Registering the same function (same file, same name)
    under the same name again is a no-op (a plugin file imported twice); any other name that is
    already registered raises :class:`HDOInputError`, as does a kernel code already in use.
    """
    if isinstance(info, EstimatorInfo):
        if kernel is not None:
            raise HDOInputError("register_estimator(EstimatorInfo(...)) takes no kernel argument")
        return _add_row(info)
    if not isinstance(info, str) or not info:
        raise HDOInputError("register_estimator takes an EstimatorInfo, or a name and a Numba "
                            f"kernel; got {type(info).__name__}")
    name = info
    check_choice(f"mean of estimator {name!r}", mean, MEANS)
    _check_kernel_object(name, kernel)
    old = ESTIMATORS.get(name)
    if old is not None:
        if old.kernel is not None and _same_function(old.kernel, kernel):
            return old  # the same plugin file imported again
        what = "a built-in" if name in _BUILTIN else "an estimator already registered"
        raise HDOInputError(f"estimator plugin {name!r}: the name clashes with {what}; "
                            "choose another name")
    code = EST_PLUGIN_BASE + sum(1 for e in ESTIMATORS.values() if e.kernel is not None)
    while any(e.code == code for e in ESTIMATORS.values()):
        code += 1
    row = EstimatorInfo(name, code, bool(zero_order), mean, bias_bound, bool(lemma5), moments,
                        description or f"plugin {name}", random_directions=bool(random_directions),
                        mean_label=mean_label, kernel=kernel, source=_plugin_source(kernel))
    _trial_compile(row)
    return _add_row(row)


def _add_row(info: EstimatorInfo) -> EstimatorInfo:
    if info.name in ESTIMATORS:
        raise HDOInputError(f"estimator {info.name!r} is already registered")
    for other in ESTIMATORS.values():
        if other.code == info.code:
            raise HDOInputError(f"estimator {info.name!r}: kernel code {info.code} is already "
                                f"used by estimator {other.name!r}")
    ESTIMATORS[info.name] = info
    return info


_SIGNATURE = "kernel(obj, batch, x, rng, nu, rv, out, U, xtmp) -> int"


def _check_kernel_object(name, kernel):
    import numba.core.dispatcher

    if isinstance(kernel, numba.core.dispatcher.Dispatcher):
        return
    if callable(kernel):
        raise HDOInputError(f"estimator plugin {name!r}: the kernel {_fn_name(kernel)} is a plain "
                            "Python function; it must be Numba-compiled (decorate it with "
                            f"@numba.njit), with the signature {_SIGNATURE}")
    raise HDOInputError(f"estimator plugin {name!r}: the kernel must be a Numba-compiled function "
                        f"{_SIGNATURE}, got {type(kernel).__name__}")


def _fn_name(fn) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


def _identity(fn):
    py = getattr(fn, "py_func", fn)
    code = getattr(py, "__code__", None)
    if code is None:
        return (id(fn),)
    import os

    return (os.path.realpath(code.co_filename), py.__qualname__, code.co_firstlineno)


def _same_function(a, b) -> bool:
    return a is b or _identity(a) == _identity(b)


def _plugin_source(fn) -> str | None:
    """A module name the kernel's module can be imported by, else the absolute file path."""
    import importlib.util
    import inspect
    import os

    mod = getattr(fn, "__module__", None) or getattr(getattr(fn, "py_func", None), "__module__", "")
    if mod and mod != "__main__":
        try:
            spec = importlib.util.find_spec(mod)
        except (ImportError, ValueError):
            spec = None
        if spec is not None:
            return mod
    try:
        path = inspect.getsourcefile(getattr(fn, "py_func", fn))
    except TypeError:
        path = None
    return os.path.abspath(path) if path else None


def _tiny_problem(d: int = 3, N: int = 4):
    """A least-squares data tuple with ``N`` samples in dimension ``d`` (trial compiles)."""
    from hdo_theory.objectives import _pack
    from hdo_theory.objectives.kernels import KIND_LEAST_SQUARES

    feats = np.linspace(-1.0, 1.0, N * d).reshape(N, d)
    return _pack(KIND_LEAST_SQUARES, [0.0], feats=feats, targets=np.linspace(0.0, 1.0, N))


def _trial_compile(row: EstimatorInfo) -> None:
    """Compile and run ``row.kernel`` once on a tiny problem; one-line error if it does not fit."""
    import numba.core.errors

    from hdo_theory.objectives.kernels import without_foreign_cache
    from hdo_theory.rng import kernel_generator

    d = 3
    # the kernel receives the data without its plugin slot (estimators.kernels._call_plugin):
    # plain float64/int64 arrays, the type of every built-in objective's data, so this compile
    # is the one a run uses (and, for a module-level kernel with cache=True, cached on disk)
    obj = _tiny_problem(d)
    x = np.full(d, 0.5)
    out = np.full(d, np.nan)
    batch = np.arange(2, dtype=np.int64)
    rng = kernel_generator(np.random.SeedSequence(0))
    try:
        evals = without_foreign_cache(row.kernel, lambda: row.kernel(
            obj, batch, x, rng, 1e-3, 2, out, direction_buffer(d), np.empty(d)))
    except (numba.core.errors.TypingError, TypeError) as exc:  # TypeError: wrong arity
        first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "typing error")
        raise HDOInputError(f"estimator plugin {row.name!r}: the kernel {_fn_name(row.kernel)} "
                            f"does not compile with the plugin signature {_SIGNATURE} "
                            f"({first})") from None
    except Exception as exc:  # noqa: BLE001 - any failure of the trial run is the plugin's
        raise HDOInputError(f"estimator plugin {row.name!r}: the kernel {_fn_name(row.kernel)} "
                            f"failed on a tiny input: {type(exc).__name__}: {exc}") from None
    if isinstance(evals, bool) or not isinstance(evals, (int, np.integer)) or evals < 0:
        raise HDOInputError(f"estimator plugin {row.name!r}: the kernel must return the number of "
                            f"loss evaluations it used (an int >= 0), got {evals!r}")
    if not np.all(np.isfinite(out)):
        raise HDOInputError(f"estimator plugin {row.name!r}: the kernel left non-finite values in "
                            "out on a tiny least-squares input (it must write all d entries)")


def kernel_data(data: tuple, *codes: int, rows: dict | None = None) -> tuple:
    """The objective data tuple ``data`` extended with the kernels of the plugin estimators
    among ``codes`` (the built-in codes need nothing: ``data`` itself is returned).

    Every Numba kernel that takes an objective data tuple accepts the result; the plugins ride
    in its extension slot (:mod:`hdo_theory.objectives.kernels`) as references typed by their
    signature (:func:`_plugin_signature`), so a run without plugins compiles and caches exactly
    as before and all runs with the same number of plugins share one compiled, disk-cached
    specialisation of each kernel.
    """
    by_code = rows if rows is not None else {e.code: e for e in ESTIMATORS.values()}
    plugins = []
    for c in dict.fromkeys(int(c) for c in codes):
        if c < EST_PLUGIN_BASE:
            continue
        row = by_code.get(c)
        if row is None or row.kernel is None:
            raise HDOInputError(f"no estimator plugin has kernel code {c}")
        plugins.append(c)
    if not plugins:
        return data
    user = data[7][0] if len(data) > 7 else ()
    sig = _plugin_signature((*data[:7], (user, ())) if user else data[:7])
    return (*data[:7], (user, tuple((np.int64(c), _native_kernel(by_code[c].kernel, sig))
                                    for c in plugins)))


def _plugin_signature(obj):
    """The signature an estimator plugin is compiled for when called on the objective data
    ``obj`` (without plugins): ``int64(obj, int64[::1] batch, float64[::1] x, generator,
    float64 nu, int64 rv, float64[::1] out, float64[:, ::1] U, float64[::1] xtmp)``."""
    import numba
    from numba.core import types

    from hdo_theory.rng import kernel_generator

    vec = types.float64[::1]
    rng_type = numba.typeof(kernel_generator(np.random.SeedSequence(0)))
    return types.int64(numba.typeof(obj), types.int64[::1], vec, rng_type, types.float64,
                       types.int64, vec, types.float64[:, ::1], vec)


_NATIVE_KERNELS: dict = {}


def _native_kernel(kernel, sig):
    """One :class:`~hdo_theory.objectives.kernels.NativeFunction` per (kernel, signature), so
    its address is looked up once per process."""
    from hdo_theory.objectives.kernels import NativeFunction

    key = (id(kernel), sig)
    ref = _NATIVE_KERNELS.get(key)
    if ref is None or ref.dispatcher is not kernel:
        ref = _NATIVE_KERNELS[key] = NativeFunction(kernel, sig)
    return ref


def unregister_estimator(name: str) -> None:
    """Remove a row added at run time (tests); the built-ins cannot be removed."""
    if name in _BUILTIN:
        raise HDOInputError(f"estimator {name!r} is built in and cannot be unregistered")
    ESTIMATORS.pop(name, None)


def estimator_info(name: str) -> EstimatorInfo:
    """The row of estimator ``name`` (HDOInputError listing the choices if unknown)."""
    check_choice("estimator", name, estimator_names())
    return ESTIMATORS[name]


def estimator_names() -> tuple[str, ...]:
    """Every registered estimator, in table order."""
    return tuple(ESTIMATORS)


def zo_estimator_names() -> tuple[str, ...]:
    """The zeroth-order estimators (``zero_order`` rows), in table order."""
    return tuple(n for n, e in ESTIMATORS.items() if e.zero_order)


def estimator_codes() -> dict[str, int]:
    """name -> kernel branch constant."""
    return {n: e.code for n, e in ESTIMATORS.items()}


def estimators_where(**fields) -> tuple[str, ...]:
    """Names of the rows whose fields equal ``fields`` (``estimators_where(zero_order=True)``)."""
    return tuple(n for n, e in ESTIMATORS.items()
                 if all(getattr(e, k) == v for k, v in fields.items()))


_DERIVED = {"ESTIMATOR_NAMES": estimator_names, "ZO_ESTIMATORS": zo_estimator_names,
            "ESTIMATOR_CODES": estimator_codes}


def __getattr__(name):
    # ESTIMATOR_NAMES, ZO_ESTIMATORS, ESTIMATOR_CODES: derived from the table on every access,
    # so they include rows registered at run time (an earlier ``from .. import`` keeps its copy:
    # code that must see later registrations calls estimator_names() etc.).
    if name in _DERIVED:
        return _DERIVED[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


for _row in (
    EstimatorInfo("fo", EST_FO, False, "grad f", UNBIASED, False, cf.fo_moments,
                  "first order: the minibatch gradient", random_directions=False),
    EstimatorInfo("zo-forward", EST_ZO_FORWARD, True, "grad f_nu", GAUSSIAN_SMOOTHING_BIAS, True,
                  cf.forward_moments, "Gaussian forward difference (Definition 2)"),
    EstimatorInfo("zo-central", EST_ZO_CENTRAL, True, "grad f_nu", GAUSSIAN_SMOOTHING_BIAS, True,
                  cf.central_moments, "Gaussian central difference"),
    EstimatorInfo("zo-directional", EST_ZO_DIRECTIONAL, True, "grad f", UNBIASED, True,
                  cf.directional_moments, "Gaussian directional derivative (forward-mode JVP)"),
    EstimatorInfo("zo-sphere", EST_ZO_SPHERE, True, "grad f_ball", BALL_SMOOTHING_BIAS, False,
                  cf.sphere_moments, "forward difference along a uniform unit-sphere direction"),
    EstimatorInfo("coord-fd", EST_COORD_FD, True, "unknown", COORDINATE_FD_BIAS, False,
                  cf.coordinate_fd_moments, "coordinate central differences (2d evaluations)",
                  random_directions=False, mean_label="coordinate central difference of f^i"),
):
    register_estimator(_row)
_BUILTIN = frozenset(ESTIMATORS)
del _row


@dataclass(frozen=True)
class EstimatorSpec:
    """An estimator choice for one population: kind, directions averaged, radius, batch size.

    ``nu`` is a positive float, or ``"theorem"`` for Theorem 1's ``nu = eta / sqrt(d)`` (resolved
    with :func:`resolve_nu` once the step size is known).
    """

    kind: str = "fo"
    rv: int = 1
    nu: float | str = 1e-3
    batch: int = 1

    def __post_init__(self):
        check_choice("estimator", self.kind, estimator_names())
        check_int("rv", self.rv, 1, MAX_RV)
        check_int("batch", self.batch, 1)
        if not (isinstance(self.nu, str) and self.nu == "theorem"):
            check_float("nu", self.nu, 0.0, lo_open=True)

    @property
    def code(self) -> int:
        return ESTIMATORS[self.kind].code

    @property
    def info(self) -> EstimatorInfo:
        return ESTIMATORS[self.kind]

    @property
    def is_zo(self) -> bool:
        return ESTIMATORS[self.kind].zero_order

    def as_dict(self) -> dict:
        return asdict(self)


def resolve_nu(nu, d: int, eta: float | None = None) -> float:
    """Return the numeric smoothing radius: ``nu`` itself, or ``eta / sqrt(d)`` for "theorem"."""
    if isinstance(nu, str):
        if nu != "theorem":
            raise HDOInputError(f"nu must be a positive number or 'theorem', got {nu!r}")
        if eta is None:
            raise HDOInputError("nu='theorem' needs the learning rate eta (nu = eta / sqrt(d))")
        eta = check_float("eta", eta, 0.0, lo_open=True)
        return eta / math.sqrt(d)
    return check_float("nu", nu, 0.0, lo_open=True)


def estimate_once(objective, spec: EstimatorSpec, node: int, x, rng, batch=None, eta=None):
    """Python convenience: one draw of ``spec`` at ``x`` for ``node`` (allocates; not for loops).

    ``batch`` defaults to a fresh minibatch of ``spec.batch`` samples drawn without replacement
    from the node's shard using ``rng``.
    """
    from hdo_theory.errors import check_point

    x = check_point("x", x, objective.d)
    nu = resolve_nu(spec.nu, objective.d, eta)
    shard = objective.shard(node)
    if batch is None:
        if spec.batch > shard.shape[0]:
            raise HDOInputError(
                f"batch must be <= the shard size {shard.shape[0]} of node {node}, got {spec.batch}"
            )
        batch = rng.choice(shard, size=spec.batch, replace=False)
    batch = np.ascontiguousarray(batch, dtype=np.int64)
    out = np.empty(objective.d)
    estimate(
        kernel_data(objective.data, spec.code), spec.code, spec.rv, nu, batch, x, rng, out,
        direction_buffer(objective.d), np.empty(objective.d),
    )
    return out
