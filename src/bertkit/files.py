"""Files, written once: destinations checked before the work (`check_writable`), atomic writes (a file or a
directory is whole or absent, fsync'd with its folder), UTF-8 reading with one-line errors, and a streaming
reader of SQuAD-format JSON.

Every module that writes or reads a user's file goes through these, so a crash never leaves a half-written
output, a destination that cannot be written is an `OutputError` before any work, and every unreadable input
is a `DataError` that names the file:

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as folder:
...     path = write_json_atomically(Path(folder, "scores.json"), {"f1": 71.6})
...     read_text(path)
'{\\n  "f1": 71.6\\n}'
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, Literal

from .errors import DataError, OutputError

# --- destinations, checked before the work ------------------------------------------------------------------


def check_writable(path: str | Path, kind: Literal["file", "dir"] = "file") -> Path:
    """`path`, checked before any work to be somewhere that can be written, or an `OutputError` naming why.

    Args:
        path: the destination.
        kind: "file" (it must not be a directory; its folder must exist and take new files) or "dir" (it
            must not be a file; it or its nearest existing parent folder must take new entries: missing
            folders are made by the writer).

    Writability is tried, not guessed from permission bits: a temporary file is made and removed there (so a
    read-only file system, or a folder that even root cannot write, is caught too).

    >>> check_writable("no/such/folder/answers.jsonl")
    Traceback (most recent call last):
    bertkit.errors.OutputError: no/such/folder/answers.jsonl: folder no/such/folder does not exist
    """
    path = Path(path)
    if kind == "file":
        if path.is_dir():
            raise OutputError(f"{path}: is a directory, not a file")
        folder = path.parent
        if not folder.exists():
            raise OutputError(f"{path}: folder {folder} does not exist")
    else:
        if path.exists() and not path.is_dir():
            raise OutputError(f"{path}: is a file, not a directory")
        folder = path
        while not folder.exists():  # Path("a/b").parent is Path("a"), and Path(".") exists
            folder = folder.parent
    if not folder.is_dir():
        raise OutputError(f"{path}: {folder} is a file, not a folder")
    try:
        handle, probe = tempfile.mkstemp(prefix=".bertkit-write-check-", dir=folder)
    except OSError as e:
        raise OutputError(f"{path}: cannot write in {folder} ({e.strerror or type(e).__name__})") from None
    os.close(handle)
    os.unlink(probe)
    return path


def is_same_file(a: str | Path, b: str | Path) -> bool:
    """True when `a` and `b` name one file: the same path, a symbolic link to it, or a hard link."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): compare where they lead
        return os.path.realpath(a) == os.path.realpath(b)


# --- writing ------------------------------------------------------------------------------------------------


def fsync_dir(path: str | Path) -> None:
    """Make a rename or a new file inside `path` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_file_atomically(
    path: str | Path, write: Callable[[IO[Any]], object], *, binary: bool = False
) -> Path:
    """Write `path` through `write(file)` into a temporary file beside it, fsync it, `os.replace` it into
    place and fsync the folder: a crash leaves the old file or the new one, never a part of either."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with tmp.open("wb") if binary else tmp.open("w", encoding="utf-8") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        return move_into_place(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def move_into_place(done: str | Path, final: str | Path) -> Path:
    """Rename a finished file over `final` (`os.replace`) and fsync the folder, so the rename survives a crash."""
    final = Path(final)
    os.replace(done, final)
    fsync_dir(final.parent)
    return final


def write_file_or_rescue(path: str | Path, write: Callable[[IO[Any]], object], *, what: str) -> Path:
    """`write_file_atomically(path, write)`, keeping finished work when that fails at the end (the folder went
    away, the disk is full): the same content goes to a new file in the system's temporary folder, and the
    `OutputError` says where (`what` names the content: "predictions").
    """
    path = Path(path)
    try:
        return write_file_atomically(path, write)
    except OSError as e:
        reason = f"cannot write {path} ({e.strerror or type(e).__name__})"
    try:
        handle, name = tempfile.mkstemp(prefix=f"bertkit-{path.stem}-", suffix=path.suffix)
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            write(f)
    except OSError:
        raise OutputError(reason) from None
    raise OutputError(f"{reason}; the {what} were written to {name} instead")


