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
import math

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
    # log axes: only major ticks are labelled (decades, or 1-2-5 / evenly spaced values when
    # under two decades are in view): labelling every minor tick clutters the axis
    if logx:
        ax.set_xscale("log")
        log_ticks(ax.xaxis)
    if logy:
        ax.set_yscale("log")
        log_ticks(ax.yaxis)
    if title:
        ax.set_title(title)


def panel_letter(ax, k: int):
    """The panel's letter, bold, just left of the axes' top-left corner. A centred title is
    moved to the left slot, so that it starts where the letter ends: a title wider than its
    axes can no longer run into the letter."""
    title = ax.get_title()
    if title:
        ax.set_title("")
        ax.set_title(title, loc="left")
    ax.text(-0.02, 1.04, f"({'abcdefghijklmnop'[k]})", transform=ax.transAxes, fontsize=9,
            fontweight="bold", ha="right", va="bottom")


# ---------------------------------------------------------------------------------------------
# Log-axis ticks, one-sided intervals, legends kept off the data
# ---------------------------------------------------------------------------------------------

from matplotlib import ticker as _ticker  # noqa: E402


def _decades_in(vmin: float, vmax: float) -> int:
    """How many integer powers of ten lie in ``[vmin, vmax]`` (positive limits)."""
    if not (vmin > 0 and vmax > 0):
        return 0
    lo, hi = sorted((math.log10(vmin), math.log10(vmax)))
    return max(0, math.floor(hi + 1e-9) - math.ceil(lo - 1e-9) + 1)


def _log_mode(vmin: float, vmax: float) -> str:
    """``"decades"`` (two or more powers of ten in view: label those only), ``"125"`` (a range
    of at least 4x with fewer: label 1, 2, 5 x 10^k) or ``"linear"`` (under 4x: a few evenly
    spaced labels)."""
    vmin, vmax = sorted((vmin, vmax))
    if _decades_in(vmin, vmax) >= 2:
        return "decades"
    return "125" if vmin > 0 and vmax / vmin >= 4 else "linear"


class LogMajorLocator(_ticker.Locator):
    """Major ticks of a log axis chosen by the range in view (:func:`_log_mode`): decades, or
    1-2-5 x 10^k, or a few evenly spaced values. Only major ticks are labelled, so a range under
    a decade still gets a handful of labels instead of every minor tick's."""

    def __init__(self):
        self._dec = _ticker.LogLocator(base=10)
        self._125 = _ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0))
        self._lin = _ticker.MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10])

    def set_axis(self, axis):
        super().set_axis(axis)
        for loc in (self._dec, self._125, self._lin):
            loc.set_axis(axis)

    def __call__(self):
        vmin, vmax = self.axis.get_view_interval()
        return self.tick_values(vmin, vmax)

    def tick_values(self, vmin, vmax):
        vmin, vmax = sorted((float(vmin), float(vmax)))
        if vmin <= 0:
            vmin = vmax / 10 if vmax > 0 else 1e-300
        mode = _log_mode(vmin, vmax)
        if mode == "decades":
            return self._dec.tick_values(vmin, vmax)
        if mode == "125":
            return self._125.tick_values(vmin, vmax)
        return [v for v in self._lin.tick_values(vmin, vmax) if v > 0]

    def view_limits(self, vmin, vmax):
        return self._dec.view_limits(vmin, vmax)


class LogMinorLocator(_ticker.Locator):
    """Unlabelled minor ticks at 2..9 x 10^k when the major ticks are decades; none otherwise
    (they would not line up with 1-2-5 or evenly spaced labels)."""

    def __init__(self):
        self._minor = _ticker.LogLocator(base=10, subs="auto")

    def set_axis(self, axis):
        super().set_axis(axis)
        self._minor.set_axis(axis)

    def __call__(self):
        vmin, vmax = self.axis.get_view_interval()
        if _log_mode(max(min(vmin, vmax), 1e-300), max(vmin, vmax)) != "decades":
            return []
        return self._minor()


