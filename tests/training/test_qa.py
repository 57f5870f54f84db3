"""The QA training loop: exact resume, checkpoints, the output directory, and train → evaluate end to end."""

import json
from pathlib import Path

import pytest
import torch
import typer
from typer.testing import CliRunner

from bertkit.cli.data import data_app
from bertkit.cli.evaluate import evaluate_app
from bertkit.cli.train import train_app
from bertkit.errors import InputError
from bertkit.loading import Model
from bertkit.training.checkpoints import list_checkpoints
from bertkit.training.qa import TrainConfig, train
from bertkit.training.qa_data import QADataset
from bertkit.training.qa_loading import load_qa_file

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SQUAD_DEV = SHARED_DATA / "squad-v1.1-dev.json"
# Small windows cut the longer contexts: 40 examples give 51 windows, 13 batches, 7 optimizer steps per
# epoch (the last one accumulates a single batch).
SETTINGS = dict(epochs=2, batch_size=4, grad_accum=2, lr=1e-3, max_length=96, stride=32, warmup_ratio=0.2)


@pytest.fixture(scope="module")
def tok_uncased():
    from transformers import AutoTokenizer

    path = SHARED_DATA / "tokenizers" / "bert-base-uncased"
    if not path.exists():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return AutoTokenizer.from_pretrained(str(path))  # our own: a tokenizer keeps its last truncation settings


@pytest.fixture(scope="module")
def squad() -> QADataset:
    if not SQUAD_DEV.exists():
        pytest.skip(f"shared data not found at {SQUAD_DEV}")
    return load_qa_file(SQUAD_DEV)


@pytest.fixture(scope="module")
def train_examples(squad):
    return squad.examples[:40]


@pytest.fixture(scope="module")
def eval_data(squad):
    return QADataset(examples=squad.examples[40:56], version=squad.version)


def tiny_model(tokenizer) -> Model:
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
    return Model(tokenizer, BertForQuestionAnswering(config), "tiny", "local")


def weights(model: Model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.module.state_dict().items()}


@pytest.mark.parametrize("stop_at", [3, 10])  # stop inside epoch 1, then inside epoch 2
def test_a_run_stopped_and_resumed_ends_with_identical_weights(
    tok_uncased, train_examples, eval_data, tmp_path, stop_at
):
    whole = tiny_model(tok_uncased)
    result = train(
        whole, train_examples, TrainConfig(str(tmp_path / "a"), **SETTINGS), eval_data, progress=False
    )
    assert result.completed and result.global_step == 14

    stopped = tiny_model(tok_uncased)
    config = TrainConfig(str(tmp_path / "b"), max_steps=stop_at, **SETTINGS)
    first = train(stopped, train_examples, config, eval_data, progress=False)
    assert (first.completed, first.global_step) == (False, stop_at)
    resumed = tiny_model(tok_uncased)  # fresh weights: everything must come from the checkpoint
    config = TrainConfig(str(tmp_path / "b"), **SETTINGS)
    second = train(resumed, train_examples, config, eval_data, resume=True, progress=False)

    assert second.completed and second.global_step == 14
    assert second.history == result.history
    a, b = weights(whole), weights(resumed)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["qa_outputs.weight"], weights(tiny_model(tok_uncased))["qa_outputs.weight"])
    assert not list(tmp_path.rglob("*.tmp")) and not list(tmp_path.rglob("*.old"))


def test_checkpoints_keep_the_latest_and_the_best(tok_uncased, train_examples, eval_data, tmp_path):
    config = TrainConfig(str(tmp_path), save_every_steps=2, **SETTINGS)
    result = train(tiny_model(tok_uncased), train_examples, config, eval_data, progress=False)
    kept = {p.name for p in list_checkpoints(tmp_path)}
    assert "step-0000014" in kept and f"step-{result.best['step']:07d}" in kept
    assert len(kept) <= 2
    state = torch.load(tmp_path / "checkpoints" / "step-0000014" / "trainer_state.pt", weights_only=True)
    assert {"optimizer", "scheduler", "rng", "epoch", "step_in_epoch", "order"} <= state.keys()
    summary = json.loads((tmp_path / "train_summary.json").read_text())
    assert summary["model_step"] == result.best["step"]


def test_resume_refuses_different_settings_and_fresh_runs_refuse_old_checkpoints(
    tok_uncased, train_examples, tmp_path
):
    train(
        tiny_model(tok_uncased),
        train_examples,
        TrainConfig(str(tmp_path), max_steps=2, **SETTINGS),
        progress=False,
    )
    with pytest.raises(InputError, match="already holds checkpoints"):
        train(tiny_model(tok_uncased), train_examples, TrainConfig(str(tmp_path), **SETTINGS), progress=False)
    changed = dict(SETTINGS, lr=5e-4)
    with pytest.raises(InputError, match="lr was 0.001, now 0.0005"):
        train(tiny_model(tok_uncased), train_examples, TrainConfig(str(tmp_path), **changed), resume=True)


