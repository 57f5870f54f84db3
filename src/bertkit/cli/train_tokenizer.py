"""`bertkit train-tokenizer`: retrain a tokenizer's recipe on your corpus (--from), or build one
(--algorithm); with --compare, tokens per word and unknown rate of old and new on a held-out file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ._util import JsonOpt, emit_json, err, new_table, out, show_notes

CorpusArg = Annotated[
    list[Path],
    typer.Argument(
        metavar="CORPUS...",
        help="Text (a document per line), JSONL (.jsonl) or SQuAD JSON (.json) files, streamed.",
    ),
]
VocabSizeOpt = Annotated[int, typer.Option(help="Vocabulary size, special tokens included.")]
OutputOpt = Annotated[Path, typer.Option("--output", "-o", help="Directory to write (new or empty).")]
SourceOpt = Annotated[
    str | None, typer.Option("--from", help="Retrain this tokenizer (a directory), keeping its recipe.")
]
AlgorithmOpt = Annotated[
    str | None, typer.Option(help="Or build one from scratch: wordpiece, bpe or unigram.")
]
HeldOutOpt = Annotated[
    Path | None,
    typer.Option("--compare", help="Held-out file: tokens per word and unknown rate, old vs new."),
]
LowercaseOpt = Annotated[
    bool | None,
    typer.Option(
        "--lowercase/--no-lowercase",
        help="Lower-case (default: yes for wordpiece and unigram, no for bpe).",
    ),
]
StripAccentsOpt = Annotated[
    bool | None,
    typer.Option("--strip-accents/--keep-accents", help="Strip accents (default: as lowercase)."),
]
SpecialTokensOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--special-tokens",
        help="Special tokens in id order, repeated or comma-separated; role=token names a role (cls=<s>).",
    ),
]
FormatOpt = Annotated[
    str,
    typer.Option("--format", help="auto (by suffix), text, blocks (blank-line separated), jsonl or squad."),
]
FieldOpt = Annotated[str, typer.Option(help="The JSONL field that holds the text.")]


def train_tokenizer(
    corpus: CorpusArg,
    vocab_size: VocabSizeOpt,
    output: OutputOpt,
    source: SourceOpt = None,
    algorithm: AlgorithmOpt = None,
    held_out: HeldOutOpt = None,
    lowercase: LowercaseOpt = None,
    strip_accents: StripAccentsOpt = None,
    special_tokens: SpecialTokensOpt = None,
    corpus_format: FormatOpt = "auto",
    field: FieldOpt = "text",
    as_json: JsonOpt = False,
) -> None:
    """Train a tokenizer on your corpus: retrain one (--from) or build one (--algorithm)."""
    from .. import tokenizer_training as tt
    from ..files import check_writable, require_file

    check_writable(output, "dir")
    if held_out is not None:
        require_file(held_out, "held-out file")
    result = tt.train_tokenizer(
        corpus,
        output,
        vocab_size=vocab_size,
        source=source,
        algorithm=algorithm,
        special_tokens=split_tokens(special_tokens or []) or None,
        lowercase=lowercase,
        strip_accents=strip_accents,
        fmt=corpus_format,
        field=field,
        show_progress=err.is_terminal,
    )
    err.print(
        f"wrote {output}: {result.vocab_size} tokens learnt from {result.texts} texts in {result.seconds:.1f} s; "
        f"loads with AutoTokenizer.from_pretrained",
        markup=False,
    )
    show_notes(result.notes)
    report = result.to_dict()
    if held_out is not None:
        report |= tt.compare(held_out, result.tokenizer, result.original, fmt=corpus_format, field=field)
    if as_json:
        emit_json(report)
        return
    out.print(summary_table(report))
    if held_out is not None:
        out.print(comparison_table(report, f"on {held_out}", old=f"old ({source})", new=f"new ({output})"))


def split_tokens(items: list[str]) -> list[str]:
    """`--special-tokens` values, each repeated or comma-separated (a lone "," is the comma token).

    >>> split_tokens(["[PAD],[UNK]", ",", "cls=<s>"])
    ['[PAD]', '[UNK]', ',', 'cls=<s>']
    """
    return [t for item in items for t in (item.split(",") if item != "," else [item]) if t]


def summary_table(report: dict[str, Any]) -> Table:
    """What was written: output, recipe, vocabulary size, corpus size and the recipe's parts."""
    table = Table(show_header=False)
    for key in ("output", "recipe", "vocab_size", "texts", "chars"):
        table.add_row(key.replace("_", " "), str(report[key]))
    table.add_row("parts", ", ".join(f"{k}={v}" for k, v in report["parts"].items()))
    return table


def comparison_table(report: dict[str, Any], title: str, old: str, new: str) -> Table:
    """Tokens per word, unknown rate, tokens and words of the old tokenizer (if any) and the new one."""
    table = new_table(
        "tokenizer", "tokens/word", "unk rate", "tokens", "words", left=("tokenizer",), title=title
    )
    for shown, row in ((old, report["old"]), (new, report["new"])):
        if row is not None:
            rate = "-" if row["unk_rate"] is None else f"{row['unk_rate']:.2%}"
            table.add_row(shown, f"{row['tokens_per_word']:.3f}", rate, str(row["tokens"]), str(row["words"]))
    return table
