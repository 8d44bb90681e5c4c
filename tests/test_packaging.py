"""Packaging metadata: pyproject.toml, LICENSE, CITATION.cff and py.typed agree."""

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _extra_names(reqs) -> set:
    return {re.split(r"[<>=\[; ]", r, maxsplit=1)[0].lower() for r in reqs}


def _self_extras(reqs) -> set:
    out = set()
    for r in reqs:
        m = re.fullmatch(r"hdo-theory\[([a-z,]+)\]", r.replace(" ", ""))
        if m:
            out |= set(m.group(1).split(","))
    return out


def test_license_file_matches_the_declared_license(project):
    declared = project["project"]["license"]
    declared = declared.get("text") if isinstance(declared, dict) else declared
    assert declared == "MIT"
    text = (ROOT / "LICENSE").read_text()
    assert text.splitlines()[0] == "MIT License"
    assert "Copyright (c) 2026 hdo-theory developers" in text
    assert "Permission is hereby granted, free of charge, to any person obtaining a copy" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' in text
    assert "License :: OSI Approved :: MIT License" in project["project"]["classifiers"]


def test_metadata_for_an_index(project):
    p = project["project"]
    assert p["keywords"] and all(isinstance(k, str) and k for k in p["keywords"])
    assert any(c.startswith("Programming Language :: Python :: 3.") for c in p["classifiers"])
    assert "Typing :: Typed" in p["classifiers"]
    for name, url in p.get("urls", {}).items():  # only real addresses, never placeholders
        assert re.match(r"https://[^/]+\.[a-z]+/", url), (name, url)
        assert not re.search(r"example|todo|xxx|your", url, re.I), (name, url)


def test_extras(project):
    extras = project["project"]["optional-dependencies"]
    assert {"pandas", "xarray"} <= _extra_names(extras["export"])
    assert "argcomplete" in _extra_names(extras["completion"])
    assert {"export", "completion"} <= _self_extras(extras["test"])  # CI tests them
    assert "test" in _self_extras(extras["dev"]) and "ruff" in _extra_names(extras["dev"])
    assert "ruff" not in _extra_names(extras["test"])  # dev tools stay out of the test extra


def test_py_typed_is_package_data(project):
    assert (ROOT / "hdo_theory" / "py.typed").is_file()
    data = project["tool"]["setuptools"]["package-data"]
    assert "py.typed" in data["hdo_theory"]


def _top_level(cff: str) -> dict:
    """The top-level ``key: value`` pairs of a YAML file (a tiny reader, enough to check the
    keys CITATION.cff must have; nested blocks map to '')."""
    out = {}
    for line in cff.splitlines():
        m = re.match(r"^([a-z][a-z-]*):\s*(.*)$", line)
        if m:
            out[m.group(1)] = m.group(2).strip().strip('"')
    return out


def test_citation_cites_the_software_and_the_paper(project):
    cff = (ROOT / "CITATION.cff").read_text()
    top = _top_level(cff)
    for key in ("cff-version", "message", "type", "title", "version", "license", "authors",
                "preferred-citation", "references"):
        assert key in top, key
    assert top["cff-version"] == "1.2.0" and top["type"] == "software"
    assert top["version"] == project["project"]["version"]
    assert top["license"] == "MIT"
    pref = cff.split("preferred-citation:", 1)[1].split("\nreferences:", 1)[0]
    refs = cff.split("\nreferences:", 1)[1]
    for block in (pref, refs):
        assert "Hybrid Decentralized Optimization: Leveraging Both First- and Zeroth-Order " \
               "Optimizers for Faster Convergence" in block
        for family in ("Ansaripour", "Talaei", "Nadiradze", "Alistarh"):
            assert f"family-names: {family}" in block
        assert "2210.07703" in block
    assert "AAAI 2025" in pref and re.search(r"^\s+year: 2025$", pref, re.M)
    assert "\t" not in cff  # YAML forbids tabs for indentation
