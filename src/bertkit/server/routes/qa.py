"""Extractive QA: `POST /v1/qa` and `POST /v1/qa/batch`, both through the micro-batcher."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter

from ..errors import ERROR_RESPONSES
from ..schemas import QABatchRequest, QABatchResponse, QARequest, QAResponse
from ..worker import WorkerDep

router = APIRouter()


@router.post("/v1/qa", response_model=QAResponse, responses=ERROR_RESPONSES)
async def qa(body: QARequest, worker: WorkerDep) -> dict[str, Any]:
    """The top answers to a question about a context; `context[start:end] == answer`."""
    return {"answers": await worker.answer(body)}


@router.post("/v1/qa/batch", response_model=QABatchResponse, responses=ERROR_RESPONSES)
async def qa_batch(body: QABatchRequest, worker: WorkerDep) -> dict[str, Any]:
    """Many questions at once (batched with whatever else is waiting)."""
    results = await asyncio.gather(*(worker.answer(item) for item in body.items))
    return {"results": [{"answers": answers} for answers in results]}
