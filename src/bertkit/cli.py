"""`bertkit` command line: one command per task, a thin shell over the library.

stdout carries results only (a rich table, or pure JSON with --json); notes, progress and errors go to
stderr. A `BertkitError` becomes one line `error: ...` and exit code 2.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from .errors import BertkitError, InputError

app = typer.Typer(
    name="bertkit",
    help="BERT-family encoders at work: tokenization inspected, extractive QA, and more.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

ModelOpt = Annotated[
    str | None,
    typer.Option("--model", "-m", help="Model directory or Hub id (default: the embedded default)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print pure JSON on stdout.")]
MaxLengthOpt = Annotated[int | None, typer.Option(help="Tokens per window (special tokens included).")]
StrideOpt = Annotated[int, typer.Option(help="Tokens shared by consecutive windows.")]
PlotOpt = Annotated[Path | None, typer.Option("--plot", help="Also draw a picture to FILE.png or FILE.svg.")]


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")


def show_notes(notes: list[str]) -> None:
    for note in notes:
        err.print(f"note: {note}", markup=False, style="yellow")


@app.command()
def tokenize(
    text: Annotated[str, typer.Argument(help="Text to tokenize (the first sequence).")],
    pair: Annotated[
        str | None, typer.Option(help="Second sequence (e.g. the context of a question).")
    ] = None,
    model: ModelOpt = None,
    max_length: MaxLengthOpt = None,
    stride: StrideOpt = 0,
    as_json: JsonOpt = False,
    plot: PlotOpt = None,
) -> None:
    """Show tokens, ids, segment ids, offsets, sequence and word ids, per window."""
    from .encoding import token_table
    from .loading import load_tokenizer

    windows = token_table(load_tokenizer(model), text, pair, max_length=max_length, stride=stride)
    if plot is not None:
        save_plot(lambda viz: viz.tokens_figure(windows), plot)
    if as_json:
        emit_json(windows)
        return
    for number, window in enumerate(windows):
        table = Table(title=f"window {number + 1} of {len(windows)}" if len(windows) > 1 else None)
        for column in ("#", "token", "id", "type", "mask", "offsets", "seq", "word"):
            table.add_column(column, justify="left" if column == "token" else "right")
        types = window.get("token_type_ids")
        for i, token in enumerate(window["tokens"]):
            start, end = window["offset_mapping"][i]
            seq, word = window["sequence_ids"][i], window["word_ids"][i]
            table.add_row(
                str(i),
                token,
                str(window["input_ids"][i]),
                "-" if types is None else str(types[i]),
                str(window["attention_mask"][i]),
                f"{start}-{end}",
                "-" if seq is None else str(seq),
                "-" if word is None else str(word),
            )
        out.print(table)


def qa_settings(top_k, max_answer_len, max_length, stride, no_answer, null_threshold) -> Any:
    from .tasks.qa import QAOptions

    return QAOptions(
        top_k=top_k,
        max_answer_len=max_answer_len,
        max_length=max_length,
        stride=stride,
        handle_impossible_answer=no_answer,
        null_threshold=null_threshold,
    )


TopKOpt = Annotated[int, typer.Option(help="Answers to return.")]
MaxAnswerLenOpt = Annotated[int, typer.Option(help="Longest answer, in tokens.")]
NoAnswerOpt = Annotated[
    bool, typer.Option("--no-answer", help="Also offer the empty answer (SQuAD 2.0 style).")
]
NullThresholdOpt = Annotated[float, typer.Option(help="With --no-answer: lower it to abstain more often.")]
DtypeOpt = Annotated[str, typer.Option(help="fp32, or bf16 (faster on CPUs with bf16 units).")]


@app.command()
def qa(
    question: Annotated[str, typer.Option("--question", "-q", help="The question.")],
    context: Annotated[
        str | None, typer.Option("--context", "-c", help="The context to answer from.")
    ] = None,
    context_file: Annotated[Path | None, typer.Option(help="Read the context from a UTF-8 file.")] = None,
    model: ModelOpt = None,
    top_k: TopKOpt = 1,
    max_answer_len: MaxAnswerLenOpt = 30,
    max_length: MaxLengthOpt = None,
    stride: StrideOpt = 128,
    no_answer: NoAnswerOpt = False,
    null_threshold: NullThresholdOpt = 0.0,
    dtype: DtypeOpt = "fp32",
    as_json: JsonOpt = False,
    plot: PlotOpt = None,
) -> None:
    """Answer a question from a context of any length (long contexts go through overlapping windows)."""
    from .tasks.qa import QuestionAnswerer

    if (context is None) == (context_file is None):
        raise InputError("give exactly one of --context and --context-file")
    if context_file is not None:
        context = read_text(context_file)
    assert context is not None
    answerer = QuestionAnswerer(model, dtype=dtype)
    settings = qa_settings(top_k, max_answer_len, max_length, stride, no_answer, null_threshold)
    if plot is None:
        answers = answerer(question, context, settings)
    else:  # the same answers, plus what the model saw, for the picture
        from .tasks.qa import Answer

        explained = answerer.explain(question, context, settings)
        answers = [Answer(**a) for a in explained["answers"]]
        save_plot(lambda viz: viz.qa_figure(explained), plot)
    show_notes(answerer.model.notes)
    if as_json:
        emit_json([a.to_dict() for a in answers])
        return
    table = Table()
    for column in ("#", "answer", "start", "end", "score"):
        table.add_column(column, justify="left" if column == "answer" else "right")
    for i, a in enumerate(answers, 1):
        table.add_row(str(i), a.answer or "(no answer)", str(a.start), str(a.end), f"{a.score:.4f}")
    out.print(table)


@app.command("qa-batch")
def qa_batch(
    input_path: Annotated[
        Path, typer.Argument(metavar="INPUT", help="JSONL {id, question, context} or SQuAD JSON.")
    ],
    output_path: Annotated[Path, typer.Argument(metavar="OUTPUT", help="JSONL {id, answers} written here.")],
    model: ModelOpt = None,
    top_k: TopKOpt = 1,
    max_answer_len: MaxAnswerLenOpt = 30,
    max_length: MaxLengthOpt = None,
    stride: StrideOpt = 128,
    no_answer: NoAnswerOpt = False,
    null_threshold: NullThresholdOpt = 0.0,
    dtype: DtypeOpt = "fp32",
) -> None:
    """Answer every question of a file; windows of many documents are batched together."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from .tasks.qa import QuestionAnswerer
    from .tasks.qa_batch import answer_file, count_questions

    answerer = QuestionAnswerer(model, dtype=dtype)
    show_notes(answerer.model.notes)
    columns = (TextColumn("answering"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=False) as progress:
        task = progress.add_task("qa", total=count_questions(input_path))
        counts = answer_file(
            answerer,
            input_path,
            output_path,
            on_progress=lambda n: progress.advance(task, n),
            options=qa_settings(top_k, max_answer_len, max_length, stride, no_answer, null_threshold),
        )
    resumed = f" ({counts['resumed']} from an earlier run)" if counts["resumed"] else ""
    err.print(f"wrote {counts['answered'] + counts['resumed']} answers to {output_path}{resumed}")


@app.command()
def export(
    output: Annotated[Path, typer.Argument(metavar="OUTDIR", help="Directory to write (must not exist).")],
    model: ModelOpt = None,
    task: Annotated[str, typer.Option(help="Which head: qa, or base (the encoder alone).")] = "qa",
) -> None:
    """Write a model (the default included, merged) as a plain transformers directory."""
    from .loading import export_model, load

    export_model(load(model, task=task), output)
    err.print(f"wrote {output}: loads with transformers' from_pretrained and with bertkit --model {output}")


@app.command("train-tokenizer")
def train_tokenizer_command(
    corpus: Annotated[
        list[Path],
        typer.Argument(
            metavar="CORPUS...",
            help="Text (a document per line), JSONL (.jsonl) or SQuAD JSON (.json) files, streamed.",
        ),
    ],
    vocab_size: Annotated[int, typer.Option(help="Vocabulary size, special tokens included.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory to write (new or empty).")],
    source: Annotated[
        str | None, typer.Option("--from", help="Retrain this tokenizer (a directory), keeping its recipe.")
    ] = None,
    algorithm: Annotated[
        str | None, typer.Option(help="Or build one from scratch: wordpiece, bpe or unigram.")
    ] = None,
    held_out: Annotated[
        Path | None,
        typer.Option("--compare", help="Held-out file: tokens per word and unknown rate, old vs new."),
    ] = None,
    lowercase: Annotated[
        bool | None,
        typer.Option(
            "--lowercase/--no-lowercase",
            help="Lower-case (default: yes for wordpiece and unigram, no for bpe).",
        ),
    ] = None,
    strip_accents: Annotated[
        bool | None,
        typer.Option("--strip-accents/--keep-accents", help="Strip accents (default: as lowercase)."),
    ] = None,
    special_tokens: Annotated[
        list[str] | None,
        typer.Option(
            "--special-tokens",
            help="Special tokens in id order, repeated or comma-separated; role=token names a role (cls=<s>).",
        ),
    ] = None,
    corpus_format: Annotated[
        str,
        typer.Option(
            "--format", help="auto (by suffix), text, blocks (blank-line separated), jsonl or squad."
        ),
    ] = "auto",
    field: Annotated[str, typer.Option(help="The JSONL field that holds the text.")] = "text",
    as_json: JsonOpt = False,
) -> None:
    """Train a tokenizer on your corpus: retrain one (--from) or build one (--algorithm)."""
    from . import tokenizer_training as tt

    tokens = [t for item in special_tokens or () for t in (item.split(",") if item != "," else [item]) if t]
    if held_out is not None and not held_out.is_file():
        raise InputError(f"held-out file not found: {held_out}")
    result = tt.train_tokenizer(
        corpus,
        output,
        vocab_size=vocab_size,
        source=source,
        algorithm=algorithm,
        special_tokens=tokens or None,
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
    report = result.to_dict()
    if held_out is not None:
        report |= tt.compare(held_out, result.tokenizer, result.original, fmt=corpus_format, field=field)
    if as_json:
        emit_json(report)
        return
    table = Table(show_header=False)
    for key in ("output", "recipe", "vocab_size", "texts", "chars"):
        table.add_row(key.replace("_", " "), str(report[key]))
    table.add_row("parts", ", ".join(f"{k}={v}" for k, v in report["parts"].items()))
    out.print(table)
    if held_out is not None:
        table = Table(title=f"on {held_out}")
        for column in ("tokenizer", "tokens/word", "unk rate", "tokens", "words"):
            table.add_column(column, justify="left" if column == "tokenizer" else "right")
        for name, row in (("old", report["old"]), ("new", report["new"])):
            if row is not None:
                shown = f"{name} ({source})" if name == "old" else f"{name} ({output})"
                rate = "-" if row["unk_rate"] is None else f"{row['unk_rate']:.2%}"
                table.add_row(
                    shown, f"{row['tokens_per_word']:.3f}", rate, str(row["tokens"]), str(row["words"])
                )
        out.print(table)


@app.command()
def ner(
    text: Annotated[str, typer.Argument(help="Text to tag (any length: long texts go through windows).")],
    aggregation: Annotated[
        str, typer.Option(help="none (one result per token), simple, first, average or max.")
    ] = "first",
    model: ModelOpt = None,
    max_length: MaxLengthOpt = None,
    stride: Annotated[
        int | None, typer.Option(help="Tokens shared by consecutive windows (default 128).")
    ] = None,
    dtype: DtypeOpt = "fp32",
    as_json: JsonOpt = False,
    plot: PlotOpt = None,
) -> None:
    """Named entities with character offsets (token classification)."""
    from rich.text import Text

    from .tasks.ner import EntityTagger, NEROptions

    tagger = EntityTagger(model, dtype=dtype)
    entities = tagger(text, NEROptions(aggregation=aggregation, max_length=max_length, stride=stride))
    show_notes(tagger.model.notes)
    if plot is not None:
        save_plot(lambda viz: viz.entities_figure(text, [e.to_dict() for e in entities]), plot)
    if as_json:
        emit_json([e.to_dict() for e in entities])
        return
    table = Table()
    columns = ("entity", "word", "start", "end", "score") + (("token",) if aggregation == "none" else ())
    for column in columns:
        table.add_column(column, justify="left" if column in ("entity", "word") else "right")
    for e in entities:
        row: list[Any] = [Text(e.label), Text(e.word), str(e.start), str(e.end), f"{e.score:.4f}"]
        table.add_row(*row, *([str(e.index)] if e.index is not None else []))
    out.print(table)


def save_plot(draw: Any, path: Path) -> None:
    """Draw with `draw(viz)` and save to path (.png or .svg); a note on stderr says where."""
    from . import viz

    if path.suffix.lower() not in viz.FORMATS:
        raise InputError(f"--plot {path}: use a .png or .svg file name")
    viz.save(draw(viz), path)
    err.print(f"wrote {path}", markup=False)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    model: ModelOpt = None,
    task_model: Annotated[
        list[str] | None,
        typer.Option(
            "--task-model",
            help="TASK=MODEL for the other tasks (fill-mask, nsp, ner, embed, attention); repeatable.",
        ),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds before a request gets 504.")] = 30.0,
    batch_window_ms: Annotated[
        float, typer.Option(help="How long a QA batch waits for more requests (ms).")
    ] = 0.0,
) -> None:
    """HTTP API and web page (GET / for the page, /openapi.json for the schema)."""
    from .server import OPTIONAL_TASKS, ServerConfig, serve

    task_models: dict[str, str | None] = {}
    for item in task_model or ():
        name, sep, value = item.partition("=")
        if not sep or name not in OPTIONAL_TASKS or not value:
            known = ", ".join(OPTIONAL_TASKS)
            raise InputError(f"--task-model {item!r}: expected TASK=MODEL with TASK one of {known}")
        task_models[name] = value
    config = ServerConfig(
        model=model, task_models=task_models, timeout_s=timeout, batch_window_ms=batch_window_ms
    )
    err.print(f"bertkit serving on http://{host}:{port}/ (Ctrl-C stops)", markup=False)
    serve(config, host=host, port=port)


@app.command("fill-mask")
def fill_mask(
    text: Annotated[
        str, typer.Argument(help="Text with the model's mask token ([MASK] for BERT, <mask> for RoBERTa).")
    ],
    model: ModelOpt = None,
    top_k: Annotated[int, typer.Option(help="Candidates per mask.")] = 5,
    dtype: DtypeOpt = "fp32",
    as_json: JsonOpt = False,
) -> None:
    """Predict the tokens behind mask tokens (scored and shaped as transformers' fill-mask pipeline)."""
    from .tasks.fill_mask import FillMask, pipeline_shape

    filler = FillMask(model, dtype=dtype)
    fills = filler.fill_many([text], top_k=top_k)[0]
    show_notes(filler.model.notes)
    if as_json:  # one list for one mask, one list per mask for several: as the pipeline returns them
        emit_json(pipeline_shape([[f.to_dict() for f in row] for row in fills]))  # type: ignore[misc]
        return
    for number, row in enumerate(fills, 1):
        table = Table(title=f"mask {number} of {len(fills)}" if len(fills) > 1 else None)
        for column in ("#", "token", "score", "sequence"):
            table.add_column(column, justify="right" if column in ("#", "score") else "left")
        for rank, f in enumerate(row, 1):
            table.add_row(str(rank), f.token_str, f"{f.score:.4f}", f.sequence)
        out.print(table)


def parse_candidates(path: Path | None, as_json: str | None) -> list[str]:
    """Candidate sentences from a file (one per line, blank lines skipped) or a JSON list of strings."""
    if path is not None:
        candidates = [line.strip() for line in read_text(path).splitlines() if line.strip()]
        if not candidates:
            raise InputError(f"{path} holds no candidate sentences (one per line)")
        return candidates
    try:
        candidates = json.loads(as_json or "")
    except json.JSONDecodeError as e:
        raise InputError(f"--candidates-json is not valid JSON: {e.msg} (at character {e.pos})") from None
    if not isinstance(candidates, list) or not all(isinstance(c, str) for c in candidates):
        raise InputError('--candidates-json must be a JSON list of strings, e.g. \'["It rained.", "Cats."]\'')
    if not candidates:
        raise InputError("--candidates-json is an empty list: give at least one candidate")
    return candidates


@app.command()
def nsp(
    first: Annotated[str, typer.Argument(metavar="A", help="The first sentence.")],
    second: Annotated[
        str | None, typer.Argument(metavar="[B]", help="The sentence that may follow A.")
    ] = None,
    candidates: Annotated[
        Path | None, typer.Option("--candidates", help="UTF-8 file of candidates for B, one per line.")
    ] = None,
    candidates_json: Annotated[
        str | None,
        typer.Option("--candidates-json", help='Candidates for B as a JSON list: \'["..", ".."]\'.'),
    ] = None,
    model: ModelOpt = None,
    dtype: DtypeOpt = "fp32",
    as_json: JsonOpt = False,
) -> None:
    """Next-sentence prediction: how likely B follows A (IsNext), or candidates for B ranked."""
    from .tasks.nsp import NextSentencePredictor

    if sum(x is not None for x in (second, candidates, candidates_json)) != 1:
        raise InputError("give exactly one of B, --candidates and --candidates-json")
    texts = [second] if second is not None else parse_candidates(candidates, candidates_json)
    predictor = NextSentencePredictor(model, dtype=dtype)
    ranked = predictor.rank(first, texts)
    show_notes(predictor.model.notes)
    if as_json:
        emit_json([r.to_dict() for r in ranked])
        return
    table = Table()
    for column in ("#", "is_next", "B"):
        table.add_column(column, justify="left" if column == "B" else "right")
    for rank, r in enumerate(ranked, 1):
        table.add_row(str(rank), f"{r.is_next:.4f}", r.text)
    out.print(table)


embed_app = typer.Typer(
    help="Contextual embeddings: sentence vectors, word vectors in context, similarities.",
    no_args_is_help=True,
)
TextsArg = Annotated[list[str] | None, typer.Argument(metavar="TEXT...", help="Texts (or --file).")]
TextsFileOpt = Annotated[Path | None, typer.Option("--file", help="UTF-8 file of texts, one per line.")]


def gather_texts(texts: list[str] | None, path: Path | None) -> list[str]:
    texts = list(texts or [])
    if path is not None:
        texts += [line for line in read_text(path).splitlines() if line.strip()]
    if not texts:
        raise InputError("give at least one text (arguments or --file)")
    return texts


def similarity_table(labels: list[str], matrix: Any) -> Table:
    """A cosine-similarity matrix as a table; the higher, the greener."""
    table = Table(caption="cosine similarity")
    table.add_column("#", justify="right")
    table.add_column("text")
    for i in range(len(labels)):
        table.add_column(str(i + 1), justify="right")
    for i, label in enumerate(labels):
        cells = []
        for j, value in enumerate(matrix[i]):
            style = "dim" if i == j else "bold green" if value >= 0.7 else "green" if value >= 0.4 else ""
            cells.append(f"[{style}]{value:.3f}[/]" if style else f"{value:.3f}")
        table.add_row(str(i + 1), label, *cells)
    return table


def shorten(text: str, width: int = 48) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@embed_app.command("sentence")
def embed_sentence(
    texts: TextsArg = None,
    file: TextsFileOpt = None,
    model: ModelOpt = None,
    no_normalize: Annotated[
        bool, typer.Option("--no-normalize", help="Keep the raw mean (no L2 norm).")
    ] = False,
    dtype: DtypeOpt = "fp32",
    as_json: JsonOpt = False,
) -> None:
    """Sentence vectors: mean of the last layer over the tokens, L2-normalised (all-MiniLM-L6-v2's recipe)."""
    from .tasks.embeddings import Embedder

    texts = gather_texts(texts, file)
    embedder = Embedder(model, dtype=dtype)
    vectors = embedder.encode(texts, normalize=not no_normalize)
    show_notes(embedder.model.notes)
    if as_json:
        emit_json([{"text": t, "vector": v.tolist()} for t, v in zip(texts, vectors, strict=True)])
        return
    table = Table()
    for column in ("#", "text", "dims", "norm", "first values"):
        table.add_column(column, justify="left" if column in ("text", "first values") else "right")
    for i, (text, v) in enumerate(zip(texts, vectors, strict=True), 1):
        first = " ".join(f"{x:+.3f}" for x in v[:6]) + " …"
        table.add_row(str(i), shorten(text), str(len(v)), f"{float((v**2).sum() ** 0.5):.3f}", first)
    out.print(table)


@embed_app.command("similarity")
def embed_similarity(
    texts: TextsArg = None,
    file: TextsFileOpt = None,
    model: ModelOpt = None,
    dtype: DtypeOpt = "fp32",
    as_json: JsonOpt = False,
) -> None:
    """Cosine similarity of every pair of sentences (--json: {texts, matrix})."""
    from .tasks.embeddings import Embedder

    texts = gather_texts(texts, file)
    embedder = Embedder(model, dtype=dtype)
    matrix = embedder.similarity(texts)
    show_notes(embedder.model.notes)
    if as_json:
        emit_json({"texts": texts, "matrix": matrix.tolist()})
        return
    out.print(similarity_table([shorten(t) for t in texts], matrix))


def parse_layers(value: str) -> list[int]:
    try:
        layers = [int(x) for x in value.split(",") if x.strip()]
    except ValueError:
        layers = []
    if not layers:
        raise InputError(f"--layers must be comma-separated integers, e.g. -4,-3,-2,-1 (got {value!r})")
    return layers


@embed_app.command("word")
def embed_word(
    word: Annotated[str, typer.Option("--word", "-w", help="The word (whole word, any case).")],
    texts: TextsArg = None,
    occurrence: Annotated[
        int | None, typer.Option(help="Only its n-th occurrence in each text (1 = first); default: all.")
    ] = None,
    layers: Annotated[
        str, typer.Option(help="Hidden states to average: 0 = embeddings, -1 = last; e.g. -4,-3,-2,-1.")
    ] = "-1",
    layer_pool: Annotated[str, typer.Option(help="mean of the layers, or concat.")] = "mean",
    file: TextsFileOpt = None,
    model: ModelOpt = None,
    dtype: DtypeOpt = "fp32",
    as_json: JsonOpt = False,
) -> None:
    """Vectors of a word in context (the mean of its sub-tokens) and the cosine similarity between them."""
    import numpy as np
    from rich.markup import escape

    from .tasks.embeddings import Embedder, cosine_matrix

    texts = gather_texts(texts, file)
    embedder = Embedder(model, dtype=dtype)
    found = embedder.word_vectors(
        texts, word, occurrence=occurrence, layers=parse_layers(layers), layer_pool=layer_pool
    )
    matrix = cosine_matrix(np.asarray([w.vector for w in found]))
    show_notes(embedder.model.notes)
    if as_json:
        emit_json(
            {
                "word": word,
                "layers": parse_layers(layers),
                "occurrences": [w.to_dict() for w in found],
                "similarity": matrix.tolist(),
            }
        )
        return
    table = Table()
    for column in ("#", "in context", "chars", "tokens"):
        table.add_column(column, justify="right" if column in ("#", "chars") else "left")
    labels = []
    for i, w in enumerate(found, 1):
        text = texts[w.text_index]
        left, right = text[max(0, w.start - 30) : w.start], text[w.end : w.end + 30]
        context = f"{escape(left)}[bold]{escape(w.word)}[/]{escape(right)}"
        table.add_row(str(i), context, f"{w.start}-{w.end}", " ".join(w.tokens))
        labels.append(shorten(f"{w.word} in {text}", 40))
    out.print(table)
    if len(found) > 1:
        out.print(similarity_table(labels, matrix))


app.add_typer(embed_app, name="embed")


@app.command()
def attention(
    text: Annotated[str, typer.Argument(help="The text (it must fit in one model input).")],
    token: Annotated[
        str | None, typer.Option("--token", help="A word of the text: what it attends to.")
    ] = None,
    occurrence: Annotated[int, typer.Option(help="Which occurrence of --token (1 = first).")] = 1,
    layer: Annotated[
        int | None, typer.Option(help="Layer, 0-based (-1 = last); default: the mean of all layers.")
    ] = None,
    head: Annotated[
        int | None, typer.Option(help="Head, 0-based (-1 = last); default: the mean of all heads.")
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="With --json: every weight (layers × heads × length × length).")
    ] = False,
    model: ModelOpt = None,
    as_json: JsonOpt = False,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot", help="Also draw FILE.png or FILE.svg: the layer x head maps, or with --token its bars."
        ),
    ] = None,
) -> None:
    """Attention weights: per token, the tokens it attends to most; with --token, everything one word attends to."""
    from rich.markup import escape

    from .tasks.attention import AttentionInspector

    inspector = AttentionInspector(model)
    weights = inspector(text)
    data = weights.to_dict(layer=layer, head=head, word=token, occurrence=occurrence, full=full and as_json)
    show_notes(inspector.model.notes)
    if plot is not None:
        save_plot(lambda viz: attention_plot(viz, weights, data), plot)
    if as_json:
        emit_json(data)
        return
    layers, heads = data["shape"][:2]
    where = (
        f"{'mean of ' + str(layers) + ' layers' if data['layer'] is None else 'layer ' + str(data['layer'])}, "
        f"{'mean of ' + str(heads) + ' heads' if data['head'] is None else 'head ' + str(data['head'])}"
    )
    if token is not None:
        table = Table(title=f"what {data['word']['text']!r} attends to ({where})")
        for column in ("#", "token", "at", "weight", ""):
            table.add_column(column, justify="right" if column in ("#", "at", "weight") else "left")
        for rank, t in enumerate(data["attends_to"], 1):
            table.add_row(
                str(rank),
                escape(t["token"]),
                str(t["index"]),
                f"{t['weight']:.4f}",
                "█" * round(40 * t["weight"]),
            )
        out.print(table)
        return
    table = Table(title=f"attention ({where}): each token's top 3")
    for column in ("#", "token", "attends to"):
        table.add_column(column, justify="right" if column == "#" else "left")
    matrix = weights.select(data["layer"], data["head"])
    for i, name in enumerate(weights.tokens):
        top = matrix[i].argsort(kind="stable")[::-1][:3]
        table.add_row(
            str(i), escape(name), "  ".join(f"{escape(weights.tokens[j])} {matrix[i, j]:.2f}" for j in top)
        )
    out.print(table)


