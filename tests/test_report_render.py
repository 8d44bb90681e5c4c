"""The verify report as a reader meets it: report.html rendered (no raw Markdown, a table of
contents, one anchor per claim, theory links, embedded figures, a working verdict filter, the
error record shown), opened in a real headless browser when one is installed; report.tex
(balanced environments, LaTeX specials escaped); the terminal table telling a claim's records
apart. Built from hand-made records (no claim runs), so it is cheap."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tomllib
from html.parser import HTMLParser
from importlib.resources import files
from pathlib import Path

import pytest

from hdo_theory import cli
from hdo_theory.verification import report
from hdo_theory.verification import stats as S
from hdo_theory.verification.claims import REGISTRY, Record
from hdo_theory.verification.runner import ClaimRun, VerifyResult, decide_all, error_record

ROOT = Path(__file__).resolve().parents[1]
NASTY = "a_b 50% #1 & {x} ~y ^z \\w $"


def _lemma13_like():
    """Ten records shaped like the quick lemma13 grid: same quantity text, same numbers; only
    the configuration tells them apart."""
    base = {"objective": "cosine-wells", "d": 4, "n0": 4, "n1": 4, "replicas": 1000, "rv": 16,
            "draws": 1000, "L": 5.0}
    cfgs = []
    for mode, nus in (("fixed", (0.5, 0.5, 0.5)), ("tied", (0.15, 0.45, 1.35))):
        cfgs += [{**base, "eta": eta, "nu": nu, "nu_mode": mode, "reading": "definition",
                  "B_measured": 0.4 + 0.01 * k} for k, (eta, nu) in
                 enumerate(zip((0.3, 0.9, 2.7), nus, strict=True))]
        cfgs += [{**base, "eta": [0.3, 0.9, 2.7], "nu": list(nus), "nu_mode": mode,
                  "reading": reading} for reading in ("definition", "proof")]
    return [Record("lemma13", "Lemma 13 bias term", "||bias part of E[mu_{t+1} - mu_t | X]|| "
                   "(process, forward - directional)", S.Estimate(0.05, 0.001, 99, 100), 0.1,
                   "(2 eta / n) B", config=c, seed=3) for c in cfgs]


def _result() -> VerifyResult:
    recs13 = _lemma13_like()
    recs13[0].estimate = S.Estimate(1.0, 0.001, 99, 100)  # violated
    recs13[1].estimate = S.Estimate(0.1, 0.05, 99, 100)  # inconclusive
    recs13[2].outside = ["eta > 1/(4L)"]  # outside assumptions
    recs2 = [Record("lemma2", "Lemma 2", NASTY, S.Estimate(0.01, 0.001, 99, 100), 0.1,
                    "Lemma 2 RHS", config={"objective": "quadratic", "eta": e, "d_x": 3})
             for e in (0.004, 0.016)]
    a = decide_all(recs13 + recs2, 0.05)
    exc = ValueError("kaputt")
    runs = [ClaimRun(REGISTRY["lemma13"], recs13, 1.5),
            ClaimRun(REGISTRY["lemma2"], recs2, 0.5),
            ClaimRun(REGISTRY["lemma5"], [], 0.1, "ValueError: kaputt",
                     error_record("lemma5", exc, {"objective": "quadratic", "d": 8}))]
    figs = {"curves_test": {"title": "test curves", "xlabel": "step", "ylabel": "y",
                            "curves": {"a": ([0, 1, 2], [1.0, 0.5, 0.25])}}}
    findings = [{"title": "lemma13: a finding with *Markdown*",
                 "text": "The **bold** claim holds; `code` and a list:\n\n- one\n- two",
                 "config": {}}]
    return VerifyResult("quick", 0, 0.05, a, runs, figs, findings, 2.1)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("render") / "rep"
    res = _result()
    paths = report.write_report(res, out, latex_tables=True)
    return res, paths


class _Page(HTMLParser):
    """Visible text (outside script/style and hidden elements), ids, links, images, rows."""

    VOID = {"img", "br", "meta", "input", "link", "hr", "wbr", "col", "source"}

    def __init__(self):
        super().__init__()
        self.stack, self.text, self.links, self.imgs, self.rows = [], [], [], [], []
        self.ids, self.hidden_ids = set(), set()

    def _hidden(self):
        return any(t in ("script", "style", "title") or h for t, h in self.stack)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and "href" in a:
            self.links.append(a["href"])
        if tag == "img":
            self.imgs.append(a.get("src", ""))
        hidden = "hidden" in a
        if "id" in a and (hidden or self._hidden()):
            self.hidden_ids.add(a["id"])
        if tag == "tr" and "data-verdict" in a:
            self.rows.append((a["data-verdict"], hidden or self._hidden()))
        if tag not in self.VOID:
            self.stack.append((tag, hidden))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        if not self._hidden():
            self.text.append(data)


def _parse(html: str) -> _Page:
    p = _Page()
    p.feed(html)
    p.close()
    p.visible = " ".join(p.text)
    return p


def _check_page(p: _Page):
    assert "###" not in p.visible and "**" not in p.visible
    assert "bold" in p.visible and "Decision rule" in p.visible
    assert {"toc", "summary", "findings", "claims", "figures"} <= p.ids
    for cid in ("lemma13", "lemma2", "lemma5"):
        assert f"claim-{cid}" in p.ids and f"#claim-{cid}" in p.links  # anchor + TOC entry
    assert any(h.endswith("docs/theory.md#lemma-13") for h in p.links)
    assert "ERROR lemma5: ValueError: kaputt" in p.visible
    assert p.imgs and all(s.startswith("data:image/png;base64,") for s in p.imgs)
    for s in p.imgs:
        assert base64.b64decode(s.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


def test_html_is_rendered_not_raw_markdown(written):
    res, paths = written
    html = paths["html"].read_text()
    assert "<pre" not in html and "<link" not in html  # no raw block, no external stylesheet
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", html)  # offline: no CDN, no network
    p = _parse(html)
    _check_page(p)
    verdicts = sorted(v for v, _ in p.rows)
    assert verdicts.count("error") == 1 and verdicts.count("violated") == 1
    assert verdicts.count("inconclusive") == 1 and verdicts.count("outside") == 1
    assert NASTY in p.visible  # escaped as text, not interpreted
    # the theory link is relative and reaches the checkout's docs/theory.md from the out folder
    href = next(h for h in p.links if h.endswith("#lemma-13"))
    target = (paths["html"].parent / href.split("#")[0]).resolve()
    assert target == (ROOT / "docs" / "theory.md").resolve() and target.is_file()


def test_markdown_and_json_keep_their_content(written):
    res, paths = written
    md = paths["md"].read_text()
    assert md == report.markdown(res, report.figures(res))
    assert "### lemma13: a finding with *Markdown*" in md and "ERROR lemma5" in md
    data = json.loads(paths["json"].read_text())
    assert [c["id"] for c in data["claims"]] == ["lemma13", "lemma2", "lemma5"]


def test_template_is_package_data():
    assert files("hdo_theory.verification").joinpath(report.TEMPLATE).is_file()
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    globs = cfg["package-data"]["hdo_theory.verification"]
    assert any(Path(report.TEMPLATE).match(g) for g in globs)


# ---------------------------------------------------------------------------------------------
# A real browser
# ---------------------------------------------------------------------------------------------


def _browser():
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI") == "true":
        pytest.fail("CI=true but no headless browser (chromium) is installed; .ci/run installs "
                    "Debian's chromium package")
    pytest.skip("no chromium on PATH (apt-get install chromium); required when CI=true")


def _dump_dom(browser, url, profile) -> str:
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--no-first-run", f"--user-data-dir={profile}", "--dump-dom", url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0 and "<html" in out.stdout, out.stderr[-2000:]
    return out.stdout


def test_html_in_a_headless_browser(written, tmp_path):
    browser = _browser()
    _, paths = written
    url = paths["html"].resolve().as_uri()
    p = _parse(_dump_dom(browser, url, tmp_path / "profile"))
    _check_page(p)
    assert all(not hidden for _, hidden in p.rows)  # unfiltered: every record shown
    assert re.search(r"13 of 13 records shown", p.visible)  # the script ran
    # the filter, opened with ?show=...: only violated and error records remain visible
    p = _parse(_dump_dom(browser, url + "?show=violated,error", tmp_path / "profile"))
    shown = sorted(v for v, hidden in p.rows if not hidden)
    assert shown == ["error", "violated"]
    assert "2 of 13 records shown" in p.visible
    assert "claim-lemma2" in p.hidden_ids  # a claim with nothing left to show is hidden
    assert not {"claim-lemma13", "claim-lemma5"} & p.hidden_ids


# ---------------------------------------------------------------------------------------------
# LaTeX
# ---------------------------------------------------------------------------------------------


def _unescaped(tex: str, ch: str) -> list[str]:
    return [line for line in tex.splitlines()
            if not line.startswith("%") and re.search(r"(?<!\\)" + re.escape(ch), line)]


def test_latex_tables(written):
    res, paths = written
    tex = paths["tex"].read_text()
    assert tex == report.latex(res)
    stack = []
    for kind, env in re.findall(r"\\(begin|end)\{(\w+)\}", tex):
        if kind == "begin":
            stack.append(env)
        else:
            assert stack and stack.pop() == env
    assert stack == []
    assert tex.count(r"\begin{tabular}") == 3  # summary + two claims with records
    assert tex.count(r"\toprule") == tex.count(r"\midrule") == tex.count(r"\bottomrule") == 3
    assert tex.count("{") - tex.count(r"\{") == tex.count("}") - tex.count(r"\}")
    for ch in ("_", "%", "#", "&", "$"):
        if ch == "&":  # column separators are " & "; a literal one is escaped
            assert r"\&" in tex
            continue
        assert _unescaped(tex, ch) == [], ch
    assert r"a\_b 50\% \#1 \& \{x\} \textasciitilde{}y \textasciicircum{}z \textbackslash{}w \$" \
        in tex
    # every record row has the six columns of the header
    body = tex.split(r"\subsection*{lemma13")[1].split(r"\bottomrule")[0]
    rows = [r for r in body.split(r"\midrule")[1].strip().splitlines() if r.strip()]
    assert len(rows) == 10
    assert all(len(re.split(r"(?<!\\)&", r)) == 6 for r in rows)
    assert "ERROR lemma5: ValueError: kaputt" in tex


def test_latex_flag_writes_report_tex(tmp_path):
    assert cli.main(["verify", "--claims", "exact.matching", "--latex", "--out",
                     str(tmp_path)]) == 0
    tex = (tmp_path / "report.tex").read_text()
    assert r"\begin{tabular}" in tex and r"\end{document}" in tex


# ---------------------------------------------------------------------------------------------
# The terminal table
# ---------------------------------------------------------------------------------------------


def test_text_table_tells_lemma13_rows_apart():
    recs = _lemma13_like()
    decide_all(recs, 0.05)
    res = VerifyResult("quick", 0, 0.05, 0.005, [ClaimRun(REGISTRY["lemma13"], recs, 1.0)], {},
                       [], 1.0)
    lines = report.text_table(res).splitlines()[2:]
    assert len(lines) == 10 and len(set(lines)) == 10
    keys = report.varying_keys(recs)
    assert keys[:3] == ["reading", "nu_mode", "eta"]
    assert "B_measured" not in keys and "L" not in keys  # constant or implied by earlier keys
    head = report.text_table(res).splitlines()[0]
    assert head.index("config") < head.index("quantity")
