"""Checks of arguments, written once: each returns the value it accepts or raises an `InputError` naming the
argument, so the Python API, the CLI and the server refuse the same things in the same words.

    require_text     a non-blank `str` that is valid Unicode (no lone surrogate)
    require_texts    a list or tuple of such strings (one string is not taken as a list of characters)
    require_count    an integer (not a bool, not a float) within bounds (`is_integer`: the test alone)
    require_number   a finite real number (not a bool, not a string) within bounds
    require_flag     True or False
    require_choice   one of a few strings

A lone surrogate is what the text of invalid UTF-8 becomes: Python decodes a command-line byte 0xff as
"\\udcff", and JSON may spell "\\ud800" outright. The tokenizers refuse such text with a bare TypeError:

>>> require_text("caf\\udce9", "question")
Traceback (most recent call last):
bertkit.errors.InputError: question is not valid Unicode: character 3 is a lone surrogate (U+DCE9; on a command line, a byte that is not UTF-8)
>>> require_count(True, "top_k")
Traceback (most recent call last):
bertkit.errors.InputError: top_k must be an integer >= 1, got True
>>> require_number(float("nan"), "null_threshold")
Traceback (most recent call last):
bertkit.errors.InputError: null_threshold must be a finite number, got nan
"""  # noqa: E501

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import InputError

SURROGATE = re.compile("[\ud800-\udfff]")


def surrogate_problem(text: str) -> str | None:
    """Where `text` stops being valid Unicode (its first lone surrogate), in words; None when it is valid.

    >>> surrogate_problem("ok"), surrogate_problem("a\\ud800")
    (None, 'character 1 is a lone surrogate (U+D800; on a command line, a byte that is not UTF-8)')
    """
    found = SURROGATE.search(text)
    if found is None:
        return None
    return (
        f"character {found.start()} is a lone surrogate (U+{ord(found.group()):04X}; on a command line, "
        "a byte that is not UTF-8)"
    )


def require_text(value: Any, what: str) -> str:
    """`value` if it is a string with something other than whitespace, valid Unicode; else an `InputError`.

    Args:
        value: the text.
        what: its name in the message ("question", "the first sentence").
    """
    if not isinstance(value, str):
        raise InputError(f"{what} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise InputError(f"{what} is empty")
    problem = surrogate_problem(value)
    if problem is not None:
        raise InputError(f"{what} is not valid Unicode: {problem}")
    return value


def require_texts(values: Any, what: str, item: str = "text") -> list[str]:
    """`values` as a list, if it is a list or tuple of texts (`require_text` each); else an `InputError`.

    Args:
        values: the texts.
        what: the name of the list ("texts", "questions").
        item: the name of one of them in messages; with several, its position comes first ("text 2 of 3:
            text is empty").

    >>> require_texts("Dogs bark.", "texts")
    Traceback (most recent call last):
    bertkit.errors.InputError: texts must be a list of strings, got one string (put it in a list: ['Dogs bark.'])
    """  # noqa: E501
    if isinstance(values, str):
        shown = values if len(values) <= 40 else values[:37] + "..."
        raise InputError(f"{what} must be a list of strings, got one string (put it in a list: [{shown!r}])")
    if not isinstance(values, (list, tuple)):
        raise InputError(f"{what} must be a list of strings, got {type(values).__name__}")
    for i, value in enumerate(values):
        try:
            require_text(value, item)
        except InputError as error:
            if len(values) == 1:
                raise
            raise InputError(f"{item} {i + 1} of {len(values)}: {error}") from None
    return list(values)


def is_integer(value: Any) -> bool:
    """Whether `value` is an integer (numpy's too) and not a bool: True is not the count 1.

    >>> is_integer(3), is_integer(np.int64(3)), is_integer(True), is_integer(3.0)
    (True, True, False, False)
    """
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def require_count(value: Any, what: str, minimum: int = 1, maximum: int | None = None) -> int:
    """`value` as an int, if it is an integer (not a bool) from `minimum` to `maximum`; else an `InputError`.

    >>> require_count(0, "stride", minimum=0)
    0
    >>> require_count(70, "max_answer_len", maximum=64)
    Traceback (most recent call last):
    bertkit.errors.InputError: max_answer_len must be an integer from 1 to 64, got 70
    """
    wanted = f"an integer >= {minimum}" if maximum is None else f"an integer from {minimum} to {maximum}"
    if not is_integer(value) or value < minimum or (maximum is not None and value > maximum):
        raise InputError(f"{what} must be {wanted}, got {value!r}")
    return int(value)


def require_number(
    value: Any, what: str, minimum: float | None = None, maximum: float | None = None
) -> float:
    """`value` as a float, if it is a finite real number (not a bool) within the bounds; else an `InputError`.

    >>> require_number(1, "lr", minimum=0.0)
    1.0
    >>> require_number("0", "null_threshold")
    Traceback (most recent call last):
    bertkit.errors.InputError: null_threshold must be a finite number, got '0'
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise InputError(f"{what} must be a finite number, got {value!r}")
    number = float(value)
    if minimum is not None and number < minimum:
        raise InputError(f"{what} must be >= {minimum}, got {value!r}")
    if maximum is not None and number > maximum:
        raise InputError(f"{what} must be <= {maximum}, got {value!r}")
    return number


def require_fraction(value: Any, what: str) -> float:
    """`value` as a float in [0, 1) (a ratio or a dropout probability); else an `InputError`.

    >>> require_fraction(1.5, "attention_dropout")
    Traceback (most recent call last):
    bertkit.errors.InputError: attention_dropout must be in [0, 1), got 1.5
    """
    number = require_number(value, what)
    if not 0.0 <= number < 1.0:
        raise InputError(f"{what} must be in [0, 1), got {value}")
    return number


def require_flag(value: Any, what: str) -> bool:
    """`value` if it is True or False (numpy's too); else an `InputError` (a string "no" is not False).

    >>> require_flag("yes", "handle_impossible_answer")
    Traceback (most recent call last):
    bertkit.errors.InputError: handle_impossible_answer must be True or False, got 'yes'
    """
    if not isinstance(value, (bool, np.bool_)):
        raise InputError(f"{what} must be True or False, got {value!r}")
    return bool(value)


def require_choice(value: Any, what: str, choices: Sequence[str]) -> str:
    """`value` if it is one of `choices`; else an `InputError` that lists them.

    >>> require_choice("avg", "aggregation", ("first", "average"))
    Traceback (most recent call last):
    bertkit.errors.InputError: aggregation must be one of first, average, got 'avg'
    """
    if not isinstance(value, str) or value not in choices:
        raise InputError(f"{what} must be one of {', '.join(choices)}, got {value!r}")
    return value
