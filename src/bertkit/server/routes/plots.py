"""Figures: `POST /v1/plot/qa`, `/v1/plot/tokenize`, `/v1/plot/attention`, `/v1/plot/attends-to`,
`/v1/plot/ner` → image/svg+xml or image/png (`?format=`).

The model work runs on the model thread, the drawing (`bertkit.viz`, imported on first use: matplotlib is
slow to import) on the figure thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from ...encoding import token_table
from ...errors import InputError
from ...tasks.qa import QAOptions
from ..errors import ERROR_RESPONSES
from ..schemas import PlotAttendsToRequest, PlotAttentionRequest, PlotQARequest, PlotTextRequest
from ..worker import Worker, WorkerDep

IMAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    200: {"content": {"image/svg+xml": {}, "image/png": {}}, "description": "The figure."},
}
ImageFormat = Annotated[Literal["svg", "png"], Query(description="svg or png.")]
QAFigureKind = Annotated[Literal["tokens", "probabilities", "both"], Query(description="Which picture.")]

router = APIRouter()


async def figure(worker: Worker, draw: Callable[[Any], Any], fmt: str) -> Response:
    """The image of `draw(viz)` (a matplotlib figure), drawn on the figure thread."""
    from ... import viz

    data = await worker.draw(lambda: viz.to_bytes(draw(viz), fmt))
    return Response(data, media_type="image/svg+xml" if fmt == "svg" else "image/png")


@router.post("/v1/plot/qa", responses=IMAGE_RESPONSES, response_class=Response)
async def plot_qa(
    body: PlotQARequest, worker: WorkerDep, format: ImageFormat = "svg", kind: QAFigureKind = "both"
) -> Response:
    """Token segments with the answer outlined, and/or start/end probability bars."""
    options = QAOptions(max_answer_len=body.max_answer_len)
    explained = await worker.call("qa", lambda qa: qa.explain(body.question, body.context, options))

    def draw(viz: Any) -> Any:
        figures = {
            "tokens": viz.token_segments_figure,
            "probabilities": viz.probabilities_figure,
            "both": viz.qa_figure,
        }
        return figures[kind](explained)

    return await figure(worker, draw, format)


@router.post("/v1/plot/tokenize", responses=IMAGE_RESPONSES, response_class=Response)
async def plot_tokenize(body: PlotTextRequest, worker: WorkerDep, format: ImageFormat = "svg") -> Response:
    """Token boxes coloured by sequence (text, pair, special)."""
    windows = await worker.call("tokenize", lambda tokenizer: token_table(tokenizer, body.text, body.pair))
    return await figure(worker, lambda viz: viz.tokens_figure(windows), format)


@router.post("/v1/plot/attention", responses=IMAGE_RESPONSES, response_class=Response)
async def plot_attention(
    body: PlotAttentionRequest, worker: WorkerDep, format: ImageFormat = "svg"
) -> Response:
    """All layers x heads as small maps, and one layer/head large."""
    weights = await worker.call("attention", lambda inspector: inspector(body.text))

    def draw(viz: Any) -> Any:
        return viz.attention_figure(weights.weights, weights.tokens, layer=body.layer, head=body.head)

    return await figure(worker, draw, format)


@router.post("/v1/plot/attends-to", responses=IMAGE_RESPONSES, response_class=Response)
async def plot_attends_to(
    body: PlotAttendsToRequest, worker: WorkerDep, format: ImageFormat = "svg"
) -> Response:
    """Which tokens a word attends to (a layer/head; None averages)."""

    def run(inspector: Any) -> Any:
        weights = inspector(body.text)
        return weights, weights.attends_to(body.word, body.occurrence, body.layer, body.head)

    weights, chosen = await worker.call("attention", run)

    def draw(viz: Any) -> Any:
        return viz.attends_to_figure(
            weights.tokens, chosen.row.tolist(), highlight=chosen.token_indices.tolist(), title=chosen.title
        )

    return await figure(worker, draw, format)


@router.post("/v1/plot/ner", responses=IMAGE_RESPONSES, response_class=Response)
async def plot_ner(body: PlotTextRequest, worker: WorkerDep, format: ImageFormat = "svg") -> Response:
    """The text with its entities highlighted."""
    if body.pair is not None:
        raise InputError("pair is not used by the NER figure")
    entities = await worker.call("ner", lambda tagger: [e.to_dict() for e in tagger(body.text)])
    return await figure(worker, lambda viz: viz.entities_figure(body.text, entities), format)
