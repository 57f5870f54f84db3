"""NER data: CoNLL (BIO, IOB1) and KLUE-NER character files, one-line errors, and seqeval's entity metric."""

from __future__ import annotations

import pytest

from bertkit.errors import DataError, InputError
from bertkit.training.ner_data import (
    iob1_to_bio,
    label_set,
    load_conll,
    load_klue,
    load_ner_file,
    tags_from_entities,
)

from ..conftest import DATA

NER = DATA / "ner"


def write(tmp_path, text: str, name: str = "data.conll", encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


# --- CoNLL --------------------------------------------------------------------------------------------------


def test_conll_sentences_offsets_and_docstart(tmp_path):
    path = write(
        tmp_path,
        "\ufeff-DOCSTART-\tO\n\nHugging\tB-ORG\r\nFace\tI-ORG\nis\tO\n💔 \tO\n\n\t\nParis\tB-LOC\n",
    )
    data = load_conll(path)
    assert data.format == "conll" and data.level == "word" and data.scheme == "BIO"
    first, second = data.sentences
    assert first.text == "Hugging Face is 💔 "
    assert first.units == ["Hugging", "Face", "is", "💔 "]
    assert first.spans == [(0, 7), (8, 12), (13, 15), (16, 18)]
    assert first.entities() == [("ORG", 0, 12)]
    assert first.id == f"{path}:3" and first.line == 3
    assert (second.text, second.tags, second.line) == ("Paris", ["B-LOC"], 9)
    assert data.types == ["LOC", "ORG"]
    assert data.labels == ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]


def test_conll_2003_columns_separated_by_spaces(tmp_path):
    path = write(tmp_path, "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\n")
    sentence = load_conll(path).sentences[0]
    assert sentence.text == "EU rejects German"
    assert sentence.tags == ["B-ORG", "O", "B-MISC"]


def test_iob1_is_detected_and_converted(tmp_path):
    # IOB1: I- starts entities; B- only separates two adjacent entities of one type.
    path = write(tmp_path, "Peter\tI-PER\nBlackburn\tI-PER\nJohn\tB-PER\nin\tO\nBonn\tI-LOC\n")
    data = load_conll(path)
    assert data.scheme == "IOB1"
    assert data.sentences[0].tags == ["B-PER", "I-PER", "B-PER", "O", "B-LOC"]
    assert load_conll(path, scheme="IOB1").sentences[0].tags == data.sentences[0].tags
    with pytest.raises(DataError, match=r"data.conll:1: tag I-PER starts an entity.*IOB1"):
        load_conll(path, scheme="BIO")
    assert iob1_to_bio(["B-PER", "I-PER", "O", "B-LOC"]) == ["B-PER", "I-PER", "O", "B-LOC"]  # BIO unchanged


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Paris\tB-LOC\nalone\n", r"data.conll:2: expected TOKEN<TAB>TAG"),
        ("Paris\tX-LOC\n", r"data.conll:1: tag 'X-LOC' is not BIO"),
        ("Paris\tS-LOC\n", r"IOBES tags"),
        ("Paris\tB-\n", r"data.conll:1: tag 'B-' is not BIO"),
        ("\n\n", r"data.conll: no sentences"),
    ],
)
def test_conll_errors_name_the_file_and_line(tmp_path, text, message):
    with pytest.raises(DataError, match=message) as caught:
        load_conll(write(tmp_path, text))
    assert "\n" not in str(caught.value)


def test_unreadable_files(tmp_path):
    with pytest.raises(DataError, match="not UTF-8"):
        load_ner_file(write(tmp_path, "Zürich\tB-LOC\n", encoding="latin-1"))
    with pytest.raises(DataError, match="file not found"):
        load_ner_file(tmp_path / "missing.conll")
    with pytest.raises(InputError, match="scheme"):
        load_conll(write(tmp_path, "a\tO\n"), scheme="BILOU")


