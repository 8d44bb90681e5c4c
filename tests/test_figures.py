"""Figures render from small stored results and show what they claim to show.

Each figure is plotted (Agg backend) from tiny runs made here with the figure's own plan,
shrunk (short horizons, two replicas, few Monte Carlo draws, small objectives). Checks are on
content, not pixels: number of axes and lines, finite plotted data, axis labels and scales, a
non-blank image. Bad input: a missing run is named with the command that makes it; a corrupt
or foreign results file is reported by name and skipped.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import replace

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.path import Path as MplPath  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402

from hdo_theory.figures import (  # noqa: E402
    FIGURE_NAMES,
    PLANS,
    PLOTS,
    PNG_DPI,
    make_figure,
    style,
)
from hdo_theory.figures.specs import ensure  # noqa: E402
from hdo_theory.figures.store import MissingResults, Runner, RunSpec, load_run  # noqa: E402

# ---------------------------------------------------------------------------------------------
# Tiny plans
# ---------------------------------------------------------------------------------------------

_SMALL_OBJ = {"digits": {"name": "breast-cancer", "seed": 0}}


def _shrink(spec: RunSpec, T: int = 24) -> RunSpec:
    p = json.loads(json.dumps(spec.params, default=repr))
    if spec.kind == "estimator-table":
        rows = []
        for r in p["rows"]:
            if r["objective"]["d"] > 8:
                r["objective"]["d"] = 4 if r["panel"].endswith("-d") else r["objective"]["d"]
            r["draws"] = 64
            rows.append(r)
        p["rows"] = rows
        return RunSpec(spec.id, spec.kind, p)
    o = p["objective"]
    if o["name"] in _SMALL_OBJ:
        p["objective"] = dict(_SMALL_OBJ[o["name"]], n0=o["n0"], n1=o["n1"])
    elif o.get("d", 0) > 10:
        o["d"] = 5
    c = p["config"]
    if isinstance(c["x0"], list) and len(c["x0"]) not in (0, o.get("d", -1)):
        c["x0"] = None  # the shrunk objective has another dimension
    T_new = min(c["T"], T)
    c["T"] = T_new
    c["warmup"] = 0
    if c["local_steps_warmup"]:
        c["local_steps_warmup"] = T_new
    if isinstance(c["record"], int):
        c["record"] = max(1, min(c["record"], T_new // 6))
    for pop in ("zo", "fo"):
        c[pop]["estimator"]["rv"] = min(c[pop]["estimator"]["rv"], 2)
    p["replicas"] = 2
    return RunSpec(spec.id, spec.kind, p)


def _tiny_plan(name: str) -> dict:
    if name == "exact":  # one decade of the exact curve, two short Monte Carlo horizons
        return PLANS[name](True, exact_T=[int(round(10 ** (k / 8))) for k in range(24, 33)],
                           mc_T=(1000, 3162), replicas=4)
    plan = PLANS[name](True)
    if name == "zo-estimators":
        spec = _shrink(plan["table"])
        # two points per (panel, kind): enough for lines, cheap to draw
        seen: dict = {}
        rows = []
        for r in spec.params["rows"]:
            k = (r["panel"], r["kind"])
            if seen.get(k, 0) < 2:
                seen[k] = seen.get(k, 0) + 1
                rows.append(r)
        return {"table": RunSpec(spec.id, spec.kind, {"rows": rows})}
    if name == "populations":
        keep = ("synthetic:single", "synthetic:16,0", "synthetic:0,6", "digits:single",
                "digits:16,0", "digits:0,6", "noisy:0,6")
        both = {**PLANS[name](False), **plan}
        plan = {k: v for k, v in both.items() if k in keep}
    if name in ("convex", "nonconvex"):  # two horizons per population, the smallest ones
        plan = {k: v for k, v in plan.items()
                if any(f"T={T}" == k.split(",")[1] for T in (1000, 2000, 4000))}
        # convex keeps T = 2000, 4000: the theorem's rate diverges for shorter horizons
    if name == "speedup":
        plan = {k: v for k, v in plan.items() if ",n=16," not in k}
    if name == "phase":
        plan = {k: v for k, v in plan.items()
                if k.split(",")[0] in ("d=2", "d=8") and k.split(",")[1] in ("n0=0", "n0=1",
                                                                            "n0=4")}
    if name == "ablations":
        plan = {k: v for k, v in plan.items() if k in ("rv=8", "rv=16", "lr=0.001", "lr=0.01",
                                                       "kind=zo-forward", "kind=zo-directional")}
    T = {"convex": 10**6, "nonconvex": 10**6, "speedup": 120, "phase": 120,
         "interaction": 96}.get(name, 24)
    out = {}
    for k, v in plan.items():
        s = _shrink(v, T)
        if name == "nonconvex":  # keep T distinct per run (the x axis), but short
            Tk = int(k.split("T=")[1]) // 50
            p = dict(s.params)
            p["config"] = dict(p["config"], T=Tk)
            s = RunSpec(s.id, s.kind, p)
        out[k] = s
    return out


@pytest.fixture(scope="module")
def runner():
    return Runner()


@pytest.fixture(scope="module")
def made(tmp_path_factory, runner):
    """All figures rendered once from tiny runs: name -> (figure, plan, results folder)."""
    folder = tmp_path_factory.mktemp("results")
    out = {}
    for name in FIGURE_NAMES:
        plan = _tiny_plan(name)
        data = ensure(name, folder, True, run_missing=True, runner=runner, plan=plan,
                      log=lambda m: None)
        out[name] = (PLOTS[name][0](data), plan, folder, data)
    yield out
    plt.close("all")


# ---------------------------------------------------------------------------------------------
# Content of every figure
# ---------------------------------------------------------------------------------------------

EXPECTED_AXES = {"zo-estimators": 4, "gamma": 2, "convex": 2, "nonconvex": 1, "speedup": 2,
                 "phase": 2, "populations": 6, "ablations": 3, "consensus": 2, "interaction": 2,
                 "exact": 2}
LOG_Y = {"zo-estimators", "gamma", "convex", "nonconvex", "speedup", "ablations", "consensus",
         "interaction"}


def _data_axes(fig):
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


@pytest.mark.parametrize("name", FIGURE_NAMES)
def test_figure_content(made, name):
    fig = made[name][0]
    assert len(fig.axes) == EXPECTED_AXES[name]
    for ax in _data_axes(fig):
        assert ax.get_xlabel().strip() and ax.get_ylabel().strip(), name
        lines = [ln for ln in ax.get_lines() if len(ln.get_xdata())]
        if name != "phase":
            assert lines, f"{name}: an axis without curves"
        for ln in lines:
            y = np.asarray(ln.get_ydata(), dtype=float)
            assert np.all(np.isfinite(y)), f"{name}: non-finite plotted data"
        if name in LOG_Y:
            assert ax.get_yscale() == "log", name
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    img = plt.imread(io.BytesIO(buf.getvalue()))
    assert img.shape[0] > 50 and img.shape[1] > 50
    ink = np.mean(np.any(img[..., :3] < 0.9, axis=-1))
    assert 0.01 < ink < 0.9, f"{name}: image looks blank or saturated ({ink:.3f})"


def test_population_labels_and_palette():
    assert style.population_label(256, 24) == "24 FO + 256 ZO"
    assert style.population_label(16, 0) == "16 ZO"
    assert style.population_label(0, 6) == "6 FO"
    assert style.PALETTE[0] == "#E69F00" and len(set(style.PALETTE)) == len(style.PALETTE)


def test_mean_band_is_student_t_interval():
    # two replicas 0 and 2: mean 1, s.e. 1, t_{1, 0.975} = 12.706
    m, lo, hi = style.mean_band(np.array([[0.0], [2.0]]))
    assert m[0] == 1.0 and abs((hi[0] - 1.0) - 12.7062047) < 1e-6 and lo[0] == 2.0 - hi[0]
    m, lo, hi = style.mean_band(np.array([[3.0, np.nan]]))
    assert m[0] == lo[0] == hi[0] == 3.0 and np.isnan(m[1])


def test_legends_name_populations_like_the_paper(made):
    fig = made["populations"][0]
    labels = [t.get_text() for lg in fig.legends for t in lg.get_texts()]
    assert "16 ZO" in labels and "6 FO" in labels and "1 ZO" in labels and "1 FO" in labels


def test_convex_slope_summary_matches_plotted_fit(made):
    from hdo_theory.figures.plots import summarise_convex

    data = made["convex"][3]
    summ = summarise_convex(data)
    for entry in summ["y_gap"].values():
        assert np.isfinite(entry["slope"]) and np.isfinite(entry["bound_exponent"])


def test_population_runs_record_heldout_metrics(made):
    """Gossiping populations: held-out loss / accuracy of mu_t at every record, finite, accuracy
    in [0, 1]. The isolated pair: its workers' own values at the start and the end only."""
    data = made["populations"][3]
    for key in ("digits:16,0", "digits:0,6"):
        loss, acc = data[key]["heldout_loss"], data[key]["heldout_acc"]
        assert np.all(np.isfinite(loss)) and np.all(loss > 0), key
        assert np.all((acc >= 0) & (acc <= 1)), key
    single = data["digits:single"]
    for name in ("heldout_loss_zo", "heldout_acc_zo", "heldout_loss_fo", "heldout_acc_fo"):
        v = single[name]
        assert np.all(np.isfinite(v[:, [0, -1]])) and np.all(np.isnan(v[:, 1:-1])), name
        if "acc" in name:
            assert np.all((v[:, [0, -1]] >= 0) & (v[:, [0, -1]] <= 1)), name


