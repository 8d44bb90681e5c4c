"""The repository carries its own account: nothing in it points outside it.

Scans every tracked text file (``git ls-files``) for

* the name of the out-of-repository notes the project started from (the theory now lives in
  ``docs/theory.md``);
* Markdown links whose relative target resolves outside the repository root, and Markdown
  links to a repository file that does not exist;
* machine paths (``/work/...``, ``/tmp/...``) anywhere in a tracked file: commands in the docs
  use placeholders (``OUT.json``, ``OLD_DIR``) instead;
* links into ``docs/theory.md`` (``theory.md#anchor``, in code strings and docs alike) whose
  anchor is not a heading of that document, and claims without a ``theory_refs`` row.

Every failure names the file and line. Nothing is excluded: ``benchmarks/README.md`` describes
past runs with placeholders, not machine paths. Only this file is skipped by the text checks
(it has to spell the patterns), and Markdown fragments pasted into another document
(:data:`FRAGMENTS`) resolve their links from that document.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
THIS = Path(__file__).resolve().relative_to(ROOT).as_posix()
OUTSIDE_NOTES = "THEORY" + ".md"  # spelled in two parts so this file does not match itself
MACHINE_PATH = re.compile(r"(?<![\w.~-])/(?:work|tmp)/")
MD_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
MD_REF_DEF = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
THEORY_LINK = re.compile(r"theory\.md#([A-Za-z0-9_-]+)")
#: Markdown fragments pasted into another document: their links are relative to the host
#: (``python -m hdo_theory.figures.gallery ... --claims docs/gallery/claims.md``).
FRAGMENTS = {"docs/gallery/claims.md": "docs/gallery.md"}


def _tracked() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    return [p for p in out.stdout.decode().split("\0") if p]


def _text_files() -> dict[str, list[str]]:
    files = {}
    for rel in _tracked():
        path = ROOT / rel
        if not path.is_file():  # deleted in the work tree, not yet committed
            continue
        data = path.read_bytes()
        if b"\0" in data:
            continue
        try:
            files[rel] = data.decode("utf-8").splitlines()
        except UnicodeDecodeError:
            continue
    return files


FILES = _text_files() if (ROOT / ".git").exists() else {}


def slug(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    s = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return s.replace(" ", "-")


def anchors(md_lines: list[str]) -> set[str]:
    out, seen, fenced = set(), {}, False
    for line in md_lines:
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m and not fenced:
            s = slug(m.group(1))
            k = seen.get(s, 0)
            out.add(s if k == 0 else f"{s}-{k}")
            seen[s] = k + 1
        out.update(re.findall(r"<a\s+(?:id|name)=\"([^\"]+)\"", line))
    return out


def _fail(bad: list[str], what: str):
    assert not bad, f"{what}:\n" + "\n".join(bad)


def test_scan_sees_the_repository():
    if not FILES:
        pytest.skip("not a git checkout")
    assert "README.md" in FILES and "docs/theory.md" in FILES


def test_no_reference_to_the_outside_notes():
    bad = [f"{rel}:{k}: {line.strip()}" for rel, lines in FILES.items() if rel != THIS
           for k, line in enumerate(lines, 1) if OUTSIDE_NOTES in line]
    _fail(bad, f"files naming {OUTSIDE_NOTES} (point to docs/theory.md instead)")


def test_no_machine_paths():
    bad = [f"{rel}:{k}: {line.strip()}" for rel, lines in FILES.items() if rel != THIS
           for k, line in enumerate(lines, 1) if MACHINE_PATH.search(line)]
    _fail(bad, "machine paths (/work/, /tmp/) in tracked files (use a placeholder)")


def _md_links(lines):
    fenced = False
    for k, line in enumerate(lines, 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        line = re.sub(r"`[^`]*`", "", line)  # code spans are not links
        for target in MD_LINK.findall(line) + MD_REF_DEF.findall(line):
            yield k, target


def _base(rel: str) -> Path:
    return (ROOT / FRAGMENTS.get(rel, rel)).parent


def test_markdown_links_stay_inside_and_exist():
    bad = []
    for rel, lines in FILES.items():
        if not rel.endswith(".md"):
            continue
        base = _base(rel)
        for k, target in _md_links(lines):
            if SCHEME.match(target) or target.startswith("#"):
                continue
            path = target.split("#", 1)[0]
            if path.startswith("/"):
                bad.append(f"{rel}:{k}: absolute link {target}")
                continue
            resolved = (base / path).resolve()
            if not resolved.is_relative_to(ROOT):
                bad.append(f"{rel}:{k}: link {target} leaves the repository")
            elif not resolved.exists():
                bad.append(f"{rel}:{k}: link {target} names a file that does not exist")
    _fail(bad, "Markdown links")


def test_markdown_anchors_exist():
    bad = []
    for rel, lines in FILES.items():
        if not rel.endswith(".md"):
            continue
        base = _base(rel)
        for k, target in _md_links(lines):
            if SCHEME.match(target) or "#" not in target:
                continue
            path, anchor = target.split("#", 1)
            doc = (base / path).resolve() if path else (ROOT / FRAGMENTS.get(rel, rel))
            if doc.suffix != ".md" or not doc.is_relative_to(ROOT):
                continue
            key = doc.relative_to(ROOT).as_posix()
            if key in FILES and anchor not in anchors(FILES[key]):
                bad.append(f"{rel}:{k}: anchor #{anchor} is not a heading of {key}")
    _fail(bad, "Markdown anchors")


def test_theory_anchors_named_in_code_and_docs_exist():
    if "docs/theory.md" not in FILES:
        pytest.skip("not a git checkout")
    have = anchors(FILES["docs/theory.md"])
    bad = [f"{rel}:{k}: theory.md#{a}" for rel, lines in FILES.items() if rel != THIS
           for k, line in enumerate(lines, 1) for a in THEORY_LINK.findall(line)
           if a not in have]
    _fail(bad, "anchors into docs/theory.md that are not headings there")


def test_every_claim_has_a_theory_anchor():
    from hdo_theory.verification.claims import REGISTRY
    from hdo_theory.verification.theory_refs import ANCHORS, THEORY_DOC, theory_anchor

    have = anchors((ROOT / THEORY_DOC).read_text().splitlines())
    missing = sorted(set(REGISTRY) - set(ANCHORS))
    assert not missing, f"claims without a row in theory_refs.ANCHORS: {missing}"
    stale = sorted(set(ANCHORS) - set(REGISTRY))
    assert not stale, f"theory_refs.ANCHORS rows for claims that do not exist: {stale}"
    broken = {c: a for c, a in ANCHORS.items() if a not in have}
    assert not broken, f"theory_refs.ANCHORS anchors missing from {THEORY_DOC}: {broken}"
    assert theory_anchor("lemma2") == f"{THEORY_DOC}#lemma-2"
    assert theory_anchor("no-such-claim") == THEORY_DOC
