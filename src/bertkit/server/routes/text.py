"""The text tasks: `POST /v1/tokenize`, `/v1/fill-mask`, `/v1/nsp`, `/v1/ner`, `/v1/embed`, `/v1/attention`.

Each route hands its JSON to one call of the task's library object, on the model thread.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ...encoding import token_table
from ...errors import InputError
from ...tasks.embeddings import cosine_matrix
from ...tasks.ner import NEROptions
from ..errors import ERROR_RESPONSES
from ..schemas import (
    AttentionRequest,
    EmbedRequest,
    FillMaskRequest,
    NERRequest,
    NSPRequest,
    TokenizeRequest,
    TokenizeResponse,
)
from ..worker import WorkerDep

router = APIRouter()


@router.post("/v1/tokenize", response_model=TokenizeResponse, responses=ERROR_RESPONSES)
async def tokenize(body: TokenizeRequest, worker: WorkerDep) -> dict[str, Any]:
    """Tokens, ids, segment ids, offsets, sequence and word ids of each window (the QA model's tokenizer)."""

    def run(tokenizer: Any) -> Any:
        return token_table(tokenizer, body.text, body.pair, body.max_length, body.stride)

    return {"windows": await worker.call("tokenize", run)}


@router.post("/v1/fill-mask", responses=ERROR_RESPONSES)
async def fill_mask(body: FillMaskRequest, worker: WorkerDep) -> dict[str, Any]:
    """Candidates for each mask token: {masks: [[{score, token, token_str, sequence}]]}."""

    def run(filler: Any) -> Any:
        fills = filler.fill_many([body.text], top_k=body.top_k)[0]
        return {"mask_token": filler.mask_token, "masks": [[f.to_dict() for f in m] for m in fills]}

    return await worker.call("fill-mask", run)


@router.post("/v1/nsp", responses=ERROR_RESPONSES)
async def nsp(body: NSPRequest, worker: WorkerDep) -> dict[str, Any]:
    """P(second follows first), or candidates ranked: give exactly one of second and candidates."""
    if (body.second is None) == (body.candidates is None):
        raise InputError("give exactly one of second and candidates")

    def run(predictor: Any) -> Any:
        if body.second is not None:
            return {"is_next": predictor(body.first, body.second)}
        return {"ranked": [c.to_dict() for c in predictor.rank(body.first, list(body.candidates or ()))]}

    return await worker.call("nsp", run)


@router.post("/v1/ner", responses=ERROR_RESPONSES)
async def ner(body: NERRequest, worker: WorkerDep) -> dict[str, Any]:
    """Named entities with character offsets: {entities: [{entity_group, score, word, start, end}]}."""

    def run(tagger: Any) -> Any:
        options = NEROptions(
            aggregation=body.aggregation,
            decoding=body.decoding,
            entity_types=None if body.entity_types is None else tuple(body.entity_types),
        )
        entities = tagger(body.text, options)
        return {"entities": [e.to_dict() for e in entities]}

    return await worker.call("ner", run)


@router.post("/v1/embed", responses=ERROR_RESPONSES)
async def embed(body: EmbedRequest, worker: WorkerDep) -> dict[str, Any]:
    """Sentence embeddings (mean-pooled), optionally with their cosine similarities."""

    def run(embedder: Any) -> Any:
        vectors = embedder.encode(list(body.texts), normalize=body.normalize)
        out = {"dim": int(vectors.shape[1]), "embeddings": vectors.tolist()}
        if body.similarity:
            out["similarity"] = cosine_matrix(vectors).tolist()
        return out

    return await worker.call("embed", run)


@router.post("/v1/attention", responses=ERROR_RESPONSES)
async def attention(body: AttentionRequest, worker: WorkerDep) -> dict[str, Any]:
    """Attention of a layer/head (None: averaged) as [n, n], and with `word` what it attends to."""

    def run(inspector: Any) -> Any:
        return inspector(body.text).to_dict(body.layer, body.head, body.word, body.occurrence)

    return await worker.call("attention", run)
