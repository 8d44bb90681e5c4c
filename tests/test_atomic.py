"""Atomic writes: an interrupted write leaves the previous file intact and no temporary file."""

import os
import stat

import pytest

from hdo_theory.atomic import atomic_file, check_writable_folder, write_text_atomic
from hdo_theory.errors import HDOInputError


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


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_new_file_gets_the_umask_mode_like_open(tmp_path, umask):
    # the reference is what plain open() creates under the same umask (not mkstemp's 0o600)
    old = os.umask(umask)
    try:
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
        for mode in ("w", "wb"):
            p = tmp_path / f"atomic-{mode}"
            with atomic_file(p, mode) as fh:
                fh.write("x" if mode == "w" else b"x")
            assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask
            assert stat.S_IMODE(p.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
        assert os.umask(umask) == umask  # reading the umask left it as it was
    finally:
        os.umask(old)


def test_check_writable_folder_creates_probes_and_cleans_up(tmp_path):
    made = check_writable_folder(tmp_path / "a" / "b")
    assert made.is_dir() and list(made.iterdir()) == []
    # without create nothing is made; the nearest existing ancestor is probed
    check_writable_folder(tmp_path / "c" / "d", create=False)
    assert not (tmp_path / "c").exists()
    (tmp_path / "f").write_text("a file")
    for create in (True, False):
        with pytest.raises(HDOInputError, match=r"^out: cannot write to folder .*f"):
            check_writable_folder(tmp_path / "f" / "sub", create=create)