def test_heldout_panels_show_every_population(made):
    """Panels (d), (e) plot held-out loss and accuracy: one finite curve per gossiping
    population, one end marker per single worker; plotted accuracies lie in [0, 1]."""
    fig, plan = made["populations"][:2]
    n_pops = sum(1 for k in plan if k.startswith("digits:") and k != "digits:single")
    for ax, ylabel in zip(fig.axes[3:5], ("held-out loss", "held-out accuracy"),
                          strict=True):
        assert ax.get_ylabel() == ylabel
        _, labels = ax.get_legend_handles_labels()
        assert len(labels) == n_pops + 2 and "1 ZO" in labels and "1 FO" in labels, labels
        shown = [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]
        assert len(shown) == n_pops
        for ln in shown:
            y = np.asarray(ln.get_ydata(), dtype=float)
            assert y.size > 2 and np.all(np.isfinite(y))
            if ylabel.endswith("accuracy"):
                assert np.all((y >= 0) & (y <= 1))


def test_node_heldout_leaves_the_process_unchanged(runner):
    """Metamorphic: evaluating the workers' held-out metrics (keep_state) does not change the
    recorded trajectory; at t = 0 every node sits at x0 = mu_0, so the per-node value equals
    the process's recorded value at the mean model (two routes; summation order differs, so
    agreement is to rounding, 1e-12 relative)."""
    spec = _tiny_plan("populations")["digits:single"]
    assert spec.params.get("node_heldout") is True
    plain = runner.execute(RunSpec("x", "process",
                                   {k: v for k, v in spec.params.items() if k != "node_heldout"}))
    res = runner.execute(spec)
    for name in plain.names:
        np.testing.assert_array_equal(res[name], plain[name], err_msg=name)
    for tag in ("zo", "fo"):
        np.testing.assert_allclose(res[f"heldout_loss_{tag}"][:, 0], res["heldout_loss"][:, 0],
                                   rtol=1e-12)
        np.testing.assert_allclose(res[f"heldout_acc_{tag}"][:, 0], res["heldout_acc"][:, 0],
                                   rtol=0, atol=1e-12)
    assert not res.state  # the final state was only needed for the evaluation


