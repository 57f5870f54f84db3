"""NER: parity with transformers' v5 token-classification pipeline on the same tiny models (all five
aggregation strategies), offsets for any Unicode, long texts through windows, the pipeline's sub-word
heuristic bugs that word_ids avoid, and the CLI."""

from __future__ import annotations

import json
import random
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bertkit.decoding import best_window_tokens, token_context_scores
from bertkit.encoding import token_windows
from bertkit.errors import InputError
from bertkit.loading import Model
from bertkit.tasks.ner import AGGREGATIONS, EntityTagger, NEROptions, decode_entities

from ..cli.test_cli import run
from ..conftest import TOKENIZERS, tokenizer

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]
SYLVAIN = "My name is Sylvain and I work at Hugging Face in Brooklyn."
WORDS = (
    "the a of Sylvain Hugging Face Brooklyn New-York U.S. naïve café 2019 , . ! ( ) don't e-mail José "
    "Zürich works at in unbelievably antidisestablishmentarianism 東京 X 3.5 $ Paris-based"
).split()  # no Hangul: Korean words are decoded differently on purpose (test_korean_entities_...)


def label_config(**kwargs):
    from transformers import BertConfig

    return BertConfig(
        id2label=dict(enumerate(LABELS)), label2id={label: i for i, label in enumerate(LABELS)}, **kwargs
    )


def tiny_module(tok, seed: int = 0):
    """A 2-layer, 32-wide BertForTokenClassification with a random head (larger weights: no near-ties)."""
    import torch
    from transformers import BertForTokenClassification

    config = label_config(
        vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    )
    torch.manual_seed(seed)
    module = BertForTokenClassification(config).eval()
    with torch.no_grad():
        module.classifier.weight.normal_(0, 1.0)
    return module


def rigged_module(tok, assign: dict[str, str] | None = None, seed: int | None = None):
    """A context-free model: no layers, no position embeddings, so a token's label depends on its id only.

    `assign` maps tokens to labels (other tokens: O); with `seed`, every token gets a random embedding
    instead (random labels, still context-free).
    """
    import torch
    from transformers import BertForTokenClassification

    hidden = 16
    config = label_config(
        vocab_size=len(tok),
        hidden_size=hidden,
        num_hidden_layers=0,
        num_attention_heads=2,
        intermediate_size=32,
    )
    module = BertForTokenClassification(config).eval()
    emb = module.bert.embeddings
    with torch.no_grad():
        emb.position_embeddings.weight.zero_()
        emb.token_type_embeddings.weight.zero_()
        if seed is not None:
            torch.manual_seed(seed)
            emb.word_embeddings.weight.normal_(0, 1.0)
            module.classifier.weight.normal_(0, 1.0)
            module.classifier.bias.zero_()
        else:
            emb.word_embeddings.weight.zero_()
            module.classifier.weight.zero_()
            module.classifier.weight[:, : len(LABELS)] = torch.eye(len(LABELS))
            module.classifier.bias.zero_()
            module.classifier.bias[0] = 1.0  # unassigned tokens (all-zero embeddings): O
            for token, label in (assign or {}).items():
                token_id = tok.convert_tokens_to_ids(token)
                emb.word_embeddings.weight[token_id, LABELS.index(label)] = 10.0
    return module


def reference(module, tok):
    from transformers import pipeline

    return pipeline("token-classification", model=module, tokenizer=tok)


def run_reference(pipe, text, aggregation):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Tokenizer does not support real words, using fallback heuristic"
        return pipe(text, aggregation_strategy=aggregation)


def key(entity: dict) -> tuple:
    return (
        entity.get("entity", entity.get("entity_group")),
        entity["start"],
        entity["end"],
        entity.get("index"),
    )


def assert_same(ours: list[dict], theirs: list[dict], text: str) -> None:
    assert [key(e) for e in ours] == [key(e) for e in theirs], text
    for a, b in zip(ours, theirs, strict=True):
        assert abs(a["score"] - float(b["score"])) < 1e-5
        assert a["word"] == text[a["start"] : a["end"]]


@pytest.fixture(scope="module")
def cased():
    return tokenizer("bert-base-cased")


@pytest.fixture(scope="module")
def tiny(cased):
    module = tiny_module(cased)
    return EntityTagger(Model(cased, module, "tiny", "local"), threads=1), reference(module, cased)