def attention_plot(viz: Any, weights: Any, data: dict[str, Any]) -> Any:
    """The figure of `bertkit attention --plot`: a word's bars with --token, else all maps + one large."""
    if "attends_to" in data:
        row = [0.0] * len(weights.tokens)
        for t in data["attends_to"]:
            row[t["index"]] = t["weight"]
        where = f"layer {'mean' if data['layer'] is None else data['layer']}, "
        where += f"head {'mean' if data['head'] is None else data['head']}"
        title = f"what {data['word']['text']!r} attends to ({where})"
        return viz.attends_to_figure(
            weights.tokens, row, highlight=data["word"]["token_indices"], title=title
        )
    layer = -1 if data["layer"] is None else data["layer"]
    head = 0 if data["head"] is None else data["head"]
    return viz.attention_figure(weights.weights, weights.tokens, layer=layer, head=head)


def register_subcommands() -> None:
    from .training.cli import data_app, evaluate_app, train_app

    app.add_typer(train_app, name="train", help="Fine-tune models (bertkit train qa ...).")
    app.add_typer(
        evaluate_app, name="evaluate", help="Score models or predictions (bertkit evaluate qa ...)."
    )
    app.add_typer(data_app, name="data", help="Check datasets (bertkit data check ...).")


register_subcommands()


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"file not found: {path}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text") from None
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror}") from None


def main() -> None:
    """Console entry point: one-line errors, exit code 2, no traceback (BERTKIT_DEBUG=1 shows it)."""
    try:
        app()
    except BertkitError as e:
        if os.environ.get("BERTKIT_DEBUG"):
            raise
        err.print(f"error: {e}", markup=False, style="red")
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as e:  # an unexpected failure still gets one line; the traceback is opt-in
        if os.environ.get("BERTKIT_DEBUG"):
            raise
        err.print(f"error: unexpected {type(e).__name__}: {' '.join(str(e).split())[:300]}", markup=False)
        err.print("(set BERTKIT_DEBUG=1 to see the traceback)", markup=False)
        sys.exit(1)
