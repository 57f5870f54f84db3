"""QA pictures: Korean renders, the answer is outlined where the decoder found it, long windows wrap."""

from __future__ import annotations

import copy

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from bertkit import viz

from .rendering import KOREAN_CONTEXT, KOREAN_QUESTION, explained_of, render_both


@pytest.fixture(scope="module")
def tiny_qa_dir_mbert(tmp_path_factory):
    from tests.conftest import build_tiny_qa

    return build_tiny_qa(tmp_path_factory.mktemp("tiny-qa-mbert"), "bert-base-multilingual-cased")


@pytest.fixture(scope="module")
def korean_explained(tiny_qa_dir_mbert):
    from bertkit import QAOptions, QuestionAnswerer

    return QuestionAnswerer(str(tiny_qa_dir_mbert)).explain(
        KOREAN_QUESTION, KOREAN_CONTEXT, QAOptions(top_k=2)
    )


def test_qa_figures_render_korean(korean_explained, tmp_path):
    for name, make in (
        ("qa", viz.qa_figure),
        ("tokens", viz.token_segments_figure),
        ("probabilities", viz.probabilities_figure),
    ):
        render_both(make(korean_explained), tmp_path, name)


def test_answer_location_finds_the_answer_tokens():
    explained = explained_of(["where", "?"], ["john", "lives", "in", "new", "york"], answer=(3, 4))
    window, start, end = viz.answer_location(explained)
    assert (window, start, end) == (0, 7, 8)
    assert explained["answers"][0]["answer"] == "new york"
    assert viz.answer_location(explained_of(["q"], ["c"], answer=None)) is None


def test_answer_location_is_where_the_decoder_found_the_answer(korean_explained):
    answers = korean_explained["answers"]
    for rank, answer in enumerate(answers):
        window, first, last = viz.answer_location(korean_explained, rank)
        offsets = korean_explained["windows"][window]["offsets"]
        assert offsets[first][0] == answer["start"] and offsets[last][1] == answer["end"]
    assert viz.answer_location(korean_explained, rank=len(answers)) is None


def outlined_window(fig) -> tuple[str, list[str]]:
    """The window heading of a token-segments figure, and the tokens inside the red answer outline."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    ax = fig.axes[0]
    outlines = [p.get_window_extent(canvas.get_renderer()) for p in ax.patches if p.get_fill() is False]
    texts = [t for t in ax.texts]
    heading = next((t.get_text() for t in texts if t.get_text().startswith("window")), "")
    inside = [
        t.get_text()
        for t in texts
        if any(o.contains(*t.get_window_extent(canvas.get_renderer()).get_points().mean(0)) for o in outlines)
    ]
    return heading, inside


def test_pictures_draw_the_window_the_decoder_chose():
    # The same tokens in two windows; the decoder took the answer from the second one.
    explained = explained_of(["where", "?"], ["john", "lives", "in", "new", "york"], answer=(3, 4))
    explained["windows"].append(copy.deepcopy(explained["windows"][0]))
    explained["locations"] = [{"window": 1, "token_start": 6, "token_end": 6}]
    heading, inside = outlined_window(viz.token_segments_figure(explained))
    assert heading == "window 2 of 2" and inside == ["in"]
    heading, inside = outlined_window(viz.token_segments_figure(explained, window=0))
    assert heading == "window 1 of 2" and inside == []  # the answer is not outlined in another window


def test_long_window_wraps_into_rows_and_bars_show_the_region_around_the_answer(tmp_path):
    context = [f"word{i}" for i in range(300)]
    explained = explained_of(["where", "is", "it", "?"], context, answer=(200, 203))
    short = viz.token_segments_figure(explained_of(["q"], context[:5], answer=(1, 2)))
    tall = viz.token_segments_figure(explained)
    assert tall.get_size_inches()[1] > 4 * short.get_size_inches()[1]  # wrapped, not squeezed
    assert tall.get_size_inches()[0] == short.get_size_inches()[0]
    bars = viz.probabilities_figure(explained, max_tokens=40)
    labels = [t.get_text() for t in bars.axes[1].get_xticklabels()]
    assert len(labels) == 40 and "word200" in labels and "word203" in labels
    render_both(viz.qa_figure(explained), tmp_path, "long")


def test_token_boxes_never_overlap():
    explained = explained_of(["q"], ["짧은", "a" * 40, "토큰", "x"] * 20, answer=(1, 1))
    fig = viz.token_segments_figure(explained)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    boxes = [
        t.get_window_extent(renderer) for t in fig.axes[0].texts if t.get_text() in ("짧은", "토큰", "a" * 40)
    ]
    assert len(boxes) == 60
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b)


def test_a_dollar_sign_is_not_mathtext(tmp_path):
    explained = explained_of(["$", "x", "$"], ["costs", "$", "5", "$"], answer=(1, 2))
    render_both(viz.qa_figure(explained), tmp_path, "dollars")