@pytest.fixture(scope="module")
def tiny_ner_dir(tmp_path_factory, cased):
    path = tmp_path_factory.mktemp("tiny-ner")
    tiny_module(cased).save_pretrained(path)
    cased.save_pretrained(path)
    return path


def test_the_v5_pipeline_still_exists():
    from transformers.pipelines import SUPPORTED_TASKS, TokenClassificationPipeline

    assert "token-classification" in SUPPORTED_TASKS
    assert TokenClassificationPipeline.__name__ == "TokenClassificationPipeline"


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
def test_parity_with_the_pipeline_on_random_texts(tiny, aggregation):
    tagger, pipe = tiny
    rng = random.Random(aggregation)
    texts = [SYLVAIN] + [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 25))) for _ in range(40)]
    ours = tagger.tag_many(texts, NEROptions(aggregation=aggregation, decoding="argmax"))
    total = 0
    for text, entities in zip(texts, ours, strict=True):
        theirs = run_reference(pipe, text, aggregation)
        assert_same([e.to_dict() for e in entities], theirs, text)
        total += len(theirs)
    assert total > 50  # the random head tags plenty of tokens


SYLVAIN_TAGS = {
    "S": "B-PER",
    "##yl": "I-PER",
    "##va": "I-PER",
    "##in": "I-PER",
    "Hu": "B-ORG",
    "##gging": "I-ORG",
    "Face": "I-ORG",
    "Brooklyn": "B-LOC",
}


def test_sylvain_offsets_and_grouping(cased):
    """The sentence of the Hugging Face course: a model that tags it right gives the course's entities."""
    module = rigged_module(cased, SYLVAIN_TAGS)
    tagger = EntityTagger(Model(cased, module, "rigged", "local"), threads=1)
    pipe = reference(module, cased)
    expected = [("PER", "Sylvain", 11, 18), ("ORG", "Hugging Face", 33, 45), ("LOC", "Brooklyn", 49, 57)]
    for aggregation in ("simple", "first", "average", "max"):
        # argmax, the pipeline's decoding: this rigged model's O is unsure (0.25), and "average" gives
        # Sylvain I-PER 0.65 > B-PER 0.23, which the best valid BIO sequence reads as "is Sylvain"
        entities = tagger(SYLVAIN, NEROptions(aggregation=aggregation, decoding="argmax"))
        assert [(e.label, e.word, e.start, e.end) for e in entities] == expected
        if aggregation in ("simple", "first"):
            assert tagger(SYLVAIN, NEROptions(aggregation=aggregation)) == entities
        theirs = run_reference(pipe, SYLVAIN, aggregation)
        assert_same([e.to_dict() for e in entities], theirs, SYLVAIN)
        assert [e["word"] for e in theirs] == ["Sylvain", "Hugging Face", "Brooklyn"]
    tokens = tagger(SYLVAIN, NEROptions(aggregation="none"))
    assert [(e.label, e.index, e.word, e.start, e.end) for e in tokens] == [
        ("B-PER", 4, "S", 11, 12),
        ("I-PER", 5, "yl", 12, 14),
        ("I-PER", 6, "va", 14, 16),
        ("I-PER", 7, "in", 16, 18),
        ("B-ORG", 12, "Hu", 33, 35),
        ("I-ORG", 13, "gging", 35, 40),
        ("I-ORG", 14, "Face", 41, 45),
        ("B-LOC", 16, "Brooklyn", 49, 57),
    ]
    theirs = run_reference(pipe, SYLVAIN, "none")
    assert_same([e.to_dict() for e in tokens], theirs, SYLVAIN)
    # The pipeline's word is the token ("##yl"); ours is the text it covers.
    assert [e["word"] for e in theirs][:2] == ["S", "##yl"]


