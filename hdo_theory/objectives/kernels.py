"""Numba kernels for the per-sample losses F(x, xi), their gradients and directional derivatives.

Every objective is packed into one Numba-friendly tuple, the *objective data*::

    obj = (kind, params, feats, targets, groups, mats, centers)

    kind     int64                 which loss (the KIND_* constants below)
    params   float64[:]            scalar parameters (regularisation, shape), per kind
    feats    float64[N, p]         sample features a_j (GLMs) or linear tilts (cosine wells)
    targets  float64[N]            sample targets y_j (GLMs)
    groups   int64[N]              quadratic: which Hessian A_g sample j uses
    mats     float64[G, d, d]      quadratic: the Hessians A_g; explicit quadratic: mats[0] = A
    centers  float64[N, d]         quadratic: the sample centres c_j; explicit quadratic: b_j = B[j]

Unused slots hold empty arrays of the right dtype and rank, so that every kind has one Numba
type and every kernel compiles once. Data that carries user Numba functions (a ``KIND_USER``
objective's per-sample functions, or the estimator plugins of a run) has an 8th element, the
extension slot ``(user_fns, estimator_plugins)`` described below, holding signature-typed
:class:`NativeFunction` references (one specialisation, cached on disk, for all of them).
Samples are addressed by their global index ``j``; node shards and minibatches are index arrays
into the data set (see :mod:`hdo_theory.objectives`).

The per-sample losses (x in R^d):

* ``KIND_QUADRATIC``:      F(x, j) = 1/2 (x - c_j)^T A_{g_j} (x - c_j)
* ``KIND_LEAST_SQUARES``:  F(x, j) = 1/2 (a_j.x - y_j)^2 + (lam/2) ||x||^2
* ``KIND_LOGISTIC``:       F(x, j) = log(1 + exp(-y_j a_j.x)) + (lam/2) ||x||^2,  y_j in {-1, +1}
* ``KIND_LOGISTIC_NONCVX``: F(x, j) = log(1 + exp(-y_j a_j.x)) + lam sum_k x_k^2 / (1 + x_k^2)
* ``KIND_ROBUST``:         F(x, j) = r^2 / (1 + r^2) + (lam/2) ||x||^2,  r = a_j.x - y_j
* ``KIND_COSINE_WELLS``:   F(x, j) = sum_k [x_k^2/2 + alpha cos(beta x_k)] + a_j.x
  (alpha beta^2 > 1 gives several minima per coordinate and saddle points between them)
* ``KIND_SOFTMAX``:        F(x, j) = -log softmax(W a_j)_{y_j} + (lam/2)||W||^2,
  x = vec(W) with W in R^{K x p} (row-major: x[k p + q] = W[k, q])
* ``KIND_EXPLICIT_QUADRATIC``: F(x, j) = 1/2 x^T A x - b_j.x with one shared A = mats[0] and
  b_j = centers[j]; params = [noise]. These kernels give the noise-free loss (the mean over
  the oracle noise); the additive oracle noise ``xi.x``, ``xi ~ N(0, noise^2 I_d)``, is drawn
  by the estimator kernel (:func:`hdo_theory.estimators.kernels.estimate`), once per estimate.
* ``KIND_USER``:           the user's ``loss(x, j, params, feats, targets)`` (and its gradient
  and JVP) from the extension slot (:func:`hdo_theory.objectives.register_objective_kind`)

The directional derivative ``u . grad F(x, j)`` is computed directly (forward mode), at the cost
of one function evaluation and without forming the gradient.
"""

from __future__ import annotations

import math
import warnings

import numba
import numba.core.errors
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import (
    NativeValue,
    intrinsic,
    models,
    overload,
    register_model,
    typeof_impl,
    unbox,
)

from hdo_theory.rng import bounded_index

KIND_QUADRATIC = 0
KIND_LEAST_SQUARES = 1
KIND_LOGISTIC = 2
KIND_LOGISTIC_NONCVX = 3
KIND_ROBUST = 4
KIND_COSINE_WELLS = 5
KIND_SOFTMAX = 6
KIND_EXPLICIT_QUADRATIC = 7
#: A user-registered kind (:func:`hdo_theory.objectives.register_objective_kind`): its per-sample
#: loss, gradient and JVP are Numba functions carried in the objective data's extension slot.
KIND_USER = 100

# Reassociation and contraction let LLVM vectorise the dot products (about 4x at d = 100). We
# deliberately leave out 'nnan' / 'ninf': divergence detection relies on NaN and inf surviving.
# Results stay bit-identical run to run (same machine code); only rounding differs from a
# strictly sequential sum.
_FASTMATH = {"reassoc", "contract", "nsz"}
_JIT = dict(nogil=True, cache=True, fastmath=_FASTMATH)


# A user function's dispatcher inside the data tuple is typed by Numba's first-class function
# machinery, which warns on every compile; that machinery is what the extension slot relies on.
warnings.filterwarnings("ignore", message="First-class function type feature is experimental")

