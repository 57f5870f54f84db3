"""bertkit.files: atomic writes leave the old file or the new one; readers give one-line DataErrors."""

from __future__ import annotations

import pytest

from bertkit.errors import DataError
from bertkit.files import (
    iter_lines,
    read_text,
    require_file,
    squad_articles,
    write_dir_atomically,
    write_file_atomically,
    write_text_atomically,
)


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing_beside_it(tmp_path):
    path = write_text_atomically(tmp_path / "out.txt", "old")

    def fail(f):
        f.write("half")
        raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        write_file_atomically(path, fail)
    assert path.read_text(encoding="utf-8") == "old" and [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_a_directory_is_replaced_whole(tmp_path):
    final = tmp_path / "model"
    write_dir_atomically(final, lambda d: (d / "a.txt").write_text("1", encoding="utf-8"))
    write_dir_atomically(final, lambda d: (d / "b.txt").write_text("2", encoding="utf-8"))
    assert [p.name for p in final.iterdir()] == ["b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_a_directory_written_whole_has_the_modes_of_new_files(tmp_path):
    # issue 15, finding 12: `bertkit export` wrote model.safetensors with mode 0600 (safetensors' own choice)

    def write(folder):
        (folder / "weights").write_bytes(b"w")
        (folder / "weights").chmod(0o600)
        (folder / "config.json").write_text("{}", encoding="utf-8")

    final = write_dir_atomically(tmp_path / "model", write)
    modes = {p.name: p.stat().st_mode & 0o777 for p in final.iterdir()}
    assert modes["weights"] == modes["config.json"] == 0o666 & ~_umask()


def _umask():
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_lines_stream_with_crlf_read_as_lf_and_a_bad_byte_names_its_line(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes("\ufeffone\r\ntwo\n\nthree".encode())
    assert list(iter_lines(path)) == ["one\n", "two\n", "\n", "three"]
    path.write_bytes(b"ok\n" * 5000 + b"caf\xe9\n")
    with pytest.raises(DataError, match=r"t\.txt: not UTF-8 text \(line 5001, byte 3\)"):
        list(iter_lines(path))
    with pytest.raises(DataError, match=r"t\.txt: not UTF-8 text \(byte 15003\)"):
        read_text(path)
    path.write_bytes(b'{"data": [{"title": "' + b"x" * 5000 + b'\xe9"}]}')  # SQuAD JSON: the same wording
    with pytest.raises(DataError, match=r"t\.txt: not UTF-8 text \(byte 5021\)"):
        list(squad_articles(path, chunk_size=97))


def test_missing_files_and_folders_are_one_wording(tmp_path):
    for read in (read_text, lambda p: list(iter_lines(p)), lambda p: list(squad_articles(p))):
        with pytest.raises(DataError, match=r"none\.txt: file not found"):
            read(tmp_path / "none.txt")
        with pytest.raises(DataError, match="is a directory, not a file"):
            read(tmp_path)
    with pytest.raises(DataError, match=r"none\.txt: corpus file not found"):
        require_file(tmp_path / "none.txt", "corpus file")
    assert require_file(__file__).name == "test_files.py"
