"""The Hangul-exact tokenizer: every syllable boundary is a token boundary, English unchanged, exact spans."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bertkit.hangul import (
    as_transformers,
    broken_boundaries,
    extend_model,
    hangul_exact,
    is_syllable,
    ks_x_1001_syllables,
    rare_syllable_class,
)

from .conftest import TOKENIZERS

# "철수는 서울에 삽니다." (the tutorial's context), one token per syllable
CHEOLSU = "철 ##수 ##는 서 ##울 ##에 삽 ##니 ##다 .".split()


@pytest.fixture(scope="module")
def base():
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(TOKENIZERS / "bert-base-uncased" / "tokenizer.json"))


@pytest.fixture(scope="module")
def exact(base):
    return hangul_exact(base, ks_x_1001_syllables())


def tokens(tokenizer, text):
    encoding = tokenizer.encode(text, add_special_tokens=False)
    return encoding.tokens, encoding.offsets


def test_ks_x_1001_has_its_2350_syllables():
    syllables = ks_x_1001_syllables()
    assert len(syllables) == 2350 and "서" in syllables and "똠" not in syllables


def test_the_tutorial_sentences_split_into_syllables(exact):
    assert tokens(exact, "철수는 서울에 삽니다.")[0] == CHEOLSU
    toks, offsets = tokens(exact, "고양이가 의자에 앉습니다.")
    assert toks[:4] == ["고", "##양", "##이", "##가"] and offsets[:4] == [(0, 1), (1, 2), (2, 3), (3, 4)]


def test_a_rare_syllable_is_unknown_alone_and_its_neighbours_stay_exact(exact):
    toks, offsets = tokens(exact, "똠방각하")
    assert toks == ["[UNK]", "방", "##각", "##하"] and offsets == [(0, 1), (1, 2), (2, 3), (3, 4)]


def test_english_and_accents_are_tokenized_as_before(base, exact):
    for text in ["Where does John live? John lives in New York City.", "Héllo café, naïve Zoë", "3.14 km/h"]:
        assert tokens(exact, text) == tokens(base, text)
    assert exact.get_vocab_size() == base.get_vocab_size() + 2 * 2350


def test_rare_class_lists_ranges():
    assert rare_syllable_class([chr(c) for c in range(0xAC00, 0xD7A4)]) == ""
    kept = [chr(c) for c in range(0xAC00, 0xD7A4) if c != 0xAC01]
    assert rare_syllable_class(kept) == "[각]"


hangul = st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3)
other = st.sampled_from(list(" .,?!()·'\"abcXYZ019é-"))


@settings(max_examples=200, deadline=None)
@given(st.text(st.one_of(hangul, hangul, hangul, other), min_size=1, max_size=60))
def test_every_syllable_boundary_is_a_token_boundary(exact, text):
    toks, offsets = tokens(exact, text)
    assert broken_boundaries(offsets, text) == []
    for token, (start, end) in zip(toks, offsets, strict=True):
        piece = text[start:end]
        if any(is_syllable(c) for c in piece):
            assert len(piece) == 1 and token in (piece, "##" + piece, "[UNK]")


@settings(max_examples=100, deadline=None)
@given(st.text(st.one_of(hangul, other), min_size=2, max_size=40), st.data())
def test_any_syllable_span_is_labelled_and_returned_exactly(exact, text, data):
    """A gold answer between two syllable boundaries has a first and a last token that cover it exactly."""
    toks, offsets = tokens(exact, text)
    starts = {s for s, _ in offsets}
    ends = {e for _, e in offsets}
    syllables = [i for i, c in enumerate(text) if is_syllable(c)]
    if not syllables:
        return
    i = data.draw(st.sampled_from(syllables))
    j = data.draw(st.sampled_from([k for k in syllables if k >= i]))
    assert i in starts and j + 1 in ends


def test_transformers_reloads_the_exact_pipeline(tmp_path, exact):
    from transformers import AutoTokenizer

    as_transformers(exact).save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    encoded = loaded("철수는 어디에 삽니까?", "철수는 서울에 삽니다.", return_offsets_mapping=True)
    assert loaded.convert_ids_to_tokens(encoded["input_ids"])[:4] == ["[CLS]", "철", "##수", "##는"]
    assert set(encoded["token_type_ids"]) == {0, 1}


def test_extend_model_starts_syllables_from_their_jamo(base, exact):
    import torch
    from transformers import BertConfig, BertForMaskedLM

    config = BertConfig(
        vocab_size=base.get_vocab_size(),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
    )
    torch.manual_seed(0)
    model = BertForMaskedLM(config)
    before = model.get_input_embeddings().weight.detach().clone()
    extend_model(model, base, exact)
    after = model.get_input_embeddings().weight
    assert after.shape[0] == exact.get_vocab_size()
    assert torch.equal(after[: before.shape[0]], before)
    jamo = [base.token_to_id(t) for t in base.encode("서", add_special_tokens=False).tokens]
    assert torch.allclose(after[exact.token_to_id("서")], before[jamo].mean(dim=0))
    assert model.get_output_embeddings().weight.data_ptr() == after.data_ptr()  # still tied
    logits = model(torch.tensor([[exact.token_to_id("서")]])).logits
    assert logits.shape[-1] == exact.get_vocab_size()


def test_the_default_tokenizer_keeps_every_shipped_syllable():
    from bertkit.hangul import SYLLABLES, default_tokenizer

    tokenizer = default_tokenizer()
    syllables = SYLLABLES.read_text(encoding="utf-8").strip()
    assert len(syllables) > 2350 and "서" in syllables
    vocab = tokenizer.get_vocab()
    assert all(s in vocab and "##" + s in vocab for s in syllables)
    ids = tokenizer("철수는 어디에 삽니까?", "철수는 서울에 삽니다.")["input_ids"]
    tokens = tokenizer.convert_ids_to_tokens(ids)
    assert tokens[tokens.index("[SEP]") + 1 :] == [*CHEOLSU, "[SEP]"]


def test_korean_text_gets_the_hangul_exact_tokenizer_by_default():
    from bertkit.loading import load_tokenizer

    korean = load_tokenizer(None, texts=["철수는 서울에 삽니다."])
    english = load_tokenizer(None, texts=["John lives in New York City."])
    assert len(korean) > len(english) == 30522
    assert korean.tokenize("서울에") == ["서", "##울", "##에"]


def test_every_korquad_answer_on_syllable_boundaries_comes_back():
    """`bertkit data check korquad-v1.0-dev.json --tokenizer default`: every gold answer is labelled and
    decoded exactly (one gold has a trailing space, which no token covers; the KorQuAD metric ignores it)."""
    from bertkit.hangul import default_tokenizer
    from bertkit.training.qa_features import roundtrip_check
    from bertkit.training.qa_loading import load_qa_file

    from .conftest import DATA

    path = DATA / "korquad-v1.0-dev.json"
    if not path.exists():
        pytest.skip(f"shared data not found at {path}")
    examples = load_qa_file(path).examples[:300]
    result = roundtrip_check(default_tokenizer(), examples, 384, 128, metric="korquad")
    assert result["token_boundary_exact"] == result["token_boundary_total"] == result["exact"]
    assert result["metric_exact"] == result["total"] == 300
