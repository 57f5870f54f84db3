"""Loading and exporting: plain transformers directories in and out, clear errors otherwise."""

from __future__ import annotations

import pytest
import torch

from bertkit import ModelLoadError, load
from bertkit.loading import export_model


def test_export_loads_in_plain_transformers(tmp_path, tiny_qa_dir):
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    model = load(str(tiny_qa_dir))
    out = export_model(model, tmp_path / "exported")
    plain = AutoModelForQuestionAnswering.from_pretrained(out).eval()
    tok = AutoTokenizer.from_pretrained(out)
    batch = tok("Where?", "Here and there.", return_tensors="pt")
    with torch.inference_mode():
        a = plain(**batch).start_logits
        b = model.module(**batch).start_logits
    assert torch.equal(a, b)
    assert (out / "model.safetensors").exists() and not (tmp_path / "exported.tmp").exists()


def test_export_refuses_a_non_empty_directory(tmp_path, tiny_qa_dir):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(ModelLoadError, match="already exists"):
        export_model(load(str(tiny_qa_dir)), tmp_path / "x")


def test_default_model_is_deterministic():
    a, b = load(None), load(None)
    for (name, x), (_, y) in zip(a.module.state_dict().items(), b.module.state_dict().items(), strict=True):
        assert torch.equal(x, y), name


def test_file_instead_of_directory(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"x")
    with pytest.raises(ModelLoadError, match="is a file"):
        load(str(tmp_path / "model.safetensors"))


def test_directory_without_config(tmp_path):
    with pytest.raises(ModelLoadError, match="config.json is missing"):
        load(str(tmp_path))


def test_shipped_default_is_small_and_verified(tmp_path, monkeypatch):
    import shutil

    from bertkit import default_models

    folder = default_models.shipped("qa")
    assert folder is not None
    assert (folder / "delta.safetensors").stat().st_size < 10_000_000
    # A damaged delta is refused, not silently used.
    broken = tmp_path / "models" / "default-qa"
    shutil.copytree(folder, broken)
    data = bytearray((broken / "delta.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (broken / "delta.safetensors").write_bytes(bytes(data))
    monkeypatch.setattr(default_models, "MODELS", tmp_path / "models")
    with pytest.raises(ModelLoadError, match="fails its sha256 check"):
        load(None)


def test_shipped_default_exports_to_plain_transformers(tmp_path):
    from transformers import AutoModelForQuestionAnswering

    model = load(None)
    out = export_model(model, tmp_path / "default-qa")
    plain = AutoModelForQuestionAnswering.from_pretrained(out).eval()
    ids = model.tokenizer("Where does John live?", "John lives in New York City.", return_tensors="pt")
    with torch.inference_mode():
        assert torch.allclose(plain(**ids).end_logits, model.module(**ids).end_logits)


def test_an_exported_hangul_tokenizer_is_named_so_that_transformers_4_reads_it(tmp_path):
    # transformers 4.57 refuses tokenizer_class "TokenizersBackend" (what 5.x writes for a tokenizer made
    # from tokenizer.json alone); "PreTrainedTokenizerFast" reads the same file in both majors.
    import json

    from transformers import AutoTokenizer

    out = export_model(load(None), tmp_path / "default-qa")
    config = json.loads((out / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["tokenizer_class"] == "PreTrainedTokenizerFast"
    tokens = AutoTokenizer.from_pretrained(out).tokenize("철수는 서울에 삽니다.")
    assert tokens == ["철", "##수", "##는", "서", "##울", "##에", "삽", "##니", "##다", "."]
