"""What every command shares: the two consoles, JSON and notes, tables, progress bars, pictures, the
options several commands declare, and reading texts from arguments or files.

stdout carries results only (a table, or pure JSON with --json); notes, progress and errors go to stderr.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ..errors import InputError

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

ModelOpt = Annotated[
    str | None,
    typer.Option("--model", "-m", help="Model directory or Hub id (default: the embedded default)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print pure JSON on stdout.")]
MaxLengthOpt = Annotated[int, typer.Option(help="Tokens per window (special tokens included).")]
ModelMaxLengthOpt = Annotated[int | None, typer.Option(help="Tokens per window (special tokens included).")]
StrideOpt = Annotated[int, typer.Option(help="Tokens shared by consecutive windows.")]


def plot_destination(path: Path | None) -> Path | None:
    """The callback of every --plot option: a .png or .svg file in a folder that can be written, checked as
    the command line is read, before any work (`files.check_writable`)."""
    if path is None:
        return None
    from ..files import check_writable
    from ..viz.style import FORMATS

    if path.suffix.lower() not in FORMATS:
        raise InputError(f"--plot {path}: use a .png or .svg file name")
    return check_writable(path, "file")


PlotOpt = Annotated[
    Path | None,
    typer.Option("--plot", help="Also draw a picture to FILE.png or FILE.svg.", callback=plot_destination),
]
DtypeOpt = Annotated[
    str,
    typer.Option(
        help="auto (bf16 where the CPU has bf16 matrix units: AMX or AVX-512 BF16; else fp32), fp32, bf16 or "
        "int8 (linear layers quantized). $BERTKIT_DTYPE sets what auto means."
    ),
]


DecodingOpt = Annotated[
    str,
    typer.Option(
        help="NER labels: viterbi (each text's best valid BIO sequence) or argmax (each word's own best, "
        "as the transformers pipeline; for IOB1 models)."
    ),
]


def default(config: type, name: str) -> Any:
    """The default of field `name` of the dataclass `config`: an option's default, declared once, there.

    >>> from bertkit.training.qa import TrainConfig
    >>> default(TrainConfig, "stride")
    128
    """
    return next(f.default for f in dataclasses.fields(config) if f.name == name)


def emit_json(value: Any) -> None:
    """One line of JSON on stdout (non-ASCII text kept as it is)."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")


def show_notes(notes: Iterable[str]) -> None:
    """Caveats a user must see (e.g. an untrained head), one `note:` line each on stderr."""
    for note in notes:
        err.print(f"note: {note}", markup=False, style="yellow")


def new_table(*columns: str, left: Iterable[str] = (), **settings: Any) -> Table:
    """A rich table with these columns, right-aligned but for those in `left` (`settings`: title, ...)."""
    table = Table(**settings)
    left = set(left)
    for column in columns:
        table.add_column(column, justify="left" if column in left else "right")
    return table


def exactly_one(*options: tuple[str, Any]) -> None:
    """Raise `InputError` unless exactly one of the (name, value) options is given (not None).

    >>> exactly_one(("--model", None), ("--predictions", None))
    Traceback (most recent call last):
    bertkit.errors.InputError: give exactly one of --model and --predictions
    """
    if sum(value is not None for _, value in options) != 1:
        names = [name for name, _ in options]
        raise InputError(f"give exactly one of {', '.join(names[:-1])} and {names[-1]}")


def text_lines(path: Path, strip: bool = False) -> list[str]:
    """The non-blank lines of a UTF-8 file (stripped with `strip`); a missing file is a `DataError`."""
    from ..files import read_lines

    return [line.strip() if strip else line for line in read_lines(path) if line.strip()]


def corpus_texts(paths: Iterable[Path], fmt: str, field: str) -> Iterator[str]:
    """The documents of corpus files, streamed one after the other (see `corpus.read_texts`)."""
    from ..corpus import read_texts

    for path in paths:
        yield from read_texts(path, fmt, field)


@contextmanager
def progress_bar(label: str, total: int | None, transient: bool = True) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr; yields `advance(n)`, to call as n more items are done."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=transient) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)


def save_plot(draw: Callable[[Any], Any], path: Path) -> None:
    """Draw with `draw(viz)` and save to path (.png or .svg); a note on stderr says where."""
    from .. import viz

    viz.save(draw(viz), path)  # the path was checked by `plot_destination`
    err.print(f"wrote {path}", markup=False)


def qa_dataset(path: Path, *, scoring_only: bool = False) -> Any:
    """`load_qa_file`, with its warnings (skipped examples; with `scoring_only`, questions kept for scoring
    though an answer_start is wrong) shown as notes on stderr."""
    import warnings

    from ..errors import DataError
    from ..training.qa_loading import load_qa_file

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load_qa_file(path, scoring_only=scoring_only)
    show_notes(str(warning.message) for warning in caught)
    if not dataset.examples:
        raise DataError(f"{path}: no usable examples")
    return dataset