class LogMajorFormatter(_ticker.Formatter):
    """``10^k`` for decade ticks, plain numbers (``0.35``, ``2``, ``5000``) otherwise."""

    def __call__(self, x, pos=None):
        if not (x > 0 and np.isfinite(x)):
            return ""
        vmin, vmax = self.axis.get_view_interval() if self.axis is not None else (x, x)
        k = math.log10(x)
        if _log_mode(max(min(vmin, vmax), 1e-300), max(vmin, vmax)) == "decades" \
                and abs(k - round(k)) < 1e-9:
            return rf"$\mathdefault{{10^{{{int(round(k))}}}}}$"
        if 1e-3 <= x < 1e6:  # three significant digits, no exponent: 0.35, 2, 5000, 20000
            return f"{float(f'{x:.3g}'):f}".rstrip("0").rstrip(".")
        mant, exp = f"{x:.2e}".split("e")
        mant = mant.rstrip("0").rstrip(".")
        body = f"10^{{{int(exp)}}}" if mant == "1" else rf"{mant}\times10^{{{int(exp)}}}"
        return rf"$\mathdefault{{{body}}}$"


def log_ticks(axis) -> None:
    """Give a log-scaled ``axis`` (``ax.xaxis``/``ax.yaxis``) house ticks: labels on major ticks
    only (:class:`LogMajorLocator`), unlabelled minor ticks."""
    axis.set_major_locator(LogMajorLocator())
    axis.set_major_formatter(LogMajorFormatter())
    axis.set_minor_locator(LogMinorLocator())
    axis.set_minor_formatter(_ticker.NullFormatter())


#: Marker of an interval whose lower end is at or below 0 on a log axis (its whisker would run
#: to the axis floor): a caret hanging below the point, "the interval extends down to 0".
OPEN_LOW_MARKER = {"y": 11, "x": 8}  # CARETDOWNBASE, CARETLEFTBASE
#: Marker of an interval without a finite upper end: a caret standing on the point.
OPEN_HIGH_MARKER = {"y": 10, "x": 9}  # CARETUPBASE, CARETRIGHTBASE


def log_errorbar(ax, x, m, lo, hi, *, axis: str = "y", label: str | None = None,
                 caret_ms: float = 7.0, **kw):
    """Points ``m`` with 95% intervals ``[lo, hi]`` on a log ``axis`` ("y": vertical whiskers,
    "x": horizontal). Where ``lo <= 0`` the lower whisker is not drawn (it would run to the axis
    floor): the upper whisker stays and a caret hangs below the point instead (one-sided: the
    interval reaches 0). Likewise an infinite ``hi`` gets a caret standing on the point and no
    upper whisker. Points with ``m <= 0`` or non-finite are left out. Returns the number of
    points open at the lower end."""
    x, m, lo, hi = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (x, m, lo, hi))
    ok = np.isfinite(m) & (m > 0) & np.isfinite(x)
    x, m, lo, hi = x[ok], m[ok], lo[ok], hi[ok]
    open_low = ~(np.isfinite(lo) & (lo > 0))
    low = np.where(open_low, 0.0, np.clip(m - lo, 0, None))
    open_high = np.isposinf(hi)
    high = np.where(np.isfinite(hi), np.clip(hi - m, 0, None), 0.0)
    err = np.vstack([low, high])
    kw.setdefault("capsize", 2)
    kw.setdefault("ls", "none")
    col = kw.get("color")
    if axis == "y":
        ax.errorbar(x, m, yerr=err, label=label, **kw)
        px, py = x[open_low], m[open_low]
    else:
        ax.errorbar(m, x, xerr=err, label=label, **kw)
        px, py = m[open_low], x[open_low]
    if open_low.any():
        ax.plot(px, py, ls="none", marker=OPEN_LOW_MARKER[axis], ms=caret_ms, color=col,
                markeredgewidth=0, zorder=kw.get("zorder", 2), label="_open_low")
    if open_high.any():
        hx, hy = (x[open_high], m[open_high]) if axis == "y" else (m[open_high], x[open_high])
        ax.plot(hx, hy, ls="none", marker=OPEN_HIGH_MARKER[axis], ms=caret_ms, color=col,
                markeredgewidth=0, zorder=kw.get("zorder", 2), label="_open_high")
    return int(open_low.sum())


def _pt(size) -> float:
    """A font size in points (named sizes such as "small" resolved)."""
    from matplotlib.font_manager import FontProperties

    return float(FontProperties(size=size).get_size_in_points())


