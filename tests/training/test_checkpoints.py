"""Checkpoints: a fresh run never writes over another run's checkpoints, and a resume needs one to resume
from (issue 15, finding 12: `train qa --resume` with no checkpoint started afresh without a word)."""

from __future__ import annotations

import json

import pytest

from bertkit.errors import InputError
from bertkit.training.checkpoints import STATE_FILE, check_resume, checkpoint_dir

from ..cli.test_cli import run
from ..conftest import DATA


def test_check_resume(tmp_path):
    check_resume(tmp_path / "new", resume=False)  # nothing there: a fresh run
    with pytest.raises(
        InputError, match="holds no checkpoint to resume from \\(drop --resume to start afresh\\)"
    ):
        check_resume(tmp_path / "new", resume=True)
    step = checkpoint_dir(tmp_path, 4)
    step.mkdir(parents=True)
    with pytest.raises(InputError, match="holds no checkpoint"):  # an interrupted write is no checkpoint
        check_resume(tmp_path, resume=True)
    (step / STATE_FILE).write_bytes(b"")
    check_resume(tmp_path, resume=True)
    with pytest.raises(InputError, match="already holds checkpoints: resume with --resume"):
        check_resume(tmp_path, resume=False)


def test_train_qa_resume_without_a_checkpoint_is_refused_before_training(
    capsys, monkeypatch, tmp_path, tiny_qa_dir
):
    squad = json.loads((DATA / "squad-v1.1-dev.json").read_text(encoding="utf-8"))
    article = squad["data"][0]
    small = dict(squad, data=[dict(article, paragraphs=article["paragraphs"][:1])])
    (tmp_path / "train.json").write_text(json.dumps(small), encoding="utf-8")
    args = ["train", "qa", "--train", str(tmp_path / "train.json"), "--base", str(tiny_qa_dir)]
    code, out, err = run(capsys, monkeypatch, *args, "--output", str(tmp_path / "run"), "--resume")
    assert code == 2 and err.count("\n") == 1, err
    assert f"--resume: {tmp_path / 'run'} holds no checkpoint to resume from (drop --resume" in err
    assert not list((tmp_path / "run").glob("**/*.safetensors"))