# ---------------------------------------------------------------------------------------------
# The extension slot. Built-in data is the 7-tuple above; data that carries user Numba
# functions has an 8th element ``ext = (user_fns, estimator_plugins)``:
#   user_fns           () or (loss, grad_add, jvp), the per-sample functions of a KIND_USER
#                      objective (signatures in hdo_theory.objectives.register_objective_kind)
#   estimator_plugins  () or ((code, kernel), ...), the estimator plugins a run uses
#                      (hdo_theory.estimators.register_estimator)
# The functions are NativeFunction references (below), typed by their signature only: data
# without an extension compiles (and caches) exactly as before, and data with one compiles once
# for every plugin or user kind of the same argument types, cached on disk like the rest. The
# helpers below are resolved at compile time from the type.
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# Native references to user Numba functions: the entries of the extension slot.
#
# A Numba dispatcher inside the data tuple is typed by its identity, so every kernel taking the
# data (the process's run_chunk, the statistics kernels) was compiled anew in every process: the
# on-disk cache never hits for a type that holds an object's identity. The extension slot holds
# :class:`NativeFunction` references instead, typed by their signature only
# (:class:`NativeFunctionType`): at a call from Python each is unboxed into the entry point of
# the user's function compiled for that signature (the function's own specialisation, cached on
# disk when it is ``cache=True``), and the kernels call it with Numba's calling convention
# (:func:`call_native`), so an exception raised in the user's function propagates. Every plugin
# (and every user kind) with the same argument types thus shares one compiled, disk-cached
# specialisation of each kernel. A reference pickles as its dispatcher and signature and looks
# its address up again in the process that unpickles it (sweep workers): never a stale pointer.
# ---------------------------------------------------------------------------------------------


class NativeFunction:
    """The user Numba function ``dispatcher`` compiled for the explicit signature ``sig`` (an
    entry of the extension slot, see above)."""

    __slots__ = ("dispatcher", "sig", "_address")

    def __init__(self, dispatcher, sig):
        self.dispatcher = dispatcher
        self.sig = sig
        self._address = 0

    def address(self) -> int:
        """The entry point (Numba calling convention) of the function compiled for ``sig``,
        compiled on first use (a disk load when the user's function is ``cache=True``)."""
        if not self._address:
            cres = without_foreign_cache(self.dispatcher,
                                         lambda: self.dispatcher.get_compile_result(self.sig))
            self._address = cres.library.get_pointer_to_function(cres.fndesc.llvm_func_name)
        return self._address

    def __reduce__(self):
        return (NativeFunction, (self.dispatcher, self.sig))

    def __repr__(self):
        name = getattr(self.dispatcher, "__name__", repr(self.dispatcher))
        return f"NativeFunction({name}, {self.sig})"


def without_foreign_cache(dispatcher, call):
    """``call()``, retried with ``dispatcher``'s on-disk cache switched off if loading it fails
    with :class:`ModuleNotFoundError`. Numba's cache entry of a function records its module's
    name, and a user file is imported under several (``__main__`` when run as a script, a
    ``hdo_theory_plugin_...`` name when loaded by ``--plugin``): an entry written under one
    name cannot be loaded under another, so that process compiles the function afresh."""
    try:
        return call()
    except ModuleNotFoundError:
        from numba.core.caching import NullCache

        dispatcher._cache = NullCache()
        return call()


class NativeFunctionType(types.Type):
    """The Numba type of a :class:`NativeFunction`: its signature only (no object identity)."""

    def __init__(self, sig):
        self.sig = sig
        super().__init__(name=f"native_function({sig})")

    @property
    def key(self):
        return self.sig


@typeof_impl.register(NativeFunction)
def _typeof_native_function(val, c):
    return NativeFunctionType(val.sig)


@register_model(NativeFunctionType)
class _NativeFunctionModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, ir.IntType(64))


@unbox(NativeFunctionType)
def _unbox_native_function(typ, obj, c):
    addr = c.pyapi.call_method(obj, "address", ())
    failed = cgutils.is_null(c.builder, addr)
    res = cgutils.alloca_once_value(c.builder, ir.Constant(ir.IntType(64), 0))
    with c.builder.if_then(c.builder.not_(failed)):
        c.builder.store(c.pyapi.long_as_longlong(addr), res)
        c.pyapi.decref(addr)
    return NativeValue(c.builder.load(res), is_error=failed)


