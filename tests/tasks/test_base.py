"""The task base: every task class loads, runs and limits its windows the same way."""

from __future__ import annotations

import pytest

from bertkit import EntityTagger, InputError, QuestionAnswerer
from bertkit.tasks.base import Task


def test_default_window_is_the_preferred_length_or_the_models_limit(tiny_qa):
    assert isinstance(tiny_qa, Task) and tiny_qa.task == "qa"
    assert tiny_qa.default_max_length == min(384, tiny_qa.model.max_length)
    assert tiny_qa.window_length(None) == tiny_qa.default_max_length
    assert tiny_qa.window_length(128) == 128
    positions = tiny_qa.model.module.config.max_position_embeddings
    with pytest.raises(
        InputError, match=f"max_length {positions + 1} exceeds the model's {positions} positions"
    ):
        tiny_qa.window_length(positions + 1)


def test_the_same_model_object_serves_several_tasks(tiny_qa):
    again = QuestionAnswerer(tiny_qa.model, threads=1)
    assert again.model is tiny_qa.model and again.runtime.threads == 1
    assert again("Where?", "In Paris.") == tiny_qa("Where?", "In Paris.")
    assert again.windows_seen == 1


def test_every_task_class_is_a_task():
    from bertkit import AttentionInspector, Embedder, FillMask, NextSentencePredictor

    classes = (QuestionAnswerer, EntityTagger, FillMask, NextSentencePredictor, Embedder, AttentionInspector)
    assert all(issubclass(c, Task) for c in classes)
    assert {c.task for c in classes} == {"qa", "ner", "mlm", "nsp", "base"}


def test_options_change_by_keyword_and_misspelt_names_fail(tiny_qa):
    from bertkit import QAOptions

    context = "John lives in New York City. Mary lives in Paris."
    by_keyword = tiny_qa("Where does John live?", context, top_k=3)
    assert len(by_keyword) == 3
    assert by_keyword == tiny_qa("Where does John live?", context, QAOptions(top_k=3))
    assert len(tiny_qa("Where does John live?", context, QAOptions(top_k=3), top_k=2)) == 2
    with pytest.raises(TypeError, match="top_kk"):
        tiny_qa("Where does John live?", context, top_kk=3)
