"""Every figure renders to PNG and SVG, long inputs wrap, and Hangul is drawn with a CJK font."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from bertkit import viz
from bertkit.errors import InputError

KOREAN_CONTEXT = "이순신은 1545년 서울 건천동에서 태어났다. 그는 조선 중기의 무신이었다."
KOREAN_QUESTION = "이순신은 어디에서 태어났나요?"


def explained_of(tokens_q: list[str], tokens_c: list[str], answer: tuple[int, int] | None) -> dict:
    """A hand-made `QuestionAnswerer.explain` result (one window) with the answer on context tokens."""
    tokens = ["[CLS]", *tokens_q, "[SEP]", *tokens_c, "[SEP]"]
    segments = (
        ["special"] + ["question"] * len(tokens_q) + ["special"] + ["context"] * len(tokens_c) + ["special"]
    )
    offsets, pos = [], 0
    for seg, tok in zip(segments, tokens, strict=True):
        if seg == "context":
            offsets.append([pos, pos + len(tok)])
            pos += len(tok) + 1
        else:
            offsets.append([0, 0])
    n = len(tokens)
    p_start, p_end = np.full(n, 0.01), np.full(n, 0.01)
    answers = []
    if answer is not None:
        first = len(tokens_q) + 2
        s, e = first + answer[0], first + answer[1]
        p_start[s], p_end[e] = 0.8, 0.7
        start, end = offsets[s][0], offsets[e][1]
        context = " ".join(tokens_c)
        answers = [{"answer": context[start:end], "start": start, "end": end, "score": 0.56}]
    return {
        "answers": answers,
        "windows": [
            {
                "tokens": tokens,
                "segments": segments,
                "offsets": offsets,
                "p_start": (p_start / p_start.sum()).tolist(),
                "p_end": (p_end / p_end.sum()).tolist(),
            }
        ],
    }


@pytest.fixture(scope="module")
def korean_explained(tiny_qa_dir_mbert):
    from bertkit import QuestionAnswerer

    return QuestionAnswerer(str(tiny_qa_dir_mbert)).explain(KOREAN_QUESTION, KOREAN_CONTEXT, top_k=2)


@pytest.fixture(scope="module")
def tiny_qa_dir_mbert(tmp_path_factory):
    from tests.conftest import build_tiny_qa

    return build_tiny_qa(tmp_path_factory.mktemp("tiny-qa-mbert"), "bert-base-multilingual-cased")


def render_both(fig, tmp_path, name: str) -> None:
    """PNG and SVG files of the figure, without any missing-glyph warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Glyph ... missing from font(s)" is a UserWarning
        png = viz.save(fig, tmp_path / f"{name}.png")
        svg = viz.save(fig, tmp_path / f"{name}.svg")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = svg.read_text(encoding="utf-8")
    assert "<svg" in text and "</svg>" in text


def test_a_cjk_font_is_selected():
    assert viz.has_cjk_font(), "install fonts-noto-cjk (make install does): Hangul would render as boxes"
    assert "CJK" in viz.font_families()[1] or "KR" in viz.font_families()[1]


def test_hangul_is_drawn_with_the_cjk_font(tmp_path):
    from matplotlib.font_manager import FontProperties, fontManager

    cjk = fontManager.findfont(FontProperties(family=viz.font_families()[1]), fallback_to_default=False)
    assert "CJK" in cjk or "KR" in cjk or "Nanum" in cjk
    fig = viz.entities_figure(
        "서울 한국어 텍스트", [{"entity_group": "LOC", "start": 0, "end": 2, "score": 0.9}]
    )
    render_both(fig, tmp_path, "hangul")


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
    from matplotlib.backends.backend_agg import FigureCanvasAgg

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


def test_tokens_figure_from_inspect(tok_mbert, tmp_path):
    from bertkit import token_table

    windows = token_table(tok_mbert, KOREAN_QUESTION, KOREAN_CONTEXT, max_length=24, stride=4)
    assert len(windows) > 1
    render_both(viz.tokens_figure(windows), tmp_path, "tokenize")