@intrinsic
def call_native(typingctx, fn, args):
    """``fn(*args)`` for a native function ``fn`` (:class:`NativeFunctionType`), each argument
    cast to the type of ``fn``'s signature (a typing error if it cannot be)."""
    if not isinstance(fn, NativeFunctionType) or not isinstance(args, types.BaseTuple):
        return None
    sig = fn.sig
    if len(args) != len(sig.args):
        raise numba.core.errors.TypingError(f"call_native: {len(args)} arguments for {sig}")
    for k, (have, want) in enumerate(zip(args.types, sig.args, strict=True)):
        if typingctx.can_convert(have, want) is None:
            raise numba.core.errors.TypingError(
                f"call_native: argument {k} is {have}, the function's signature wants {want}")

    def codegen(context, builder, signature, llargs):
        vals = cgutils.unpack_tuple(builder, llargs[1], len(sig.args))
        cast = [context.cast(builder, v, have, want)
                for v, have, want in zip(vals, args.types, sig.args, strict=True)]
        fnty = context.call_conv.get_function_type(sig.return_type, sig.args)
        fptr = builder.inttoptr(llargs[0], fnty.as_pointer())
        status, res = context.call_conv.call_function(builder, fptr, sig.return_type,
                                                      sig.args, cast)
        with cgutils.if_unlikely(builder, status.is_error):
            context.call_conv.return_status_propagate(builder, status)
        if sig.return_type == types.none:
            return context.get_dummy_value()
        return res

    return sig.return_type(fn, args), codegen


def user_function_signatures(data):
    """The signatures the user functions ``(loss, grad_add, jvp)`` of a ``KIND_USER`` objective
    with data ``data`` are compiled for (``x``, ``u``, ``out``: C-contiguous float64 vectors)."""
    vec = types.float64[::1]
    head = (vec, types.int64, numba.typeof(data[1]), numba.typeof(data[2]),
            numba.typeof(data[3]))
    return (types.float64(*head), types.none(*head, types.float64, vec),
            types.float64(*head, vec))


def native_user_functions(loss, grad_add, jvp, data):
    """The extension-slot entry ``(loss, grad_add, jvp)`` of a ``KIND_USER`` objective's data."""
    return tuple(NativeFunction(f, s) for f, s in
                 zip((loss, grad_add, jvp), user_function_signatures(data), strict=True))


def _unpack(obj):
    """The seven built-in members of the objective data (whether or not it has an extension)."""
    raise NotImplementedError("nopython only")


@overload(_unpack, jit_options=dict(nogil=True))
def _unpack_impl(obj):
    return lambda obj: (obj[0], obj[1], obj[2], obj[3], obj[4], obj[5], obj[6])


def _user_fns_type(obj):
    """The Numba type of ``(loss, grad_add, jvp)`` in ``obj``'s extension slot, or None."""
    if not isinstance(obj, types.BaseTuple) or len(obj) < 8:
        return None
    ext = obj[7]
    if not isinstance(ext, types.BaseTuple) or len(ext) < 1:
        return None
    fns = ext[0]
    return fns if isinstance(fns, types.BaseTuple) and len(fns) == 3 else None


def _without_plugins(obj):
    """``obj`` without the estimator plugins of its extension slot (the 7 built-in members, plus
    the user functions of a KIND_USER objective). Kernels that evaluate losses call their
    bodies on this, so the loss kernels' cached specialisations for plain data are reused
    whatever plugins a run carries."""
    raise NotImplementedError("nopython only")


@overload(_without_plugins, jit_options=dict(nogil=True))
def _without_plugins_impl(obj):
    if not isinstance(obj, types.BaseTuple) or len(obj) < 8:
        return lambda obj: obj
    if _user_fns_type(obj) is None:
        return lambda obj: (obj[0], obj[1], obj[2], obj[3], obj[4], obj[5], obj[6])
    return lambda obj: (obj[0], obj[1], obj[2], obj[3], obj[4], obj[5], obj[6], (obj[7][0], ()))


def _user_loss(obj, j, x):
    raise NotImplementedError("nopython only")


def _user_grad_add(obj, j, x, scale, out):
    raise NotImplementedError("nopython only")


def _user_jvp(obj, j, x, u):
    raise NotImplementedError("nopython only")


def _c_vector(ty):
    return isinstance(ty, types.Array) and ty.layout == "C" and ty.mutable


@overload(_user_loss, jit_options=dict(nogil=True))
def _user_loss_impl(obj, j, x):
    if _user_fns_type(obj) is None:
        return lambda obj, j, x: np.nan
    if _c_vector(x):
        return lambda obj, j, x: call_native(obj[7][0][0], (x, j, obj[1], obj[2], obj[3]))
    return lambda obj, j, x: call_native(obj[7][0][0],
                                         (np.ascontiguousarray(x), j, obj[1], obj[2], obj[3]))


@overload(_user_grad_add, jit_options=dict(nogil=True))
def _user_grad_add_impl(obj, j, x, scale, out):
    if _user_fns_type(obj) is None:
        def no_user(obj, j, x, scale, out):
            out[:] = np.nan
        return no_user
    if _c_vector(x) and _c_vector(out):
        def impl(obj, j, x, scale, out):
            call_native(obj[7][0][1], (x, j, obj[1], obj[2], obj[3], scale, out))
        return impl

    def impl_copy(obj, j, x, scale, out):  # non-contiguous vectors: through contiguous copies
        tmp = np.zeros(out.shape[0])
        call_native(obj[7][0][1], (np.ascontiguousarray(x), j, obj[1], obj[2], obj[3], scale, tmp))
        for k in range(out.shape[0]):
            out[k] += tmp[k]
    return impl_copy


