"""Batch QA: JSONL and SQuAD-format rows and their problems, the partial file (header, resume point, refusal),
and answer_file's checks before any work (with the tiny QA model)."""

from __future__ import annotations

import json

import pytest

from bertkit.errors import DataError, InputError, OutputError
from bertkit.tasks.qa import QAOptions
from bertkit.tasks.qa_batch import answer_file, check_batch_paths
from bertkit.tasks.qa_batch_rows import iter_questions, iter_rows
from bertkit.tasks.qa_batch_state import MARK, finish, open_partial

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
    # the progress bar's total is the rows read by the check before any work, in either format
    assert (len(list(iter_rows(lines))), len(list(iter_rows(squad)))) == (3, 3)


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


HEADER = {
    "bertkit": MARK,
    "version": 1,
    "settings": {"top_k": 1, "skip_invalid": False},
    "model": {"name": "m", "dtype": "fp32", "weights": "w"},
    "input": {"sha256": "s"},
}
A, B = '{"id": "a", "answers": []}\n', '{"id": "b", "answers": []}\n'


def write_partial(tmp_path, *lines):
    partial = tmp_path / "out.jsonl.partial"
    partial.write_text(json.dumps(HEADER) + "\n" + "".join(lines), encoding="utf-8")
    return partial


def test_a_new_partial_holds_the_header_alone(tmp_path):
    assert open_partial(tmp_path / "out.jsonl", HEADER) == []
    assert json.loads((tmp_path / "out.jsonl.partial").read_text(encoding="utf-8")) == HEADER


def test_resume_drops_a_torn_last_line(tmp_path):
    partial = write_partial(tmp_path, A, B, '{"id": "c", "ans')
    assert open_partial(tmp_path / "out.jsonl", HEADER) == ["a", "b"]
    assert partial.read_text(encoding="utf-8") == json.dumps(HEADER) + "\n" + A + B


def test_resume_drops_a_whole_record_without_its_newline(tmp_path):
    # finding 2: a last record that parses but lacks "\n" was glued to the next one; now it is answered again
    partial = write_partial(tmp_path, A, B.rstrip("\n"))
    assert open_partial(tmp_path / "out.jsonl", HEADER) == ["a"]
    assert partial.read_text(encoding="utf-8").endswith(A)


def test_resume_with_other_settings_or_input_is_refused_or_restarted(tmp_path):
    # finding 3: a partial of a --top-k 1 run resumed with --top-k 3, or over another input
    partial = write_partial(tmp_path, A)
    other = HEADER | {"settings": {"top_k": 3, "skip_invalid": False}, "input": {"sha256": "t"}}
    with pytest.raises(InputError, match="top_k 1 → 3; the input file changed") as error:
        open_partial(tmp_path / "out.jsonl", other)
    assert "--restart" in str(error.value) and partial.read_text(encoding="utf-8").endswith(A)
    assert open_partial(tmp_path / "out.jsonl", other, restart=True) == []
    assert json.loads(partial.read_text(encoding="utf-8")) == other


def test_a_partial_without_records_or_header(tmp_path):
    write_partial(tmp_path)  # a header and no record: nothing to lose, a new run starts
    other = HEADER | {"settings": {"top_k": 3}}
    assert open_partial(tmp_path / "out.jsonl", other) == []
    (tmp_path / "out.jsonl.partial").write_text(A, encoding="utf-8")  # not a qa-batch partial file
    with pytest.raises(OutputError, match="not the partial file of a qa-batch run"):
        open_partial(tmp_path / "out.jsonl", HEADER)


def test_finish_writes_the_records_alone(tmp_path):
    write_partial(tmp_path, A, B)
    finish(tmp_path / "out.jsonl")
    assert (tmp_path / "out.jsonl").read_text(encoding="utf-8") == A + B
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


def test_a_failed_last_write_keeps_every_answer_in_the_partial(tmp_path, monkeypatch):
    import bertkit.tasks.qa_batch_state

    def no_room(path, write, *, binary=False):
        raise OSError(28, "No space left on device")

    partial = write_partial(tmp_path, A, B)
    before = partial.read_bytes()
    monkeypatch.setattr(bertkit.tasks.qa_batch_state, "write_file_atomically", no_room)
    with pytest.raises(
        OutputError, match=r"No space left on device\); every answer is kept in .*out\.jsonl\.partial"
    ):
        finish(tmp_path / "out.jsonl")
    assert partial.read_bytes() == before


