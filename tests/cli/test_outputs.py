"""Outputs are checked before the work (issue 15, finding 5): a directory where a file is wanted, a file where
a directory is wanted, a missing or read-only folder are one-line `OutputError`s (exit 2) before any model
loads or trains, from every command that writes and from the library; finished work outlives a failed write."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

from bertkit.errors import OutputError
from bertkit.files import check_writable, is_same_file

from ..conftest import TOKENIZERS
from .test_cli import run

NO_MODEL = "/no/such/model"  # a command that loaded its model before checking would fail on this instead


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder that cannot be written: chmod 555, or for root (who writes anywhere) /sys."""
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    try:
        handle, name = tempfile.mkstemp(dir="/sys")
    except OSError:
        yield Path("/sys")
        return
    os.close(handle)
    os.unlink(name)
    pytest.skip("no folder here that root cannot write")


def test_check_writable_names_each_mix_up(tmp_path, read_only_folder):
    (tmp_path / "a-file").write_text("x")
    cases = [
        (tmp_path, "file", "is a directory, not a file"),
        (tmp_path / "none" / "out.jsonl", "file", "folder .*none does not exist"),
        (tmp_path / "a-file" / "out.jsonl", "file", "a-file is a file, not a folder"),
        (tmp_path / "a-file", "dir", "is a file, not a directory"),
        (tmp_path / "a-file" / "sub" / "model", "dir", "a-file is a file, not a folder"),
        (read_only_folder / "out.jsonl", "file", "cannot write in .* \\(Permission denied\\)"),
        (read_only_folder / "new" / "model", "dir", "cannot write in"),
    ]
    for path, kind, message in cases:
        with pytest.raises(OutputError, match=message):
            check_writable(path, kind)
    assert check_writable(tmp_path / "out.jsonl") == tmp_path / "out.jsonl"
    assert check_writable(tmp_path / "new" / "deeper" / "model", "dir").name == "model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]  # the probes left nothing


def test_same_file_through_links(tmp_path):
    (tmp_path / "a").write_text("x")
    (tmp_path / "soft").symlink_to(tmp_path / "a")
    (tmp_path / "hard").hardlink_to(tmp_path / "a")
    assert is_same_file(tmp_path / "a", tmp_path / "soft") and is_same_file(tmp_path / "a", tmp_path / "hard")
    assert is_same_file(tmp_path / "x" / ".." / "a", tmp_path / "a")
    assert not is_same_file(tmp_path / "a", tmp_path / "b")


def one_line_error(capsys, monkeypatch, *args):
    code, out, err = run(capsys, monkeypatch, *args)
    assert code == 2 and out == "", err
    said = [line for line in err.strip().splitlines() if not line.startswith("note: ")]
    assert "Traceback" not in err and "unexpected" not in err and len(said) == 1, err
    return said[0]


def test_every_command_that_writes_checks_before_the_work(capsys, monkeypatch, tmp_path, read_only_folder):
    (tmp_path / "in.jsonl").write_text('{"id": "a", "question": "Who?", "context": "Ann."}\n')
    (tmp_path / "corpus.txt").write_text("some text\n")
    (tmp_path / "a-file").write_text("x")
    a_file, missing, source = (
        str(tmp_path / "a-file"),
        str(tmp_path / "none" / "out"),
        str(tmp_path / "in.jsonl"),
    )
    tokenizer = str(TOKENIZERS / "bert-base-uncased")
    cases = [
        (["qa-batch", source, str(tmp_path), "--model", NO_MODEL], "is a directory, not a file"),
        (["qa-batch", source, missing, "--model", NO_MODEL], "does not exist"),
        (["qa-batch", source, str(read_only_folder / "o.jsonl"), "--model", NO_MODEL], "cannot write in"),
        (["train", "qa", "--train", source, "--output", a_file], "is a file, not a directory"),
        (["train", "ner", "--train", source, "--output", a_file], "is a file, not a directory"),
        (["train", "mlm", source, "--output", str(read_only_folder / "m")], "cannot write in"),
        (["export", a_file, "--model", NO_MODEL], "is a file, not a directory"),
        (["export", str(read_only_folder / "model"), "--model", NO_MODEL], "cannot write in"),
        (
            [
                "train-tokenizer",
                str(tmp_path / "corpus.txt"),
                "--vocab-size",
                "100",
                "--from",
                tokenizer,
                "--output",
                str(read_only_folder / "tok"),
            ],
            "cannot write in",
        ),  # fmt: skip
        (["evaluate", "qa", "--data", source, "--model", NO_MODEL, "--output", missing], "does not exist"),
        (["tokenize", "hello", "--model", tokenizer, "--plot", missing + ".png"], "does not exist"),
        (
            ["qa", "-q", "Who?", "-c", "Ann.", "--model", NO_MODEL, "--plot", str(tmp_path)],
            "use a .png or .svg",
        ),
        (["attention", "hello", "--model", NO_MODEL, "--plot", missing + ".svg"], "does not exist"),
    ]
    for args, message in cases:
        assert message in one_line_error(capsys, monkeypatch, *args), args


def test_the_training_library_checks_its_output_before_training(tmp_path, tiny_qa_dir):
    from bertkit.loading import load
    from bertkit.training.qa import TrainConfig, train
    from bertkit.training.qa_loading import load_qa_file

    squad = {"data": [{"paragraphs": [{"context": "Ann came.", "qas": [
        {"id": "q", "question": "Who came?", "answers": [{"text": "Ann", "answer_start": 0}]}]}]}]}  # fmt: skip
    (tmp_path / "squad.json").write_text(json.dumps(squad))
    (tmp_path / "a-file").write_text("x")
    examples = load_qa_file(tmp_path / "squad.json").examples
    with pytest.raises(OutputError, match="is a file, not a directory"):
        train(load(str(tiny_qa_dir), task="qa"), examples, TrainConfig(output_dir=str(tmp_path / "a-file")))


def test_predictions_outlive_a_failed_write(tmp_path, monkeypatch):
    import bertkit.files
    from bertkit.training.predictions import write_predictions

    def no_room(path, write, *, binary=False):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(bertkit.files, "write_file_atomically", no_room)
    with pytest.raises(
        OutputError, match=r"No space left on device\); the predictions were written to "
    ) as e:
        write_predictions(tmp_path / "p.json", {"q1": "Seoul"})
    rescued = Path(str(e.value).split("written to ")[1].split(" instead")[0])
    assert json.loads(rescued.read_text(encoding="utf-8")) == {"q1": "Seoul"}
    rescued.unlink()