@overload(_user_jvp, jit_options=dict(nogil=True))
def _user_jvp_impl(obj, j, x, u):
    if _user_fns_type(obj) is None:
        return lambda obj, j, x, u: np.nan
    if _c_vector(x) and _c_vector(u):
        return lambda obj, j, x, u: call_native(obj[7][0][2], (x, j, obj[1], obj[2], obj[3], u))
    return lambda obj, j, x, u: call_native(obj[7][0][2], (np.ascontiguousarray(x), j, obj[1],
                                                           obj[2], obj[3],
                                                           np.ascontiguousarray(u)))


@numba.njit(**_JIT)
def _dot(a, b):
    s = 0.0
    for k in range(a.shape[0]):
        s += a[k] * b[k]
    return s


@numba.njit(**_JIT)
def _log1pexp(z):
    """log(1 + exp(z)) without overflow."""
    if z > 0.0:
        return z + math.log1p(math.exp(-z))
    return math.log1p(math.exp(z))


@numba.njit(**_JIT)
def _sigmoid(z):
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@numba.njit(**_JIT)
def _quad_form(A, x, c, u):
    """(x - c)^T A u."""
    d = x.shape[0]
    s = 0.0
    for r in range(d):
        t = 0.0
        for k in range(d):
            t += A[r, k] * u[k]
        s += (x[r] - c[r]) * t
    return s


@numba.njit(**_JIT)
def _softmax_logits_lse(W_flat, a, K, p, ylab):
    """Return (log-sum-exp of logits, logit of the true class) for x = vec(W).

    One pass over the classes (online log-sum-exp: the running sum is rescaled whenever a new
    maximum appears), so each logit is computed once.
    """
    mx = -np.inf
    s = 0.0
    zy = 0.0
    for k in range(K):
        z = 0.0
        for q in range(p):
            z += W_flat[k * p + q] * a[q]
        if z > mx:
            s = s * math.exp(mx - z) + 1.0
            mx = z
        else:
            s += math.exp(z - mx)
        if k == ylab:
            zy = z
    return mx + math.log(s), zy


@numba.njit(**_JIT)
def _explicit_quadratic_loss(A, b, x):
    """1/2 x^T A x - b.x (explicit quadratic, noise-free)."""
    d = x.shape[0]
    s = 0.0
    for r in range(d):
        t = 0.0
        for k in range(d):
            t += A[r, k] * x[k]
        s += x[r] * (0.5 * t - b[r])
    return s


@numba.njit(**_JIT)
def _explicit_quadratic_grad_add(A, b, x, scale, out):
    """out += scale * (A x - b) (explicit quadratic, noise-free)."""
    d = x.shape[0]
    for r in range(d):
        t = 0.0
        for k in range(d):
            t += A[r, k] * x[k]
        out[r] += scale * (t - b[r])


@numba.njit(**_JIT)
def _explicit_quadratic_jvp(A, b, x, u):
    """u . (A x - b) (explicit quadratic, noise-free)."""
    d = x.shape[0]
    s = 0.0
    for r in range(d):
        t = 0.0
        for k in range(d):
            t += A[r, k] * x[k]
        s += u[r] * (t - b[r])
    return s


@numba.njit(**_JIT)
def oracle_noise(obj):
    """The standard deviation of the additive oracle noise of ``obj``: ``params[0]`` for the
    explicit quadratic, 0.0 for every other kind (their randomness is the minibatch)."""
    if obj[0] == KIND_EXPLICIT_QUADRATIC:
        return obj[1][0]
    return 0.0


@numba.njit(**_JIT)
def sample_loss(obj, j, x):
    """F(x, j) for one sample j."""
    kind, params, feats, targets, groups, mats, centers = _unpack(obj)
    d = x.shape[0]
    if kind == KIND_EXPLICIT_QUADRATIC:
        return _explicit_quadratic_loss(mats[0], centers[j], x)
    if kind == KIND_USER:
        return _user_loss(obj, j, x)
    if kind == KIND_QUADRATIC:
        c = centers[j]
        A = mats[groups[j]]
        s = 0.0
        for r in range(d):
            t = 0.0
            for k in range(d):
                t += A[r, k] * (x[k] - c[k])
            s += (x[r] - c[r]) * t
        return 0.5 * s
    if kind == KIND_COSINE_WELLS:
        alpha = params[0]
        beta = params[1]
        s = 0.0
        a = feats[j]
        for k in range(d):
            s += 0.5 * x[k] * x[k] + alpha * math.cos(beta * x[k]) + a[k] * x[k]
        return s
    if kind == KIND_SOFTMAX:
        lam = params[0]
        K = int(params[1])
        a = feats[j]
        p = a.shape[0]
        lse, zy = _softmax_logits_lse(x, a, K, p, int(targets[j]))
        return lse - zy + 0.5 * lam * _dot(x, x)
    # generalised linear models
    lam = params[0]
    z = 0.0
    for k in range(d):
        z += feats[j, k] * x[k]
    y = targets[j]
    if kind == KIND_LEAST_SQUARES:
        r = z - y
        return 0.5 * r * r + (0.5 * lam * _dot(x, x) if lam != 0.0 else 0.0)
    if kind == KIND_LOGISTIC:
        return _log1pexp(-y * z) + (0.5 * lam * _dot(x, x) if lam != 0.0 else 0.0)
    if kind == KIND_LOGISTIC_NONCVX:
        reg = 0.0
        for k in range(d):
            xx = x[k] * x[k]
            reg += xx / (1.0 + xx)
        return _log1pexp(-y * z) + lam * reg
    if kind == KIND_ROBUST:
        r = z - y
        return r * r / (1.0 + r * r) + (0.5 * lam * _dot(x, x) if lam != 0.0 else 0.0)
    return np.nan


