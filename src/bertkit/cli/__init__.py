"""`bertkit` command line: one command per task, each a thin shell over the library.

A command turns its options into one library config (or options object), makes one library call and
prints the result: a table on stdout, or pure JSON with --json; notes, progress and errors go to stderr.
A `BertkitError` becomes one line `error: ...` and its exit code (`main`).

    tokens.py           tokenize
    qa.py               qa, qa-batch
    ner.py, fill_mask.py, nsp.py, attention.py, embed.py (embed sentence|similarity|word)
    export.py           export
    train_tokenizer.py  train-tokenizer
    serve.py            serve
    train.py            train qa|ner|mlm (defaults read from the library's training configs)
    evaluate.py         evaluate qa|ner|mlm
    data.py             data check
    _util.py            consoles, JSON, notes, tables, progress bars, pictures, shared options
"""

from __future__ import annotations

import os
import sys

import typer

from ..errors import BertkitError
from . import attention, export, fill_mask, ner, nsp, qa, serve, tokens, train_tokenizer
from ._util import err
from .data import data_app
from .embed import embed_app
from .evaluate import evaluate_app
from .train import train_app

app = typer.Typer(
    name="bertkit",
    help="BERT-family encoders at work: tokenization inspected, extractive QA, and more.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command()(tokens.tokenize)
app.command()(qa.qa)
app.command("qa-batch")(qa.qa_batch)
app.command()(export.export)
app.command("train-tokenizer")(train_tokenizer.train_tokenizer)
app.command()(ner.ner)
app.command()(serve.serve)
app.command("fill-mask")(fill_mask.fill_mask)
app.command()(nsp.nsp)
app.add_typer(embed_app, name="embed")
app.command()(attention.attention)
app.add_typer(train_app, name="train", help="Fine-tune models (bertkit train qa ...).")
app.add_typer(evaluate_app, name="evaluate", help="Score models or predictions (bertkit evaluate qa ...).")
app.add_typer(data_app, name="data", help="Check datasets (bertkit data check ...).")


def main() -> None:
    """Console entry point: one-line errors with the error's exit code, no traceback (BERTKIT_DEBUG=1
    shows it); an unexpected failure also gets one line, and exit code 1."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as e:
        if os.environ.get("BERTKIT_DEBUG"):
            raise
        if isinstance(e, BertkitError):
            err.print(f"error: {e}", markup=False, style="red")
            sys.exit(e.exit_code)
        err.print(f"error: unexpected {type(e).__name__}: {' '.join(str(e).split())[:300]}", markup=False)
        err.print("(set BERTKIT_DEBUG=1 to see the traceback)", markup=False)
        sys.exit(1)