def test_attention_figures(tmp_path):
    tokens = ["[CLS]", "나는", "사과", "를", "먹었다", "apple", "[SEP]"]
    rng = np.random.default_rng(0)
    weights = rng.random((3, 4, len(tokens), len(tokens)))
    weights /= weights.sum(-1, keepdims=True)
    render_both(viz.attention_figure(weights, tokens, layer=-1, head=2), tmp_path, "attention")
    render_both(viz.attention_figure(weights[0, 0], tokens), tmp_path, "one-map")
    fig = viz.attends_to_figure(tokens, weights[-1].mean(0)[2], word="사과", highlight=[2])
    render_both(fig, tmp_path, "attends")
    many = [f"t{i}" for i in range(200)]
    fig = viz.attends_to_figure(many, rng.random(200), max_tokens=30)
    assert len(fig.axes[0].get_yticklabels()) == 30
    with pytest.raises(InputError, match="tokens but"):
        viz.attention_figure(weights, tokens[:-1])
    with pytest.raises(InputError, match="do not exist"):
        viz.attention_figure(weights, tokens, layer=3)


def test_entities_figure_wraps_and_keeps_glued_words(tmp_path):
    text = "My name is Sylvain and I work at Hugging Face in Brooklyn. 이순신은 서울에서 태어났다.\n" * 6
    entities = []
    for word, label in (("Sylvain", "PER"), ("Hugging Face", "ORG"), ("Brooklyn", "LOC"), ("서울", "LOC")):
        start = -1
        while (start := text.find(word, start + 1)) >= 0:
            entities.append({"entity_group": label, "start": start, "end": start + len(word), "score": 0.9})
    entities.append(
        {"entity": "B-PER", "start": text.find("이순신"), "end": text.find("이순신") + 3, "score": 0.5}
    )
    fig = viz.entities_figure(text, entities)
    assert fig.get_size_inches()[1] * viz.DPI >= 66 + 6 * 44  # six lines, each on its own row(s)
    render_both(fig, tmp_path, "ner")
    pieces = viz._pieces("서울에서 왔다", [{"entity_group": "LOC", "start": 0, "end": 2}])
    assert [(p.text, p.space_before) for p in pieces] == [("서울", False), ("에서", False), ("왔다", True)]


def test_a_dollar_sign_is_not_mathtext(tmp_path):
    explained = explained_of(["$", "x", "$"], ["costs", "$", "5", "$"], answer=(1, 2))
    render_both(viz.qa_figure(explained), tmp_path, "dollars")


def test_unknown_extension_is_an_input_error(tmp_path):
    fig = viz.attends_to_figure(["a"], [1.0])
    with pytest.raises(InputError, match=".png or .svg"):
        viz.save(fig, tmp_path / "x.pdf")
    assert viz.to_bytes(fig, "svg").startswith(b"<?xml")
    with pytest.raises(InputError):
        viz.to_bytes(fig, "gif")


def run_cli(capsys, monkeypatch, *args: str) -> tuple[int, str, str]:
    import sys

    from bertkit.cli import main

    monkeypatch.setattr(sys, "argv", ["bertkit", *args])
    try:
        main()
        code = 0
    except SystemExit as e:
        code = e.code or 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_plot_options(capsys, monkeypatch, tiny_qa_dir, tmp_path):
    model = str(tiny_qa_dir)
    code, out, err = run_cli(
        capsys, monkeypatch, "qa", "-q", "Where?", "-c", "John lives in 서울.", "-m", model, "--json",
        "--plot", str(tmp_path / "qa.svg"),
    )  # fmt: skip
    assert code == 0 and (tmp_path / "qa.svg").read_text().startswith("<?xml")
    plain = run_cli(
        capsys, monkeypatch, "qa", "-q", "Where?", "-c", "John lives in 서울.", "-m", model, "--json"
    )
    assert out == plain[1]  # the picture changes nothing in the answers
    code, _, err = run_cli(
        capsys, monkeypatch, "tokenize", "안녕 world", "-m", model, "--plot", str(tmp_path / "t.png")
    )
    assert code == 0 and (tmp_path / "t.png").read_bytes().startswith(b"\x89PNG")
    code, _, err = run_cli(
        capsys, monkeypatch, "tokenize", "x", "-m", model, "--plot", str(tmp_path / "t.pdf")
    )
    assert code == 2 and "use a .png or .svg" in err