@numba.njit(**_JIT)
def sample_grad_add(obj, j, x, scale, out):
    """out += scale * grad F(x, j)."""
    kind, params, feats, targets, groups, mats, centers = _unpack(obj)
    d = x.shape[0]
    if kind == KIND_EXPLICIT_QUADRATIC:
        _explicit_quadratic_grad_add(mats[0], centers[j], x, scale, out)
        return
    if kind == KIND_USER:
        _user_grad_add(obj, j, x, scale, out)
        return
    if kind == KIND_QUADRATIC:
        c = centers[j]
        A = mats[groups[j]]
        for r in range(d):
            t = 0.0
            for k in range(d):
                t += A[r, k] * (x[k] - c[k])
            out[r] += scale * t
        return
    if kind == KIND_COSINE_WELLS:
        alpha = params[0]
        beta = params[1]
        a = feats[j]
        for k in range(d):
            out[k] += scale * (x[k] - alpha * beta * math.sin(beta * x[k]) + a[k])
        return
    if kind == KIND_SOFTMAX:
        lam = params[0]
        K = int(params[1])
        a = feats[j]
        p = a.shape[0]
        ylab = int(targets[j])
        lse, zy = _softmax_logits_lse(x, a, K, p, ylab)
        for k in range(K):
            z = 0.0
            for q in range(p):
                z += x[k * p + q] * a[q]
            g = math.exp(z - lse)
            if k == ylab:
                g -= 1.0
            for q in range(p):
                out[k * p + q] += scale * (g * a[q] + lam * x[k * p + q])
        return
    lam = params[0]
    a = feats[j]
    z = _dot(a, x)
    y = targets[j]
    if kind == KIND_LEAST_SQUARES:
        phi1 = z - y
    elif kind == KIND_LOGISTIC or kind == KIND_LOGISTIC_NONCVX:
        phi1 = -y * _sigmoid(-y * z)
    elif kind == KIND_ROBUST:
        r = z - y
        q = 1.0 + r * r
        phi1 = 2.0 * r / (q * q)
    else:
        phi1 = np.nan
    if kind == KIND_LOGISTIC_NONCVX:
        for k in range(d):
            xx = x[k] * x[k]
            q = 1.0 + xx
            out[k] += scale * (phi1 * a[k] + lam * 2.0 * x[k] / (q * q))
    else:
        for k in range(d):
            out[k] += scale * (phi1 * a[k] + lam * x[k])


@numba.njit(**_JIT)
def sample_jvp(obj, j, x, u):
    """u . grad F(x, j), computed in forward mode (one pass, no gradient formed)."""
    kind, params, feats, targets, groups, mats, centers = _unpack(obj)
    d = x.shape[0]
    if kind == KIND_EXPLICIT_QUADRATIC:
        return _explicit_quadratic_jvp(mats[0], centers[j], x, u)
    if kind == KIND_USER:
        return _user_jvp(obj, j, x, u)
    if kind == KIND_QUADRATIC:
        return _quad_form(mats[groups[j]], x, centers[j], u)
    if kind == KIND_COSINE_WELLS:
        alpha = params[0]
        beta = params[1]
        a = feats[j]
        s = 0.0
        for k in range(d):
            s += (x[k] - alpha * beta * math.sin(beta * x[k]) + a[k]) * u[k]
        return s
    if kind == KIND_SOFTMAX:
        lam = params[0]
        K = int(params[1])
        a = feats[j]
        p = a.shape[0]
        ylab = int(targets[j])
        # forward mode: dz_k = (U a)_k ; d lse = sum_k softmax_k dz_k ; d loss = d lse - dz_y.
        # One pass with the online log-sum-exp rescaling of _softmax_logits_lse.
        mx = -np.inf
        s = 0.0
        sd = 0.0
        dzy = 0.0
        for k in range(K):
            z = 0.0
            dz = 0.0
            for q in range(p):
                z += x[k * p + q] * a[q]
                dz += u[k * p + q] * a[q]
            if z > mx:
                scale = math.exp(mx - z)
                s = s * scale + 1.0
                sd = sd * scale + dz
                mx = z
            else:
                e = math.exp(z - mx)
                s += e
                sd += e * dz
            if k == ylab:
                dzy = dz
        return sd / s - dzy + lam * _dot(x, u)
    lam = params[0]
    a = feats[j]
    z = 0.0
    dz = 0.0
    for k in range(d):
        z += a[k] * x[k]
        dz += a[k] * u[k]
    y = targets[j]
    if kind == KIND_LEAST_SQUARES:
        return (z - y) * dz + lam * _dot(x, u)
    if kind == KIND_LOGISTIC:
        return -y * _sigmoid(-y * z) * dz + lam * _dot(x, u)
    if kind == KIND_LOGISTIC_NONCVX:
        reg = 0.0
        for k in range(d):
            xx = x[k] * x[k]
            q = 1.0 + xx
            reg += 2.0 * x[k] / (q * q) * u[k]
        return -y * _sigmoid(-y * z) * dz + lam * reg
    if kind == KIND_ROBUST:
        r = z - y
        q = 1.0 + r * r
        return 2.0 * r / (q * q) * dz + lam * _dot(x, u)
    return np.nan


