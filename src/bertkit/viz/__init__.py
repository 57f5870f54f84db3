"""Pictures of what the model does: matplotlib figures, headless (Agg), Hangul included.

Every function returns a `matplotlib.figure.Figure` (made without pyplot, so nothing global piles up in
a server) and takes `path=` to also save it; the file name's extension picks the format (.png or .svg):

    explained = QuestionAnswerer(model).explain(question, context)
    qa_figure(explained, path="qa.png")                  # tokens by segment + start/end probability bars
    token_segments_figure(explained, path="tokens.svg")  # tokens coloured question/context/special
    attention_figure(weights, tokens, layer=-1, head=0)  # [layers, heads, n, n] → grid + one head large
    attends_to_figure(tokens, weights_of_one_row)        # which tokens one word attends to
    entities_figure(text, entities)                      # NER spans over the text

Long inputs stay readable: token boxes and text wrap into rows whose widths are measured with the real
font (no overlapping labels), probability bars show the region around the answer, attention maps label
every k-th token when there are too many to label them all.

One module per kind of picture, over shared pieces:

    style.py        fonts (a CJK fallback for Hangul), colours, rcParams, save / to_bytes
    layout.py       text measured with the real fonts, rows of boxes, the geometry of token boxes
    token_boxes.py  drawing blocks of token boxes; the tokenization picture (tokens_figure)
    qa.py           QA: token segments with the answer outlined, start/end probabilities, both
    attention.py    attention maps, and what one word attends to
    entities.py     NER spans over the text
"""

from .attention import attends_to_figure, attention_figure
from .entities import entities_figure, entity_label
from .qa import answer_location, probabilities_figure, qa_figure, token_segments_figure
from .style import DPI, FORMATS, font_families, has_cjk_font, save, shown_token, to_bytes
from .token_boxes import tokens_figure

__all__ = [
    "DPI",
    "FORMATS",
    "answer_location",
    "attends_to_figure",
    "attention_figure",
    "entities_figure",
    "entity_label",
    "font_families",
    "has_cjk_font",
    "probabilities_figure",
    "qa_figure",
    "save",
    "shown_token",
    "to_bytes",
    "token_segments_figure",
    "tokens_figure",
]
