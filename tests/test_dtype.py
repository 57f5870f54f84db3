"""dtype "auto" picks bf16 only where the CPU has bf16 matrix units (flags faked here), and bf16 and int8
answers stay close to fp32's on a tiny model. No timings: speed is measured by bench/qa_inference.py."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bertkit import InputError, QuestionAnswerer
from bertkit import runtime as runtime_module
from bertkit.runtime import DTYPE_ENV, Runtime, dtype_for_cpu, resolve_dtype

from .cli.test_cli import run

ZEN4 = {"avx2", "avx512f", "avx512_bf16", "avx512_vnni"}  # AVX-512 BF16, no AMX
SAPPHIRE_RAPIDS = ZEN4 | {"amx_bf16", "amx_int8", "amx_tile"}
HASWELL = {"avx2", "fma"}


@pytest.fixture
def no_env(monkeypatch):
    """dtype "auto" decided from the CPU, as on a user's machine (the test suite sets BERTKIT_DTYPE)."""
    monkeypatch.delenv(DTYPE_ENV, raising=False)


def fake_cpu(monkeypatch, flags, capability="AVX512"):
    monkeypatch.setattr(runtime_module, "cpu_flags", lambda: frozenset(flags))
    monkeypatch.setattr(runtime_module, "torch_cpu_capability", lambda: capability)


@pytest.mark.parametrize(
    "flags, capability, expected, why",
    [
        (SAPPHIRE_RAPIDS, "AVX512", "bf16", "AMX (amx_bf16)"),
        (ZEN4, "AVX512", "bf16", "AVX-512 BF16 (avx512_bf16)"),
        (ZEN4, "AVX2", "fp32", "torch runs its AVX2 kernels"),
        (HASWELL, "AVX2", "fp32", "no bf16 matrix units"),
        (set(), "DEFAULT", "fp32", "no bf16 matrix units"),  # e.g. no /proc/cpuinfo
    ],
)
def test_auto_follows_the_cpu(no_env, flags, capability, expected, why):
    dtype, reason = resolve_dtype("auto", flags=flags, capability=capability)
    assert dtype == expected and why in reason


@pytest.mark.parametrize("dtype", ["fp32", "bf16", "int8"])
def test_an_asked_dtype_is_kept_whatever_the_cpu(no_env, dtype):
    assert resolve_dtype(dtype, flags=HASWELL, capability="AVX2") == (dtype, "asked for")


def test_the_environment_says_what_auto_means(monkeypatch):
    monkeypatch.setenv(DTYPE_ENV, "int8")
    assert resolve_dtype("auto", flags=SAPPHIRE_RAPIDS) == ("int8", "BERTKIT_DTYPE=int8")
    assert resolve_dtype("fp32") == ("fp32", "asked for")  # an asked dtype wins over the environment
    monkeypatch.setenv(DTYPE_ENV, "auto")
    assert resolve_dtype("auto", flags=HASWELL, capability="AVX2")[0] == "fp32"
    monkeypatch.setenv(DTYPE_ENV, "fp16")
    with pytest.raises(InputError, match=r"\$BERTKIT_DTYPE must be one of fp32, bf16, int8 or auto"):
        resolve_dtype("auto")


def test_unknown_dtypes_are_input_errors():
    with pytest.raises(InputError, match="dtype must be one of fp32, bf16, int8 or auto, got 'fp8'"):
        resolve_dtype("fp8")


def test_this_machine_resolves_to_a_known_dtype(no_env):
    dtype, reason = resolve_dtype("auto")
    assert dtype in ("fp32", "bf16") and reason
    assert dtype_for_cpu(runtime_module.cpu_flags(), runtime_module.torch_cpu_capability())[0] == dtype


@pytest.mark.parametrize("flags, expected", [(ZEN4, "bf16"), (HASWELL, "fp32")])
def test_every_task_defaults_to_auto_and_says_what_it_chose(
    no_env, monkeypatch, tiny_qa_dir, flags, expected
):
    fake_cpu(monkeypatch, flags)
    qa = QuestionAnswerer(str(tiny_qa_dir))
    assert qa.runtime.dtype == expected
    model_note, note = qa.notes
    assert model_note == f"model {tiny_qa_dir} (local directory)"  # which model answers, always said
    assert f"running in {expected}, chosen by dtype auto" in note
    assert QuestionAnswerer(qa.model, dtype="fp32").notes == [model_note]  # an asked dtype needs no note
    monkeypatch.setenv(DTYPE_ENV, "fp32")
    assert QuestionAnswerer(qa.model).notes == [model_note]  # nor one set in the environment


