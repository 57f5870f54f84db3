"""LoRA fine-tuning: exact resume, merged and adapter exports, and loading an adapter directory."""

import json
from pathlib import Path

import pytest
import torch
import typer
from typer.testing import CliRunner

from bertkit.cli.train import train_app
from bertkit.errors import InputError
from bertkit.loading import Model, load
from bertkit.training.qa import TrainConfig, lora_targets, train
from bertkit.training.qa_data import QADataset
from bertkit.training.qa_loading import load_qa_file

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SQUAD_DEV = SHARED_DATA / "squad-v1.1-dev.json"
# 24 examples in windows of 96 tokens: 4 optimizer steps per epoch.
SETTINGS = dict(epochs=2, batch_size=4, grad_accum=2, lr=1e-2, max_length=96, stride=32, lora_r=4)


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """Tiny models run fastest on one thread, and this machine may be shared."""
    import bertkit.runtime
    from bertkit.training import qa as qa_training

    monkeypatch.setattr(qa_training, "cpu_threads", lambda: 1)
    monkeypatch.setattr(bertkit.runtime, "cpu_threads", lambda: 1)


@pytest.fixture(scope="module")
def tok_uncased():
    from transformers import AutoTokenizer

    path = SHARED_DATA / "tokenizers" / "bert-base-uncased"
    if not path.exists():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return AutoTokenizer.from_pretrained(str(path))


@pytest.fixture(scope="module")
def squad() -> QADataset:
    if not SQUAD_DEV.exists():
        pytest.skip(f"shared data not found at {SQUAD_DEV}")
    return load_qa_file(SQUAD_DEV)


def tiny_model(tokenizer, name: str = "tiny") -> Model:
    """A 2-layer, 32-wide BERT with a fresh QA head (dropout on, so the RNG state matters)."""
    from transformers import BertConfig, BertForQuestionAnswering

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    return Model(tokenizer, BertForQuestionAnswering(config), name, "local")


