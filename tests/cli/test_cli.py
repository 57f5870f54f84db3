"""The CLI as a user meets it: pure JSON on stdout, one-line errors with exit code 2, resumable batches."""

from __future__ import annotations

import json
import os
import sys

import pytest

from bertkit.cli import main

from ..conftest import TOKENIZERS


def run(capsys, monkeypatch, *args):
    monkeypatch.setattr(sys, "argv", ["bertkit", *args])
    code = 0
    try:
        main()
    except SystemExit as e:
        code = e.code or 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_tokenize_json_is_a_list_of_windows(capsys, monkeypatch):
    tok = str(TOKENIZERS / "bert-base-uncased")
    code, out, _ = run(
        capsys,
        monkeypatch,
        "tokenize",
        "Where does John live?",
        "--pair",
        "John lives in New York City.",
        "--model",
        tok,
        "--json",
    )
    assert code == 0
    windows = json.loads(out)
    assert isinstance(windows, list) and len(windows) == 1
    assert set(windows[0]) == {
        "tokens",
        "input_ids",
        "token_type_ids",
        "attention_mask",
        "offset_mapping",
        "sequence_ids",
        "word_ids",
    }
    assert windows[0]["input_ids"][:7] == [101, 2073, 2515, 2198, 2444, 1029, 102]


def test_tokenize_windows_with_stride(capsys, monkeypatch):
    tok = str(TOKENIZERS / "bert-base-cased")
    sentence = "This sentence is not too long but we are going to split it anyway."
    code, out, _ = run(
        capsys,
        monkeypatch,
        "tokenize",
        sentence,
        "--model",
        tok,
        "--max-length",
        "6",
        "--stride",
        "2",
        "--json",
    )
    assert code == 0 and len(json.loads(out)) == 7
    code, out, _ = run(
        capsys, monkeypatch, "tokenize", sentence, "--model", tok, "--max-length", "6", "--stride", "2"
    )
    assert code == 0 and "window 7 of 7" in out and "##" not in out.split("window 1")[0]


def test_qa_json(capsys, monkeypatch, tiny_qa_dir):
    code, out, err = run(
        capsys, monkeypatch, "qa", "-q", "Where does John live?", "-c", "John lives in New York City.",
        "--model", str(tiny_qa_dir), "--top-k", "3", "--json",
    )  # fmt: skip
    assert code == 0, err
    answers = json.loads(out)
    assert len(answers) == 3
    for a in answers:
        assert set(a) == {"answer", "start", "end", "score"}
        assert "John lives in New York City."[a["start"] : a["end"]] == a["answer"]


def test_qa_default_model_answers_the_tutorial_question(capsys, monkeypatch):
    code, out, err = run(
        capsys,
        monkeypatch,
        "qa",
        "-q",
        "Where does John live?",
        "-c",
        "John lives in New York City.",
        "--json",
    )
    assert code == 0, err
    (best,) = json.loads(out)
    assert (best["answer"], best["start"], best["end"]) == ("New York City", 14, 27)
    assert best["score"] > 0.5


@pytest.mark.parametrize(
    "args, message",
    [
        (["qa", "-q", "", "-c", "text"], "question is empty"),
        (["qa", "-q", "Who?", "-c", "  "], "context is empty"),
        (
            ["qa", "-q", "Who?", "-c", "text", "--stride", "400"],
            "stride (400) must be smaller than max_length",
        ),
        (
            ["qa", "-q", "Who? " * 200, "-c", "text", "--max-length", "64", "--stride", "8"],
            "too small for the question",
        ),
        (["qa", "-q", "Who?", "-c", "text", "--model", "./no/such/model"], "model directory not found"),
        (["qa", "-q", "Who?", "-c", "text", "--model", "bert-base-uncased"], "not available offline"),
        (["qa", "-q", "Who?"], "give exactly one of --context and --context-file"),
        (["qa", "-q", "Who?", "--context-file", "/no/such/file.txt"], "file not found"),
        (["qa", "-q", "Who?", "-c", "x", "--dtype", "fp8"], "dtype must be one of"),
    ],
)
def test_errors_are_one_line_with_exit_code_2(capsys, monkeypatch, tiny_qa_dir, args, message):
    if "--model" not in args:
        args = [*args, "--model", str(tiny_qa_dir)]
    code, out, err = run(capsys, monkeypatch, *args)
    assert code == 2
    assert out == ""
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_corrupt_model_files(capsys, monkeypatch, tmp_path, tiny_qa_dir):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_qa_dir, broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    code, _, err = run(capsys, monkeypatch, "qa", "-q", "Who?", "-c", "text", "--model", str(broken))
    assert code == 2 and "corrupt or incomplete" in err and len(err.strip().splitlines()) == 1
    (broken / "model.safetensors").unlink()
    (broken / "pytorch_model.bin").write_bytes(b"pickle")
    code, _, err = run(capsys, monkeypatch, "qa", "-q", "Who?", "-c", "text", "--model", str(broken))
    assert code == 2 and "safetensors only" in err


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def args_for(tmp_path, tiny_qa_dir, output):
    return ["qa-batch", str(tmp_path / "in.jsonl"), str(tmp_path / output), "--model", str(tiny_qa_dir)]


