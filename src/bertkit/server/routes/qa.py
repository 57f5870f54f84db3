"""Extractive QA: `POST /v1/qa` and `POST /v1/qa/batch`, both through the QA batcher (`Worker.answer`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ..errors import ERROR_RESPONSES
from ..schemas import QABatchRequest, QABatchResponse, QARequest, QAResponse
from ..worker import WorkerDep

router = APIRouter()


@router.post("/v1/qa", response_model=QAResponse, responses=ERROR_RESPONSES)
async def qa(body: QARequest, worker: WorkerDep) -> dict[str, Any]:
    """The top answers to a question about a context; `context[start:end] == answer`."""
    answers = (await worker.answer([body]))[0]
    return {"answers": answers, "model": worker.models.get("qa").model.described}


@router.post("/v1/qa/batch", response_model=QABatchResponse, responses=ERROR_RESPONSES)
async def qa_batch(body: QABatchRequest, worker: WorkerDep) -> dict[str, Any]:
    """Many questions at once (batched with whatever else is waiting); one deadline for all of them."""
    found = await worker.answer(body.items)
    model = worker.models.get("qa").model.described
    return {"results": [{"answers": answers, "model": model} for answers in found]}
