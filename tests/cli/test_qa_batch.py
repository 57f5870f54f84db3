"""`bertkit qa-batch` loses nothing and says what is wrong (issue 15, findings 1-4 and 12): the input is never
overwritten, a resume never glues records nor mixes settings, every bad row is named, no empty leftovers."""

from __future__ import annotations

import json

import pytest

import bertkit.tasks.qa_batch

from .test_cli import args_for, run, write_jsonl
from .test_outputs import one_line_error

ROWS = [{"id": f"q{i}", "question": "Where?", "context": f"Place number {i} is here."} for i in range(6)]


def records(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def interrupted_run(capsys, monkeypatch, args):
    """A run stopped after its answers reached OUTPUT.partial, before OUTPUT was written."""

    def interrupted(output):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(bertkit.tasks.qa_batch, "finish", interrupted)
        assert run(capsys, monkeypatch, *args)[0] == 130


def test_output_that_is_the_input_leaves_the_input_alone(capsys, monkeypatch, tmp_path, tiny_qa_dir):
    write_jsonl(tmp_path / "in.jsonl", ROWS)
    before = (tmp_path / "in.jsonl").read_bytes()
    (tmp_path / "link.jsonl").symlink_to(tmp_path / "in.jsonl")
    for output in ("in.jsonl", "link.jsonl"):
        err = one_line_error(capsys, monkeypatch, *args_for(tmp_path, tiny_qa_dir, output))
        assert "is the input file" in err
    assert (tmp_path / "in.jsonl").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "link.jsonl"]


def test_a_last_record_without_its_newline_is_answered_again_not_glued(
    capsys, monkeypatch, tmp_path, tiny_qa_dir
):
    write_jsonl(tmp_path / "in.jsonl", ROWS)
    assert run(capsys, monkeypatch, *args_for(tmp_path, tiny_qa_dir, "full.jsonl"))[0] == 0
    args = args_for(tmp_path, tiny_qa_dir, "out.jsonl")
    interrupted_run(capsys, monkeypatch, args)
    partial = tmp_path / "out.jsonl.partial"
    header, *lines = partial.read_text(encoding="utf-8").splitlines(keepends=True)
    partial.write_text(header + "".join(lines[:2]) + lines[2].rstrip("\n"), encoding="utf-8")
    code, _, err = run(capsys, monkeypatch, *args)
    assert code == 0 and "wrote 6 answers" in err and "(2 from an earlier run)" in err, err
    assert records(tmp_path / "out.jsonl") == records(tmp_path / "full.jsonl")


def test_a_resume_with_other_settings_or_input_is_refused_unless_restarted(
    capsys, monkeypatch, tmp_path, tiny_qa_dir
):
    write_jsonl(tmp_path / "in.jsonl", ROWS)
    args = args_for(tmp_path, tiny_qa_dir, "out.jsonl")
    interrupted_run(capsys, monkeypatch, [*args, "--top-k", "1"])
    partial_before = (tmp_path / "out.jsonl.partial").read_bytes()
    err = one_line_error(capsys, monkeypatch, *args, "--top-k", "3")
    assert "holds 6 answers of a run with other settings (top_k 1 → 3)" in err and "--restart" in err
    write_jsonl(tmp_path / "in.jsonl", [*ROWS, {"id": "new", "question": "Q?", "context": "C."}])
    err = one_line_error(capsys, monkeypatch, *args, "--top-k", "1")
    assert "the input file changed" in err
    assert (tmp_path / "out.jsonl.partial").read_bytes() == partial_before  # refusing keeps the answers
    code, _, err = run(capsys, monkeypatch, *args, "--top-k", "3", "--restart")
    assert code == 0 and "earlier run" not in err, err
    assert [len(r["answers"]) for r in records(tmp_path / "out.jsonl")] == [3] * 7


def test_bad_rows_are_named_before_any_work_or_skipped(capsys, monkeypatch, tmp_path, tiny_qa_dir):
    (tmp_path / "in.jsonl").write_text(
        json.dumps(ROWS[0]) + "\n"
        '{"id": "bad", "question": "\\ud800", "context": "Place."}\n'
        + json.dumps(ROWS[1]) + "\n"
        '{"id": "n", "question": "Where?", "context": ["Place."]}\n',
        encoding="utf-8",
    )  # fmt: skip
    err = one_line_error(capsys, monkeypatch, *args_for(tmp_path, tiny_qa_dir, "out.jsonl"))
    assert "2 invalid rows, nothing answered: line 2 (id bad): 'question' is not Unicode text" in err
    assert "line 4 (id n): 'context' is a list, not a string" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]  # no 0-byte partial
    code, _, err = run(capsys, monkeypatch, *args_for(tmp_path, tiny_qa_dir, "out.jsonl"), "--skip-invalid")
    assert code == 0 and "wrote 4 answers" in err and "2 invalid rows have an {id, error} record" in err
    found = records(tmp_path / "out.jsonl")
    assert [r["id"] for r in found] == ["q0", "bad", "q1", "n"]
    assert "answers" in found[0] and found[1]["error"].startswith(
        "line 2 (id bad): 'question' is not Unicode"
    )


@pytest.mark.parametrize(
    "content",
    [bytes(range(256)) * 4, b'{"id": "a", "question": "caf\xe9", "context": "c"}\n', b"{\n\xff\xfe"],
)
def test_input_that_is_not_utf8_is_one_line(capsys, monkeypatch, tmp_path, tiny_qa_dir, content):
    (tmp_path / "garbage.bin").write_bytes(content)
    args = ["qa-batch", str(tmp_path / "garbage.bin"), str(tmp_path / "o.jsonl"), "--model", str(tiny_qa_dir)]
    err = one_line_error(capsys, monkeypatch, *args)
    assert "garbage.bin: not UTF-8 text (" in err and "byte " in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.bin"]
