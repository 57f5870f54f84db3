"""QA data loading: the shared files load whole and aligned; each kind of bad file gives a precise DataError."""

import json
import sys
import types
from pathlib import Path

import pytest

from bertkit.errors import DataError
from bertkit.training.metrics import evaluate_predictions
from bertkit.training.qa_data import GoldAnswer, QADataset, QAExample
from bertkit.training.qa_loading import load_hub_dataset, load_qa_file

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

# file → (questions, version, default metric), counts from shared/data/README.md; none is skipped
SHARED_QA_FILES = {
    "squad-v1.1-train.json": (8458, "1.1", "squad"),
    "squad-v1.1-dev.json": (1010, "1.1", "squad"),
    "tydiqa/tydiqa-goldp-en-train.json": (3696, None, "squad"),
    "tydiqa/tydiqa-goldp-en-dev.json": (440, None, "squad"),
    "korquad-v1.0-train.json": (3999, "KorQuAD_v1.0_dev", "korquad"),
    "korquad-v1.0-dev.json": (664, "KorQuAD_v1.0_dev", "korquad"),
    "tydiqa/tydiqa-goldp-ko-train.json": (1625, None, "squad"),
    "tydiqa/tydiqa-goldp-ko-dev.json": (276, None, "squad"),
}


@pytest.fixture(scope="module")
def shared_datasets() -> dict[str, QADataset]:
    if not SHARED_DATA.exists():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return {name: load_qa_file(SHARED_DATA / name, strict=True) for name in SHARED_QA_FILES}


@pytest.mark.parametrize("name", SHARED_QA_FILES)
def test_shared_file_loads_whole_and_aligned(shared_datasets, name):
    dataset = shared_datasets[name]
    questions, version, metric = SHARED_QA_FILES[name]
    assert (len(dataset), dataset.version, dataset.default_metric) == (questions, version, metric)
    assert dataset.skipped == []
    assert len({example.id for example in dataset}) == questions
    for example in dataset:
        assert example.answers and not example.is_impossible
        assert example.question.strip() and example.title
        for answer in example.answers:
            assert example.context[answer.start : answer.end] == answer.text


def test_squad_dev_keeps_every_gold_answer(shared_datasets):
    dev = shared_datasets["squad-v1.1-dev.json"]
    assert sum(len(example.answers) for example in dev) == 3265
    golds = dev.gold_answers()
    perfect = evaluate_predictions(
        golds, {qid: answers[0] for qid, answers in golds.items()}, dev.default_metric
    )
    assert (perfect["exact_match"], perfect["f1"], perfect["missing"]) == (100.0, 100.0, 0)


# --- formats -------------------------------------------------------------------------------------------

CONTEXT = "Paris is the capital of France."


def squad_document(qas, version="v2.0", context=CONTEXT):
    return {
        "version": version,
        "data": [{"title": "France", "paragraphs": [{"context": context, "qas": qas}]}],
    }


def qa(qid="q1", question="What is the capital?", answers=(("Paris", 0),), **extra):
    return {
        "id": qid,
        "question": question,
        "answers": [{"text": t, "answer_start": s} for t, s in answers],
        **extra,
    }


def write_json(tmp_path, document, name="data.json"):
    path = tmp_path / name
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def test_squad_v2_file_with_unanswerable_question(tmp_path):
    path = write_json(tmp_path, squad_document([qa(), qa("q2", "Who?", answers=(), is_impossible=True)]))
    dataset = load_qa_file(path)
    assert dataset.examples == [
        QAExample("q1", "What is the capital?", CONTEXT, (GoldAnswer("Paris", 0),), False, "France"),
        QAExample("q2", "Who?", CONTEXT, (), True, "France"),
    ]
    assert (dataset.version, dataset.default_metric, dataset.path) == ("v2.0", "squad_v2", str(path))
    assert dataset.gold_answers() == {"q1": ["Paris"], "q2": []}
    assert dataset[0].answers[0].end == 5


def test_json_lines_in_datasets_style(tmp_path):
    records = [
        {
            "id": "a",
            "question": "Capital?",
            "context": CONTEXT,
            "answers": {"text": ["France"], "answer_start": [24]},
        },
        {
            "id": "b",
            "question": "Unanswerable?",
            "context": CONTEXT,
            "answers": {"text": [], "answer_start": []},
        },
    ]
    path = tmp_path / "qa.jsonl"
    path.write_text("\n".join(json.dumps(record) for record in records) + "\n\n", encoding="utf-8")
    dataset = load_qa_file(path)
    assert [(e.id, e.answers, e.is_impossible, e.title) for e in dataset] == [
        ("a", (GoldAnswer("France", 24),), False, ""),
        ("b", (), True, ""),
    ]
    assert dataset.version is None and dataset.default_metric == "squad_v2"
    # the same records as a JSON list, and as JSON Lines under a .json name
    assert load_qa_file(write_json(tmp_path, records, "list.json")).examples == dataset.examples
    renamed = tmp_path / "lines.json"
    renamed.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    assert load_qa_file(renamed).examples == dataset.examples