def test_qa_batch_jsonl_and_resume(capsys, monkeypatch, tmp_path, tiny_qa_dir):
    rows = [
        {"id": f"q{i}", "question": "Where?", "context": f"Place number {i} is here. " * (1 + 30 * (i % 3))}
        for i in range(10)
    ]
    write_jsonl(tmp_path / "in.jsonl", rows)
    out_path = tmp_path / "out.jsonl"
    code, out, err = run(
        capsys,
        monkeypatch,
        "qa-batch",
        str(tmp_path / "in.jsonl"),
        str(out_path),
        "--model",
        str(tiny_qa_dir),
        "--top-k",
        "2",
    )
    assert code == 0 and out == "", err
    lines = [json.loads(x) for x in out_path.read_text().splitlines()]
    assert [x["id"] for x in lines] == [r["id"] for r in rows]
    for line, row in zip(lines, rows, strict=False):
        assert len(line["answers"]) == 2
        for a in line["answers"]:
            assert row["context"][a["start"] : a["end"]] == a["answer"]

    # An interrupted run (stopped before OUTPUT was written), cut to its header, 4 answers and a torn line;
    # the rerun answers only the rest.
    import bertkit.tasks.qa_batch

    def interrupted(output):
        raise KeyboardInterrupt

    again_args = [*args_for(tmp_path, tiny_qa_dir, "again.jsonl"), "--top-k", "2"]
    with monkeypatch.context() as patch:
        patch.setattr(bertkit.tasks.qa_batch, "finish", interrupted)
        assert run(capsys, monkeypatch, *again_args)[0] == 130
    partial = tmp_path / "again.jsonl.partial"
    header, *records = partial.read_text().splitlines(keepends=True)
    partial.write_text(header + "".join(records[:4]) + '{"id": "q4", "ans')
    code, _, err = run(
        capsys,
        monkeypatch,
        "qa-batch",
        str(tmp_path / "in.jsonl"),
        str(tmp_path / "again.jsonl"),
        "--model",
        str(tiny_qa_dir),
        "--top-k",
        "2",
    )
    assert code == 0 and "4 from an earlier run" in err
    again = [json.loads(x) for x in (tmp_path / "again.jsonl").read_text().splitlines()]

    # the same answers; scores equal to float rounding (a resumed run batches other windows together)
    def spans(rows):
        return [(r["id"], [(a["answer"], a["start"], a["end"]) for a in r["answers"]]) for r in rows]

    def scores(rows):
        return [a["score"] for r in rows for a in r["answers"]]

    assert spans(again) == spans(lines)
    assert scores(again) == pytest.approx(scores(lines), rel=1e-5)
    assert not partial.exists()


