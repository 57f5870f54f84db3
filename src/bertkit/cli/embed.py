"""`bertkit embed sentence|similarity|word`: sentence vectors, word vectors in context, similarities."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ..errors import InputError
from ._util import DtypeOpt, JsonOpt, ModelOpt, emit_json, new_table, out, show_notes, text_lines

embed_app = typer.Typer(
    help="Contextual embeddings: sentence vectors, word vectors in context, similarities.",
    no_args_is_help=True,
)
TextsArg = Annotated[list[str] | None, typer.Argument(metavar="TEXT...", help="Texts (or --file).")]
TextsFileOpt = Annotated[Path | None, typer.Option("--file", help="UTF-8 file of texts, one per line.")]


def texts_and_embedder(
    texts: list[str] | None, path: Path | None, model: str | None, dtype: str
) -> tuple[list[str], Any]:
    """The texts given as arguments, then those of the file (its non-blank lines); and the `Embedder`."""
    from ..tasks.embeddings import Embedder

    texts = list(texts or []) + (text_lines(path) if path is not None else [])
    if not texts:
        raise InputError("give at least one text (arguments or --file)")
    return texts, Embedder(model, dtype=dtype)


def shorten(text: str, width: int = 48) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def similarity_table(labels: list[str], matrix: Any) -> Table:
    """A cosine-similarity matrix as a table; the higher, the greener."""
    numbers = [str(i + 1) for i in range(len(labels))]
    table = new_table("#", "text", *numbers, left=("text",), caption="cosine similarity")
    for i, label in enumerate(labels):
        cells = []
        for j, value in enumerate(matrix[i]):
            style = "dim" if i == j else "bold green" if value >= 0.7 else "green" if value >= 0.4 else ""
            cells.append(f"[{style}]{value:.3f}[/]" if style else f"{value:.3f}")
        table.add_row(str(i + 1), label, *cells)
    return table


def parse_layers(value: str) -> list[int]:
    """`--layers -4,-3,-2,-1` → [-4, -3, -2, -1]."""
    try:
        layers = [int(x) for x in value.split(",") if x.strip()]
    except ValueError:
        layers = []
    if not layers:
        raise InputError(f"--layers must be comma-separated integers, e.g. -4,-3,-2,-1 (got {value!r})")
    return layers


@embed_app.command("sentence")
def embed_sentence(
    texts: TextsArg = None,
    file: TextsFileOpt = None,
    model: ModelOpt = None,
    no_normalize: Annotated[
        bool, typer.Option("--no-normalize", help="Keep the raw mean (no L2 norm).")
    ] = False,
    dtype: DtypeOpt = "auto",
    as_json: JsonOpt = False,
) -> None:
    """Sentence vectors: mean of the last layer over the tokens, L2-normalised (all-MiniLM-L6-v2's recipe)."""
    texts, embedder = texts_and_embedder(texts, file, model, dtype)
    vectors = embedder.encode(texts, normalize=not no_normalize)
    show_notes(embedder.notes)
    if as_json:
        emit_json([{"text": t, "vector": v.tolist()} for t, v in zip(texts, vectors, strict=True)])
        return
    table = new_table("#", "text", "dims", "norm", "first values", left=("text", "first values"))
    for i, (text, v) in enumerate(zip(texts, vectors, strict=True), 1):
        first = " ".join(f"{x:+.3f}" for x in v[:6]) + " …"
        table.add_row(str(i), shorten(text), str(len(v)), f"{float((v**2).sum() ** 0.5):.3f}", first)
    out.print(table)


@embed_app.command("similarity")
def embed_similarity(
    texts: TextsArg = None,
    file: TextsFileOpt = None,
    model: ModelOpt = None,
    dtype: DtypeOpt = "auto",
    as_json: JsonOpt = False,
) -> None:
    """Cosine similarity of every pair of sentences (--json: {texts, matrix})."""
    texts, embedder = texts_and_embedder(texts, file, model, dtype)
    matrix = embedder.similarity(texts)
    show_notes(embedder.notes)
    if as_json:
        emit_json({"texts": texts, "matrix": matrix.tolist()})
        return
    out.print(similarity_table([shorten(t) for t in texts], matrix))


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
    dtype: DtypeOpt = "auto",
    as_json: JsonOpt = False,
) -> None:
    """Vectors of a word in context (the mean of its sub-tokens) and the cosine similarity between them."""
    import numpy as np

    from ..tasks.embeddings import cosine_matrix

    chosen_layers = parse_layers(layers)
    texts, embedder = texts_and_embedder(texts, file, model, dtype)
    found = embedder.word_vectors(
        texts, word, occurrence=occurrence, layers=chosen_layers, layer_pool=layer_pool
    )
    matrix = cosine_matrix(np.asarray([w.vector for w in found]))
    show_notes(embedder.notes)
    if as_json:
        occurrences = [w.to_dict() for w in found]
        emit_json(
            {"word": word, "layers": chosen_layers, "occurrences": occurrences, "similarity": matrix.tolist()}
        )
        return
    out.print(occurrences_table(texts, found))
    if len(found) > 1:
        labels = [shorten(f"{w.word} in {texts[w.text_index]}", 40) for w in found]
        out.print(similarity_table(labels, matrix))


def occurrences_table(texts: list[str], found: list[Any]) -> Table:
    """Each occurrence in its context (30 characters either side, the word in bold) and its tokens."""
    from rich.markup import escape

    table = new_table("#", "in context", "chars", "tokens", left=("in context", "tokens"))
    for i, w in enumerate(found, 1):
        text = texts[w.text_index]
        left, right = text[max(0, w.start - 30) : w.start], text[w.end : w.end + 30]
        context = f"{escape(left)}[bold]{escape(w.word)}[/]{escape(right)}"
        table.add_row(str(i), context, f"{w.start}-{w.end}", " ".join(w.tokens))
    return table
