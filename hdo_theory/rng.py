"""Random-number helpers for the Numba kernels, and the one place that builds their generators.

Three jobs:

* :func:`kernel_generator` turns a ``numpy.random.SeedSequence`` into the
  ``numpy.random.Generator`` the hot kernels (the gossip process, the estimator Monte Carlo)
  draw from: an :class:`SFC64Generator`, i.e. a plain ``numpy.random.Generator`` on NumPy's
  **SFC64** bit generator (Chris Doty-Humphrey's Small Fast Chaotic PRNG; passes PractRand and
  TestU01 BigCrush). Streams derive from one seed and the replica index through
  ``SeedSequence``, so runs stay reproducible. In Python it behaves exactly like
  ``numpy.random.Generator(numpy.random.SFC64(seed_seq))``.
* :func:`standard_normals` fills a vector with standard normals: **the same values, and the
  same generator state afterwards, as** ``rng.standard_normal(n)`` (tested bit for bit). Given
  any ``Generator`` it calls ``rng.standard_normal()`` per element. Given an
  :class:`SFC64Generator` (Numba sees its own type, :class:`SFC64GeneratorType`, so the choice
  is made at compile time), it runs NumPy's ziggurat with the SFC64 step inlined, the state held
  in registers for the whole vector and the sign applied without a branch: about 2.5 ns per
  normal instead of 7-9 ns through NumPy's bit-generator function pointer (measured on the
  2-core benchmark machine; ``benchmarks/README.md``). Gaussian directions are most of the cost
  of a zeroth-order estimate (``rv * d`` normals), so this is the largest single speed-up of the
  gossip process.
* :func:`bounded_index` draws a uniform integer in ``[0, m)`` **without allocating**. Numba's
  scalar ``Generator.integers(lo, hi)`` allocates a one-element array per call (Numba 0.68
  implements it with the array-filling routine), i.e. ``2 + 2 b`` heap allocations per pairwise
  interaction with batch ``b``. :func:`bounded_index` runs the same algorithm (Lemire's
  rejection on 32-bit draws, as NumPy's ``integers`` does for ranges below ``2**32``) on the
  generator's bit stream directly, so it returns exactly what ``rng.integers(0, m)`` would and
  leaves the generator in the same state (tested against NumPy).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.core import cgutils
from numba.core.extending import intrinsic, overload, register_model, typeof_impl

try:  # Numba-internal pieces the inline SFC64 path reuses (present in numba 0.56 - 0.68)
    from numba.np.random._constants import (
        fi_double,
        ki_double,
        wi_double,
        ziggurat_nor_inv_r,
        ziggurat_nor_r,
    )
    from numba.np.random.generator_core import NumPyRandomGeneratorTypeModel

    _HAVE_FAST_NORMALS = True
except ImportError:  # pragma: no cover - a Numba that moved them: generic path only, same values
    _HAVE_FAST_NORMALS = False

_JIT = dict(nogil=True, cache=True)

try:  # Numba's nopython binding of the bit generator's next_uint32 (numba >= 0.56)
    from numba.np.random.generator_core import next_uint32 as _next_uint32

    _HAVE_RAW_BITS = True
except ImportError:  # pragma: no cover - only on a Numba without the binding
    _HAVE_RAW_BITS = False

_UINT32_MAX = np.uint64(0xFFFFFFFF)


class SFC64Generator(np.random.Generator):
    """A ``numpy.random.Generator`` whose bit generator is guaranteed to be ``SFC64``.

    Identical to ``numpy.random.Generator(numpy.random.SFC64(...))`` in every method; the
    subclass only exists so that Numba can tell, from the type alone, that the bit generator's
    state is SFC64's (four 64-bit words), which :func:`standard_normals` then steps inline.
    """

    def __init__(self, bit_generator):
        if not isinstance(bit_generator, np.random.SFC64):
            raise TypeError(
                f"SFC64Generator needs a numpy.random.SFC64 bit generator, got "
                f"{type(bit_generator).__name__}"
            )
        super().__init__(bit_generator)

    def __reduce__(self):  # pickles (e.g. to sweep workers) as itself, not as a plain Generator
        return (SFC64Generator, (self.bit_generator,))


class SFC64GeneratorType(types.NumPyRandomGeneratorType):
    """Numba type of :class:`SFC64Generator`: a ``NumPyRandomGeneratorType`` (same data model,
    same unboxing, every Generator method available) that also promises an SFC64 state."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.name = "SFC64GeneratorType"


def _typeof_sfc64_generator(val, c):
    if not isinstance(val.bit_generator, np.random.SFC64):
        # ``_bit_generator`` is writable from Python: a swapped-in generator must not reach the
        # inline path (it would read and write its state as SFC64's four words)
        return types.NumPyRandomGeneratorType("NumPyRandomGeneratorType")
    return SFC64GeneratorType("SFC64GeneratorType")


if _HAVE_FAST_NORMALS:  # otherwise SFC64Generator is typed as any Generator (generic path)
    typeof_impl.register(SFC64Generator)(_typeof_sfc64_generator)
    register_model(SFC64GeneratorType)(NumPyRandomGeneratorTypeModel)


def kernel_generator(seed_seq: np.random.SeedSequence) -> SFC64Generator:
    """The generator (SFC64 bit generator) the kernels draw from, seeded by ``seed_seq``."""
    return SFC64Generator(np.random.SFC64(seed_seq))


# ---------------------------------------------------------------------------------------------
# Standard normals
# ---------------------------------------------------------------------------------------------


