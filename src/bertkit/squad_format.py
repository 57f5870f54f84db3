"""SQuAD-format data, walked once: articles → paragraphs → questions, each checked and named by where it is.

Every reader of such files goes through `squad_paragraphs`: QA training and evaluation data
(`training.qa_data`), batch QA (`tasks.qa_batch`) and tokenizer corpora (`corpus`). The shape, shared by
SQuAD v1.1/v2.0, KorQuAD 1.0 and TyDi QA GoldP::

    {"version"?, "data": [{"title"?, "paragraphs": [{"context", "qas": [{"id", "question", ...}]}]}]}

The articles come from `files.squad_articles` (streamed) or from a parsed document's `"data"` list; what a
question must hold beyond being an object is its reader's business. A problem in the shape is one line that
names the file and the place:

>>> list(squad_paragraphs([{"title": "T", "paragraphs": [{"context": 1, "qas": []}]}], "dev.json"))
Traceback (most recent call last):
bertkit.errors.DataError: dev.json: data[0].paragraphs[0]: 'context' must be a string, got a number (not SQuAD format)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .errors import DataError

JSON_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    list: "a list",
    dict: "an object",
    bool: "true or false",
}


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, for messages.

    >>> json_type(None), json_type(True), json_type(1.5), json_type({})
    ('null', 'a boolean', 'a number', 'an object')
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def field_problem(obj: dict[str, Any], key: str, kind: type, *, required: bool = True) -> str | None:
    """Why `obj[key]` is not a JSON value of type `kind` (or is missing while `required`); None when it is.

    >>> field_problem({"answer_start": True}, "answer_start", int)
    "'answer_start' must be an integer, got a boolean"
    """
    if key not in obj:
        return f"missing '{key}'" if required else None
    value = obj[key]
    wrong_bool = isinstance(value, bool) and kind is not bool  # bool is an int to Python, not to JSON
    if not isinstance(value, kind) or wrong_bool:
        return f"'{key}' must be {JSON_TYPE_NAMES[kind]}, got {json_type(value)}"
    return None


def located_error(source: str, where: str, message: str, example_id: str | None = None) -> DataError:
    """`DataError("{source}: {where} (id '...'): {message}")`: the file, the place in it, the example."""
    id_part = "" if example_id is None else f" (id {example_id!r})"
    return DataError(f"{source}: {where}{id_part}: {message}")


def squad_field(
    obj: dict[str, Any], key: str, kind: type, source: str, where: str, default: Any = ...
) -> Any:
    """`obj[key]`, checked to be of JSON type `kind` (`default` when absent, if one is given)."""
    problem = field_problem(obj, key, kind, required=default is ...)
    if problem is not None:
        raise located_error(source, where, f"{problem} (not SQuAD format)")
    return obj.get(key, default)


def _require_object(value: Any, what: str, source: str, where: str) -> None:
    if not isinstance(value, dict):
        raise located_error(
            source, where, f"{what} must be an object, got {json_type(value)} (not SQuAD format)"
        )


@dataclass(frozen=True)
class SquadParagraph:
    """One paragraph of a SQuAD-format file, checked down to its list of questions.

    Args:
        source: the file it came from, for messages.
        where: its place in the file, e.g. `data[0].paragraphs[2]`.
        title: its article's title ("" when the article has none).
        context: the paragraph's text.
        qas: its questions as parsed (not yet checked: see `questions`).
    """

    source: str
    where: str
    title: str
    context: str
    qas: list[Any]

    def questions(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """`(where, qa)` for each question, each checked to be an object: `("data[0].paragraphs[2].qas[1]",
        {"id": ..., "question": ..., ...})`."""
        for index, qa in enumerate(self.qas):
            where = f"{self.where}.qas[{index}]"
            _require_object(qa, "a qa", self.source, where)
            yield where, qa


def squad_paragraphs(articles: Iterable[Any], source: str) -> Iterator[SquadParagraph]:
    """The paragraphs of SQuAD-format `data`, in file order, each checked to have the format's shape.

    Args:
        articles: the `"data"` list, or `files.squad_articles(path)` to stream it.
        source: the file's name, for messages.

    >>> data = [{"title": "Seoul", "paragraphs": [{"context": "서울은 수도이다.", "qas": [{"id": "a"}]}]}]
    >>> [(p.where, p.title, p.context, [where for where, qa in p.questions()]) for p in squad_paragraphs(data, "x")]
    [('data[0].paragraphs[0]', 'Seoul', '서울은 수도이다.', ['data[0].paragraphs[0].qas[0]'])]
    """
    for article_index, article in enumerate(articles):
        where = f"data[{article_index}]"
        _require_object(article, "an article", source, where)
        title = squad_field(article, "title", str, source, where, default="")
        for paragraph_index, paragraph in enumerate(squad_field(article, "paragraphs", list, source, where)):
            paragraph_where = f"{where}.paragraphs[{paragraph_index}]"
            _require_object(paragraph, "a paragraph", source, paragraph_where)
            context = squad_field(paragraph, "context", str, source, paragraph_where)
            qas = squad_field(paragraph, "qas", list, source, paragraph_where)
            yield SquadParagraph(source, paragraph_where, title, context, qas)