# ---------------------------------------------------------------------------------------------
# Minibatch, node and global versions. ``batch`` is an int64 array of sample indices.
# ---------------------------------------------------------------------------------------------


@numba.njit(**_JIT)
def _is_glm(kind):
    return (
        kind == KIND_LEAST_SQUARES
        or kind == KIND_LOGISTIC
        or kind == KIND_LOGISTIC_NONCVX
        or kind == KIND_ROBUST
    )


@numba.njit(**_JIT)
def _glm_phi(kind, z, y):
    """The data term phi(z, y) of a GLM sample with margin z = a.x."""
    if kind == KIND_LEAST_SQUARES:
        r = z - y
        return 0.5 * r * r
    if kind == KIND_ROBUST:
        r = z - y
        return r * r / (1.0 + r * r)
    return _log1pexp(-y * z)  # both logistic kinds


@numba.njit(**_JIT)
def _glm_phi1(kind, z, y):
    """d phi / d z."""
    if kind == KIND_LEAST_SQUARES:
        return z - y
    if kind == KIND_ROBUST:
        r = z - y
        q = 1.0 + r * r
        return 2.0 * r / (q * q)
    return -y * _sigmoid(-y * z)


@numba.njit(**_JIT)
def _glm_reg(kind, lam, x):
    """The regulariser R(x) shared by every sample (added once per batch, not per sample)."""
    if lam == 0.0:
        return 0.0
    if kind == KIND_LOGISTIC_NONCVX:
        r = 0.0
        for k in range(x.shape[0]):
            xx = x[k] * x[k]
            r += xx / (1.0 + xx)
        return lam * r
    return 0.5 * lam * _dot(x, x)


# The batch kernels below have a fast path for the generalised linear models: the kind is
# dispatched once per batch instead of once per sample and the regulariser is evaluated once,
# which lets LLVM vectorise the margins (about 5x at d = 100, b = 16). They compute the same
# quantities as the per-sample kernels (tested against them to rounding).


@numba.njit(**_JIT)
def batch_loss(obj, batch, x):
    """(1/b) sum_{j in batch} F(x, j)."""
    kind = obj[0]
    b = batch.shape[0]
    if _is_glm(kind):
        feats = obj[2]
        targets = obj[3]
        d = x.shape[0]
        s = 0.0
        for t in range(b):
            j = batch[t]
            z = 0.0
            for k in range(d):
                z += feats[j, k] * x[k]
            s += _glm_phi(kind, z, targets[j])
        return s / b + _glm_reg(kind, obj[1][0], x)
    s = 0.0
    for t in range(b):
        s += sample_loss(obj, batch[t], x)
    return s / b


@numba.njit(**_JIT)
def batch_grad(obj, batch, x, out):
    """out = (1/b) sum_{j in batch} grad F(x, j)."""
    kind = obj[0]
    b = batch.shape[0]
    w = 1.0 / b
    d = x.shape[0]
    if _is_glm(kind):
        feats = obj[2]
        targets = obj[3]
        lam = obj[1][0]
        if kind == KIND_LOGISTIC_NONCVX:
            for k in range(d):
                q = 1.0 + x[k] * x[k]
                out[k] = lam * 2.0 * x[k] / (q * q)
        else:
            for k in range(d):
                out[k] = lam * x[k]
        for t in range(b):
            if t + ROW_PREFETCH_DISTANCE < b:  # the rows come from memory (see prefetch_batch)
                _prefetch_row(feats, batch[t + ROW_PREFETCH_DISTANCE])
            j = batch[t]
            z = 0.0
            for k in range(d):
                z += feats[j, k] * x[k]
            c = w * _glm_phi1(kind, z, targets[j])
            for k in range(d):
                out[k] += c * feats[j, k]
        return
    out[:] = 0.0
    for t in range(b):
        sample_grad_add(obj, batch[t], x, w, out)


