"""QA training features: labels from the inference windows, and the gold → labels → decoder round trip."""

from pathlib import Path

import pytest

from bertkit.decoding import strip_span
from bertkit.encoding import qa_windows
from bertkit.errors import InputError
from bertkit.training.qa_data import GoldAnswer, QAExample
from bertkit.training.qa_features import max_context_window, qa_train_features, roundtrip_check, span_labels
from bertkit.training.qa_loading import load_qa_file

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
NUMBERS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen".split()
)


@pytest.fixture(scope="module")
def tok_uncased():
    return fresh_tokenizer("bert-base-uncased")


@pytest.fixture(scope="module")
def tok_mbert():
    return fresh_tokenizer("bert-base-multilingual-cased")


def fresh_tokenizer(name: str):
    """A tokenizer of our own: the backend keeps the truncation settings of its last call, and another
    test's settings (e.g. max_length=32 with "only_second") would make `check_window` fail on a longer
    question."""
    from transformers import AutoTokenizer

    if not (SHARED_DATA / "tokenizers" / name).exists():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return AutoTokenizer.from_pretrained(str(SHARED_DATA / "tokenizers" / name))


def shared_examples(name: str, count: int) -> list[QAExample]:
    if not (SHARED_DATA / name).exists():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return load_qa_file(SHARED_DATA / name).examples[:count]


def example(context: str, answer: str, start: int | None = None, qid: str = "q") -> QAExample:
    start = context.index(answer) if start is None else start
    return QAExample(qid, "who?", context, (GoldAnswer(answer, start),))


def check_all_token_boundary_answers_come_back(result: dict, particle_cuts: int = 0) -> None:
    """Every answer on token boundaries comes back but `particle_cuts` whose ending the Korean particle
    rule takes for a particle; each answer that differs says why."""
    assert result["token_boundary_total"] > 0
    assert result["token_boundary_exact"] == result["token_boundary_total"] - particle_cuts
    assert result["total"] == result["exact"] + len(result["differ"])
    for case in result["differ"]:
        assert "unexplained" not in case["reason"], case


def test_roundtrip_squad_with_bert_base_uncased(tok_uncased):
    result = roundtrip_check(tok_uncased, shared_examples("squad-v1.1-dev.json", 400), metric="squad")
    check_all_token_boundary_answers_come_back(result)
    assert result["total"] > 700  # dev questions have up to three distinct gold answers
    assert result["metric_exact"] >= result["exact"]


def test_roundtrip_korquad_with_mbert(tok_mbert):
    result = roundtrip_check(tok_mbert, shared_examples("korquad-v1.0-dev.json", 300), metric="korquad")
    # mBERT glues particles to nouns (바키치가 → 바, ##키, ##치가): the gold 바키치 ends inside a token, and
    # the particle rule gives it back. It takes the 와 of the name 시나가와 for a particle (its one loss).
    check_all_token_boundary_answers_come_back(result, particle_cuts=1)
    assert result["exact"] == 298  # of 300 (without the particle rule: 265)
    cut = [case for case in result["differ"] if "particle" in case["reason"]]
    assert [(case["gold"], case["got"]) for case in cut] == [("시나가와", "시나가")]


def test_roundtrip_with_small_windows_splits_answers_and_still_recovers_them(tok_uncased):
    # 64-token windows cut most SQuAD contexts into several: answers straddle window edges and repeat
    # in overlapping windows; the labelled, best-centred window must still give them back exactly.
    examples = shared_examples("squad-v1.1-dev.json", 150)
    result = roundtrip_check(tok_uncased, examples, max_length=64, stride=24)
    check_all_token_boundary_answers_come_back(result)
    windows = qa_windows(tok_uncased, [e.question for e in examples], [e.context for e in examples], 64, 24)
    assert len(windows) > 3 * len(examples)


def test_labels_of_an_answer_split_across_windows(tok_uncased):
    # max_length=12, stride=2, question "who?": 7 context tokens per window (the encoding.py example)
    #   window 0: [CLS] who ? [SEP] zero one two three four five six [SEP]
    #   window 1: [CLS] who ? [SEP] five six seven eight nine ten eleven [SEP]
    ex = example(" ".join(NUMBERS), "six seven")
    features = qa_train_features(tok_uncased, [ex], max_length=12, stride=2)
    assert len(features) == 3
    assert features.windows.cls_index.tolist() == [0, 0, 0]
    assert features.start_positions.tolist() == [0, 5, 0]  # window 0 lacks "seven": CLS, not a cut answer
    assert features.end_positions.tolist() == [0, 6, 0]
    result = roundtrip_check(tok_uncased, [ex], max_length=12, stride=2)
    assert (result["total"], result["exact"], result["differ"]) == (1, 1, [])