@intrinsic
def _sfc64_state_words(typingctx, bitgen):
    """Pointer to the SFC64 state ``uint64_t s[4]`` (the first member of NumPy's
    ``sfc64_state``) of a bit generator known to be SFC64."""
    sig = types.CPointer(types.uint64)(bitgen)

    def codegen(context, builder, signature, args):
        proxy = cgutils.create_struct_proxy(signature.args[0])(context, builder, value=args[0])
        return builder.inttoptr(proxy.state, context.get_value_type(signature.return_type))

    return sig, codegen


_U1 = np.uint64(1)
_U3 = np.uint64(3)
_U8 = np.uint64(8)
_U11 = np.uint64(11)
_U24 = np.uint64(24)
_U40 = np.uint64(40)
_LOW8 = np.uint64(0xFF)
_MANT52 = np.uint64(0x000FFFFFFFFFFFFF)
_TWO_M53 = 1.0 / 9007199254740992.0
_SIGNS = np.array([1.0, -1.0])


@numba.njit(inline="always", **_JIT)
def _sfc64_next(a, b, c, w):
    """One step of SFC64 on its state words ``(a, b, c, w)`` (NumPy's ``sfc64_next``):
    returns ``(output, a', b', c', w')``. Unsigned 64-bit arithmetic wraps, as in C."""
    r = a + b + w
    return r, b ^ (b >> _U11), c + (c << _U3), ((c << _U24) | (c >> _U40)) + r, w + _U1


def standard_normals(rng, out):
    """Fill ``out`` with standard normals from ``rng`` (nopython only; see the module docstring).

    Same values and same final generator state as ``out[:] = rng.standard_normal(out.size)``.
    """
    raise NotImplementedError("standard_normals is called from Numba-compiled code only")


@overload(standard_normals, jit_options=dict(nogil=True))
def _standard_normals_impl(rng, out):
    if not isinstance(rng, types.NumPyRandomGeneratorType):
        return None
    if not isinstance(rng, SFC64GeneratorType):

        def generic(rng, out):
            for k in range(out.shape[0]):
                out[k] = rng.standard_normal()

        return generic

    def sfc64(rng, out):
        # NumPy's random_standard_normal (ziggurat, 256 layers) on SFC64's next_uint64, with
        # the state in locals for the whole vector (written back at the end)
        st = numba.carray(_sfc64_state_words(rng.bit_generator), 4)
        a, b, c, w = st[0], st[1], st[2], st[3]
        n = out.shape[0]
        i = 0
        while i < n:
            r, a, b, c, w = _sfc64_next(a, b, c, w)
            idx = r & _LOW8
            r >>= _U8
            rabs = (r >> _U1) & _MANT52
            # rabs < 2**52, so the signed conversion is exact; multiplying by +-1 flips the
            # sign exactly like NumPy's "x = -x", without its unpredictable branch
            x = np.float64(np.int64(rabs)) * (wi_double[idx] * _SIGNS[r & _U1])
            if rabs < ki_double[idx]:
                out[i] = x
                i += 1
            elif idx == 0:  # the tail beyond r = 3.654...
                while True:
                    r, a, b, c, w = _sfc64_next(a, b, c, w)
                    u1 = np.float64(np.int64(r >> _U11)) * _TWO_M53
                    r, a, b, c, w = _sfc64_next(a, b, c, w)
                    u2 = np.float64(np.int64(r >> _U11)) * _TWO_M53
                    xx = -ziggurat_nor_inv_r * np.log1p(-u1)
                    yy = -np.log1p(-u2)
                    if yy + yy > xx * xx:
                        if (rabs >> _U8) & _U1:
                            out[i] = -(ziggurat_nor_r + xx)
                        else:
                            out[i] = ziggurat_nor_r + xx
                        i += 1
                        break
            else:  # the wedge of layer idx: accept with probability of the density
                r, a, b, c, w = _sfc64_next(a, b, c, w)
                u1 = np.float64(np.int64(r >> _U11)) * _TWO_M53
                if (fi_double[idx - 1] - fi_double[idx]) * u1 + fi_double[idx] < np.exp(
                    -0.5 * x * x
                ):
                    out[i] = x
                    i += 1
        st[0] = a
        st[1] = b
        st[2] = c
        st[3] = w

    return sfc64


if _HAVE_RAW_BITS:

    @numba.njit(inline="always", **_JIT)
    def bounded_index(rng, m):
        """A uniform integer in ``[0, m)``: the same value and stream as ``rng.integers(0, m)``.

        Lemire's nearly-divisionless rejection on 32-bit draws, as NumPy does for ranges below
        ``2**32`` (NumPy's ``buffered_bounded_lemire_uint32``); ``m = 1`` returns 0 and draws
        nothing, as NumPy does; ``m >= 2**32`` is handed to ``rng.integers`` (which allocates).
        ``m >= 1`` is the caller's job (``m <= 0`` returns 0 where NumPy would raise).
        """
        if m <= 1:
            return 0
        if m > 0xFFFFFFFF:  # outside the 32-bit path: NumPy's own (allocating) routine
            return rng.integers(0, m)
        bitgen = rng.bit_generator
        rng_excl = np.uint64(m)
        prod = np.uint64(_next_uint32(bitgen)) * rng_excl
        leftover = prod & _UINT32_MAX
        if leftover < rng_excl:
            threshold = (_UINT32_MAX - (rng_excl - np.uint64(1))) % rng_excl
            while leftover < threshold:
                prod = np.uint64(_next_uint32(bitgen)) * rng_excl
                leftover = prod & _UINT32_MAX
        return np.int64(prod >> np.uint64(32))

else:  # pragma: no cover

    @numba.njit(inline="always", **_JIT)
    def bounded_index(rng, m):
        """A uniform integer in ``[0, m)`` (allocating fallback: ``rng.integers(0, m)``)."""
        if m <= 1:
            return 0
        return rng.integers(0, m)
