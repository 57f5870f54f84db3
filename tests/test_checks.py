"""The argument checks shared by the API, the CLI and the server: what each accepts, and the words of each
refusal (issue 15, findings 4, 10 and 11)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from bertkit.checks import (
    is_integer,
    require_choice,
    require_count,
    require_flag,
    require_number,
    require_text,
    require_texts,
    surrogate_problem,
)
from bertkit.errors import InputError


def test_text_is_a_non_blank_valid_unicode_string():
    assert require_text(" x ", "question") == " x "
    assert require_text("이순신 🙂 e\u0301", "context") == "이순신 🙂 e\u0301"
    for value, message in [
        (None, "question must be a string, got NoneType"),
        (b"bytes", "question must be a string, got bytes"),
        (" \n\t", "question is empty"),
        ("ab\ud800", "question is not valid Unicode: character 2 is a lone surrogate (U+D800"),
        ("\udcff", "character 0 is a lone surrogate (U+DCFF; on a command line, a byte that is not UTF-8)"),
    ]:
        with pytest.raises(InputError, match=re.escape(message)):
            require_text(value, "question")
    assert surrogate_problem("fine 🙂") is None


def test_texts_are_a_list_never_one_string_taken_as_characters():
    assert require_texts(("a", "b"), "texts") == ["a", "b"]
    assert require_texts([], "texts") == []
    with pytest.raises(
        InputError, match=r"questions must be a list of strings, got one string \(put it in a list"
    ):
        require_texts("Who?", "questions", "question")
    with pytest.raises(InputError, match="texts must be a list of strings, got NoneType"):
        require_texts(None, "texts")
    with pytest.raises(InputError, match="^text is empty$"):
        require_texts([" "], "texts")
    with pytest.raises(InputError, match="^text 2 of 2: text is not valid Unicode"):
        require_texts(["fine", "\ud800"], "texts")


@pytest.mark.parametrize("value", [True, False, 2.5, 2.0, "3", None, math.inf, math.nan, np.float64(2)])
def test_counts_are_integers_not_bools_floats_or_strings(value):
    with pytest.raises(InputError, match=re.escape(f"top_k must be an integer >= 1, got {value!r}")):
        require_count(value, "top_k")


def test_counts_within_bounds():
    assert require_count(np.int64(3), "top_k") == 3 and type(require_count(np.int64(3), "top_k")) is int
    assert require_count(0, "stride", minimum=0) == 0
    with pytest.raises(InputError, match="stride must be an integer >= 0, got -1"):
        require_count(-1, "stride", minimum=0)
    with pytest.raises(InputError, match="--port must be an integer from 0 to 65535, got 99999"):
        require_count(99999, "--port", minimum=0, maximum=65535)
    assert [is_integer(v) for v in (1, np.int32(1), True, np.bool_(True), 1.0)] == [
        True,
        True,
        False,
        False,
        False,
    ]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "0", None, True, np.float64("nan")])
def test_numbers_are_finite_reals(value):
    with pytest.raises(InputError, match="null_threshold must be a finite number"):
        require_number(value, "null_threshold")


def test_numbers_within_bounds_and_flags_and_choices():
    assert require_number(np.float32(0.5), "x") == 0.5 and require_number(-3, "x") == -3.0
    with pytest.raises(InputError, match="batch_window_ms must be >= 0.0, got -5"):
        require_number(-5, "batch_window_ms", minimum=0.0)
    with pytest.raises(InputError, match="warmup must be <= 1, got 2"):
        require_number(2, "warmup", maximum=1)
    assert require_flag(np.bool_(True), "f") is True and require_flag(False, "f") is False
    for value in ("yes", 1, None):
        with pytest.raises(InputError, match="handle_impossible_answer must be True or False"):
            require_flag(value, "handle_impossible_answer")
    assert require_choice("odds", "scoring", ("odds", "pipeline")) == "odds"
    with pytest.raises(InputError, match="scoring must be one of odds, pipeline, got 3"):
        require_choice(3, "scoring", ("odds", "pipeline"))
