"""Training under `accelerate launch` with 2 CPU processes (gloo): shared-out batches, averaged gradients.

The test launches this file as the training script; `worker` is what each process runs.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SQUAD_DEV = SHARED_DATA / "squad-v1.1-dev.json"
TOKENIZER = SHARED_DATA / "tokenizers" / "bert-base-uncased"
# 24 examples in windows of 96 tokens: 29 windows, 8 batches an epoch, 4 to each of 2 processes.
SETTINGS = dict(epochs=2, batch_size=4, lr=1e-3, max_length=96, stride=32, warmup_ratio=0.2)
TRAIN, EVAL = slice(0, 24), slice(40, 46)


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """Tiny models run fastest on one thread, and this machine may be shared."""
    import bertkit.runtime
    from bertkit.training import qa as qa_training

    monkeypatch.setattr(qa_training, "cpu_threads", lambda: 1)
    monkeypatch.setattr(bertkit.runtime, "cpu_threads", lambda: 1)


def tiny_model():
    """A 2-layer, 32-wide BERT without dropout (so that runs can be compared), its head from seed 0."""
    from transformers import AutoTokenizer, BertConfig, BertForQuestionAnswering

    from bertkit.loading import Model

    tokenizer = AutoTokenizer.from_pretrained(str(TOKENIZER))
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    torch.manual_seed(0)
    return Model(tokenizer, BertForQuestionAnswering(config), "tiny", "local")


def squad():
    from bertkit.training.qa_data import QADataset
    from bertkit.training.qa_loading import load_qa_file

    dataset = load_qa_file(SQUAD_DEV)
    return dataset.examples[TRAIN], QADataset(dataset.examples[EVAL], version=dataset.version)


def worker(output: Path, record: Path) -> None:
    """One process: train while noting the windows it trains on, then write them and its weights."""
    from safetensors.torch import save_file

    import bertkit.runtime
    from bertkit.training import qa as qa_training

    rank = int(os.environ["RANK"])
    collate, rows_seen = qa_training.collate, []

    def noting_collate(features, rows, *args):
        rows_seen.append(rows.tolist())
        return collate(features, rows, *args)

    qa_training.collate = noting_collate
    bertkit.runtime.cpu_threads = lambda: 1  # evaluation, on process 0: one core each, as in training
    model = tiny_model()
    examples, eval_data = squad()
    result = qa_training.train(
        model, examples, qa_training.TrainConfig(str(output), **SETTINGS), eval_data, progress=False
    )
    state = {k: v.contiguous() for k, v in model.module.state_dict().items()}
    save_file(state, record / f"weights-{rank}.safetensors")
    summary = {"batches": rows_seen, "history": result.history, "windows": result.windows}
    (record / f"rank-{rank}.json").write_text(json.dumps(summary))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_train_on_different_batches_and_end_with_the_same_weights(tmp_path):
    from safetensors.torch import load_file

    from bertkit.training.qa import TrainConfig, train

    if not (SQUAD_DEV.exists() and TOKENIZER.exists()):
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    # `--multi_gpu` is accelerate's torchrun launcher: without GPUs it starts CPU processes (gloo).
    # (`--cpu --num_processes 2` starts a single process unless an MPI hostfile is given.)
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    launch += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    launch += ["--main_process_port", str(free_port()), __file__, str(tmp_path / "out"), str(tmp_path)]
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", CUDA_VISIBLE_DEVICES="")
    ran = subprocess.run(launch, env=env, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr[-3000:]

    ranks = [json.loads((tmp_path / f"rank-{r}.json").read_text()) for r in (0, 1)]
    batches = [[tuple(b) for b in r["batches"]] for r in ranks]
    assert len(batches[0]) == len(batches[1]) == 2 * 4  # 2 epochs of 8 batches, 4 to each process
    for epoch in (slice(0, 4), slice(4, 8)):
        mine, theirs = ({row for batch in b[epoch] for row in batch} for b in batches)
        assert mine.isdisjoint(theirs)
        assert sorted(mine | theirs) == list(range(ranks[0]["windows"]))  # every window once an epoch
    assert ranks[0]["history"] == ranks[1]["history"] and len(ranks[0]["history"]) == 2

    a, b = (load_file(tmp_path / f"weights-{r}.safetensors") for r in (0, 1))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "out" / "model.safetensors").exists() and (tmp_path / "out" / "checkpoints").exists()

    # Averaged gradients: the same steps as one process accumulating both processes' batches. Matrices
    # are compared: some biases cannot change the loss (they shift all logits of a softmax: the QA head's,
    # the keys', the last LayerNorm's), so their gradients are rounding noise that Adam scales to full steps.
    one = tiny_model()
    examples, _ = squad()
    train(one, examples, TrainConfig(str(tmp_path / "one"), grad_accum=2, **SETTINGS), progress=False)
    untrained = tiny_model().module.state_dict()
    for name, value in one.module.state_dict().items():
        if value.ndim >= 2:
            assert (value - a[name]).abs().max() < 1e-6 < (value - untrained[name]).abs().max(), name
    assert not torch.equal(a["qa_outputs.weight"], untrained["qa_outputs.weight"])


def test_each_process_gets_as_many_batches_and_one_process_all_of_them():
    from bertkit.training.processes import shard

    order = list(range(7))
    assert shard(order, 0, 1) is order
    assert [shard(order, rank, 2) for rank in (0, 1)] == [[0, 2, 4, 6], [1, 3, 5, 0]]
    assert [shard(order, rank, 3) for rank in (0, 1, 2)] == [[0, 3, 6], [1, 4, 0], [2, 5, 1]]


if __name__ == "__main__":
    worker(Path(sys.argv[1]), Path(sys.argv[2]))