@numba.njit(**_JIT)
def batch_jvp(obj, batch, x, u):
    """(1/b) sum_{j in batch} u . grad F(x, j)."""
    kind = obj[0]
    b = batch.shape[0]
    if _is_glm(kind):
        feats = obj[2]
        targets = obj[3]
        lam = obj[1][0]
        d = x.shape[0]
        s = 0.0
        for t in range(b):
            j = batch[t]
            z = 0.0
            dz = 0.0
            for k in range(d):
                z += feats[j, k] * x[k]
                dz += feats[j, k] * u[k]
            s += _glm_phi1(kind, z, targets[j]) * dz
        reg = 0.0
        if lam != 0.0:
            if kind == KIND_LOGISTIC_NONCVX:
                for k in range(d):
                    q = 1.0 + x[k] * x[k]
                    reg += 2.0 * x[k] / (q * q) * u[k]
            else:
                reg = _dot(x, u)
        return s / b + lam * reg
    s = 0.0
    for t in range(b):
        s += sample_jvp(obj, batch[t], x, u)
    return s / b


@numba.njit(**_JIT)
def weighted_loss(obj, weights, x):
    """sum_j w_j F(x, j): the global objective f when ``weights`` are the sample weights."""
    return _weighted_loss(_without_plugins(obj), weights, x)


@numba.njit(**_JIT)
def _weighted_loss(obj, weights, x):
    s = 0.0
    for j in range(weights.shape[0]):
        if weights[j] != 0.0:
            s += weights[j] * sample_loss(obj, j, x)
    return s


@numba.njit(**_JIT)
def weighted_loss_grad(obj, weights, x, out, y, with_y):
    """``(f(x), f(y))`` with ``out = grad f(x)``, in one pass over the data set.

    What :func:`weighted_loss` at ``x`` (and at ``y`` when ``with_y``; else the second value
    is 0.0) and :func:`weighted_grad` at ``x`` compute, with each sample's row read from
    memory once for all three instead of once per pass: at large ``N`` a record is bound by
    reading the data, and the process records gap, gradient norm and y-gap at every record.
    Every sum keeps its order ``j = 0, 1, ...`` and its terms, so the values equal the
    separate passes' bit for bit (tested)."""
    return _weighted_loss_grad(_without_plugins(obj), weights, x, out, y, with_y)


@numba.njit(**_JIT)
def _weighted_loss_grad(obj, weights, x, out, y, with_y):
    out[:] = 0.0
    s = 0.0
    sy = 0.0
    for j in range(weights.shape[0]):
        w = weights[j]
        if w != 0.0:
            s += w * sample_loss(obj, j, x)
            sample_grad_add(obj, j, x, w, out)
            if with_y:
                sy += w * sample_loss(obj, j, y)
    return s, sy


@numba.njit(**_JIT)
def weighted_losses(obj, weights, X, out):
    """out[k] = sum_j w_j F(X[k], j) for every row of ``X``: :func:`weighted_loss` at many points.

    One pass over the data set for all points (each sample's row is read from memory once and
    reused from cache for every point) instead of one pass per point; per point the terms are
    the same and are added in the same order ``j = 0, 1, ...``, so ``out[k]`` equals
    ``weighted_loss(obj, weights, X[k])`` bit for bit (tested). The process records node
    losses with it (``record_nodes``): ``n`` full passes over the data per record were most of
    a run's time at large ``N`` (``benchmarks/README.md``).
    """
    _weighted_losses(_without_plugins(obj), weights, X, out)


@numba.njit(**_JIT)
def _weighted_losses(obj, weights, X, out):
    n = X.shape[0]
    for k in range(n):
        out[k] = 0.0
    for j in range(weights.shape[0]):
        w = weights[j]
        if w != 0.0:
            for k in range(n):
                out[k] += w * sample_loss(obj, j, X[k])


@numba.njit(**_JIT)
def weighted_grad(obj, weights, x, out):
    """out = sum_j w_j grad F(x, j)."""
    _weighted_grad(_without_plugins(obj), weights, x, out)


@numba.njit(**_JIT)
def _weighted_grad(obj, weights, x, out):
    out[:] = 0.0
    for j in range(weights.shape[0]):
        if weights[j] != 0.0:
            sample_grad_add(obj, j, x, weights[j], out)


@numba.njit(**_JIT)
def per_sample_grads(obj, samples, x, out):
    """out[t] = grad F(x, samples[t]) for every listed sample (used for exact variances)."""
    for t in range(samples.shape[0]):
        out[t, :] = 0.0
        sample_grad_add(obj, samples[t], x, 1.0, out[t])


@numba.njit(**_JIT)
def draw_batch(rng, perm, start, m, b):
    """Draw ``b`` of the ``m`` indices perm[start:start+m] without replacement, in place.

    A partial Fisher-Yates shuffle of the node's slice of ``perm``: afterwards
    ``perm[start:start+b]`` is a uniform random ``b``-subset (in random order), whatever order
    the slice had before. No allocation (:func:`~hdo_theory.rng.bounded_index`, not
    ``rng.integers``, which allocates in Numba); same stream as ``rng.integers(0, m - k)`` draws.
    The returned view aliases ``perm``.
    """
    for k in range(b):
        r = k + bounded_index(rng, m - k)
        tmp = perm[start + k]
        perm[start + k] = perm[start + r]
        perm[start + r] = tmp
    return perm[start : start + b]