def write_text_atomically(path: str | Path, text: str) -> Path:
    return write_file_atomically(path, lambda f: f.write(text))


def write_json_atomically(path: str | Path, value: Any, indent: int | None = 2) -> Path:
    return write_file_atomically(path, lambda f: json.dump(value, f, ensure_ascii=False, indent=indent))


def write_dir_atomically(final: str | Path, write: Callable[[Path], None]) -> Path:
    """Write a directory as a whole: `write(tmp)` fills `final.tmp`, every file in it is fsync'd, then it
    is renamed into place (an existing `final` is replaced). A crash leaves the old directory or the new one,
    never a half-written one; a stale `.tmp` is cleared by the next write. Every file gets the mode a new
    file gets (0644 under umask 022), whatever its writer chose (safetensors writes 0600).
    """
    final = Path(final)
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    mode = _new_file_mode()
    try:
        write(tmp)
        for path in tmp.rglob("*"):
            if path.is_file():
                path.chmod(mode)
                with path.open("rb+") as f:
                    os.fsync(f.fileno())
        fsync_dir(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = final.with_name(final.name + ".old")
    if final.exists():  # os.replace cannot replace a non-empty directory
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    os.replace(tmp, final)
    fsync_dir(final.parent)
    shutil.rmtree(old, ignore_errors=True)
    return final


def _new_file_mode() -> int:
    """The mode `open` gives a new file: 0o666 less the umask, read from /proc (setting the umask to read it
    would change it for every thread meanwhile); 0o644 where it cannot be read."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o644


# --- reading ------------------------------------------------------------------------------------------------


def require_file(path: str | Path, what: str = "file") -> Path:
    """`path`, checked to be an existing file before any work starts (a `DataError` otherwise).

    >>> require_file("no/such/corpus.txt", "corpus file")
    Traceback (most recent call last):
    bertkit.errors.DataError: no/such/corpus.txt: corpus file not found
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: {what} not found")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, not a file")
    return path


def open_text(path: str | Path) -> IO[str]:
    """Open a UTF-8 text file (a byte-order mark is allowed); a missing, unreadable or directory path is a
    one-line `DataError`."""
    return _open(path, binary=False)


def _open(path: str | Path, *, binary: bool) -> IO[Any]:
    try:
        return Path(path).open("rb") if binary else Path(path).open(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not a file") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read it ({e.strerror or type(e).__name__})") from None


def read_text(path: str | Path) -> str:
    """The whole text of a UTF-8 file, or a one-line `DataError` ("not UTF-8 text (byte N)")."""
    with open_text(path) as f:
        try:
            return f.read()
        except UnicodeDecodeError as e:
            raise DataError(f"{path}: not UTF-8 text (byte {e.start})") from None