def test_every_bad_row_is_named(tmp_path):
    # finding 4: a lone surrogate ("\\ud800" in the JSONL), a number for a text, a duplicate id, not JSON
    path = tmp_path / "in.jsonl"
    path.write_text(
        '{"id": "a", "question": "Who?", "context": "Ann came."}\n'
        '{"id": "b", "question": "\\ud800?", "context": "Ann came."}\n'
        '{"id": "c", "question": "Who?", "context": 5}\n'
        '{"id": "a", "question": "Who?", "context": "Ann came."}\n'
        "{oops\n"
        '{"id": "\\udfff", "question": "Who?", "context": "Ann came."}\n',
        encoding="utf-8",
    )
    rows = list(iter_rows(path))
    assert [(row.id, row.problem is None) for row in rows] == [
        ("a", True), ("b", False), ("c", False), ("a", False), (None, False), (None, False)
    ]  # fmt: skip
    assert [row.described_problem() for row in rows[1:]] == [
        "line 2 (id b): 'question' is not Unicode text (a lone surrogate '\\ud800' at character 0)",
        "line 3 (id c): 'context' is a int, not a string",
        "line 4 (id a): duplicate id (first at line 1)",
        "line 5: not valid JSON (Expecting property name enclosed in double quotes)",
        "line 6: 'id' is not Unicode text (a lone surrogate '\\udfff' at character 0)",
    ]
    with pytest.raises(DataError, match=r"in\.jsonl line 2 \(id b\): 'question' is not Unicode text"):
        list(iter_questions(path))


def test_answer_file_refuses_bad_rows_before_any_work(tmp_path, tiny_qa):
    path = tmp_path / "in.jsonl"
    good = '{"id": "a", "question": "Who came?", "context": "Ann came."}\n'
    path.write_text(good + '{"id": "b", "question": "\\ud800", "context": "x"}\n' + good, encoding="utf-8")
    with pytest.raises(DataError) as error:
        answer_file(tiny_qa, path, tmp_path / "out.jsonl")
    message = str(error.value)
    assert "2 invalid rows, nothing answered: line 2 (id b): 'question' is not Unicode text" in message
    assert "line 3 (id a): duplicate id (first at line 1)" in message and "--skip-invalid" in message
    assert [p.name for p in tmp_path.iterdir()] == ["in.jsonl"]  # no OUTPUT, no partial (finding 12)

    counts = answer_file(tiny_qa, path, tmp_path / "out.jsonl", skip_invalid=True)
    assert counts == {"answered": 1, "invalid": 2, "resumed": 0}
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [sorted(r) for r in records] == [["answers", "id"], ["error", "id"], ["error", "id"]]
    assert records[1] == {"id": "b", "error": "line 2 (id b): 'question' is not Unicode text (a lone surrogate '\\ud800' at character 0)"}  # fmt: skip


def test_a_question_too_long_for_the_windows_is_a_bad_row(tmp_path, tiny_qa):
    path = tmp_path / "in.jsonl"
    rows = [{"id": "a", "question": "Who came?", "context": "Ann came."}]
    rows.append({"id": "long", "question": "Who came? " * 60, "context": "Ann came."})
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    options = QAOptions(max_length=64, stride=8)
    with pytest.raises(DataError, match=r"line 2 \(id long\): max_length 64 is too small for the question"):
        answer_file(tiny_qa, path, tmp_path / "out.jsonl", options)
    answer_file(tiny_qa, path, tmp_path / "out.jsonl", options, skip_invalid=True)
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert "answers" in records[0] and "too small for the question" in records[1]["error"]


def test_a_failed_run_leaves_no_empty_partial(tmp_path, tiny_qa, monkeypatch):
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": "a", "question": "Who came?", "context": "Ann came."}\n', encoding="utf-8")

    def broken(*args, **kwargs):
        raise RuntimeError("the model broke")

    monkeypatch.setattr(tiny_qa, "answer_many", broken)
    with pytest.raises(RuntimeError):
        answer_file(tiny_qa, path, tmp_path / "out.jsonl")
    assert [p.name for p in tmp_path.iterdir()] == ["in.jsonl"]


@pytest.mark.parametrize("link", ["same", "symlink", "hardlink", "partial"])
def test_output_that_is_the_input_is_refused(tmp_path, link):
    # finding 1: `qa-batch same.jsonl same.jsonl` overwrote the questions with the answers
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "a", "question": "q", "context": "c"}\n', encoding="utf-8")
    output = {"same": source, "symlink": tmp_path / "link.jsonl", "hardlink": tmp_path / "hard.jsonl"}.get(
        link
    )
    if link == "symlink":
        output.symlink_to(source)
    elif link == "hardlink":
        output.hardlink_to(source)
    elif link == "partial":  # OUTPUT.partial would be the input
        source = source.rename(tmp_path / "out.jsonl.partial")
        output = tmp_path / "out.jsonl"
    with pytest.raises(
        InputError, match="is the input file: answering into it would overwrite the questions"
    ):
        check_batch_paths(source, output)