def test_answer_in_two_windows_is_decoded_from_the_best_centred_one(tok_uncased):
    ex = example(" ".join(NUMBERS), "six")
    windows = qa_windows(tok_uncased, [ex.question], [ex.context], max_length=12, stride=2)
    start = ex.context.index("six")
    labels = [
        (w, *span_labels(windows.offsets[w], windows.context_mask[w], 0, start, start + 3)) for w in range(2)
    ]
    assert labels == [(0, 10, 10), (1, 5, 5)]  # "six" is the last token of window 0, the 2nd of window 1
    assert max_context_window(windows, labels) == (1, 5, 5)


def test_answer_longer_than_a_window_is_reported(tok_uncased):
    ex = example(" ".join(NUMBERS), "two three four five six seven eight nine")
    result = roundtrip_check(tok_uncased, [ex], max_length=12, stride=2)
    assert result["exact"] == 0
    assert result["differ"][0]["got"] is None
    assert "no window holds the whole answer" in result["differ"][0]["reason"]
    features = qa_train_features(tok_uncased, [ex], max_length=12, stride=2)
    assert (features.start_positions == features.windows.cls_index).all()


def test_whitespace_and_inside_token_answers_are_explained(tok_uncased):
    context = "In the 1970s, the Denver Broncos won."
    padded = example(context, " Denver Broncos", qid="padded")
    inside = example(context, "1970", qid="inside")
    assert strip_span(context, 17, 32) == (18, 32)
    result = roundtrip_check(tok_uncased, [padded, inside], metric="squad")
    assert (result["total"], result["exact"], result["token_boundary_total"]) == (2, 0, 0)
    assert result["metric_exact"] == 1  # SQuAD's normalisation forgives the space, not the "s"
    by_id = {case["id"]: case for case in result["differ"]}
    assert by_id["padded"]["got"] == "Denver Broncos"
    assert "whitespace" in by_id["padded"]["reason"]
    assert by_id["inside"]["got"] == "1970s"
    assert "gold ends inside token '1970s'" in by_id["inside"]["reason"]


def test_answerless_windows_are_sampled_deterministically(tok_uncased):
    examples = [example(" ".join(NUMBERS), "thirteen", qid=str(i)) for i in range(20)]
    everything = qa_train_features(tok_uncased, examples, max_length=12, stride=2)
    answered = everything.start_positions != everything.windows.cls_index
    assert len(everything) == 60 and answered.sum() == 20

    only_answers = qa_train_features(tok_uncased, examples, max_length=12, stride=2, answerless_ratio=0.0)
    assert len(only_answers) == 20
    assert (only_answers.start_positions != only_answers.windows.cls_index).all()

    half = [qa_train_features(tok_uncased, examples, 12, 2, answerless_ratio=0.5, seed=s) for s in (1, 1, 2)]
    assert 20 < len(half[0]) < 60
    # a window is (its example, the character where its context starts)
    kept = [
        [(int(s), int(o[4, 0])) for s, o in zip(f.windows.sample, f.windows.offsets, strict=True)]
        for f in half
    ]
    assert kept[0] == kept[1]
    assert kept[0] != kept[2]


def test_unanswerable_examples_keep_their_windows_labelled_cls(tok_uncased):
    impossible = QAExample("x", "who?", " ".join(NUMBERS), (), is_impossible=True)
    features = qa_train_features(tok_uncased, [impossible], max_length=12, stride=2, answerless_ratio=0.0)
    assert len(features) == 3
    assert (features.start_positions == features.windows.cls_index).all()
    assert (features.end_positions == features.windows.cls_index).all()


def test_bad_settings_are_input_errors(tok_uncased):
    ex = example(" ".join(NUMBERS), "six")
    with pytest.raises(InputError, match="answerless_ratio"):
        qa_train_features(tok_uncased, [ex], answerless_ratio=1.5)
    with pytest.raises(InputError, match="no training examples"):
        qa_train_features(tok_uncased, [])
    with pytest.raises(InputError, match="metric"):
        roundtrip_check(tok_uncased, [ex], metric="bleu")
