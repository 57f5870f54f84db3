"""Batch QA over files: JSONL or SQuAD-format JSON in, JSONL out; checked before any work, streamed,
resumable, written atomically.

OUTPUT holds one line per input row, in input order: `{"id": ..., "answers": [{"answer", "start", "end",
"score"}, ...]}`, or with `skip_invalid` `{"id": ..., "error": "line 3 (id q3): 'question' is empty"}` for a
row that cannot be answered (`"id": null` when it has no usable id).

Before any work (`check_batch_paths`, then `scan_input`):
- OUTPUT must be a file in a folder that can be written, and neither it nor `OUTPUT.partial` may be INPUT
  (by name, symbolic or hard link): answering into the input would destroy the questions;
- every row is read and checked (`qa_batch_rows`: fields, types, Unicode, duplicate ids), each question
  against the windows (it must leave room for the context); all bad rows are named in one `DataError`, or
  with `skip_invalid` get their `{id, error}` records and the others are answered;
- the input's bytes are hashed (SHA-256), for the header of `OUTPUT.partial`.

While running, records go to `OUTPUT.partial` after a header line (settings, model, input digest), fsync'd
chunk by chunk; a rerun after an interruption resumes after the last whole record, and refuses a partial
written with other settings, another model or another input (`qa_batch_state` says how; `restart=True`
starts over). The finished records are then written to OUTPUT (no header) and the partial removed, so OUTPUT
is never half-written. A failed run leaves no empty partial behind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..encoding import check_window, token_count
from ..errors import DataError, InputError, OutputError
from ..files import check_writable, is_same_file, require_file, sha256_of
from .qa import QAOptions, QuestionAnswerer
from .qa_batch_rows import Row, iter_rows
from .qa_batch_state import append_records, finish, open_partial, partial_path, run_header

SHOWN_PROBLEMS = 10  # bad rows named in the error; `skip_invalid` writes a record for each of them


def check_batch_paths(input_path: str | Path, output_path: str | Path) -> tuple[Path, Path]:
    """INPUT, an existing file, and OUTPUT, a file that can be written and is not INPUT (nor is
    `OUTPUT.partial`), checked before any work: the CLI calls it before the model loads.

    >>> check_batch_paths(__file__, __file__)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    bertkit.errors.InputError: .../qa_batch.py is the input file: answering into it would overwrite the questions (choose another OUTPUT)
    """
    source = require_file(input_path, "input file")
    output = check_writable(output_path, "file")
    partial = check_writable(partial_path(output), "file")
    for target in (output, partial):
        if is_same_file(source, target):
            raise InputError(
                f"{target} is the input file: answering into it would overwrite the questions "
                "(choose another OUTPUT)"
            )
    return source, output


@dataclass
class InputScan:
    """What reading the whole input before any work found.

    Args:
        sha256: the digest of the file's bytes.
        rows: rows read (blank lines are not rows).
        problems: row index → why it cannot be answered, e.g. "line 3 (id q3): 'question' is empty".
    """

    sha256: str
    rows: int = 0
    problems: dict[int, str] = field(default_factory=dict)


def scan_input(qa: QuestionAnswerer, path: Path, options: QAOptions) -> InputScan:
    """Read every row once, before any work: the input's digest, and the problem of each bad row (its
    fields, or a question that leaves no room for the context in a window of `options`)."""
    scan = InputScan(sha256_of(path))
    max_length = qa.window_length(options.max_length)
    check_window(qa.model.tokenizer, max_length, options.stride, 0)  # the settings, whatever the question
    batch: list[tuple[int, Row]] = []
    for index, row in enumerate(iter_rows(path)):
        scan.rows += 1
        if row.problem is not None:
            scan.problems[index] = row.described_problem()
        else:
            batch.append((index, row))
        if len(batch) == 256:
            scan.problems |= _question_problems(qa, batch, max_length, options.stride)
            batch = []
    scan.problems |= _question_problems(qa, batch, max_length, options.stride)
    scan.problems = dict(sorted(scan.problems.items()))
    return scan


def _question_problems(
    qa: QuestionAnswerer, batch: list[tuple[int, Row]], max_length: int, stride: int
) -> dict[int, str]:
    """The rows of `batch` whose question is too long for the windows (the check that `qa_windows` makes
    per chunk, made per row: one long question must not stop the rows around it)."""
    if not batch:
        return {}
    tokenizer = qa.model.tokenizer
    lengths = token_count(tokenizer, [row.question for _, row in batch])
    verdicts: dict[int, str | None] = {}  # question tokens → the window check's complaint, if any
    for length in set(lengths):
        try:
            check_window(tokenizer, max_length, stride, length)
            verdicts[length] = None
        except InputError as e:
            verdicts[length] = str(e)
    return {
        index: f"{row.label}: {verdicts[length]}"
        for (index, row), length in zip(batch, lengths, strict=True)
        if verdicts[length] is not None
    }


def answer_file(
    qa: QuestionAnswerer,
    input_path: str | Path,
    output_path: str | Path,
    options: QAOptions | None = None,
    *,
    chunk_size: int = 64,
    on_progress: Callable[[int], None] | None = None,
    **choices: bool,
) -> dict[str, int]:
    """Answer every question of `input_path` into JSONL `output_path`: `prepare_batch`, then `BatchRun.run`.

    Args:
        qa: the question answerer to use.
        options: how to answer (default `QAOptions()`).
        chunk_size: documents whose windows are batched together (bounds memory).
        on_progress: called with the number of rows finished since the last call.
        choices: `skip_invalid=True`, `restart=True` (see `prepare_batch`).

    Returns:
        `{"answered": ..., "invalid": ..., "resumed": ...}` (see `BatchRun.run`).
    """
    batch = prepare_batch(qa, input_path, output_path, options, **choices)
    return batch.run(chunk_size=chunk_size, on_progress=on_progress)


def prepare_batch(
    qa: QuestionAnswerer,
    input_path: str | Path,
    output_path: str | Path,
    options: QAOptions | None = None,
    *,
    skip_invalid: bool = False,
    restart: bool = False,
) -> BatchRun:
    """Everything before the answering: the paths checked, every row read and checked, OUTPUT.partial
    started or its earlier records checked to be of the same run.

    Args:
        qa: the question answerer to use.
        options: how to answer (default `QAOptions()`).
        skip_invalid: answer the valid rows and write `{id, error}` for the others (default: a bad row is
            a `DataError`, before any work, that names every bad row).
        restart: discard the `OUTPUT.partial` of an earlier run, whatever its settings, and start over.
    """
    options = options or QAOptions()
    source, output = check_batch_paths(input_path, output_path)
    scan = scan_input(qa, source, options)
    if scan.problems and not skip_invalid:
        raise DataError(_invalid_rows_message(source, scan.problems))
    done = open_partial(output, run_header(qa, options, scan.sha256, skip_invalid), restart=restart)
    return BatchRun(qa, source, output, options, scan, done, skip_invalid)


@dataclass
class BatchRun:
    """A batch ready to answer (made by `prepare_batch`): `scan.rows` rows, `len(done)` of them answered by
    an earlier run."""

    qa: QuestionAnswerer
    source: Path
    output: Path
    options: QAOptions
    scan: InputScan
    done: list[str | None]
    skip_invalid: bool

    def run(
        self, *, chunk_size: int = 64, on_progress: Callable[[int], None] | None = None
    ) -> dict[str, int]:
        """Answer the rows after `done` into OUTPUT.partial, chunk by chunk, then write OUTPUT.

        Returns:
            `{"answered": ..., "invalid": ..., "resumed": ...}`: rows answered and `{id, error}` records
            written by this run, and records kept from an earlier one.
        """
        if self.done and on_progress:
            on_progress(len(self.done))
        counts = {"answered": 0, "invalid": 0, "resumed": len(self.done)}
        partial = partial_path(self.output)
        try:
            with partial.open("a", encoding="utf-8") as out:
                for chunk in _chunks(_rows_after(iter_rows(self.source), self.done, self.output), chunk_size):
                    records = self._records(chunk)
                    append_records(out, records)
                    invalid = sum("error" in record for record in records)
                    counts["invalid"] += invalid
                    counts["answered"] += len(records) - invalid
                    if on_progress:
                        on_progress(len(chunk))
        except BaseException:
            if not self.done and not counts["answered"] + counts["invalid"]:
                partial.unlink(missing_ok=True)  # a header and nothing else: no leftover
            raise
        finish(self.output)
        return counts

    def _records(self, chunk: list[tuple[int, Row]]) -> list[dict[str, Any]]:
        """The records of a chunk of rows, in order: answers for the valid rows, `{id, error}` for the others."""
        problems = self.scan.problems
        valid = [row for index, row in chunk if index not in problems]
        found = iter(_answers(self.qa, valid, self.options, self.source, self.skip_invalid))
        return [
            {"id": row.id, "error": problems[index]} if index in problems else next(found)
            for index, row in chunk
        ]


def _invalid_rows_message(source: Path, problems: dict[int, str]) -> str:
    """`in.jsonl: 2 invalid rows, nothing answered: line 3 (id q3): ...; line 5: ...; fix them, or ...`."""
    shown = list(problems.values())[:SHOWN_PROBLEMS]
    more = f"; and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
    rows = "1 invalid row" if len(problems) == 1 else f"{len(problems)} invalid rows"
    return (
        f"{source}: {rows}, nothing answered: {'; '.join(shown)}{more} — fix them, or skip them "
        "(--skip-invalid answers the others and writes an {id, error} record for each of these)"
    )


def _rows_after(rows: Iterator[Row], done: list[str | None], output: Path) -> Iterator[tuple[int, Row]]:
    """`(index, row)` of the rows an earlier run did not finish, each earlier record checked to be its
    row's (the input digest already says they are: this guards against a partial edited by hand)."""
    for index, row in enumerate(rows):
        if index >= len(done):
            yield index, row
        elif row.id != done[index]:
            raise OutputError(
                f"{partial_path(output)}: record {index + 1} is for id {done[index]!r}, but that row of the "
                f"input is {row.label}: restart (--restart) to start over"
            )


def _chunks(rows: Iterator[tuple[int, Row]], size: int) -> Iterator[list[tuple[int, Row]]]:
    chunk: list[tuple[int, Row]] = []
    for item in rows:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _answers(
    qa: QuestionAnswerer, rows: list[Row], options: QAOptions, source: Path, skip_invalid: bool
) -> list[dict[str, Any]]:
    """The answer records of valid rows, their windows batched together. Should the answerer still refuse
    a row (an `InputError` the checks above did not foresee), the rows are answered one by one to find it,
    so one row never costs the others their answers."""
    if not rows:
        return []
    try:
        found = qa.answer_many([row.question for row in rows], [row.context for row in rows], options)
    except InputError as e:
        if len(rows) > 1:
            return [record for row in rows for record in _answers(qa, [row], options, source, skip_invalid)]
        if not skip_invalid:
            raise DataError(f"{source} {rows[0].label}: {e}") from None
        return [{"id": rows[0].id, "error": f"{rows[0].label}: {e}"}]
    return [
        {"id": row.id, "answers": [answer.to_dict() for answer in answers]}
        for row, answers in zip(rows, found, strict=True)
    ]
