"""atomic_write, the one writer of every file fastnn produces: modes, links, errors, leftovers."""

import errno
import os
import stat
import subprocess
import sys
import time

import pytest

from fastnn._files import atomic_write, current_umask, remove_stale_parts


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def _parts(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


@pytest.fixture
def umask():
    """Set the umask for one test and restore it afterwards."""
    saved = os.umask(0o022)
    yield os.umask
    os.umask(saved)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_new_file_gets_the_mode_open_would_give_it(tmp_path, umask, mask, expected):
    umask(mask)
    assert current_umask() == mask
    with atomic_write(tmp_path / "new.bin") as f:
        f.write(b"x")
    assert _mode(tmp_path / "new.bin") == expected


@pytest.mark.slow
def test_the_umask_is_read_in_a_fresh_process_too(tmp_path):
    code = (
        "import os, stat, sys; os.umask(0o027); from fastnn._files import atomic_write\n"
        "with atomic_write(sys.argv[1], 'w') as f: f.write('x')\n"
        "print(oct(stat.S_IMODE(os.stat(sys.argv[1]).st_mode)))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "a.txt")],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert out.strip() == "0o640"


def test_an_overwritten_file_keeps_its_own_mode(tmp_path, umask):
    path = tmp_path / "kept.bin"
    path.write_bytes(b"old")
    os.chmod(path, 0o664)
    umask(0o077)
    with atomic_write(path) as f:
        f.write(b"new")
    assert path.read_bytes() == b"new" and _mode(path) == 0o664


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
def test_root_overwriting_a_users_file_keeps_its_owner(tmp_path):
    path = tmp_path / "theirs.bin"
    path.write_bytes(b"old")
    os.chown(path, 65534, 65534)
    with atomic_write(path) as f:
        f.write(b"new")
    assert (os.stat(path).st_uid, os.stat(path).st_gid) == (65534, 65534)


def test_a_symlink_is_followed_and_stays_a_link(tmp_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "model.bin"
    target.write_bytes(b"old")
    link = tmp_path / "link.bin"
    link.symlink_to(target)
    with atomic_write(link) as f:
        f.write(b"new")
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes() == b"new"
    assert _parts(tmp_path) == [] and _parts(tmp_path / "real") == []


def test_a_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "link.bin"
    link.symlink_to(tmp_path / "made.bin")
    with atomic_write(link) as f:
        f.write(b"new")
    assert link.is_symlink() and (tmp_path / "made.bin").read_bytes() == b"new"


def test_a_hard_link_is_broken_and_the_other_name_keeps_the_old_content(tmp_path):
    path, other = tmp_path / "a.bin", tmp_path / "b.bin"
    path.write_bytes(b"old")
    os.link(path, other)
    with atomic_write(path) as f:
        f.write(b"new")
    assert path.read_bytes() == b"new" and other.read_bytes() == b"old"
    assert os.stat(path).st_nlink == 1 and os.stat(other).st_nlink == 1


def test_a_device_is_written_through_not_replaced():
    with atomic_write(os.devnull, "w") as f:
        f.write("nothing")
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_a_folder_is_refused_by_name(tmp_path):
    (tmp_path / "folder").mkdir()
    with pytest.raises(IsADirectoryError, match="folder"):
        with atomic_write(tmp_path / "folder"):
            pass
    assert (tmp_path / "folder").is_dir() and _parts(tmp_path) == []


def test_an_error_names_the_target_not_the_temporary_file(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    target = blocker / "model.npz"
    with pytest.raises(NotADirectoryError) as info:
        with atomic_write(target) as f:
            f.write(b"x")
    assert info.value.errno == errno.ENOTDIR
    assert info.value.filename == str(target)
    assert ".part" not in str(info.value) and "model.npz" in str(info.value)


def test_an_unwritable_folder_is_named(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("this user can write to a read-only folder (root)")
        with pytest.raises(PermissionError) as info:
            with atomic_write(folder / "m.npz") as f:
                f.write(b"x")
        assert info.value.filename == str(folder / "m.npz")
    finally:
        folder.chmod(0o755)


def test_a_failure_never_destroys_the_previous_file(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"previous")
    with pytest.raises(RuntimeError):
        with atomic_write(path) as f:
            f.write(b"half")
            raise RuntimeError("the writer failed")
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(path) as f:
            f.write(b"half")
            raise KeyboardInterrupt
    assert path.read_bytes() == b"previous" and _parts(tmp_path) == []


def test_an_os_error_of_the_writer_itself_is_left_as_it_is(tmp_path):
    with pytest.raises(OSError, match="truncated transfer"):
        with atomic_write(tmp_path / "d.bin"):
            raise OSError("truncated transfer")


@pytest.mark.slow
def test_a_killed_write_leaves_the_previous_file_and_a_later_write_cleans_up(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"previous")
    code = (
        "import os, sys, signal; from fastnn._files import atomic_write\n"
        "with atomic_write(sys.argv[1]) as f:\n"
        "    f.write(b'half'); f.flush(); os.kill(os.getpid(), signal.SIGKILL)"
    )
    killed = subprocess.run([sys.executable, "-c", code, str(path)])
    assert killed.returncode == -9
    assert path.read_bytes() == b"previous"
    (left,) = _parts(tmp_path)
    # Young leftovers stay (their writer might be slow); old ones of a dead process go.
    with atomic_write(path) as f:
        f.write(b"next")
    assert _parts(tmp_path) == [left]
    old = time.time() - 3600
    os.utime(tmp_path / left, (old, old))
    with atomic_write(path) as f:
        f.write(b"last")
    assert _parts(tmp_path) == [] and path.read_bytes() == b"last"


def test_the_part_file_of_a_running_process_is_never_removed(tmp_path):
    old = time.time() - 3600
    mine = tmp_path / f".fastnn-{os.getpid()}-abc123.part"
    dead = tmp_path / ".fastnn-999999999-abc123.part"
    foreign = tmp_path / ".fastnn-abc123.part"  # not a name fastnn gives
    for path in (mine, dead, foreign):
        path.write_bytes(b"x")
        os.utime(path, (old, old))
    assert remove_stale_parts(tmp_path) == [dead.name]
    assert mine.exists() and foreign.exists() and not dead.exists()