def test_a_short_input_on_a_bf16_machine_starts_on_numpy_in_fp32(no_env, monkeypatch):
    # Importing torch (1-2 s) costs more than a short forward: "auto" starts a one-shot on the numpy forward
    # in fp32 and says so; bf16 asked for, or longer work (`Task.run`), runs on torch.
    fake_cpu(monkeypatch, ZEN4)
    qa = QuestionAnswerer()
    assert qa.runtime.on_numpy and qa.runtime.dtype == "fp32"
    assert qa.notes[-1] == (
        "running in fp32, chosen by dtype auto: a short input runs in fp32 on the numpy forward, without "
        "importing torch (longer work runs on torch, in bf16 where it runs its AVX-512 kernels: the CPU has "
        "AVX-512 BF16) (--dtype to choose)"
    )
    assert qa("Where does John live?", "John lives in New York City.")[0].answer == "New York City"
    assert runtime_module.light_dtype("auto", ZEN4) == ("fp32", qa.runtime.dtype_reason)
    assert runtime_module.light_dtype("int8", ZEN4) is None
    assert not QuestionAnswerer(dtype="bf16").runtime.on_numpy
    assert not QuestionAnswerer(light_start=False).runtime.on_numpy
    monkeypatch.setenv(DTYPE_ENV, "bf16")
    assert not QuestionAnswerer().runtime.on_numpy  # what "auto" means, set by the environment


def windows(tokenizer, n=12):
    rng = np.random.default_rng(3)
    return [np.asarray(tokenizer("word " * int(rng.integers(3, 100)))["input_ids"]) for _ in range(n)]


@pytest.mark.parametrize("dtype", ["bf16", "int8"])
def test_converted_runtimes_leave_the_model_alone(tiny_qa, dtype):
    import torch

    module = tiny_qa.model.module
    runtime = Runtime(module, dtype=dtype)
    assert runtime.module is not module
    assert all(p.dtype == torch.float32 for p in module.parameters())
    assert type(module.qa_outputs) is torch.nn.Linear


def question_contexts(n=40):
    rng = np.random.default_rng(0)
    words = (
        "john lives in new york city and works as a carpenter in brooklyn near the river with a dog".split()
    )
    questions = [" ".join(rng.choice(words, 5)) + "?" for _ in range(n)]
    contexts = [" ".join(rng.choice(words, int(rng.integers(10, 60)))) + "." for _ in range(n)]
    return questions, contexts


@pytest.mark.parametrize("dtype", ["bf16", "int8"])
def test_bf16_and_int8_answers_stay_close_to_fp32(tiny_qa_dir, dtype):
    fp32 = QuestionAnswerer(str(tiny_qa_dir), dtype="fp32")
    other = QuestionAnswerer(fp32.model, dtype=dtype)
    questions, contexts = question_contexts()
    _, starts, ends = fp32.logits(questions, contexts)
    _, other_starts, other_ends = other.logits(questions, contexts)
    for a, b in zip(starts + ends, other_starts + other_ends, strict=True):
        assert b.dtype == np.float32
        np.testing.assert_allclose(a, b, atol=0.1 * np.abs(a).max())
        assert np.corrcoef(a, b)[0, 1] > 0.99
    same = sum(
        fp32(q, c)[0].answer == other(q, c)[0].answer for q, c in zip(questions, contexts, strict=True)
    )
    assert same >= 0.8 * len(questions)


def test_the_cli_says_which_dtype_auto_chose(no_env, monkeypatch, capsys, tiny_qa_dir):
    fake_cpu(monkeypatch, SAPPHIRE_RAPIDS)
    question = ["-q", "Where does John live?", "-c", "John lives in New York City."]
    args = ["qa", *question, "--model", str(tiny_qa_dir)]
    code, out, err = run(capsys, monkeypatch, *args, "--json")
    assert code == 0 and json.loads(out)
    assert "note: running in bf16, chosen by dtype auto: the CPU has AMX (amx_bf16)" in err
    code, out, err = run(capsys, monkeypatch, *args, "--json", "--dtype", "int8")
    assert code == 0 and json.loads(out) and "dtype auto" not in err


def test_health_says_what_each_model_runs_in(no_env, monkeypatch, tiny_qa_dir):
    from fastapi.testclient import TestClient

    from bertkit.server import ServerConfig, create_app

    fake_cpu(monkeypatch, HASWELL, "AVX2")
    with TestClient(create_app(ServerConfig(model=str(tiny_qa_dir)))) as client:
        dtypes = client.get("/health").json()["dtypes"]
    assert dtypes["qa"]["dtype"] == "fp32" and "no bf16 matrix units" in dtypes["qa"]["reason"]


def test_fp32_batches_stay_small_unless_a_budget_is_asked(no_env, monkeypatch, tiny_qa_dir):
    # fp32 keeps its batches within the caches (runtime.FP32_BATCH_TOKENS); bf16 keeps the task's budget.
    from bertkit.runtime import FP32_BATCH_TOKENS

    assert QuestionAnswerer(str(tiny_qa_dir), dtype="fp32").runtime.max_tokens == FP32_BATCH_TOKENS
    assert QuestionAnswerer(str(tiny_qa_dir), dtype="fp32", max_tokens=8192).runtime.max_tokens == 8192
    fake_cpu(monkeypatch, ZEN4)
    assert QuestionAnswerer(str(tiny_qa_dir)).runtime.max_tokens == QuestionAnswerer.max_tokens