def test_korean_offsets_are_string_indices(tmp_path):
    context = "🇰🇷 대한민국의 수도는 서울특별시이다."
    start = context.index("서울특별시")
    path = write_json(
        tmp_path, squad_document([qa(answers=(("서울특별시", start),))], "KorQuAD_v1.0_dev", context)
    )
    dataset = load_qa_file(path, strict=True)
    assert dataset.default_metric == "korquad"
    assert context[dataset[0].answers[0].start : dataset[0].answers[0].end] == "서울특별시"


# --- problems in one example: skipped (and counted), or raised with strict=True -----------------------

CONTENT_PROBLEMS = {
    "answer not at answer_start": (
        qa("bad", answers=(("Paris", 0), ("France", 23))),
        "answer 1 'France' is not at answer_start 23 (context there: ' Franc')",
    ),
    "answer_start past the end": (
        qa("bad", answers=(("Paris", 99),)),
        "answer 0 answer_start 99 is out of range",
    ),
    "negative answer_start": (
        qa("bad", answers=(("Paris", -1),)),
        "answer 0 answer_start -1 is out of range",
    ),
    "empty answer": (qa("bad", answers=(("", 3),)), "answer 0 is empty"),
    "empty question": (qa("bad", question="  "), "empty question"),
    "answers on an impossible question": (
        qa("bad", is_impossible=True),
        "is_impossible is true but it has 1",
    ),
    "no answers on a possible question": (
        qa("bad", answers=(), is_impossible=False),
        "no answers, and is_impossible",
    ),
}


@pytest.mark.parametrize("problem", CONTENT_PROBLEMS)
def test_content_problem_is_skipped_and_counted(tmp_path, problem):
    bad_qa, reason = CONTENT_PROBLEMS[problem]
    path = write_json(tmp_path, squad_document([qa("good"), bad_qa]))
    with pytest.warns(UserWarning, match=r"skipped 1 of 2 examples \(first: id 'bad'"):
        dataset = load_qa_file(path)
    assert [example.id for example in dataset] == ["good"]
    assert len(dataset.skipped) == 1
    assert dataset.skipped[0][0] == "bad" and reason in dataset.skipped[0][1]


@pytest.mark.parametrize("problem", CONTENT_PROBLEMS)
def test_content_problem_raises_when_strict(tmp_path, problem):
    bad_qa, reason = CONTENT_PROBLEMS[problem]
    path = write_json(tmp_path, squad_document([qa("good"), bad_qa]))
    with pytest.raises(DataError) as error:
        load_qa_file(path, strict=True)
    message = str(error.value)
    assert message.startswith(f"{path}: data[0].paragraphs[0].qas[1] (id 'bad'): ")
    assert reason in message and "\n" not in message


def test_empty_context_is_a_content_problem(tmp_path):
    path = write_json(tmp_path, squad_document([qa("q1", answers=())], context=" "))
    with pytest.raises(
        DataError, match=r"data\.json: data\[0\]\.paragraphs\[0\]\.qas\[0\] \(id 'q1'\): empty context"
    ):
        load_qa_file(path, strict=True)


def test_misaligned_jsonl_record_names_its_line(tmp_path):
    path = tmp_path / "qa.jsonl"
    record = {
        "id": "x7",
        "question": "Q?",
        "context": CONTEXT,
        "answers": {"text": ["Lyon"], "answer_start": [0]},
    }
    path.write_text("\n" + json.dumps(record) + "\n", encoding="utf-8")
    with pytest.raises(
        DataError, match=r"qa\.jsonl: line 2 \(id 'x7'\): answer 0 'Lyon' is not at answer_start 0"
    ):
        load_qa_file(path, strict=True)


# --- problems of the file: always raised --------------------------------------------------------------


def test_not_json(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"version": "1.1",\n "data": [}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"broken\.json: not JSON \(line 2, column 11"):
        load_qa_file(path)


def test_jsonl_line_that_is_not_json_names_its_line(tmp_path):
    good = {
        "id": "a",
        "question": "Q?",
        "context": CONTEXT,
        "answers": {"text": ["Paris"], "answer_start": [0]},
    }
    path = tmp_path / "qa.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(good | {"id": "b"}) + "\n{oops\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"qa\.jsonl: line 3: not JSON"):
        load_qa_file(path)