def test_qa_batch_squad_json(capsys, monkeypatch, tmp_path, tiny_qa_dir):
    squad = {"version": "1.1", "data": [{"title": "t", "paragraphs": [{"context": "서울은 한국의 수도이다.", "qas": [
        {"id": "a", "question": "한국의 수도는?", "answers": [{"text": "서울", "answer_start": 0}]},
        {"id": "b", "question": "무엇?", "answers": []}]}]}]}  # fmt: skip
    (tmp_path / "squad.json").write_text(json.dumps(squad, ensure_ascii=False), encoding="utf-8")
    code, _, err = run(
        capsys,
        monkeypatch,
        "qa-batch",
        str(tmp_path / "squad.json"),
        str(tmp_path / "o.jsonl"),
        "--model",
        str(tiny_qa_dir),
    )
    assert code == 0, err
    assert [json.loads(x)["id"] for x in (tmp_path / "o.jsonl").read_text().splitlines()] == ["a", "b"]


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"id": "x", "question": 3, "context": "c"}\n', "line 1 (id x): 'question' is a int, not a string"),
        ('{"id": "x", "question": "q"}\n', "'context' is missing"),
        ("not json\n", "line 1: not valid JSON"),
        (
            '{"id": "x", "question": "q", "context": "c"}\n{"id": "x", "question": "q", "context": "c"}\n',
            "line 2 (id x): duplicate id",
        ),
        ('["a list"]\n', "expected a JSON object"),
    ],
)
def test_qa_batch_bad_input(capsys, monkeypatch, tmp_path, tiny_qa_dir, content, message):
    (tmp_path / "in.jsonl").write_text(content)
    code, _, err = run(
        capsys,
        monkeypatch,
        "qa-batch",
        str(tmp_path / "in.jsonl"),
        str(tmp_path / "o.jsonl"),
        "--model",
        str(tiny_qa_dir),
    )
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "o.jsonl").exists()


# --- every failure a user can cause is a one-line error with exit code 2 (issue 15) ------------------------

BAD_BYTE = os.fsdecode(b"\xff")  # how Python hands a command-line byte that is not UTF-8 to a program


def one_line_error(code: int, err: str, message: str) -> bool:
    return code == 2 and err.startswith("error: ") and err.count("\n") == 1 and message in err


@pytest.mark.parametrize(
    "args",
    [
        ["qa", "-q", BAD_BYTE, "-c", "John lives in Paris."],
        ["qa", "-q", "Who?", "-c", f"John {BAD_BYTE}"],
        ["tokenize", f"a {BAD_BYTE}"],
        ["ner", f"Paris {BAD_BYTE}"],
        ["fill-mask", f"[MASK] {BAD_BYTE}"],
        ["nsp", "A.", BAD_BYTE],
        ["embed", "sentence", BAD_BYTE],
        ["embed", "word", "-w", BAD_BYTE, "apple pie"],
        ["attention", f"apple {BAD_BYTE}"],
    ],
)
def test_text_that_is_not_utf8_on_the_command_line_is_a_one_line_error(
    capsys, monkeypatch, tiny_qa_dir, args
):
    code, out, err = run(capsys, monkeypatch, *args, "--model", str(tiny_qa_dir))
    assert one_line_error(code, err, "is not valid Unicode: character"), err
    assert "U+DCFF; on a command line, a byte that is not UTF-8" in err and out == ""


def test_invalid_utf8_argv_in_a_real_process(tiny_qa_dir):
    import subprocess

    command = [
        sys.executable,
        "-c",
        "from bertkit.cli import main; main()",
        "qa",
        "-q",
        b"\xff",
        "-c",
        "Paris.",
    ]
    done = subprocess.run([*command, "--model", str(tiny_qa_dir)], capture_output=True, text=True)
    assert one_line_error(done.returncode, done.stderr, "question is not valid Unicode"), done.stderr


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_null_threshold_must_be_finite(capsys, monkeypatch, tiny_qa_dir, value):
    args = ["qa", "-q", "Who?", "-c", "Paris.", "--no-answer", "--null-threshold", value]
    code, out, err = run(capsys, monkeypatch, *args, "--model", str(tiny_qa_dir))
    assert one_line_error(code, err, f"null_threshold must be a finite number, got {value}"), err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--timeout", "nan"], "timeout_s must be a finite number, got nan"),
        (["--timeout", "0"], "timeout_s must be >= 0.001"),
        (["--batch-window-ms", "-5"], "batch_window_ms must be >= 0.0, got -5.0"),
        (["--port", "99999"], "--port must be an integer from 0 to 65535, got 99999"),
    ],
)
def test_serve_options_are_checked_before_serving(capsys, monkeypatch, args, message):
    import bertkit.server

    monkeypatch.setattr(bertkit.server, "serve", lambda *a, **k: pytest.fail("served"))
    code, out, err = run(capsys, monkeypatch, "serve", *args)
    assert one_line_error(code, err, message), err
