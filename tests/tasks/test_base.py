"""The task base: every task class loads, runs and limits its windows the same way."""

from __future__ import annotations

import math
import re

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


# --- every failure a user can cause is an InputError (issue 15, findings 4, 10 and 11) ---------------------

CLASS_NAMES = (
    "QuestionAnswerer",
    "EntityTagger",
    "FillMask",
    "NextSentencePredictor",
    "Embedder",
    "AttentionInspector",
)
NO_TASKS = dict.fromkeys(CLASS_NAMES)  # enough to list the calls by name (their lambdas are never run)
SURROGATE = "a\ud800"  # what a lone surrogate in JSON, or a byte 0xff on a command line, becomes


@pytest.fixture(scope="module")
def tasks(tiny_qa_dir):
    """Every task class on the tiny QA model (heads it lacks start random: these tests check arguments)."""
    from bertkit import AttentionInspector, Embedder, FillMask, NextSentencePredictor

    classes = (QuestionAnswerer, EntityTagger, FillMask, NextSentencePredictor, Embedder, AttentionInspector)
    return {c.__name__: c(str(tiny_qa_dir)) for c in classes}


def text_calls(tasks, text):
    """One call of each task's public methods with `text` where a text goes, by name."""
    qa, ner, fill = tasks["QuestionAnswerer"], tasks["EntityTagger"], tasks["FillMask"]
    nsp, embed, attention = tasks["NextSentencePredictor"], tasks["Embedder"], tasks["AttentionInspector"]
    return {
        "qa question": lambda: qa(text, "John lives in Paris."),
        "qa context": lambda: qa("Who?", text),
        "qa explain": lambda: qa.explain("Who?", text),
        "qa answer_many": lambda: qa.answer_many(["Who?"], [text]),
        "qa stream": lambda: list(qa.stream([("1", "Who?", text)])),
        "ner": lambda: ner(text),
        "fill-mask": lambda: fill(f"[MASK] {text}"),
        "nsp": lambda: nsp("A sentence.", text),
        "nsp rank": lambda: nsp.rank(text, ["B."]),
        "embed": lambda: embed.encode([text]),
        "embed word in text": lambda: embed.word_vectors([f"apple {text}"], "apple"),
        "embed word": lambda: embed.word_vector("apple pie", text),
        "attention": lambda: attention(text),
        "attention word": lambda: attention("apple pie").attends_to(text),
    }


TEXT_CALLS = tuple(text_calls(NO_TASKS, ""))  # the names only


@pytest.mark.parametrize("where", TEXT_CALLS)
def test_a_lone_surrogate_is_an_input_error_naming_the_field(tasks, where):
    with pytest.raises(InputError, match="is not valid Unicode: character .* is a lone surrogate"):
        text_calls(tasks, SURROGATE)[where]()


