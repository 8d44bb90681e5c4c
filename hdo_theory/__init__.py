"""hdo-theory: check the theory of hybrid decentralized optimization by experiment.

Reference: M. Ansaripour, S. Talaei, G. Nadiradze, D. Alistarh, *Hybrid Decentralized
Optimization: Leveraging Both First- and Zeroth-Order Optimizers for Faster Convergence*,
AAAI 2025 (extended version arXiv 2210.07703).

Data flows one way::

    objectives -> estimators -> process -> results (trajectory) -> verify -> report / figures
"""

__version__ = "0.1.0"

from hdo_theory import _compat  # noqa: E402
from hdo_theory.errors import HDOInputError  # noqa: E402

_compat.install()  # version 0.1 import paths keep working (deprecated)

__all__ = ["HDOInputError", "__version__"]