def test_not_utf8_and_missing_file(tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes('{"data": ["café"]}'.encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1\.json: not UTF-8 text"):
        load_qa_file(path)
    with pytest.raises(DataError, match=r"nowhere\.json: file not found"):
        load_qa_file(tmp_path / "nowhere.json")


def test_duplicate_id(tmp_path):
    path = write_json(tmp_path, squad_document([qa("q1"), qa("q2"), qa("q1")]))
    with pytest.raises(
        DataError,
        match=r"data\.json: data\[0\]\.paragraphs\[0\]\.qas\[2\] \(id 'q1'\): duplicate id \(first at ",
    ):
        load_qa_file(path)  # not strict: still raised


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([1, 2], r"\[0\]: a record must be an object, got a number"),
        ("text", r"expected a JSON object with a 'data' list .* got a string"),
        ({"version": "1.1", "data": {}}, r"expected a JSON object with a 'data' list"),
        ({"version": 1.1, "data": []}, r"'version' must be a string, got a number"),
        (
            squad_document([qa(question=7)]),
            r"qas\[0\] \(id 'q1'\): 'question' must be a string, got a number",
        ),
        (squad_document([qa(qid=None)]), r"qas\[0\]: 'id' must be a string, got null"),
        (squad_document([{"id": "q1", "question": "Q?"}]), r"qas\[0\] \(id 'q1'\): missing 'answers'"),
        (
            squad_document(
                [{"id": "q1", "question": "Q?", "answers": [{"text": "Paris", "answer_start": "0"}]}]
            ),
            r"answers\[0\] \(id 'q1'\): 'answer_start' must be an integer, got a string",
        ),
        (
            squad_document(
                [{"id": "q1", "question": "Q?", "answers": [{"text": "Paris", "answer_start": True}]}]
            ),
            r"'answer_start' must be an integer, got a boolean",
        ),
        (squad_document([qa(is_impossible="no")]), r"\(id 'q1'\): 'is_impossible' must be true or false"),
        (
            {"data": [{"title": "T", "paragraphs": [{"qas": []}]}]},
            r"data\[0\]\.paragraphs\[0\]: missing 'context'",
        ),
        (
            {"data": [{"title": "T", "paragraphs": {}}]},
            r"data\[0\]: 'paragraphs' must be a list, got an object",
        ),
        (
            [
                {
                    "id": "r",
                    "question": "Q?",
                    "context": CONTEXT,
                    "answers": {"text": ["Paris"], "answer_start": []},
                }
            ],
            r"\[0\] \(id 'r'\): answers has 1 'text' but 0 'answer_start'",
        ),
    ],
)
def test_wrong_json_types_raise(tmp_path, document, message):
    path = write_json(tmp_path, document)
    with pytest.raises(DataError, match=r"data\.json: .*" + message) as error:
        load_qa_file(path)
    assert "\n" not in str(error.value)


# --- the Hub -------------------------------------------------------------------------------------------


def test_hub_without_datasets_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` fail
    with pytest.raises(DataError, match=r"hub:squad\[validation\]: .*needs the 'datasets' package"):
        load_hub_dataset("squad", "validation")


def test_hub_rows_are_validated_like_a_file(monkeypatch):
    rows = [
        {
            "id": "h1",
            "title": "T",
            "question": "Q?",
            "context": CONTEXT,
            "answers": {"text": ["Paris"], "answer_start": [0]},
        },
        {
            "id": "h2",
            "title": "T",
            "question": "Q?",
            "context": CONTEXT,
            "answers": {"text": ["Lyon"], "answer_start": [0]},
        },
    ]
    fake = types.SimpleNamespace(load_dataset=lambda name, split: rows)
    monkeypatch.setitem(sys.modules, "datasets", fake)
    with pytest.warns(UserWarning, match="skipped 1 of 2"):
        dataset = load_hub_dataset("KorQuAD/squad_kor_v1", "validation")
    assert [example.id for example in dataset] == ["h1"]
    assert dataset.skipped[0][0] == "h2"
    assert (dataset.path, dataset.default_metric) == ("hub:KorQuAD/squad_kor_v1[validation]", "korquad")
    with pytest.raises(DataError, match=r"\[validation\]: row 1 \(id 'h2'\): answer 0 'Lyon' is not at"):
        load_hub_dataset("KorQuAD/squad_kor_v1", "validation", strict=True)


def test_hub_offline(monkeypatch):
    def offline(name, split):
        raise ConnectionError("Couldn't reach 'squad' on the Hub (LocalEntryNotFoundError)\nmore")

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=offline))
    with pytest.raises(
        DataError, match=r"hub:squad\[train\]: could not load .*ConnectionError: Couldn't reach"
    ) as error:
        load_hub_dataset("squad", "train")
    assert "\n" not in str(error.value)
