"""The plain-torch BERT forward gives transformers' outputs bit for bit, for every head, with and without
padding; the embedded defaults run on it without importing transformers' modeling stack."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from bertkit import ModelLoadError
from bertkit.default_models import strip_prefix
from bertkit.inference_bert import TASK_OF_CLASS, InferenceBert, build, load_default, supports
from bertkit.loading import load
from bertkit.runtime import Runtime

TASK_CLASSES = {task: name for name, task in TASK_OF_CLASS.items()}  # task -> transformers' class


def tiny_pair(task: str, seed: int = 0):
    """A random tiny transformers model of `task` and the `InferenceBert` holding its weights."""
    import transformers

    config = transformers.BertConfig(
        vocab_size=300,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=5 if task == "ner" else 2,
    )
    torch.manual_seed(seed)
    reference = getattr(transformers, TASK_CLASSES[task])(config).eval()
    state = {strip_prefix(k): v for k, v in reference.state_dict().items()}
    return reference, build(config, task, state)


def batch(seed: int = 1):
    rng = np.random.default_rng(seed)
    ids = torch.from_numpy(rng.integers(1, 300, (3, 17)))
    types = torch.from_numpy((np.arange(17) > 8).astype(np.int64)).expand(3, -1).contiguous()
    mask = torch.ones(3, 17, dtype=torch.int64)
    mask[1, 11:] = 0
    mask[2, 5:] = 0
    return ids, types, mask


@pytest.mark.parametrize("task", list(TASK_CLASSES))
@pytest.mark.parametrize("padded", [False, True])
def test_the_same_outputs_as_transformers_bit_for_bit(task, padded):
    reference, ours = tiny_pair(task)
    ids, types, mask = batch()
    inputs = {"input_ids": ids, "token_type_ids": types, "attention_mask": mask if padded else None}
    with torch.inference_mode():
        expected = reference(**inputs, output_hidden_states=True)
        got = ours(**inputs, output_hidden_states=True)
    names = [
        n for n in ("start_logits", "end_logits", "logits", "last_hidden_state", "pooler_output") if n in got
    ]
    assert names
    rows = mask.bool() if padded else torch.ones_like(mask, dtype=torch.bool)
    for name in names:
        a, b = expected[name], got[name]
        if a.dim() >= 2 and a.shape[1] == ids.shape[1]:  # per token: compare the real tokens only
            a, b = a[rows], b[rows]
        assert torch.equal(a, b), name
    assert len(got["hidden_states"]) == len(expected["hidden_states"]) == 3
    for a, b in zip(expected["hidden_states"], got["hidden_states"], strict=True):
        assert torch.equal(a[rows], b[rows])


def test_token_types_default_to_zeros():
    reference, ours = tiny_pair("qa")
    ids, _, _ = batch()
    with torch.inference_mode():
        assert torch.equal(reference(input_ids=ids).start_logits, ours(input_ids=ids)["start_logits"])


def test_configs_it_does_not_compute_go_to_transformers():
    import transformers

    config = transformers.BertConfig()
    assert supports(config, "qa")
    assert not supports(config, "pretraining")
    assert not supports(transformers.BertConfig(hidden_act="relu"), "qa")
    assert not supports(transformers.BertConfig(position_embedding_type="relative_key"), "qa")
    assert not supports(transformers.BertConfig(is_decoder=True), "mlm")


def test_missing_weights_are_an_error():
    reference, _ = tiny_pair("qa")
    state = {strip_prefix(k): v for k, v in reference.state_dict().items() if not k.startswith("qa_outputs")}
    with pytest.raises(ModelLoadError, match="lack tensors.*qa_outputs"):
        build(reference.config, "qa", state)


@pytest.mark.parametrize("task", ["qa", "ner", "mlm", "nsp", "base"])
def test_the_defaults_run_as_transformers_runs_them(task):
    model = load_default(task)
    assert isinstance(model.module, InferenceBert) and model.source == "default" and model.notes == []
    reference = load(None, task).module
    enc = model.tokenizer("Where does John live?", "John lives in New York City.", return_tensors="pt")
    inputs = {"input_ids": enc["input_ids"], "token_type_ids": enc["token_type_ids"]}
    with torch.inference_mode():
        expected, got = reference(**inputs), model.module(**inputs)
    for name, value in got.items():
        assert torch.equal(expected[name], value), name


@pytest.mark.parametrize("dtype", ["bf16", "int8"])
def test_it_runs_in_every_dtype(dtype):
    reference, ours = tiny_pair("qa")
    ids, types, _ = batch()
    windows = {"input_ids": list(ids.numpy()), "token_type_ids": list(types.numpy())}
    fp32 = Runtime(reference, dtype="fp32").forward(windows, ["start_logits"])["start_logits"]
    other = Runtime(ours, dtype=dtype).forward(windows, ["start_logits"])["start_logits"]
    for a, b in zip(fp32, other, strict=True):
        np.testing.assert_allclose(a, b, atol=0.1 * np.abs(a).max())


def test_a_one_shot_answer_does_not_import_transformers_modeling():
    code = (
        "import sys; from bertkit import QuestionAnswerer; "
        "a = QuestionAnswerer(dtype='fp32')('Where does John live?', 'John lives in New York City.'); "
        "assert a[0].answer == 'New York City', a; "
        "print(sorted(m for m in sys.modules if m.startswith('transformers.model')))"
    )
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "modeling_utils" not in ran.stdout and "modeling_bert" not in ran.stdout, ran.stdout


@pytest.mark.parametrize("task", list(TASK_CLASSES))
def test_bf16_runs_any_bert_on_this_forward_close_to_fp32(task):
    reference, _ = tiny_pair(task)
    runtime = Runtime(reference, dtype="bf16")
    assert isinstance(runtime.module, InferenceBert) and runtime.module.task == task
    assert next(reference.parameters()).dtype == torch.float32  # the caller's model is left as it was
    ids, types, mask = batch()
    name = {"qa": "start_logits", "base": "last_hidden_state"}.get(task, "logits")
    with torch.inference_mode():
        expected = getattr(reference(input_ids=ids, token_type_ids=types, attention_mask=mask), name)
        got = runtime.module(ids, types, mask)[name].float()
    rows = mask.bool() if expected.dim() > 2 else slice(None)  # padded positions are not compared
    np.testing.assert_allclose(got[rows], expected[rows], atol=0.05 * float(expected.abs().max()))


def test_eager_attention_keeps_transformers_classes():
    reference, _ = tiny_pair("qa")
    reference.set_attn_implementation("eager")
    assert not isinstance(Runtime(reference, dtype="bf16").module, InferenceBert)


@pytest.mark.parametrize("padded", [False, True])
def test_per_window_bf16_attention_is_sdpa_to_bf16_rounding(monkeypatch, padded):
    import torch.nn.functional as F

    from bertkit import inference_bert

    torch.manual_seed(0)
    q, k, v = (torch.randn(3, 4, 20, 8) for _ in range(3))
    mask = None
    if padded:  # the last 7 positions of window 1 are padding, as `InferenceBert.forward` builds it
        padding = torch.zeros(3, 1, 1, 20, dtype=torch.bool)
        padding[1, ..., 13:] = True
        mask = torch.zeros(padding.shape).masked_fill(padding, float("-inf"))
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=0.3)
    monkeypatch.setattr(inference_bert, "per_window_attention", lambda: True)
    # fp32 always takes SDPA: the same bits
    assert torch.equal(inference_bert.attention(q, k, v, mask, 0.3), expected)
    bf16 = [t.bfloat16() for t in (q, k, v)]
    got = inference_bert.attention(*bf16, None if mask is None else mask.bfloat16(), 0.3)
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), expected, atol=0.05, rtol=0.05)
