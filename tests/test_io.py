"""zoo.io: sha256 against hashlib, atomic_write with data and with a writer."""

import hashlib

import pytest

from zoo import io


def test_sha256_matches_hashlib_across_blocks(tmp_path):
    data = bytes(range(256)) * 5000  # 1.28 MB: more than one 1 MiB block
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert io.sha256(path) == hashlib.sha256(data).hexdigest()


def test_atomic_write_with_a_writer_keeps_the_suffix_and_replaces_whole(tmp_path):
    path = tmp_path / "best.weights.h5"
    path.write_bytes(b"old")
    seen = []

    def writer(tmp):
        seen.append(tmp)
        tmp.write_bytes(b"new")

    assert io.atomic_write(path, writer) == path
    assert path.read_bytes() == b"new"
    assert seen[0].name.endswith(".weights.h5") and seen[0].parent == tmp_path and seen[0] != path
    assert [p.name for p in tmp_path.iterdir()] == ["best.weights.h5"]


def test_a_failing_writer_leaves_the_old_file_and_no_temporary_one(tmp_path):
    path = tmp_path / "data.txt"
    path.write_text("old")

    def writer(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        io.atomic_write(path, writer)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["data.txt"]


def test_atomic_write_refuses_other_data(tmp_path):
    with pytest.raises(TypeError, match="data_or_writer.*int"):
        io.atomic_write(tmp_path / "x", 3)
    assert list(tmp_path.iterdir()) == []


def test_a_directory_is_published_whole_and_a_second_writer_is_refused(tmp_path):
    from zoo.io import publish, staging_dir

    target = tmp_path / "export"
    first, second = staging_dir(target), staging_dir(target)
    (first / "a.txt").write_text("first")
    (second / "a.txt").write_text("second")
    assert publish(first, target) == target
    with pytest.raises(FileExistsError, match=f"{target} was written by another export meanwhile"):
        publish(second, target, "export")
    assert (target / "a.txt").read_text() == "first" and sorted(p.name for p in tmp_path.iterdir()) == ["export"]


def test_what_a_killed_writer_left_is_removed_by_the_next_write(tmp_path):
    import os
    import subprocess
    import sys

    from zoo.io import staging_dir

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    left = tmp_path / f".model.{dead.stdout.strip()}.abc123"  # a writer that no longer runs
    alive = tmp_path / f".model.{os.getpid()}.def456"  # one still writing
    for folder in (left, alive):
        folder.mkdir()
        (folder / "weights.npz").write_bytes(b"half")
    staging = staging_dir(tmp_path / "model")
    assert not left.exists() and alive.exists() and staging.parent == tmp_path