# ---------------------------------------------------------------------------------------------
# Writing, and bad input
# ---------------------------------------------------------------------------------------------


def test_make_figure_writes_pdf_png_caption(made, tmp_path):
    _, plan, folder, _ = made["consensus"]
    got = make_figure("consensus", folder, tmp_path, True, run_missing=False,
                      command="hdo-theory figures --only consensus", plan=plan)
    assert got["pdf"].read_bytes()[:4] == b"%PDF"
    assert got["png"].read_bytes()[:4] == b"\x89PNG"
    cap = got["caption"].read_text()
    assert "hdo-theory figures --only consensus" in cap
    for spec in plan.values():
        assert spec.filename in cap and f'"seed": {spec.params["seed"]}' in cap


def test_missing_results_name_the_run(tmp_path):
    plan = _tiny_plan("consensus")
    with pytest.raises(MissingResults) as exc:
        ensure("consensus", tmp_path, True, run_missing=False, plan=plan)
    msg = str(exc.value)
    assert next(iter(plan.values())).filename in msg and "--only consensus --quick" in msg


def test_corrupt_and_foreign_files_reported_and_skipped(made, tmp_path):
    _, plan, folder, _ = made["consensus"]
    keys = list(plan)
    # copy the good files, then damage one and replace another by a foreign run
    for spec in plan.values():
        (tmp_path / spec.filename).write_bytes((folder / spec.filename).read_bytes())
    (tmp_path / plan[keys[0]].filename).write_bytes(b"not an npz archive")
    foreign = plan[keys[2]]
    (tmp_path / foreign.filename).write_bytes((folder / plan[keys[1]].filename).read_bytes())
    got, problem = load_run(plan[keys[0]], tmp_path)
    assert got is None and plan[keys[0]].filename in problem
    got, problem = load_run(foreign, tmp_path)
    assert got is None and foreign.filename in problem and "another configuration" in problem
    logged: list = []
    with pytest.raises(MissingResults) as exc:
        ensure("consensus", tmp_path, True, run_missing=False, plan=plan, log=logged.append)
    assert any(plan[keys[0]].filename in m for m in logged)
    assert any(foreign.filename in m for m in logged)
    assert plan[keys[0]].filename in str(exc.value) and foreign.filename in str(exc.value)
    # a foreign table (JSON of another format) is refused by name too
    tab = _tiny_plan("zo-estimators")["table"]
    (tmp_path / tab.filename).write_text(json.dumps({"format": "something-else"}))
    got, problem = load_run(tab, tmp_path)
    assert got is None and tab.filename in problem