def test_train_then_evaluate_end_to_end(tok_uncased, train_examples, tmp_path):
    # The CLI path: a saved base model, `train qa` with bf16 autocast, then `evaluate qa` and `data check`.
    from transformers import AutoModelForQuestionAnswering

    from bertkit.loading import load

    base = tmp_path / "base"
    tiny = tiny_model(tok_uncased)
    tiny.module.save_pretrained(base)
    tok_uncased.save_pretrained(base)
    data = tmp_path / "small.json"
    paragraphs = json.loads(SQUAD_DEV.read_text())["data"][0]["paragraphs"][:3]
    data.write_text(json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": paragraphs}]}))

    app = typer.Typer()
    app.add_typer(train_app, name="train")
    app.add_typer(evaluate_app, name="evaluate")
    app.add_typer(data_app, name="data")
    runner = CliRunner()
    out = tmp_path / "out"
    window = ["--max-length", "96", "--stride", "32"]
    trained = runner.invoke(
        app,
        ["train", "qa", "--train", str(data), "--eval", str(data), "--base", str(base), "--output", str(out)]
        + ["--epochs", "2", "--batch-size", "8", "--lr", "1e-3", "--bf16", "--json"]
        + window,
    )
    assert trained.exit_code == 0, trained.output
    summary = json.loads(trained.stdout)
    assert summary["completed"] and len(summary["history"]) == 2

    plain = AutoModelForQuestionAnswering.from_pretrained(out)
    ours = load(str(out), task="qa")
    ids = torch.tensor([tok_uncased("Who?", "Denver won.")["input_ids"]])
    with torch.no_grad():
        assert torch.equal(plain.eval()(input_ids=ids).start_logits, ours.module(input_ids=ids).start_logits)

    predictions = tmp_path / "predictions.json"
    evaluated = runner.invoke(
        app,
        ["evaluate", "qa", "--data", str(data), "--model", str(out), "--json", "--output", str(predictions)]
        + window,
    )
    assert evaluated.exit_code == 0, evaluated.output
    scores = json.loads(evaluated.stdout)
    assert scores["n"] == len(load_qa_file(data)) and scores["metric"] == "squad"
    assert 0 <= scores["exact_match"] <= scores["f1"] <= 100
    rescored = runner.invoke(
        app, ["evaluate", "qa", "--data", str(data), "--predictions", str(predictions), "--json"]
    )
    assert json.loads(rescored.stdout) == scores

    checked = runner.invoke(app, ["data", "check", str(data), "--tokenizer", str(base), "--json"])
    assert checked.exit_code == 0, checked.output
    report = json.loads(checked.stdout)
    assert report["token_boundary_exact"] == report["token_boundary_total"] > 0

    neither = runner.invoke(app, ["evaluate", "qa", "--data", str(data)])
    assert isinstance(neither.exception, InputError)


def test_frozen_lowest_layers_and_embeddings_stay_and_the_rest_learns(tok_uncased, train_examples, tmp_path):
    model = tiny_model(tok_uncased)
    before = weights(model)
    config = TrainConfig(output_dir=str(tmp_path / "out"), **dict(SETTINGS, epochs=1), freeze_layers=1)
    train(model, train_examples, config, progress=False)
    after = weights(model)
    frozen = [k for k in before if k.startswith(("bert.embeddings.", "bert.encoder.layer.0."))]
    learnt = [k for k in before if k.startswith(("bert.encoder.layer.1.", "qa_outputs."))]
    assert frozen and learnt
    assert all(torch.equal(before[k], after[k]) for k in frozen)
    assert all(not torch.equal(before[k], after[k]) for k in learnt)


def test_freeze_layers_is_checked(tok_uncased, tmp_path):
    from bertkit.training.optimizer import freeze_lowest_layers

    with pytest.raises(InputError, match="has 2 encoder layers"):
        freeze_lowest_layers(tiny_model(tok_uncased).module, 3)
    with pytest.raises(InputError, match="freeze_layers goes without train_embeddings_from"):
        TrainConfig(output_dir=str(tmp_path), freeze_layers=1, train_embeddings_from=10).check()


# The shape both ELECTRA-small and ALBERT have: embeddings narrower than the hidden size, projected up.
NARROW_EMBEDDINGS = dict(
    vocab_size=50, embedding_size=16, hidden_size=32, num_attention_heads=2, intermediate_size=64
)


def test_freezing_stops_the_backward_pass_below_the_trained_layers_also_for_electra():
    # ELECTRA-small projects its 16-wide embeddings to the hidden size outside `embeddings`: that projection
    # is frozen too, so the frozen layers' output needs no gradient (else backward would run through them).
    from transformers import ElectraConfig, ElectraForQuestionAnswering

    from bertkit.training.optimizer import freeze_lowest_layers

    config = ElectraConfig(**NARROW_EMBEDDINGS, num_hidden_layers=3, max_position_embeddings=32)
    model = ElectraForQuestionAnswering(config)
    freeze_lowest_layers(model, 2)
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trained and all(n.startswith(("electra.encoder.layer.2.", "qa_outputs.")) for n in trained)
    seen = []
    model.electra.encoder.layer[1].register_forward_hook(lambda m, i, out: seen.append(out))
    model(input_ids=torch.tensor([[1, 2, 3, 4]]))
    output = seen[0][0] if isinstance(seen[0], tuple) else seen[0]
    assert not output.requires_grad


def test_freeze_layers_refuses_a_model_without_a_layer_stack():
    from transformers import AlbertConfig, AlbertForQuestionAnswering

    from bertkit.training.optimizer import freeze_lowest_layers

    config = AlbertConfig(**NARROW_EMBEDDINGS, num_hidden_layers=4)
    with pytest.raises(InputError, match="encoder.layer or transformer.layer"):
        freeze_lowest_layers(AlbertForQuestionAnswering(config), 2)
