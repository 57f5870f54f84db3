"""The numpy BERT forward gives transformers' outputs to float32 rounding, for every head, with and without
padding; the embedded defaults start on it (no torch import) and move to torch when the work grows."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from bertkit.numpy_bert import NUMPY_MAX_TOKENS, NumpyBert, erf, load_default
from bertkit.tasks.qa import QuestionAnswerer
from bertkit.tasks.qa_batch_state import weights_fingerprint

from .test_inference_bert import TASK_CLASSES, batch, tiny_pair


def numpy_twin(reference, task: str) -> NumpyBert:
    from bertkit.default_models import strip_prefix

    state = {strip_prefix(k): v.numpy() for k, v in reference.state_dict().items()}
    return NumpyBert(reference.config, task, state)


@pytest.mark.parametrize("task", list(TASK_CLASSES))
@pytest.mark.parametrize("padded", [False, True])
def test_the_same_outputs_as_transformers_to_float_rounding(task, padded):
    reference, fast = tiny_pair(task)
    ours = numpy_twin(reference, task)
    assert list(ours.state_dict()) == list(fast.state_dict())  # one order: one weights fingerprint
    ids, types, mask = batch()
    inputs = {"input_ids": ids, "token_type_ids": types, "attention_mask": mask if padded else None}
    with torch.inference_mode():
        expected = reference(**inputs, output_hidden_states=True)
    got = ours(ids.numpy(), types.numpy(), mask.numpy() if padded else None, output_hidden_states=True)
    rows = mask.numpy().astype(bool) if padded else np.ones(mask.shape, dtype=bool)
    for name, value in got.items():
        if name == "hidden_states":
            continue
        want = expected[name].numpy()
        if want.ndim >= 2 and want.shape[1] == ids.shape[1]:
            want, value = want[rows], value[rows]
        np.testing.assert_allclose(value, want, rtol=1e-4, atol=1e-5, err_msg=name)
    assert len(got["hidden_states"]) == 3
    for want, value in zip(expected["hidden_states"], got["hidden_states"], strict=True):
        np.testing.assert_allclose(value[rows], want.numpy()[rows], rtol=1e-4, atol=1e-5)


def test_erf_is_within_its_bound_everywhere():
    x = np.linspace(-6, 6, 20001)
    exact = np.array([math.erf(v) for v in x])
    assert np.abs(erf(x) - exact).max() <= 1.5e-7


def test_missing_weights_are_named():
    reference, _ = tiny_pair("qa")
    state = {k: v.numpy() for k, v in reference.state_dict().items() if not k.startswith("qa_outputs")}
    with pytest.raises(Exception, match="lack tensors.*qa_outputs"):
        NumpyBert(reference.config, "qa", state)


@pytest.fixture(scope="module")
def fp32():
    before = os.environ.get("BERTKIT_DTYPE")
    os.environ["BERTKIT_DTYPE"] = "fp32"  # "auto" → fp32 on every CPU kind, for this module's tests
    yield
    if before is None:
        os.environ.pop("BERTKIT_DTYPE", None)
    else:
        os.environ["BERTKIT_DTYPE"] = before  # as the suite set it (conftest)


def test_the_default_starts_on_numpy_and_moves_to_torch_for_long_work(fp32):
    light, heavy = QuestionAnswerer(), QuestionAnswerer(light_start=False)
    assert light.runtime.on_numpy and not heavy.runtime.on_numpy
    assert weights_fingerprint(light) == weights_fingerprint(heavy)
    question, context = "Where does John live?", "John lives in New York City."
    a, b = light(question, context)[0], heavy(question, context)[0]
    assert (a.answer, a.start, a.end) == (b.answer, b.start, b.end) == ("New York City", 14, 27)
    assert a.score == pytest.approx(b.score, rel=1e-4)
    assert light.runtime.on_numpy  # a short question stays on numpy
    long = " ".join(["The river flows north past the old mill."] * 150) + " " + context
    assert len(long.split()) > NUMPY_MAX_TOKENS
    a, b = light(question, long)[0], heavy(question, long)[0]
    assert not light.runtime.on_numpy  # more than NUMPY_MAX_TOKENS: torch from now on
    assert (a.start, a.end, a.score) == (b.start, b.end, b.score)  # the same engine now: the same bits


def test_a_model_of_ones_own_on_numpy_is_never_swapped_for_the_default(fp32):
    from bertkit.loading import Model
    from bertkit.tasks.ner import EntityTagger

    default = load_default("ner")
    own = Model(default.tokenizer, default.module, "mine", "local")
    tagger = EntityTagger(own, threads=1)
    assert tagger.runtime.on_numpy and not tagger.light_started
    tagger(" ".join(["Angela Merkel visited Berlin."] * 300))
    assert tagger.model is own and tagger.runtime.on_numpy


def test_every_default_task_loads_on_numpy(fp32):
    for task in ("qa", "ner", "mlm", "nsp", "base"):
        model = load_default(task)
        assert isinstance(model.module, NumpyBert) and model.source == "default"
    assert load_default("qa", dtype="bf16") is None and load_default("attention") is None


def test_a_one_shot_answer_imports_no_torch():
    code = (
        "import sys\n"
        "from bertkit import QuestionAnswerer, EntityTagger\n"
        "a = QuestionAnswerer()('철수는 어디에 삽니까?', '철수는 서울에 삽니다. 영희는 부산에 삽니다.')[0]\n"
        "e = EntityTagger()('My name is Sylvain and I work at Hugging Face in Brooklyn.')\n"
        "print(a.answer, e[0].word, 'torch' in sys.modules, 'transformers' in sys.modules)\n"
    )
    env = dict(os.environ, BERTKIT_DTYPE="fp32", HF_HUB_OFFLINE="1")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["서울", "Sylvain", "False", "False"]