def test_spec_hash_changes_with_configuration():
    spec = _tiny_plan("consensus")["n0=0"]
    other = replace(spec, params=dict(spec.params, seed=spec.params["seed"] + 1))
    assert spec.spec_hash != other.spec_hash and spec.spec_hash == replace(spec).spec_hash


def test_cli_bad_input(tmp_path, capsys):
    from hdo_theory.cli import main

    assert main(["figures", "--only", "nope", "--out", str(tmp_path)]) == 2
    assert "--only must be one of" in capsys.readouterr().err
    assert main(["figures", "--from", str(tmp_path / "absent"), "--out", str(tmp_path)]) == 2
    assert main(["figures", "--only", "consensus", "--quick", "--from", str(tmp_path),
                 "--out", str(tmp_path)]) == 1
    assert "consensus-n0_0-quick.npz" in capsys.readouterr().err


def test_gamma_envelope_reduces_to_closed_form_without_steps(made):
    """Metamorphic: with eta = 0 the iterated Lemma 2 envelope is exactly
    (1 - 1/(2n))^t Gamma_0 and Lemma 11's is (1 - 1/(4n))^t Gamma_0 (all additive terms carry
    a power of eta)."""
    from hdo_theory.figures.plots import gamma_envelopes

    res = made["gamma"][3]["averaging"]
    env = gamma_envelopes(res)
    n = int(res.info["n"])
    g0 = float(res.mean("gamma")[0])
    t = env["t"].astype(float)
    np.testing.assert_allclose(env["lemma2"], g0 * (1 - 1 / (2 * n)) ** t, rtol=1e-12)
    np.testing.assert_allclose(env["lemma11"], g0 * (1 - 1 / (4 * n)) ** t, rtol=1e-12)


def test_gallery_lists_every_figure_with_its_command(tmp_path):
    from hdo_theory.figures.gallery import gallery_markdown

    md = gallery_markdown(tmp_path, tmp_path / "gallery.md", claims="CLAIMS-TABLE")
    for name in FIGURE_NAMES:
        assert f"--only {name}" in md
    assert md.index("CLAIMS-TABLE") > md.index("## 7. populations")
    assert md.index("CLAIMS-TABLE") < md.index("## 8. ablations")


def test_exact_figure_reads_its_exact_curve(made):
    """The exact figure plots the stored exact values, the bound recomputed from the stored
    constants, and Monte Carlo means compared with the exact value at the same T."""
    from hdo_theory.figures.plots import summarise_exact

    fig, plan, folder, data = made["exact"]
    e = summarise_exact(data)
    c = data["exact"]["constants"]
    rows = data["exact"]["configs"]
    assert [r["T"] for r in rows] == e["T"] and len(e["T"]) == 9
    for r, v in zip(rows, e["exact"], strict=True):
        assert v == pytest.approx(r["y_gap"] + c["ell"] / 8 * r["dist_sq"], rel=1e-12)
    line = fig.axes[0].get_lines()[0]
    np.testing.assert_allclose(line.get_ydata(), e["exact"], rtol=1e-12)
    assert [m["T"] for m in e["monte_carlo"]] == [1000, 3162]
    assert all(m["exact"] == pytest.approx(e["exact"][e["T"].index(m["T"])])
               for m in e["monte_carlo"])
    assert e["last_decade"]["T"] == [1000.0, 10000.0]
    assert all(0 < r < 1 for r in e["ratio"])  # the explicit bound (C = 1) holds here