def legend_outside(ax, where: str = "right", **kw):
    """An axes legend outside the axes (``"right"``: beside it, top-aligned; ``"below"``: under
    the x label), so that it never covers data; constrained layout makes room for it."""
    if where == "right":
        kw.setdefault("loc", "upper left")
        kw.setdefault("bbox_to_anchor", (1.02, 1.0))
    else:  # anchored below the tick labels and the x label (in points: panel heights vary)
        from matplotlib.transforms import ScaledTranslation

        below = (plt.rcParams["xtick.major.size"] + plt.rcParams["xtick.major.pad"]
                 + 1.25 * _pt(plt.rcParams["xtick.labelsize"]) + plt.rcParams["axes.labelpad"]
                 + 1.25 * _pt(plt.rcParams["axes.labelsize"]) * (ax.get_xlabel().count("\n") + 1)
                 + 4.0)
        kw.setdefault("loc", "upper center")
        kw.setdefault("bbox_to_anchor", (0.5, 0.0))
        kw.setdefault("bbox_transform", ax.transAxes + ScaledTranslation(
            0, -below / 72, ax.figure.dpi_scale_trans))
    kw.setdefault("borderaxespad", 0.0)
    return ax.legend(**kw)


#: Corners tried, in order, for a legend inside its axes.
LEGEND_CORNERS = ("upper right", "upper left", "lower left", "lower right")


def _data_pieces(ax):
    """Display coordinates of what ``ax`` plots (line vertices and errorbar whiskers, finite and
    positive on log axes): ``[(xy, is_curve)]``."""
    from matplotlib.collections import LineCollection

    logx, logy = ax.get_xscale() == "log", ax.get_yscale() == "log"

    def keep(xy):
        ok = np.all(np.isfinite(xy), axis=1)
        if logx:
            ok &= xy[:, 0] > 0
        if logy:
            ok &= xy[:, 1] > 0
        return xy[ok]

    out = []
    for ln in ax.get_lines():
        if not ln.get_visible():
            continue
        xy = keep(np.column_stack([np.asarray(ln.get_xdata(), float),
                                   np.asarray(ln.get_ydata(), float)]))
        if len(xy):
            out.append((ln.get_transform().transform(xy),
                        ln.get_linestyle() not in ("None", "none", "", " ")))
    for coll in ax.collections:
        if isinstance(coll, LineCollection):
            for seg in coll.get_segments():
                seg = keep(np.asarray(seg, float))
                if len(seg):
                    out.append((coll.get_transform().transform(seg), True))
    return out


def legend_covers_data(ax, legend, renderer=None, pad: float = 3.0) -> bool:
    """Whether ``legend``'s box (grown by ``pad`` pixels) holds a plotted point of ``ax`` or is
    crossed by one of its curves or whiskers (only the part inside the axes counts)."""
    from matplotlib.path import Path
    from matplotlib.transforms import Bbox

    renderer = renderer or ax.figure.canvas.get_renderer()
    box = legend.get_window_extent(renderer).padded(pad)
    clip = Bbox.intersection(box, ax.bbox)
    if clip is None:
        return False
    for xy, curve in _data_pieces(ax):
        if np.any((xy[:, 0] >= clip.x0) & (xy[:, 0] <= clip.x1) & (xy[:, 1] >= clip.y0)
                  & (xy[:, 1] <= clip.y1)):
            return True
        if curve and len(xy) > 1 and Path(xy).intersects_bbox(clip, filled=False):
            return True
    return False


def place_legends(fig, axes, *, outside: str = "below", **kw) -> None:
    """Give each of ``axes`` a legend in a corner free of its data, tried in the order of
    :data:`LEGEND_CORNERS` on the laid-out figure (matplotlib's ``loc="best"`` minimises
    overlap but accepts some); an axes without a free corner gets its legend outside
    (:func:`legend_outside`). Placing one legend outside changes the layout, so the check is
    repeated until every legend is clear. Call it after everything is plotted."""
    axes = [ax for ax in axes if ax.get_legend_handles_labels()[0]]
    for ax in axes:
        ax.legend(loc=LEGEND_CORNERS[0], **kw)
    moved: set = set()
    for _ in range(len(axes) + 1):
        changed = False
        for ax in axes:
            if id(ax) in moved:
                continue
            fig.draw_without_rendering()
            if not legend_covers_data(ax, ax.get_legend()):
                continue
            changed = True
            for loc in LEGEND_CORNERS[1:]:
                ax.legend(loc=loc, **kw)
                fig.draw_without_rendering()
                if not legend_covers_data(ax, ax.get_legend()):
                    break
            else:
                labels = ax.get_legend_handles_labels()[1]
                kw_out = dict(kw)
                if outside == "below" and len(labels) > 3 and max(map(len, labels)) <= 28:
                    kw_out.setdefault("ncol", 2)  # short labels: two columns, half the height
                legend_outside(ax, outside, **kw_out)
                moved.add(id(ax))
        if not changed:
            break
