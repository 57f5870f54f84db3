"""`bertkit evaluate qa` scores every gold question (issue 15, finding 6) and never scores nothing as 0.00
(finding 12): a wrong answer_start does not matter to a metric that compares texts."""

from __future__ import annotations

import json

import pytest

from bertkit.training.qa_loading import load_qa_file

from .test_cli import run
from .test_outputs import one_line_error

CONTEXT = "Paris is in France. Seoul is in Korea."
SQUAD = {"version": "1.1", "data": [{"title": "t", "paragraphs": [{"context": CONTEXT, "qas": [
    {"id": "q1", "question": "Where is Paris?", "answers": [{"text": "France", "answer_start": 12}]},
    {"id": "q2", "question": "Where is Seoul?", "answers": [{"text": "Korea", "answer_start": 3}]},
]}]}]}  # fmt: skip


@pytest.fixture
def gold(tmp_path):
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(SQUAD), encoding="utf-8")
    return path


def test_a_wrong_answer_start_is_kept_for_scoring_only(gold):
    with pytest.warns(UserWarning, match="skipped 1 of 2"):
        assert [e.id for e in load_qa_file(gold).examples] == ["q1"]  # training needs the position
    with pytest.warns(UserWarning, match=r"1 questions have an answer_start that is wrong \(first: id 'q2'"):
        assert [e.id for e in load_qa_file(gold, scoring_only=True).examples] == ["q1", "q2"]


def test_evaluate_scores_every_gold_question(capsys, monkeypatch, tmp_path, gold):
    predictions = tmp_path / "p.json"
    predictions.write_text(json.dumps({"q1": "France", "q2": "Korea"}), encoding="utf-8")
    code, out, err = run(
        capsys,
        monkeypatch,
        "evaluate",
        "qa",
        "--data",
        str(gold),
        "--predictions",
        str(predictions),
        "--json",
    )
    assert code == 0, err
    scores = json.loads(out)
    assert (scores["n"], scores["exact_match"], scores["missing"]) == (2, 100.0, 0)
    assert "note: " in err and "scored all the same, as the metrics use only the answer texts" in err


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "no predictions in it"),
        ("{}", "no predictions in it"),
        ('{"id": "q1", "error": "line 1: not valid JSON"}\n', "no predictions in it"),
        ('{"other": "France"}', "no prediction is for one of the 2 gold questions (predicted ids such as 'other')"),
    ],
)  # fmt: skip
def test_predictions_that_score_nothing_are_an_error(capsys, monkeypatch, tmp_path, gold, content, message):
    predictions = tmp_path / "p.jsonl"
    predictions.write_text(content, encoding="utf-8")
    args = ["evaluate", "qa", "--data", str(gold), "--predictions", str(predictions)]
    assert message in one_line_error(capsys, monkeypatch, *args)


def test_qa_batch_error_records_are_missing_predictions(capsys, monkeypatch, tmp_path, gold):
    predictions = tmp_path / "p.jsonl"
    lines = [
        {"id": "q1", "answers": [{"answer": "France"}]},
        {"id": "q2", "error": "line 2: 'question' is empty"},
    ]
    predictions.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    args = ["evaluate", "qa", "--data", str(gold), "--predictions", str(predictions), "--json"]
    code, out, err = run(capsys, monkeypatch, *args)
    assert code == 0, err
    assert (json.loads(out)["missing"], json.loads(out)["exact_match"]) == (1, 50.0)


def test_evaluate_says_where_the_answers_went(capsys, monkeypatch, tmp_path, gold):
    predictions = tmp_path / "p.json"
    predictions.write_text(json.dumps({"q1": "in France", "q2": "Paris"}), encoding="utf-8")
    args = ["evaluate", "qa", "--data", str(gold), "--predictions", str(predictions)]
    code, out, err = run(capsys, monkeypatch, *args, "--json")
    assert code == 0, err
    kinds = json.loads(out)["answer_kinds"]
    assert {k: v for k, v in kinds.items() if v} == {"wider": 1, "elsewhere": 1}
    code, out, err = run(capsys, monkeypatch, *args)
    assert code == 0, err
    assert "where the answers went" in out and "50.0 %" in out and "overlapping" not in out