def test_the_shared_conll_files():
    counts = {"btc-train": 6338, "btc-dev": 1001, "btc-test": 2001}
    counts |= {"wnut17-train": 3394, "wnut17-dev": 1009, "wnut17-test": 1287}
    for name, n in counts.items():
        data = load_ner_file(NER / f"{name}.conll")
        assert len(data.sentences) == n and data.scheme == "BIO"
    assert load_ner_file(NER / "btc-dev.conll").types == ["LOC", "ORG", "PER"]
    wnut = load_ner_file(NER / "wnut17-dev.conll")
    assert wnut.types == ["corporation", "creative-work", "group", "location", "person", "product"]
    for sentence in wnut.sentences[:200]:
        assert [sentence.text[a:b] for a, b in sentence.spans] == sentence.units


# --- KLUE ---------------------------------------------------------------------------------------------------

KLUE = (
    "## 토큰, 레이블 구분자 : \\t\n## 컬럼명 : CHAR\tNE_TAG\n"
    "## klue-1\t<서울:LC>에서 <3일:DT>\n서\tB-LC\n울\tI-LC\n에\tO\n서\tO\n \tO\n3\tB-DT\n일\tI-DT\n\n"
    "## klue-2\t<김 철수:PS>씨\n김\tB-PS\n \tI-PS\n철\tI-PS\n수\tI-PS\n씨\tO\n"
)


def test_klue_characters(tmp_path):
    data = load_ner_file(write(tmp_path, KLUE, "klue.tsv"))
    assert data.format == "klue" and data.level == "char"
    first, second = data.sentences
    assert (first.id, first.text, first.line) == ("klue-1", "서울에서 3일", 3)
    assert len(first.spans) == len(first.text) and first.spans[4] == (4, 5)
    assert [(t, first.text[a:b]) for t, a, b in first.entities()] == [("LC", "서울"), ("DT", "3일")]
    assert [second.text[a:b] for _, a, b in second.entities()] == ["김 철수"]  # the inner space is I-PS
    assert data.labels == ["O", "B-DT", "I-DT", "B-LC", "I-LC", "B-PS", "I-PS"]


def test_klue_words(tmp_path):
    data = load_klue(write(tmp_path, KLUE, "klue.tsv"), level="word")
    first, second = data.sentences
    assert list(zip(first.units, first.tags, strict=True)) == [("서울에서", "B-LC"), ("3일", "B-DT")]
    assert list(zip(second.units, second.tags, strict=True)) == [("김", "B-PS"), ("철수씨", "I-PS")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("## s1\tab\nab\tO\n", r"klue.tsv:2: expected one character"),
        ("## s1\tab\na\tB-XX-\n", None),
        ("## s1\ta\na\tZ\n", r"klue.tsv:2: tag 'Z' is not BIO"),
        ("a\tO\n", r"klue.tsv:1: a character line outside a sentence"),
        ("## only a note\n", r"klue.tsv: no sentences"),
    ],
)
def test_klue_errors(tmp_path, text, message):
    path = write(tmp_path, text, "klue.tsv")
    if message is None:
        assert load_klue(path).sentences[0].tags == ["B-XX-"]
        return
    with pytest.raises(DataError, match=message):
        load_klue(path)


def test_the_shared_klue_file():
    data = load_ner_file(NER / "klue-ner-v1.1-dev.tsv")
    assert len(data.sentences) == 5000
    first = data.sentences[0]
    assert first.id == "klue-ner-v1_dev_00000-wikitree"
    assert [first.text[a:b] for _, a, b in first.entities()][:4] == ["경찰", "박", "32", "김"]
    assert data.types == ["DT", "LC", "OG", "PS", "QT", "TI"]


# --- predictions → tags -------------------------------------------------------------------------------------


def test_tags_from_entities():
    spans = [(0, 3), (4, 8), (9, 13), (14, 14), (15, 20)]
    assert tags_from_entities(spans, []) == ["O"] * 5
    assert tags_from_entities(spans, [("PER", 4, 13)]) == ["O", "B-PER", "I-PER", "O", "O"]
    # An entity covering part of a unit tags the whole unit; an empty unit stays O.
    assert tags_from_entities(spans, [("LOC", 5, 6), ("ORG", 9, 20)]) == ["O", "B-LOC", "B-ORG", "O", "I-ORG"]
    # Two entities in one unit: the first wins.
    assert tags_from_entities([(0, 4)], [("LOC", 2, 4), ("PER", 0, 1)]) == ["B-PER"]


# --- seqeval ------------------------------------------------------------------------------------------------


def test_label_set_of_no_types_is_only_outside():
    assert label_set([]) == ["O"]