def test_phase_grid_log_ratio_and_delta_method_se():
    from hdo_theory.figures.plots import phase_grid, summarise_phase

    class _Final:
        def __init__(self, g):
            self.g = np.asarray(g, dtype=float)

        def final(self, name):
            assert name == "gap"
            return self.g

    g0 = [1.0, 1.2, 0.8, 1.0]        # reference (n0 = 0)
    g1 = [2.0, 2.2, 1.8, 2.0]        # clearly worse
    g2 = [0.5, 1.9, 0.6, np.nan]     # noisy, a diverged replica dropped
    data = {"d=2,n0=0": _Final(g0), "d=2,n0=1": _Final(g1), "d=2,n0=4": _Final(g2)}
    ds, n0s, Z, SE, HW = phase_grid(data)
    assert ds == [2] and n0s == [0, 1, 4]

    def expect(g, ref):
        from scipy import stats

        g, ref = np.asarray(g)[np.isfinite(g)], np.asarray(ref)
        z = np.log10(g.mean() / ref.mean())
        rv = lambda a: np.var(a, ddof=1) / (a.size * a.mean() ** 2)  # noqa: E731
        a, a0 = rv(g), rv(ref)
        dof = (a + a0) ** 2 / (a**2 / (g.size - 1) + a0**2 / (ref.size - 1))
        se = np.sqrt(a + a0) / np.log(10)
        return z, se, stats.t.ppf(0.975, dof) * se

    assert Z[0, 0] == 0.0 and SE[0, 0] == 0.0 and HW[0, 0] == 0.0
    for j, g in ((1, g1), (2, g2)):
        z, se, hw = expect(g, g0)
        assert Z[0, j] == pytest.approx(z, rel=1e-12)
        assert SE[0, j] == pytest.approx(se, rel=1e-12)
        assert HW[0, j] == pytest.approx(hw, rel=1e-12)
    assert summarise_phase(data)["resolved_95"] == [[False, True, False]]


def test_spec_hash_is_pinned():
    """Stored figure runs are tagged with their spec hash: it must not change (a new hash would
    orphan every stored file). Covers a non-JSON value (written as its repr), a tuple, -0.0 and
    non-ASCII keys, and two real quick plans."""
    from pathlib import PurePosixPath

    spec = RunSpec("pin", "process", {
        "objective": {"name": "logistic", "d": 8, "n0": 3}, "eta": 0.1, "T": 1000,
        "schedule": ("constant", 1e-3), "x0": None, "flag": True,
        "path": PurePosixPath("a/b"), "\u00fc": "\u00e9", "z": -0.0})
    assert spec.spec_hash == "9ae6d25aa170e034"
    assert PLANS["consensus"](True)["n0=0"].spec_hash == "22b038f5572b8ed7"
    assert PLANS["zo-estimators"](True)["table"].spec_hash == "d57c8756abbbeff6"


# ---------------------------------------------------------------------------------------------
# Layout at first contact: legends clear of the data, panel letters clear of titles, log axes
# labelled at major ticks only, one-sided intervals on log axes, speedup intervals, PNG dpi
# (checks on the drawn matplotlib objects: window extents in display pixels)
# ---------------------------------------------------------------------------------------------


def _drawn(fig):
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def _data_paths(ax):
    """Display-space pieces of everything plotted in ``ax``: (vertices, is_curve) per line and
    per errorbar whisker, finite points only."""
    out = []
    for ln in ax.get_lines():
        if not ln.get_visible():
            continue
        xy = np.column_stack([np.asarray(ln.get_xdata(), float), np.asarray(ln.get_ydata(), float)])
        xy = xy[np.all(np.isfinite(xy), axis=1)]
        if ax.get_xscale() == "log":
            xy = xy[xy[:, 0] > 0]
        if ax.get_yscale() == "log":
            xy = xy[xy[:, 1] > 0]
        if len(xy):
            ls = ln.get_linestyle()
            out.append((ln.get_transform().transform(xy), ls not in ("None", "none", "", " ")))
    for coll in ax.collections:
        if isinstance(coll, LineCollection):
            for seg in coll.get_segments():
                seg = np.asarray(seg, float)
                seg = seg[np.all(np.isfinite(seg), axis=1) & np.all(seg > 0, axis=1)]
                if len(seg):
                    out.append((coll.get_transform().transform(seg), True))
    return out