def bad_calls(tasks):
    """(call, message) of arguments of the wrong type or out of range, in every task class."""
    qa, ner, fill = tasks["QuestionAnswerer"], tasks["EntityTagger"], tasks["FillMask"]
    nsp, embed, attention = tasks["NextSentencePredictor"], tasks["Embedder"], tasks["AttentionInspector"]
    c = "John lives in New York City."
    return {
        "answer_many strings": (
            lambda: qa.answer_many("Who?", "Dogs"),
            "questions must be a list of strings",
        ),
        "answer_many None": (lambda: qa.answer_many(["Who?"], None), "contexts must be a list of strings"),
        "qa top_k 2.5": (lambda: qa("Who?", c, top_k=2.5), "top_k must be an integer >= 1, got 2.5"),
        "qa top_k True": (lambda: qa("Who?", c, top_k=True), "top_k must be an integer >= 1, got True"),
        "qa null_threshold '0'": (
            lambda: qa("Who?", c, null_threshold="0"),
            "null_threshold must be a finite",
        ),
        "qa null_threshold nan": (lambda: qa("Who?", c, null_threshold=math.nan), "must be a finite number"),
        "qa null_threshold inf": (lambda: qa("Who?", c, null_threshold=math.inf), "must be a finite number"),
        "qa max_answer_len inf": (lambda: qa("Who?", c, max_answer_len=math.inf), "max_answer_len must be"),
        "qa max_length 0": (lambda: qa("Who?", c, max_length=0), "max_length must be an integer >= 2"),
        "qa flag": (lambda: qa("Who?", c, handle_impossible_answer="no"), "must be True or False"),
        "qa options dict": (lambda: qa("Who?", c, {"top_k": 2}), "options must be a QAOptions, got dict"),
        "qa stream chunk": (lambda: list(qa.stream([], chunk_size=0)), "chunk_size must be an integer >= 1"),
        "qa stream item": (lambda: list(qa.stream(["abc"])), "example 1 must be an (id, question, context)"),
        "ner texts None": (lambda: ner.tag_many(None), "texts must be a list of strings, got NoneType"),
        "ner one string": (lambda: ner.tag_many("Paris"), "texts must be a list of strings, got one string"),
        "ner stride True": (lambda: ner("Paris.", stride=True), "stride must be an integer >= 0, got True"),
        "ner ignore_labels": (lambda: ner("Paris.", ignore_labels="LOC"), "ignore_labels must be a list"),
        "fill top_k True": (lambda: fill("[MASK] is.", top_k=True), "top_k must be an integer >= 1"),
        "fill one string": (lambda: fill.fill_many("[MASK] is."), "texts must be a list of strings"),
        "nsp strings": (lambda: nsp.score("ab", "cd"), "firsts must be a list of strings"),
        "nsp None": (lambda: nsp.score(None, None), "firsts must be a list of strings"),
        "nsp rank string": (lambda: nsp.rank("a", "bc"), "candidates must be a list of strings"),
        "encode None": (lambda: embed.encode(None), "texts must be a list of strings, got NoneType"),
        "encode string": (lambda: embed.encode("a text"), "texts must be a list of strings, got one string"),
        "similarity None": (lambda: embed.similarity(None), "texts must be a list of strings"),
        "occurrence 0": (lambda: embed.word_vectors(["apple"], "apple", occurrence=0), "occurrence must be"),
        "occurrence True": (lambda: embed.word_vectors(["apple"], "apple", occurrence=True), "occurrence"),
        "layer True": (lambda: embed.word_vectors(["apple"], "apple", layers=[True]), "layer True does not"),
        "layers str": (lambda: embed.word_vectors(["apple"], "apple", layers="1"), "layers must be a list"),
        "attention layer True": (lambda: attention("apple").select(layer=True), "layer True does not exist"),
        "attention one string": (lambda: attention.weights_many("a text"), "texts must be a list of strings"),
    }


BAD_CALLS = tuple(bad_calls(NO_TASKS))  # the names only


@pytest.mark.parametrize("case", BAD_CALLS)
def test_wrong_types_and_numbers_out_of_range_are_input_errors(tasks, case):
    call, message = bad_calls(tasks)[case]
    with pytest.raises(InputError, match=re.escape(message)):
        call()


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda m: QuestionAnswerer(m, threads=-1), "threads must be an integer >= 1, got -1"),
        (lambda m: QuestionAnswerer(m, threads=2.5), "threads must be an integer >= 1, got 2.5"),
        (lambda m: QuestionAnswerer(m, max_tokens=0), "max_tokens must be an integer >= 1, got 0"),
        (lambda m: QuestionAnswerer(m, max_tokens=True), "max_tokens must be an integer >= 1, got True"),
        (lambda m: QuestionAnswerer(123), "model must be a directory, a Hub id or None"),
        (
            lambda m: EntityTagger(""),
            "model must be a directory, a Hub id or None (the embedded default), got an",
        ),
        (lambda m: __import__("bertkit").Embedder(m, max_length=-1), "max_length must be an integer >= 2"),
        (lambda m: __import__("bertkit").load(m.name, task="nope"), "task must be one of qa, mlm"),
        (lambda m: __import__("bertkit").load_tokenizer(3.5), "model must be a directory"),
    ],
)
def test_task_constructors_check_their_arguments(tiny_qa, make, message):
    with pytest.raises(InputError, match=re.escape(message)):
        make(tiny_qa.model)


def test_options_are_checked_when_made():
    from bertkit import NEROptions, QAOptions

    for changes, message in [
        ({"top_k": None}, "top_k must be an integer >= 1, got None"),
        ({"stride": -1}, "stride must be an integer >= 0, got -1"),
        ({"null_threshold": math.nan}, "null_threshold must be a finite number, got nan"),
        ({"scoring": "best"}, "scoring must be one of odds, pipeline, got 'best'"),
    ]:
        with pytest.raises(InputError, match=re.escape(message)):
            QAOptions(**changes)
    assert QAOptions(null_threshold=-2).null_threshold == -2 and QAOptions(max_length=None).max_length is None
    with pytest.raises(InputError, match=re.escape("ignore_labels must hold names (strings), got 1")):
        NEROptions(ignore_labels=[1])
    with pytest.raises(InputError, match="max_length must be an integer >= 2, got 1"):
        NEROptions(max_length=1)
    assert NEROptions(ignore_labels=["O", "MISC"]).ignore_labels == ("O", "MISC")
