"""One consistent look for every figure: palette, fonts, axes, replica bands, population labels.

* Palette: Okabe & Ito (2008), distinguishable under the common colour-vision deficiencies;
  line styles cycle as well, so curves stay apart in greyscale print.
* Every axis gets a label; rates live on log scales (the caller says which axis).
* Replica bands: the mean over replicas with a two-sided 95% Student-t interval of that mean
  (``t_{R-1}`` quantile times the standard error over replicas). Diverged replicas are NaN and
  left out point by point. With one replica no band is drawn.
* Populations are named the paper's way: ``"24 FO + 256 ZO"``, ``"16 ZO"``, ``"6 FO"``.
"""

from __future__ import annotations

import contextlib

import matplotlib.pyplot as plt
import numpy as np
from scipy import stats as _st

#: Okabe-Ito colours (black last: it is kept for reference curves and bounds).
OKABE_ITO = (
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#0072B2",  # blue
    "#CC79A7",  # reddish purple
    "#F0E442",  # yellow (low contrast on white: used last)
    "#000000",  # black
)
PALETTE = OKABE_ITO[:6] + OKABE_ITO[6:7]
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)), (0, (1, 1)))
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
#: Colour and style of bounds and reference curves (black, thin).
BOUND_STYLE = dict(color="#000000", lw=1.1)
BAND_LEVEL = 0.95

RC = {
    "figure.dpi": 100,
    "savefig.dpi": 200,
    "savefig.bbox": "tight",
    "font.size": 9,
    "axes.titlesize": 9.5,
    "axes.labelsize": 9,
    "legend.fontsize": 7.5,
    "legend.frameon": False,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "grid.linewidth": 0.5,
    "lines.linewidth": 1.5,
    "pdf.fonttype": 42,  # embed TrueType: editable text in the vector output
    "ps.fonttype": 42,
}


@contextlib.contextmanager
def style():
    """Context in which figures get the house style (matplotlib rc parameters)."""
    with plt.rc_context(RC):
        yield


def color(k: int) -> str:
    return PALETTE[k % len(PALETTE)]


def linestyle(k: int):
    return LINESTYLES[k % len(LINESTYLES)]


def marker(k: int) -> str:
    return MARKERS[k % len(MARKERS)]


def population_label(n0: int, n1: int) -> str:
    """The paper's way of naming a population: ``"24 FO + 256 ZO"``, ``"16 ZO"``, ``"6 FO"``."""
    n0, n1 = int(n0), int(n1)
    if n0 and n1:
        return f"{n1} FO + {n0} ZO"
    return f"{n0} ZO" if n0 else f"{n1} FO"


def new_figure(nrows: int = 1, ncols: int = 1, width: float = 3.4, height: float = 2.6):
    """A figure of ``nrows x ncols`` panels, each about ``width x height`` inches."""
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, layout="constrained"
    )
    return fig, axes


def mean_band(Y, level: float = BAND_LEVEL):
    """``(mean, lo, hi)`` over replicas (rows of ``Y``), NaN-aware; ``lo = hi = mean`` where
    fewer than two finite replicas exist."""
    Y = np.atleast_2d(np.asarray(Y, dtype=float))
    with np.errstate(all="ignore"):
        cnt = np.sum(np.isfinite(Y), axis=0)
        m = np.where(cnt > 0, np.nansum(Y, axis=0) / np.maximum(cnt, 1), np.nan)
        dev = np.where(np.isfinite(Y), Y - m, 0.0)
        sd = np.sqrt(np.sum(dev**2, axis=0) / np.maximum(cnt - 1, 1))
        q = _st.t.ppf(0.5 + level / 2, np.maximum(cnt - 1, 1))
        half = np.where(cnt >= 2, q * sd / np.sqrt(np.maximum(cnt, 1)), 0.0)
    return m, m - half, m + half


def plot_band(ax, x, Y, *, k: int = 0, label: str | None = None, logy: bool = False, **kw):
    """Replica mean of ``Y`` against ``x`` with its confidence band; returns the line.

    On a log axis the band's lower edge is clipped at a third of the mean (an interval reaching
    below 0 carries no information on a log scale; few replicas make such spikes common).
    """
    x = np.asarray(x, dtype=float)
    m, lo, hi = mean_band(Y)
    if logy:  # keep the band readable: lower edges below mean/3 drawn at mean/3
        lo = np.maximum(lo, m / 3.0)
    ok = np.isfinite(m) & np.isfinite(x)
    if logy:
        ok &= m > 0
    kw.setdefault("color", color(k))
    kw.setdefault("ls", linestyle(k))
    (line,) = ax.plot(x[ok], m[ok], label=label, **kw)
    if np.atleast_2d(Y).shape[0] >= 2 and ok.any():
        ax.fill_between(x[ok], lo[ok], hi[ok], color=kw["color"], alpha=0.18, lw=0)
    return line


def label_axes(ax, xlabel: str, ylabel: str, *, logx: bool = False, logy: bool = False,
               title: str | None = None):
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    from matplotlib.ticker import NullFormatter

    if logx:
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # 2x10^0, 3x10^0 ... clutter the axis
    if logy:  # minor labels kept: they are the only labels when the range is under a decade
        ax.set_yscale("log")
    if title:
        ax.set_title(title)


def panel_letter(ax, k: int):
    ax.text(-0.02, 1.04, f"({'abcdefghijklmnop'[k]})", transform=ax.transAxes, fontsize=9,
            fontweight="bold", ha="right", va="bottom")
