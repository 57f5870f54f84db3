"""The web page (`GET /`, its files under /static) and `GET /health`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse

from ..schemas import MAX_PLOT_CHARS, MAX_QUESTION_CHARS, MAX_TEXT_CHARS
from ..worker import WorkerDep

WEB_DIR = Path(__file__).parents[2] / "web"

router = APIRouter()


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(WEB_DIR / "index.html", media_type="text/html; charset=utf-8")


@router.get("/health")
async def health(worker: WorkerDep) -> dict[str, Any]:
    """Liveness, the models, the tasks offered and the QA batching counters."""
    config, models = worker.config, worker.models
    return {
        "status": "ok",
        "model": config.model or "default",
        "task_models": {t: m or "default" for t, m in config.task_models.items()},
        "tasks": models.available(),
        "loaded": sorted(models.loaded),
        "models": models.described(),
        "notes": models.notes(),
        "dtypes": {  # what each loaded model runs in, and why ("auto" picks bf16 where the CPU has bf16 units)
            task: {"dtype": obj.runtime.dtype, "reason": obj.runtime.dtype_reason}
            for task, obj in list(models.loaded.items())
            if hasattr(obj, "runtime")
        },
        "limits": {
            "max_body_bytes": config.max_body_bytes,
            "max_text_chars": MAX_TEXT_CHARS,
            "max_question_chars": MAX_QUESTION_CHARS,
            "max_plot_chars": MAX_PLOT_CHARS,
            "timeout_s": config.timeout_s,
        },
        "qa_batching": dict(worker.stats),
    }