def _legends(fig):
    return list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]


def _covered(fig, legend, renderer):
    """Data axes whose visible plotted points or curves fall inside the legend's box."""
    box = legend.get_window_extent(renderer)
    hits = []
    for ax in fig.axes:
        if ax.get_label() == "<colorbar>":
            continue
        clip = Bbox.intersection(box, ax.bbox)
        if clip is None:
            continue
        for xy, curve in _data_paths(ax):
            inside = ((xy[:, 0] >= clip.x0) & (xy[:, 0] <= clip.x1) & (xy[:, 1] >= clip.y0)
                      & (xy[:, 1] <= clip.y1))
            if inside.any() or (curve and len(xy) > 1
                                and MplPath(xy).intersects_bbox(clip, filled=False)):
                hits.append(ax.get_title() or ax.get_ylabel())
                break
    return hits


@pytest.mark.parametrize("name", FIGURE_NAMES)
def test_legends_do_not_cover_data(made, name):
    fig = made[name][0]
    renderer = _drawn(fig)
    for lg in _legends(fig):
        assert not _covered(fig, lg, renderer), (name, [t.get_text() for t in lg.get_texts()])


def test_overlap_check_sees_a_covering_legend():
    """The check above is not vacuous: a legend placed on a curve is caught."""
    with style.style():
        fig, axes = style.new_figure()
        ax = axes[0, 0]
        x = np.linspace(0, 1, 50)
        ax.plot(x, 0.5 + 0 * x, label="flat line through the middle")
        lg = ax.legend(loc="center")
        assert _covered(fig, lg, _drawn(fig))
    plt.close(fig)


@pytest.mark.parametrize("name", FIGURE_NAMES)
def test_panel_letters_clear_of_titles(made, name):
    fig = made[name][0]
    renderer = _drawn(fig)
    titles = [t for ax in fig.axes for t in (ax.title, ax._left_title, ax._right_title)
              if t.get_text()]
    assert titles or name == "phase" and fig.axes[0].get_title(), name
    if fig._suptitle is not None:
        titles.append(fig._suptitle)
    letters = 0
    for ax in fig.axes:
        for txt in ax.texts:
            if not re.fullmatch(r"\([a-p]\)", txt.get_text()):
                continue
            letters += 1
            box = txt.get_window_extent(renderer)
            for t in titles:
                assert not box.overlaps(t.get_window_extent(renderer)), (name, txt.get_text(),
                                                                       t.get_text())
    assert letters or name in ("phase", "nonconvex"), name


@pytest.mark.parametrize("name", FIGURE_NAMES)
def test_log_axes_label_major_ticks_only(made, name):
    """No minor tick of a log axis carries a label; at least two labelled major ticks in view
    (a range under a decade gets evenly spaced or 1-2-5 labels instead)."""
    fig = made[name][0]
    _drawn(fig)
    for ax in fig.axes:
        for axis, scale, lim in ((ax.xaxis, ax.get_xscale(), ax.get_xlim()),
                                 (ax.yaxis, ax.get_yscale(), ax.get_ylim())):
            if scale != "log":
                continue
            assert not [t.get_text() for t in axis.get_ticklabels(minor=True) if t.get_text()]
            lo, hi = sorted(lim)
            shown = [t for t, v in zip(axis.get_ticklabels(), axis.get_majorticklocs(),
                                       strict=True)
                     if t.get_text() and lo * 0.999 <= v <= hi * 1.001]
            assert len(shown) >= 2, (name, ax.get_title(), lim)
            assert len(shown) <= 12, (name, ax.get_title(), [t.get_text() for t in shown])


def test_population_panels_a_c_few_tick_labels(made):
    fig = made["populations"][0]
    _drawn(fig)
    for ax in (fig.axes[0], fig.axes[2]):
        lo, hi = ax.get_ylim()
        labels = [t.get_text() for t, v in zip(ax.yaxis.get_ticklabels(),
                                               ax.yaxis.get_majorticklocs(), strict=True)
                  if t.get_text() and lo <= v <= hi]
        assert 2 <= len(labels) <= 8, labels