def test_strategies_disagree_on_a_word_with_mixed_labels(cased):
    """Sylvain tagged B-PER, I-LOC, I-LOC, I-PER: each strategy resolves it its own way, as the pipeline does
    (`decoding="argmax"`: each unit's own best label)."""
    tags = dict(SYLVAIN_TAGS, **{"##yl": "I-LOC", "##va": "I-LOC"})
    module = rigged_module(cased, tags)
    tagger = EntityTagger(Model(cased, module, "rigged", "local"), threads=1)
    pipe = reference(module, cased)
    simple = tagger(SYLVAIN, NEROptions(aggregation="simple", decoding="argmax"))
    assert [(e.label, e.word) for e in simple][:3] == [("PER", "S"), ("LOC", "ylva"), ("PER", "in")]
    first = tagger(SYLVAIN, NEROptions(aggregation="first", decoding="argmax"))
    assert (first[0].label, first[0].word) == ("PER", "Sylvain")
    for aggregation in AGGREGATIONS:
        assert_same(
            [e.to_dict() for e in tagger(SYLVAIN, NEROptions(aggregation=aggregation, decoding="argmax"))],
            run_reference(pipe, SYLVAIN, aggregation),
            SYLVAIN,
        )


UNICODE = st.text(
    alphabet=st.sampled_from(
        list("abcXYZ éü-.,'")
        + [
            "\u0301",
            "\u00ad",
            "\u200b",
            "\n",
            "\t",
            "😀",
            "👍",
            "\U0001f3fd",
            "서",
            "울",
            "東",
            "ß",
            "İ",
            "ﬁ",
        ]
    ),
    min_size=1,
    max_size=60,
).filter(lambda text: text.strip())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=UNICODE, windowed=st.booleans())
def test_offsets_slice_the_text_for_any_unicode(tiny, text, windowed):
    tagger, _ = tiny
    window = dict(max_length=8, stride=2) if windowed else {}
    for aggregation in AGGREGATIONS:
        for e in tagger(text, NEROptions(aggregation=aggregation, **window)):
            assert 0 <= e.start < e.end <= len(text)
            assert text[e.start : e.end] == e.word
            assert e.word == e.word.strip()  # no whitespace at either end
            assert e.end == len(text) or text[e.end] != "\u0301"  # never cut before a combining mark
            assert 0.0 < e.score <= 1.0


def test_windows_cover_the_text_and_overlap_by_stride(cased):
    texts = [" ".join(["unbelievably", "naïve", "Brooklyn", ","] * 12), "short one"]
    windows = token_windows(cased, texts, max_length=12, stride=3)
    full = cased(texts, add_special_tokens=False, return_offsets_mapping=True)
    assert windows.prefix == 1
    for w in range(len(windows)):
        d, first = windows.sample[w], windows.first[w]
        mask = windows.text_mask[w]
        n = int(mask.sum())
        assert windows.input_ids[w][mask].tolist() == full["input_ids"][d][first : first + n]
        assert windows.offsets[w][mask].tolist() == [
            list(o) for o in full["offset_mapping"][d][first : first + n]
        ]
        if w + 1 < len(windows) and windows.sample[w + 1] == d:
            assert windows.first[w + 1] == first + n - 3
    tokens = best_window_tokens(windows)
    for d in range(2):
        assert tokens["position"][tokens["doc"] == d].tolist() == list(range(len(full["input_ids"][d])))


def test_max_context_rule():
    # Two windows of 5 tokens sharing 3: positions 2..4 are in both; position 2 is best centred in the first
    # window (2 left, 2 right), position 3 in the second (1 left, 3 right beats 3 left, 1 right: a tie of
    # min = 1, the first window wins), position 4 in the second (2 left, 2 right).
    local, score = token_context_scores(np.array([5, 5]))
    assert local.tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]
    assert score[2] > score[5 + 0] and score[5 + 2] > score[4]


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
def test_long_texts_through_windows_equal_one_window(cased, aggregation):
    """With a context-free model, cutting a text into windows cannot change any token's prediction: the
    windowed result must equal the one-window result exactly, for every strategy and stride."""
    tagger = EntityTagger(Model(cased, rigged_module(cased, seed=1), "free", "local"), threads=1)
    rng = random.Random(7)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(30, 120))) for _ in range(6)]
    whole = tagger.tag_many(texts, NEROptions(aggregation=aggregation))
    assert sum(len(x) for x in whole) > 20
    for max_length, stride in ((16, 4), (20, 0), (33, 15)):
        cut = tagger.tag_many(
            texts, NEROptions(aggregation=aggregation, max_length=max_length, stride=stride)
        )
        for a, b in zip(whole, cut, strict=True):
            assert [(e.label, e.start, e.end, e.index) for e in a] == [
                (e.label, e.start, e.end, e.index) for e in b
            ]
            assert np.allclose([e.score for e in a], [e.score for e in b], atol=1e-6)