def weights(module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def start_logits(module, tokenizer) -> torch.Tensor:
    ids = torch.tensor([tokenizer("Who won?", "Denver won the game in 2016.")["input_ids"]])
    with torch.no_grad():
        return module.eval()(input_ids=ids).start_logits


def test_a_lora_run_stopped_and_resumed_ends_with_identical_weights(tok_uncased, squad, tmp_path):
    examples, eval_data = squad.examples[:24], QADataset(squad.examples[40:48], version=squad.version)
    initial = weights(tiny_model(tok_uncased).module)
    whole = tiny_model(tok_uncased)
    result = train(whole, examples, TrainConfig(str(tmp_path / "a"), **SETTINGS), eval_data, progress=False)
    assert result.completed and result.global_step == 8

    stopped = tiny_model(tok_uncased)
    first = train(
        stopped, examples, TrainConfig(str(tmp_path / "b"), max_steps=3, **SETTINGS), progress=False
    )
    assert (first.completed, first.global_step) == (False, 3)
    checkpoint = tmp_path / "b" / "checkpoints" / "step-0000003"
    assert (checkpoint / "adapter_model.safetensors").exists() and not (
        checkpoint / "model.safetensors"
    ).exists()
    resumed = tiny_model(tok_uncased)  # fresh weights: the adapter and head must come from the checkpoint
    config = TrainConfig(str(tmp_path / "b"), **SETTINGS)
    second = train(resumed, examples, config, eval_data, resume=True, progress=False)

    assert second.completed and second.history == result.history
    a, b = weights(whole.module), weights(resumed.module)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # The base stayed as it was; the adapters and the head were trained.
    prefix = "base_model.model."
    base = {k[len(prefix) :].replace(".base_layer", ""): v for k, v in a.items() if "lora_" not in k}
    assert all(torch.equal(base[k], initial[k]) for k in initial if "qa_outputs" not in k)
    assert any(k.endswith("lora_B.default.weight") and v.abs().sum() > 0 for k, v in a.items())
    head = a[prefix + "qa_outputs.modules_to_save.default.weight"]
    assert not torch.equal(head, initial["qa_outputs.weight"])
    # LoRA changed a setting: resuming the run without it is refused.
    with pytest.raises(InputError, match="lora_r was 4, now 0"):
        train(
            tiny_model(tok_uncased),
            examples,
            TrainConfig(str(tmp_path / "b"), **dict(SETTINGS, lora_r=0)),
            resume=True,
        )


def test_merged_and_adapter_exports_load_as_the_same_model(tok_uncased, tmp_path):
    # The CLI path: --lora-export adapter and merged from the same run settings.
    from transformers import AutoModelForQuestionAnswering

    base = tmp_path / "base"
    tiny = tiny_model(tok_uncased)
    tiny.module.save_pretrained(base)
    tok_uncased.save_pretrained(base)
    data = tmp_path / "small.json"
    paragraphs = json.loads(SQUAD_DEV.read_text())["data"][0]["paragraphs"][:2]
    data.write_text(json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": paragraphs}]}))
    app = typer.Typer()
    app.add_typer(train_app, name="train")
    runner = CliRunner()
    common = ["train", "qa", "--train", str(data), "--base", str(base), "--epochs", "1", "--lr", "1e-2"]
    common += ["--batch-size", "8", "--max-length", "96", "--stride", "32", "--lora-r", "4", "--json"]

    outputs = {}
    for kind in ("adapter", "merged"):
        outputs[kind] = tmp_path / kind
        ran = runner.invoke(app, common + ["--output", str(outputs[kind]), "--lora-export", kind])
        assert ran.exit_code == 0, ran.output
        assert json.loads(ran.stdout)["completed"]

    adapter = outputs["adapter"]
    assert {"adapter_model.safetensors", "adapter_config.json", "tokenizer.json"} <= {
        p.name for p in adapter.iterdir()
    }
    assert not (adapter / "model.safetensors").exists()
    adapter_config = json.loads((adapter / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == str(base.resolve())
    assert adapter_config["modules_to_save"] == ["qa_outputs"] and adapter_config["r"] == 4
    assert set(adapter_config["target_modules"]) == {"query", "key", "value", "dense"}

    plain = AutoModelForQuestionAnswering.from_pretrained(outputs["merged"])
    merged, from_adapter = load(str(outputs["merged"])), load(str(adapter))
    assert not hasattr(from_adapter.module, "peft_config")  # merged on load: a plain transformers module
    expected = start_logits(plain, tok_uncased)
    assert torch.equal(start_logits(merged.module, tok_uncased), expected)
    assert torch.allclose(start_logits(from_adapter.module, tok_uncased), expected, atol=1e-5)
    assert not torch.allclose(start_logits(tiny.module, tok_uncased), expected, atol=1e-3)

    wrong = runner.invoke(app, common + ["--output", str(tmp_path / "x"), "--lora-export", "both"])
    assert isinstance(wrong.exception, InputError)


def test_an_adapter_over_the_default_model_records_default_and_loads_offline(squad, tmp_path):
    model = load("default", task="qa")
    config = TrainConfig(
        str(tmp_path), max_steps=1, batch_size=4, max_length=96, stride=32, lora_r=2, lora_export="adapter"
    )
    train(model, squad.examples[:3], config, progress=False)
    assert json.loads((tmp_path / "adapter_config.json").read_text())["base_model_name_or_path"] == "default"
    loaded = load(str(tmp_path), task="qa")
    expected = start_logits(model.module, model.tokenizer)
    assert torch.allclose(start_logits(loaded.module, loaded.tokenizer), expected, atol=1e-4)


def test_lora_targets_the_encoder_linears_of_bert_family_models():
    from transformers import (
        DistilBertConfig,
        DistilBertForQuestionAnswering,
        RobertaConfig,
        RobertaForQuestionAnswering,
    )

    small = dict(vocab_size=50, max_position_embeddings=40)
    roberta = RobertaForQuestionAnswering(
        RobertaConfig(
            hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16, **small
        )
    )
    distilbert = DistilBertForQuestionAnswering(
        DistilBertConfig(dim=8, n_layers=1, n_heads=2, hidden_dim=16, **small)
    )
    assert lora_targets(roberta) == ["dense", "key", "query", "value"]
    assert lora_targets(distilbert) == ["k_lin", "lin1", "lin2", "out_lin", "q_lin", "v_lin"]
