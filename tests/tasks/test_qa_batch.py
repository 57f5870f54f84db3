"""Batch QA's readers, without a model: JSONL and SQuAD-format questions, their errors, the resume point."""

from __future__ import annotations

import json

import pytest

from bertkit.errors import DataError
from bertkit.tasks.qa_batch import _done_ids, count_questions, iter_questions

SQUAD = {"version": "1.1", "data": [{"title": "Seoul", "paragraphs": [
    {"context": "서울은 한국의 수도이다.", "qas": [{"id": "a", "question": "수도는?"}, {"id": 7, "question": "어디?"}]},
    {"context": "Paris is in France.", "qas": [{"id": "b", "question": "Where?", "answers": []}]},
]}]}  # fmt: skip


def test_squad_and_jsonl_give_the_same_questions(tmp_path):
    squad = tmp_path / "in.json"
    squad.write_text(json.dumps(SQUAD, ensure_ascii=False, indent=1), encoding="utf-8")
    expected = [
        ("a", "수도는?", "서울은 한국의 수도이다."),
        ("7", "어디?", "서울은 한국의 수도이다."),
        ("b", "Where?", "Paris is in France."),
    ]
    assert list(iter_questions(squad)) == expected
    pretty = tmp_path / "squad.txt"  # told apart from JSONL by its first line, whatever its suffix
    pretty.write_text(squad.read_text(encoding="utf-8"), encoding="utf-8")
    assert list(iter_questions(pretty)) == expected
    lines = tmp_path / "in.jsonl"
    rows = [{"id": i, "question": q, "context": c} for i, q, c in expected]
    lines.write_text(
        "\ufeff" + "\r\n\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8"
    )
    assert list(iter_questions(lines)) == expected
    assert (count_questions(lines), count_questions(squad), count_questions(tmp_path / "none.jsonl")) == (
        3,
        None,
        None,
    )


@pytest.mark.parametrize(
    "document, message",
    [
        ({"data": [{"paragraphs": {}}]}, r"in\.json: data\[0\]: 'paragraphs' must be a list, got an object"),
        ({"version": "1"}, "no 'data' key"),
        ({"data": [{"paragraphs": [{"context": "c", "qas": ["x"]}]}]}, r"qas\[0\]: a qa must be an object"),
        ({"data": [{"paragraphs": [{"context": "c", "qas": [{"id": "a"}]}]}]}, r"qas\[0\] \(id a\): 'question' is missing"),
        (
            {"data": [{"paragraphs": [{"context": "c", "qas": [{"id": "a", "question": "q"}] * 2}]}]},
            r"data\[0\]\.paragraphs\[0\]\.qas\[1\] \(id a\): duplicate id",
        ),
    ],
)  # fmt: skip
def test_bad_squad_input_names_the_place(tmp_path, document, message):
    path = tmp_path / "in.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(DataError, match=message) as error:
        list(iter_questions(path))
    assert "\n" not in str(error.value)


def test_missing_and_broken_input(tmp_path):
    with pytest.raises(DataError, match=r"nowhere\.jsonl: input file not found"):
        list(iter_questions(tmp_path / "nowhere.jsonl"))
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"id": "a", "question": "q", "context": "c"}\n{"id": "b", "question": "caf\xe9"}\n')
    with pytest.raises(DataError, match=r"in\.jsonl: not UTF-8 text \(line 2"):
        list(iter_questions(path))


def test_done_ids_drop_a_torn_last_line(tmp_path):
    partial = tmp_path / "out.jsonl.partial"
    assert _done_ids(partial) == set()
    partial.write_text(
        '{"id": "a", "answers": []}\n{"id": "b", "answers": []}\n{"id": "c", "ans', encoding="utf-8"
    )
    assert _done_ids(partial) == {"a", "b"}
    assert partial.read_text(encoding="utf-8") == '{"id": "a", "answers": []}\n{"id": "b", "answers": []}\n'