def test_long_text_beyond_the_model_limit(tiny):
    """The pipeline without stride truncates at model_max_length; here a 2,000-token text is tagged to its end."""
    tagger, _ = tiny
    text = " ".join(["Brooklyn", "and", "Sylvain"] * 700)
    entities = tagger(text, NEROptions(aggregation="simple", max_length=128))
    assert max(e.end for e in entities) > len(text) - 20
    assert tagger.windows_seen > 10


def test_decode_without_tokens_and_errors(tiny):
    tagger, _ = tiny
    assert decode_entities(
        np.zeros((0, 9)), np.zeros((0, 2)), np.zeros(0), np.zeros(0), ["x"], dict(enumerate(LABELS))
    ) == [[]]
    assert tagger("\u200b\u200b") == []  # a text of characters the tokenizer drops
    with pytest.raises(InputError, match="aggregation"):
        tagger("Paris", NEROptions(aggregation="longest"))
    with pytest.raises(InputError, match="empty"):
        tagger("   ")
    with pytest.raises(InputError, match="stride"):
        tagger("Paris", NEROptions(max_length=8, stride=8))
    assert tagger.tag_many([]) == []


# --- where the pipeline's sub-word heuristic goes wrong, and word_ids do not --------------------------------


def test_soft_hyphen_does_not_glue_words_wordpiece(cased):
    """bert-base-cased drops U+00AD (soft hyphen, common in web text: BTC has "Aus\\xadtralian"). The pipeline
    calls a token a sub-word when its length differs from its text's, so "Australian" joins "met" and takes
    its label (O): the entity is lost. word_ids keep the two words apart."""
    text = "I met Aus\xadtralian friends"
    module = rigged_module(cased, {"Australian": "B-MISC"})
    ours = EntityTagger(Model(cased, module, "rigged", "local"), threads=1)(
        text, NEROptions(aggregation="first")
    )
    assert [(e.label, e.word) for e in ours] == [("MISC", "Aus\xadtralian")]
    theirs = run_reference(reference(module, cased), text, "first")
    assert theirs == []  # transformers 5: the entity is gone


def gpt2_tokenizer():
    from transformers import GPT2TokenizerFast

    return GPT2TokenizerFast.from_pretrained(str(TOKENIZERS / "gpt2"))


def test_byte_level_bpe_words_come_from_word_ids():
    """GPT-2's byte-level BPE has no continuing-subword prefix, so the pipeline guesses: a token is a
    sub-word when no space precedes it. It glues "," to "Hello", splits the two byte tokens of an emoji at
    the start of the text into two words (their entities overlap), and its offsets include the space
    before a word."""
    tok = gpt2_tokenizer()
    text = "😀😀 Hello, world."
    emoji = tok.convert_ids_to_tokens(tok("😀")["input_ids"])
    module = rigged_module(tok, {emoji[0]: "B-MISC", emoji[1]: "B-MISC", "ĠHello": "B-PER"})
    tagger = EntityTagger(Model(tok, module, "rigged", "local"), threads=1)
    ours = tagger(text, NEROptions(aggregation="first"))
    assert [(e.label, e.word, e.start, e.end) for e in ours] == [
        ("MISC", "😀😀", 0, 2),
        ("PER", "Hello", 3, 8),
    ]
    theirs = run_reference(reference(module, tok), text, "first")
    spans = [(e["entity_group"], text[e["start"] : e["end"]]) for e in theirs]
    assert spans == [("MISC", "😀"), ("MISC", "😀😀"), ("PER", " Hello,")]  # overlapping; space and comma