#: ``llvm.prefetch`` locality of the row hints: 2 (x86 ``prefetcht1``: into L2, not L1). A hint
#: to L1 waits for one of the core's few L1 miss slots, so a burst of row hints stalls behind
#: them; hints to L2 use its deeper miss queue and keep more rows in flight
#: (``benchmarks/bench_prefetch.py``, N = 49,152: 126 against 164 ns per random row with the
#: hints 2 rows ahead, 139 against 234 ns for the burst alone).
PREFETCH_LOCALITY = 2


@intrinsic
def _prefetch_row(typingctx, arr, j):
    """Hint the CPU to load row ``j`` of the C-contiguous 2-D array ``arr`` into cache.

    One LLVM ``llvm.prefetch`` (read, locality :data:`PREFETCH_LOCALITY`, data cache) per
    64-byte line of the row. A hint only: no value is read or written, so results cannot change;
    an out-of-range ``j`` is harmless (prefetches never fault), but callers pass valid rows.
    """
    if not (isinstance(arr, types.Array) and arr.ndim == 2 and isinstance(j, types.Integer)):
        return None
    sig = types.void(arr, j)

    def codegen(context, builder, signature, args):
        a = context.make_array(signature.args[0])(context, builder, value=args[0])
        stride0 = cgutils.unpack_tuple(builder, a.strides, 2)[0]
        ncols = cgutils.unpack_tuple(builder, a.shape, 2)[1]
        itemsize = context.get_constant(types.intp, context.get_abi_sizeof(
            context.get_data_type(signature.args[0].dtype)))
        row = context.cast(builder, args[1], signature.args[1], types.intp)
        start = builder.add(builder.ptrtoint(a.data, stride0.type), builder.mul(row, stride0))
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
            "llvm.prefetch.p0")
        zero = context.get_constant(types.intp, 0)
        line = context.get_constant(types.intp, 64)
        with cgutils.for_range_slice(builder, zero, builder.mul(ncols, itemsize), line) as (o, _):
            builder.call(fn, [builder.inttoptr(builder.add(start, o), i8p), i32(0),
                                  i32(PREFETCH_LOCALITY), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


#: Rows ahead that a minibatch pass prefetches (:func:`prefetch_row`). The burst of
#: :func:`prefetch_batch` right after a draw is not enough: the core has few outstanding-miss
#: slots, so most of a 16-row burst's hints are late or lost, while re-hinting the row a few ahead
#: of the one being read keeps the next loads in flight (issue 14 micro-benchmark,
#: ``benchmarks/bench_prefetch.py``: 126 against 139 ns per random row with hints to L2,
#: :data:`PREFETCH_LOCALITY`, at N = 49,152).
ROW_PREFETCH_DISTANCE = 2


@numba.njit(inline="always", **_JIT)
def prefetch_row(arr, j):
    """Hint row ``j`` of the C-contiguous 2-D ``arr`` into cache (no value changes)."""
    _prefetch_row(arr, j)


@numba.njit(**_JIT)
def prefetch_batch(obj, batch):
    """Start loading the per-sample rows a minibatch will read (features, or quadratic centres).

    With data sets larger than the caches every minibatch row is a random memory access; the
    process calls this right after drawing a minibatch, so the loads overlap the estimator's
    direction draws and each other instead of stalling one row at a time. Values and random
    streams are untouched: results are bit-identical with or without it.
    """
    feats = obj[2]
    centers = obj[6]
    for t in range(batch.shape[0]):
        j = batch[t]
        if feats.shape[1] > 0:
            _prefetch_row(feats, j)
        if centers.shape[1] > 0:
            _prefetch_row(centers, j)


@numba.njit(**_JIT)
def sample_correct(obj, j, x):
    """1.0 if the model x classifies sample j correctly, else 0.0 (classification kinds only).

    Logistic kinds predict sign(a_j . x); softmax predicts argmax_k (W a_j)_k. Other kinds: NaN.
    """
    kind, params, feats, targets, groups, mats, centers = _unpack(obj)
    a = feats[j]
    if kind == KIND_LOGISTIC or kind == KIND_LOGISTIC_NONCVX:
        return 1.0 if _dot(a, x) * targets[j] > 0.0 else 0.0
    if kind == KIND_SOFTMAX:
        K = int(params[1])
        p = a.shape[0]
        best = 0
        best_z = -np.inf
        for k in range(K):
            z = 0.0
            for q in range(p):
                z += x[k * p + q] * a[q]
            if z > best_z:
                best_z = z
                best = k
        return 1.0 if best == int(targets[j]) else 0.0
    return np.nan


@numba.njit(**_JIT)
def dataset_loss_accuracy(obj, x):
    """(mean loss, accuracy) of x over every sample of ``obj`` (e.g. a held-out set)."""
    N = obj[3].shape[0]
    s = 0.0
    c = 0.0
    for j in range(N):
        s += sample_loss(obj, j, x)
        c += sample_correct(obj, j, x)
    return s / N, c / N
