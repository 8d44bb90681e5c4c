"""Atomic writes: an interrupted write leaves the previous file intact and no temporary file."""

import pytest

from hdo_theory.atomic import atomic_file, write_text_atomic


def test_success_replaces_the_file(tmp_path):
    p = tmp_path / "a.txt"
    write_text_atomic(p, "old")
    write_text_atomic(p, "new")
    assert p.read_text() == "new"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.txt"]


def test_failure_mid_write_keeps_the_old_file_and_cleans_up(tmp_path):
    p = tmp_path / "a.bin"
    write_text_atomic(p, "old")
    with pytest.raises(RuntimeError), atomic_file(p, "wb") as fh:
        fh.write(b"half of the new con")
        raise RuntimeError("killed")
    assert p.read_text() == "old"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.bin"]


def test_bad_mode_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="mode"), atomic_file(tmp_path / "x", "a"):
        pass
