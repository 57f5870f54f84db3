"""`bertkit attention`: per token, the tokens it attends to most; with --token, all one word attends to."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ._util import JsonOpt, ModelOpt, emit_json, new_table, out, plot_destination, save_plot, show_notes


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
            "--plot",
            help="Also draw FILE.png or FILE.svg: the layer x head maps, or with --token its bars.",
            callback=plot_destination,
        ),
    ] = None,
) -> None:
    """Attention weights: per token, the tokens it attends to most; with --token, everything one word attends to."""
    from ..tasks.attention import AttentionInspector

    inspector = AttentionInspector(model)
    weights = inspector(text)
    data = weights.to_dict(layer=layer, head=head, full=full and as_json)
    chosen = None if token is None else weights.attends_to(token, occurrence, layer, head)
    if chosen is not None:
        data.update(chosen.to_dict())
    show_notes(inspector.notes)
    if plot is not None:
        save_plot(lambda viz: attention_figure(viz, weights, data, chosen), plot)
    if as_json:
        emit_json(data)
        return
    layers, heads = data["shape"][:2]
    where = (
        f"{'mean of ' + str(layers) + ' layers' if data['layer'] is None else 'layer ' + str(data['layer'])}, "
        f"{'mean of ' + str(heads) + ' heads' if data['head'] is None else 'head ' + str(data['head'])}"
    )
    out.print(top_tokens_table(weights, data, where) if chosen is None else word_table(chosen, where))


def word_table(chosen: Any, where: str) -> Any:
    """What one word attends to: every token, most first, with a bar."""
    from rich.markup import escape

    title = f"what {chosen.word!r} attends to ({where})"
    table = new_table("#", "token", "at", "weight", "", left=("token", ""), title=title)
    for rank, t in enumerate(chosen.ranked, 1):
        table.add_row(str(rank), escape(t.token), str(t.index), f"{t.weight:.4f}", "█" * round(40 * t.weight))
    return table


def top_tokens_table(weights: Any, data: dict[str, Any], where: str) -> Any:
    """Each token and the three tokens it attends to most."""
    from rich.markup import escape

    title = f"attention ({where}): each token's top 3"
    table = new_table("#", "token", "attends to", left=("token", "attends to"), title=title)
    matrix = weights.select(data["layer"], data["head"])
    for i, name in enumerate(weights.tokens):
        top = matrix[i].argsort(kind="stable")[::-1][:3]
        tops = "  ".join(f"{escape(weights.tokens[j])} {matrix[i, j]:.2f}" for j in top)
        table.add_row(str(i), escape(name), tops)
    return table


def attention_figure(viz: Any, weights: Any, data: dict[str, Any], chosen: Any) -> Any:
    """The figure of `bertkit attention --plot`: a word's bars with --token, else all maps + one large."""
    if chosen is not None:
        highlight = chosen.token_indices.tolist()
        return viz.attends_to_figure(
            weights.tokens, chosen.row.tolist(), highlight=highlight, title=chosen.title
        )
    layer = -1 if data["layer"] is None else data["layer"]
    head = 0 if data["head"] is None else data["head"]
    return viz.attention_figure(weights.weights, weights.tokens, layer=layer, head=head)