def sentencepiece_tokenizer():
    """A sentencepiece-style tokenizer (Unigram + Metaspace "▁") with a small hand-made vocabulary."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    pieces = ["<unk>", "<pad>", "▁", "▁I", "▁work", "▁at", "▁in", "▁Face", "H", "ug", "ging", "."]
    pieces += [c for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"]
    vocab = [(p, -1.0 if len(p) > 1 else -5.0) for p in pieces]
    model = Tokenizer(models.Unigram(vocab, unk_id=0, byte_fallback=False))
    model.pre_tokenizer = pre_tokenizers.Metaspace()
    model.decoder = decoders.Metaspace()
    return PreTrainedTokenizerFast(tokenizer_object=model, unk_token="<unk>", pad_token="<pad>")


def test_sentencepiece_words_come_from_word_ids():
    """With sentencepiece, "▁Hugging" becomes "▁" + "H" + "ug" + "ging": one word whose first token is the
    bare "▁" (the token a model trained on word_ids labels). The pipeline's heuristic makes "▁" a word of
    its own: it returns an entity that is a single space and tags "Hugging" with the label of "H"."""
    tok = sentencepiece_tokenizer()
    text = "I work at Hugging Face."
    assert tok.tokenize(text)[3:7] == ["▁", "H", "ug", "ging"]
    module = rigged_module(tok, {"▁": "B-ORG", "▁Face": "I-ORG"})
    ours = EntityTagger(Model(tok, module, "rigged", "local"), threads=1)(
        text, NEROptions(aggregation="first")
    )
    assert [(e.label, e.word, e.start, e.end) for e in ours] == [("ORG", "Hugging Face.", 10, 23)]
    theirs = run_reference(reference(module, tok), text, "first")
    assert [(e["entity_group"], text[e["start"] : e["end"]]) for e in theirs] == [
        ("ORG", " "),
        ("ORG", " Face."),
    ]


# --- CLI ----------------------------------------------------------------------------------------------------


def test_cli_json(capsys, monkeypatch, tiny_ner_dir):
    code, out, err = run(capsys, monkeypatch, "ner", SYLVAIN, "--model", str(tiny_ner_dir), "--json")
    assert code == 0, err
    entities = json.loads(out)
    assert entities and set(entities[0]) == {"entity_group", "score", "word", "start", "end"}
    assert all(SYLVAIN[e["start"] : e["end"]] == e["word"] for e in entities)
    code, out, err = run(
        capsys, monkeypatch, "ner", SYLVAIN, "--model", str(tiny_ner_dir), "--aggregation", "none", "--json"
    )
    assert code == 0 and set(json.loads(out)[0]) == {"entity", "score", "index", "word", "start", "end"}
    code, out, err = run(capsys, monkeypatch, "ner", SYLVAIN, "--model", str(tiny_ner_dir))
    assert code == 0 and "start" in out


def test_cli_default_model_finds_people_and_places(capsys, monkeypatch):
    code, out, err = run(capsys, monkeypatch, "ner", "Sylvain lives in Brooklyn.", "--json")
    assert code == 0 and "untrained" not in err
    found = [(e["entity_group"], e["word"], e["start"], e["end"]) for e in json.loads(out)]
    assert found == [("PER", "Sylvain", 0, 7), ("LOC", "Brooklyn", 17, 25)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["   "], "text is empty"),
        (["Paris", "--aggregation", "longest"], "aggregation must be one of"),
        (["Paris", "--max-length", "4", "--stride", "8"], "stride"),
        (["Paris", "--model", "./no/such/model"], "not found"),
    ],
)
def test_cli_errors_are_one_line(capsys, monkeypatch, tiny_ner_dir, args, message):
    if "--model" not in args:
        args = [*args, "--model", str(tiny_ner_dir)]
    code, out, err = run(capsys, monkeypatch, "ner", *args)
    assert code == 2 and message in err and out == ""
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("aggregation", ["first", "average", "max", "simple"])
def test_korean_entities_end_where_the_model_says_not_at_the_eojeol(aggregation):
    """Hangul tokens are units of their own (KLUE labels characters): 이순신은 with 은 tagged O is 이순신, not
    the whole eojeol; a particle glued inside the last token (mBERT's ##점을) is cut off: 정육점."""
    text = "이순신은 정육점을 했다"
    #        syllables 이 순 신 은 | 정 육 | 점을 | 했 다
    offsets = np.array([[0, 1], [1, 2], [2, 3], [3, 4], [5, 6], [6, 7], [7, 9], [10, 11], [11, 12]])
    word_ids = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2])
    tags = ["B-PER", "I-PER", "I-PER", "O", "B-LOC", "I-LOC", "I-LOC", "O", "O"]
    logits = np.full((len(tags), len(LABELS)), -5.0)
    logits[np.arange(len(tags)), [LABELS.index(t) for t in tags]] = 5.0
    entities = decode_entities(
        logits, offsets, word_ids, np.zeros(len(tags), int), [text], dict(enumerate(LABELS)), aggregation
    )[0]
    assert [(e.label, e.word) for e in entities] == [("PER", "이순신"), ("LOC", "정육점")]