def test_log_errorbar_is_one_sided_where_the_interval_reaches_zero():
    with style.style():
        fig, axes = style.new_figure()
        ax = axes[0, 0]
        n_open = style.log_errorbar(ax, [1, 2, 3], [1.0, 2.0, 3.0], [0.5, -1.0, 0.0],
                                    [1.5, 4.0, 5.0], color="k", marker="o")
        ax.set_yscale("log")
        assert n_open == 2
        (bars,) = [c for c in ax.collections if isinstance(c, LineCollection)]
        lows = sorted(min(seg[:, 1]) for seg in map(np.asarray, bars.get_segments()))
        assert lows == [0.5, 2.0, 3.0]  # whiskers stop at the point where lo <= 0
        carets = [ln for ln in ax.get_lines() if ln.get_marker() == style.OPEN_LOW_MARKER["y"]]
        assert len(carets) == 1 and list(carets[0].get_ydata()) == [2.0, 3.0]
        fig.canvas.draw()
        assert ax.get_ylim()[0] > 0.1  # the axis is not stretched towards 0
    plt.close(fig)
    with style.style():  # an unbounded upper end: a caret standing on the point, no whisker
        fig, axes = style.new_figure()
        ax = axes[0, 0]
        style.log_errorbar(ax, [1, 2], [1.0, 2.0], [0.5, 1.0], [2.0, np.inf], color="k")
        ax.set_yscale("log")
        (bars,) = [c for c in ax.collections if isinstance(c, LineCollection)]
        highs = sorted(max(seg[:, 1]) for seg in map(np.asarray, bars.get_segments()))
        assert highs == [2.0, 2.0]
        up = [ln for ln in ax.get_lines() if ln.get_marker() == style.OPEN_HIGH_MARKER["y"]]
        assert len(up) == 1 and list(up[0].get_ydata()) == [2.0]
    plt.close(fig)


@pytest.mark.parametrize("name", ["zo-estimators", "convex", "nonconvex", "populations"])
def test_no_whisker_to_the_log_floor(made, name):
    """Every whisker on a log axis ends at a positive value within a factor 1e3 of its point
    (the old ones ran from the point to 1e-3 or 1e-7 of it, the axis floor). (The speedup's
    intervals, ratios of two crossing times at two replicas here, can be wider.)"""
    fig = made[name][0]
    for ax in fig.axes:
        for cont in ax.containers:
            if not hasattr(cont, "lines") or cont.lines[2] is None:
                continue
            for coll in cont.lines[2]:
                col = 1 if ax.get_yscale() == "log" and cont.has_yerr else 0
                if (col == 0 and ax.get_xscale() != "log") or (col == 1 and not cont.has_yerr):
                    continue
                for seg in map(np.asarray, coll.get_segments()):
                    v = seg[:, col]
                    assert np.all(v > 0) and v.max() / v.min() < 1e3, (name, seg)


def test_speedup_intervals_and_human_title(made):
    from hdo_theory.figures.plots import summarise_speedup

    fig, _, _, data = made["speedup"]
    for ax in fig.axes:
        title = ax.get_title(loc="left") + ax.get_title()
        assert "grad_norm_sq" not in title and "_" not in title.replace("mu_t", "")
        assert ax.containers, "no intervals drawn"
    assert "squared gradient norm of the mean model" in fig.axes[1].get_title(loc="left")
    summ = summarise_speedup(data)
    for case in ("convex", "nonconvex"):
        by_n = summ[case]["by_n"]
        n_ref = min(by_n)
        assert by_n[n_ref]["speedup"] == 1.0 and by_n[n_ref]["speedup_ci"] is None
        for n, row in by_n.items():
            lo_t, hi_t = row["time_ci"]
            assert lo_t <= row["time"] <= hi_t, (case, n, row)
            if n != n_ref:
                lo, hi = row["speedup_ci"]
                assert 0 <= lo <= row["speedup"] <= hi, (case, n, row)


def test_png_resolution(made, tmp_path):
    from PIL import Image

    fig, plan, folder, _ = made["gamma"]
    got = make_figure("gamma", folder, tmp_path, True, run_missing=False, plan=plan)
    with Image.open(got["png"]) as im:
        dpi = im.info["dpi"]
    assert PNG_DPI >= 200 and min(dpi) == pytest.approx(PNG_DPI, abs=1)
