"""The `OUTPUT.partial` of a batch-QA run: its header, where a rerun resumes, and the finished OUTPUT.

`OUTPUT.partial` is JSON Lines: line 1 is the run's header, then one record per input row, in input order,
appended and fsync'd chunk by chunk:

    {"bertkit": "qa-batch partial", "version": 1, "settings": {"top_k": 1, ..., "skip_invalid": false},
     "model": {"name": "default", "dtype": "fp32", "weights": "3f1c…"}, "input": {"sha256": "9a0b…"}}
    {"id": "q1", "answers": [{"answer": "Seoul", "start": 0, "end": 2, "score": 0.93}]}
    {"id": null, "error": "line 2: not valid JSON (Expecting value)"}        (only with skip_invalid)

A rerun builds its own header and compares: the same settings, model and input bytes → it keeps the records
there and answers the rows after them; anything else → refused, naming what changed (`restart=True` starts
over instead). Only whole lines count: a last line without its "\\n" was cut short by the interruption (even
if it parses), so it is cut off and its row answered again — a record is never glued to the next one.

When every row has its record, the records alone are written to OUTPUT (atomically) and the partial is
removed: OUTPUT stays plain JSON Lines of `{id, answers}` (and `{id, error}`), for any reader of them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, OutputError
from ..files import fsync_dir, write_file_atomically, write_text_atomically
from .qa import QAOptions, QuestionAnswerer

MARK = "qa-batch partial"


def partial_path(output: Path) -> Path:
    """Where the records of a run go until it is finished: `OUTPUT.partial`."""
    return output.with_name(output.name + ".partial")


def run_header(qa: QuestionAnswerer, options: QAOptions, input_sha256: str, skip_invalid: bool) -> dict:
    """What makes the records of a run what they are: the settings (`max_length` as resolved, so the
    default and its value are one setting), the model, and the input's bytes."""
    settings = dataclasses.asdict(options) | {"max_length": qa.window_length(options.max_length)}
    return {
        "bertkit": MARK,
        "version": 1,
        "settings": settings | {"skip_invalid": skip_invalid},
        "model": {"name": qa.model.name, "dtype": qa.runtime.dtype, "weights": weights_fingerprint(qa)},
        "input": {"sha256": input_sha256},
    }


def weights_fingerprint(qa: QuestionAnswerer) -> str:
    """A digest of the model's weights that costs milliseconds: each tensor's name, shape and first 256
    values (any training run changes them all), so a model retrained in the same directory is another one."""
    digest = hashlib.sha256()
    for name, tensor in qa.model.module.state_dict().items():  # torch tensors, or numpy (`numpy_bert`)
        digest.update(f"{name}{tuple(tensor.shape)}".encode())
        first = tensor.reshape(-1)[:256]
        values = first if isinstance(first, np.ndarray) else first.detach().float().cpu().numpy()
        digest.update(values.astype(np.float32).tobytes())
    return digest.hexdigest()[:16]


def changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What differs between two run headers, in words: ["top_k 1 → 3", "the input file changed"].

    >>> model = {"name": "m", "dtype": "fp32", "weights": "a"}
    >>> old = {"settings": {"top_k": 1}, "model": model, "input": {"sha256": "x"}}
    >>> changes(old, {"settings": {"top_k": 3}, "model": model | {"weights": "b"}, "input": {"sha256": "y"}})
    ['top_k 1 → 3', 'the model (m, weights a → b)', 'the input file changed (its SHA-256 differs)']
    """
    said = []
    old_settings, new_settings = old.get("settings", {}), new["settings"]
    for key in sorted(set(old_settings) | set(new_settings)):
        if old_settings.get(key) != new_settings.get(key):
            said.append(f"{key} {old_settings.get(key)!r} → {new_settings.get(key)!r}")
    old_model, new_model = old.get("model", {}), new["model"]
    if old_model.get("weights") != new_model["weights"]:
        said.append(
            f"the model ({new_model['name']}, weights {old_model.get('weights')} → {new_model['weights']})"
        )
    if old_model.get("dtype") != new_model["dtype"]:
        said.append(f"dtype {old_model.get('dtype')} → {new_model['dtype']}")
    if old.get("input") != new["input"]:
        said.append("the input file changed (its SHA-256 differs)")
    return said


def open_partial(output: Path, header: dict[str, Any], *, restart: bool = False) -> list[str | None]:
    """Make `OUTPUT.partial` ready to append to; returns the ids of the records already in it.

    A new run (no partial, one without a single record, or `restart`) writes the header alone. A rerun
    keeps the whole records of an earlier run with the same header, and cuts off a torn last line; with
    another header it is an `InputError` naming what changed.
    """
    partial = partial_path(output)
    earlier = None if restart or not partial.exists() else _read_partial(partial)
    if earlier is not None and earlier[1]:
        old_header, ids, whole_bytes = earlier
        changed = changes(old_header, header)
        if changed:
            raise InputError(
                f"{partial} holds {len(ids)} answers of a run with other settings ({'; '.join(changed)}): "
                "rerun with those to resume it, or restart (--restart) to start over"
            )
        with partial.open("r+b") as f:
            f.truncate(whole_bytes)
        return ids
    write_text_atomically(partial, json.dumps(header, ensure_ascii=False) + "\n")
    return []


def _read_partial(partial: Path) -> tuple[dict[str, Any], list[str | None], int]:
    """(header, ids of the whole records, bytes up to the end of the last of them) of an earlier run's
    partial. A header that is not whole means the run stopped before its first record."""
    with partial.open("rb") as f:
        first = f.readline()
        if not first.endswith(b"\n"):
            return {}, [], 0
        header = _header_of(partial, first)
        ids: list[str | None] = []
        whole = len(first)
        for line in f:
            record = _record_of(line)
            if record is None:  # torn by the interruption: this line and any after it go
                break
            ids.append(record["id"])
            whole += len(line)
    return header, ids, whole


def _header_of(partial: Path, line: bytes) -> dict[str, Any]:
    try:
        header = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        header = None
    if not isinstance(header, dict) or header.get("bertkit") != MARK:
        raise OutputError(
            f"{partial}: not the partial file of a qa-batch run (no header line): move it away, or restart "
            "(--restart) to replace it"
        )
    return header


def _record_of(line: bytes) -> dict[str, Any] | None:
    """A whole record line parsed, or None for a line cut short (no "\\n") or unreadable."""
    if not line.endswith(b"\n"):
        return None
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(record, dict) or "id" not in record or not ("answers" in record or "error" in record):
        return None
    return record


def finish(output: Path) -> None:
    """Write the records of `OUTPUT.partial` (all but its header) to OUTPUT atomically, and remove the
    partial. Should OUTPUT not be written, the partial stays and the `OutputError` says so."""
    partial = partial_path(output)

    def copy_records(out: Any) -> None:
        with partial.open("rb") as f:
            f.readline()
            shutil.copyfileobj(f, out)

    try:
        write_file_atomically(output, copy_records, binary=True)
    except OSError as e:
        raise OutputError(
            f"cannot write {output} ({e.strerror or type(e).__name__}); every answer is kept in {partial}: "
            "rerun the same command to write OUTPUT from it"
        ) from None
    partial.unlink()
    fsync_dir(output.parent)


def append_records(out: Any, records: list[dict[str, Any]]) -> None:
    """Append records to the open partial, one line each, and make them durable before going on."""
    out.write("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records))
    out.flush()
    os.fsync(out.fileno())