def sha256_of(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, read in blocks (the file is never held whole)."""
    digest = hashlib.sha256()
    with _open(path, binary=True) as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def read_lines(path: str | Path) -> list[str]:
    """The lines of a UTF-8 text file (CRLF line ends allowed)."""
    return read_text(path).splitlines()


def iter_lines(path: str | Path) -> Iterator[str]:
    """Stream the lines of a UTF-8 text file, each ending in "\\n" (CRLF read as LF) but perhaps the last;
    a byte that is not UTF-8 is a `DataError` naming its line.

    Lines are decoded one by one (a text-mode file decodes a whole chunk ahead, so it could not say which
    line is broken): `b"ok\\n\\xff\\n"` fails with "not UTF-8 text (line 2, byte 0)".
    """
    with _open(path, binary=True) as f:
        for number, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as e:
                raise DataError(f"{path}: not UTF-8 text (line {number}, byte {e.start})") from None
            yield line[:-2] + "\n" if line.endswith("\r\n") else line


# --- SQuAD-format JSON, streamed ----------------------------------------------------------------------------


def squad_articles(path: str | Path, chunk_size: int = 1 << 16) -> Iterator[Any]:
    """Yield the articles of a SQuAD-format JSON file one at a time, holding one article's text at most.

    The file is one JSON object, `{"version": ..., "data": [article, ...]}`, and `json` has no streaming
    parser, so the object is walked by hand: each key, each value that is not `data`, and each article are
    decoded with `raw_decode` once the buffer holds all of it (the buffer grows until it does).

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = Path(folder, "tiny.json")
    ...     _ = path.write_text('{"version": "1.1", "data": [{"title": "A"}, {"title": "B"}]}')
    ...     [article["title"] for article in squad_articles(path, chunk_size=8)]
    ['A', 'B']
    """
    reader = _JsonReader(Path(path), chunk_size)
    has_data = False
    try:
        reader.expect("{")
        while not reader.take("}"):
            key = reader.value()
            if not isinstance(key, str):
                raise reader.error("expected a key")
            reader.expect(":")
            if key != "data":
                reader.value()
            else:
                has_data = True
                reader.expect("[")
                while not reader.take("]"):
                    yield reader.value()
                    if not reader.take(","):
                        reader.expect("]", peek=True)
            if not reader.take(","):
                reader.expect("}", peek=True)
        if not has_data:
            raise reader.error("no 'data' key")
    finally:
        reader.close()


class _JsonReader:
    """A window onto a JSON file: `value()` decodes the next value, reading more until it is whole.

    The bytes are decoded here, not by a text-mode file, so a byte that is not UTF-8 is named by its place
    in the file: "not UTF-8 text (byte 70)", as `read_text` says it.
    """

    def __init__(self, path: Path, chunk_size: int):
        self.path, self.file = path, _open(path, binary=True)
        self.chunk_size, self.buffer, self.pos, self.eof = chunk_size, "", 0, False
        self.utf8 = codecs.getincrementaldecoder("utf-8")()
        self.bytes_read, self.chars_read = 0, 0
        self.decoder = json.JSONDecoder()

    def close(self) -> None:
        self.file.close()

    def error(self, what: str) -> DataError:
        return DataError(f'{self.path} is not SQuAD-format JSON ({what}; expected {{"data": [...]}})')

    def more(self) -> bool:
        """Read more text, at least as much as is pending (so a long value costs O(n), not O(n²)); False at
        the end of the file."""
        if self.eof:
            return False
        raw = self.file.read(max(self.chunk_size, len(self.buffer) - self.pos))
        pending = len(self.utf8.getstate()[0])  # bytes of a character cut by the previous read
        try:
            chunk = self.utf8.decode(raw, final=not raw)
        except UnicodeDecodeError as e:  # e.start counts from the pending bytes
            raise DataError(
                f"{self.path}: not UTF-8 text (byte {self.bytes_read - pending + e.start})"
            ) from None
        if self.chars_read == 0 and chunk.startswith("\ufeff"):
            chunk = chunk[1:]  # a byte-order mark
        self.bytes_read, self.chars_read = self.bytes_read + len(raw), self.chars_read + len(chunk)
        self.buffer, self.pos = self.buffer[self.pos :] + chunk, 0
        self.eof = not raw
        return bool(raw)

    def skip_space(self) -> None:
        while True:
            while self.pos < len(self.buffer) and self.buffer[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buffer) or not self.more():
                return

    def take(self, char: str) -> bool:
        self.skip_space()
        if self.buffer.startswith(char, self.pos):
            self.pos += 1
            return True
        return False

    def expect(self, char: str, peek: bool = False) -> None:
        self.skip_space()
        if not self.buffer.startswith(char, self.pos):
            found = self.buffer[self.pos : self.pos + 10] or "end of file"
            raise self.error(f"expected {char!r}, found {found!r}")
        if not peek:
            self.pos += 1

    def value(self) -> Any:
        self.skip_space()
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError as e:
                if self.more():
                    continue
                raise self.error(e.msg) from None
            # A number that ends the buffer may go on in the next chunk ("12" of "123").
            if end == len(self.buffer) and self.more():
                continue
            self.pos = end
            return value
