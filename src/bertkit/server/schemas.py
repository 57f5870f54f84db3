"""The JSON bodies of the HTTP API: request models (strict, unknown fields rejected) and their limits.

The limits are in the schema, so clients and fuzzers see them, and validation enforces them: a text field
is a non-blank string of at most so many characters, valid Unicode (no lone surrogate).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ..checks import surrogate_problem

MAX_QUESTION_CHARS = 1_000
MAX_TEXT_CHARS = 20_000
MAX_PLOT_CHARS = 5_000  # figures of longer texts are unreadable anyway
MAX_BATCH_ITEMS = 64
MAX_TEXTS = 64


def not_blank(value: str) -> str:
    """The value, if it holds something other than whitespace and can be written as UTF-8.

    >>> not_blank(" x ")
    ' x '
    """
    if not value.strip():
        raise ValueError("must not be empty or blank")
    problem = surrogate_problem(value)
    if problem is not None:
        raise ValueError(f"must be valid Unicode text: {problem}")
    return value


# Non-blank strings of at most so many characters (each field says what it holds in its description).
QuestionText = Annotated[str, Field(min_length=1, max_length=MAX_QUESTION_CHARS), AfterValidator(not_blank)]
LongText = Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS), AfterValidator(not_blank)]
PlotText = Annotated[str, Field(min_length=1, max_length=MAX_PLOT_CHARS), AfterValidator(not_blank)]
WordText = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(not_blank)]
TopK = Annotated[int, Field(ge=1, le=20, description="Answers to return.")]
MaxAnswerLen = Annotated[int, Field(ge=1, le=512, description="Longest answer, in tokens.")]
LayerIndex = Annotated[int, Field(ge=-64, le=64)]
Occurrence = Annotated[int, Field(ge=1, le=1000)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class QARequest(Strict):
    question: QuestionText = Field(description="The question.")
    context: LongText = Field(description="The text to answer from (long ones are windowed).")
    top_k: TopK = 1
    max_answer_len: MaxAnswerLen = 30


class AnswerOut(BaseModel):
    answer: str = Field(description="context[start:end]")
    start: int
    end: int
    score: float


class QAResponse(BaseModel):
    answers: list[AnswerOut]
    model: str = Field(description="Which model answered (the default: its name and languages).")


class QABatchRequest(Strict):
    items: Annotated[list[QARequest], Field(min_length=1, max_length=MAX_BATCH_ITEMS)]


class QABatchResponse(BaseModel):
    results: list[QAResponse]


class TokenizeRequest(Strict):
    text: LongText = Field(description="The text (the first sequence).")
    pair: LongText | None = Field(None, description="An optional second sequence.")
    max_length: Annotated[int, Field(ge=2, le=8192, description="Tokens per window.")] | None = None
    stride: Annotated[int, Field(ge=0, le=8192, description="Tokens shared by windows.")] = 0


class TokenizeResponse(BaseModel):
    windows: list[dict[str, Any]]


class FillMaskRequest(Strict):
    text: LongText = Field(description="A text with one or more mask tokens ([MASK] for BERT).")
    top_k: TopK = 5


class NSPRequest(Strict):
    first: LongText = Field(description="The first sentence.")
    second: LongText | None = Field(None, description="The candidate next sentence.")
    candidates: Annotated[list[LongText], Field(min_length=1, max_length=MAX_TEXTS)] | None = None


class NERRequest(Strict):
    text: LongText = Field(description="The text to tag.")
    aggregation: Literal["none", "simple", "first", "average", "max"] = "first"
    decoding: Literal["viterbi", "argmax"] = Field(
        "viterbi", description="viterbi: each text's best valid BIO sequence; argmax: each word's own best."
    )
    entity_types: list[str] | None = Field(None, description="Tag only these entity types (default: all).")


class EmbedRequest(Strict):
    texts: Annotated[list[LongText], Field(min_length=1, max_length=MAX_TEXTS, description="Texts.")]
    normalize: bool = True
    similarity: bool = Field(False, description="Also return the cosine similarity matrix.")


class AttentionRequest(Strict):
    text: PlotText = Field(description="The text (one model input).")
    layer: LayerIndex | None = Field(None, description="None: mean over layers.")
    head: LayerIndex | None = Field(None, description="None: mean over heads.")
    word: WordText | None = Field(None, description="Also say what this word attends to.")
    occurrence: Occurrence = 1


class PlotAttentionRequest(Strict):
    text: PlotText = Field(description="The text (one model input).")
    layer: LayerIndex = -1
    head: LayerIndex = 0


class PlotAttendsToRequest(Strict):
    text: PlotText = Field(description="The text (one model input).")
    word: WordText = Field(description="The word whose attention is drawn.")
    occurrence: Occurrence = 1
    layer: LayerIndex | None = -1
    head: LayerIndex | None = None


class PlotQARequest(Strict):
    question: QuestionText = Field(description="The question.")
    context: PlotText = Field(description="The text to answer from.")
    max_answer_len: MaxAnswerLen = 30


class PlotTextRequest(Strict):
    text: PlotText = Field(description="The text.")
    pair: PlotText | None = Field(None, description="An optional second sequence.")
