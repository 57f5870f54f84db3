"""Every error as JSON `{"error": "..."}` in one line: validation errors worded, statuses mapped once.

400 malformed JSON, 404/405 unknown route or method, 413 body too large, 415 a body not sent as JSON
(Content-Type), 422 missing/empty/wrong-typed/too long fields or input the model cannot take (a `BertkitError` gets its `http_status`: 503 for a model that
cannot load), 503 queue full, 504 request timed out, 500 anything else (a bug).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from ..errors import BertkitError


class Busy(Exception):
    """The queue is full (503, with Retry-After); the message says how many requests are waiting."""


class ErrorBody(BaseModel):
    error: str = Field(description="What is wrong, in one line.")


# The error responses each endpoint documents in the OpenAPI schema.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": what}
    for code, what in (
        (400, "Malformed JSON."),
        (413, "Body too large."),
        (415, "The body was not sent as JSON (Content-Type: application/json)."),
        (422, "Missing, empty, wrong-typed or too long fields, or input the model cannot take."),
        (503, "Too many queued requests."),
        (504, "The request timed out."),
    )
}

TYPE_NAMES = {"int": "an integer", "string": "a string", "bool": "true or false", "list": "a list"}


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def describe_validation(errors: list[dict[str, Any]]) -> tuple[int, str]:
    """pydantic's errors → (status, one line naming the field and the problem), from the first three.

    >>> describe_validation([{"type": "missing", "loc": ("body", "context")}])
    (422, 'context is required')
    >>> describe_validation([{"type": "int_type", "loc": ("body", "items", 0, "top_k")}])
    (422, 'items.0.top_k must be an integer')
    """
    messages = []
    for e in errors[:3]:
        loc = [str(x) for x in e.get("loc", ()) if x != "body"]
        whole_body = body_problem(e, loc)
        if whole_body is not None:
            return whole_body
        messages.append(f"{'.'.join(loc) or 'body'} {field_problem(e, loc)}")
    return 422, "; ".join(messages)


def body_problem(e: dict[str, Any], loc: list[str]) -> tuple[int, str] | None:
    """(status, message) when the error is about the body as a whole: not JSON, empty, not an object."""
    kind = e.get("type", "")
    if kind == "json_invalid":
        detail = (e.get("ctx") or {}).get("error", "")
        return 400, f"malformed JSON: {detail}".rstrip(": ")
    if kind == "missing" and loc == [] and e.get("loc", ())[:1] == ("body",):
        return 422, "the body is empty: send a JSON object"
    if kind in ("model_attributes_type", "dict_type", "model_type") and not loc:
        return 422, "the body must be a JSON object"
    return None


def field_problem(e: dict[str, Any], loc: list[str]) -> str:
    """What is wrong with one field, worded to follow its name: "is required", "must be an integer"."""
    kind = e.get("type", "")
    ctx = e.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known field" + (
            " (models are chosen when the server starts)" if loc[-1:] == ["model"] else ""
        )
    if kind == "string_unicode":
        return "must be valid Unicode text"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"is too long: {len(e.get('input') or '')} characters, at most {ctx.get('max_length')}"
    if kind in ("too_short", "too_long"):
        return str(e.get("msg", "has the wrong number of items")).lower()
    if kind.endswith("_type") or kind.endswith("_parsing"):
        expected = kind.removesuffix("_type").removesuffix("_parsing")
        return f"must be {TYPE_NAMES.get(expected, f'of type {expected}')}"
    text = str(e.get("msg", "is not valid")).removeprefix("Value error, ")
    if text.startswith("Input should be"):  # "Input should be less than or equal to 64"
        text = "must be" + text.removeprefix("Input should be")
    return text[0].lower() + text[1:] if text else "is not valid"


def is_json_type(content_type: str) -> bool:
    """Whether a Content-Type header says JSON, as FastAPI decides it before parsing a body.

    >>> is_json_type("application/json; charset=utf-8"), is_json_type("text/plain"), is_json_type("")
    (True, False, False)
    """
    media = content_type.split(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    content_type = request.headers.get("content-type", "")
    whole_body = any(tuple(e.get("loc", ())) == ("body",) for e in exc.errors())
    if whole_body and not is_json_type(content_type) and request.method == "POST":
        # FastAPI hands a body of another type to validation as bytes: say what to send instead.
        got = f"Content-Type {content_type}" if content_type else "no Content-Type"
        return error(415, f"send the body as JSON with Content-Type: application/json (got {got})")
    return error(*describe_validation(list(exc.errors())))


async def on_http(request: Request, exc: HTTPException) -> JSONResponse:
    if exc.status_code == 404:
        return error(404, f"not found: {request.url.path}")
    if exc.status_code == 405:
        return error(405, f"method {request.method} not allowed on {request.url.path}")
    if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
        return error(400, "malformed JSON: the body is not UTF-8 JSON text, or is nested too deeply")
    return error(exc.status_code, str(exc.detail))


async def on_bertkit(request: Request, exc: BertkitError) -> JSONResponse:
    return error(exc.http_status, str(exc))


async def on_busy(request: Request, exc: Busy) -> JSONResponse:
    response = error(503, str(exc))
    response.headers["Retry-After"] = "1"
    return response


async def on_any(request: Request, exc: Exception) -> JSONResponse:
    return error(500, f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}")


def add_error_handlers(app: FastAPI) -> None:
    """Answer every error of `app` as `{"error": "..."}` with its status."""
    app.exception_handler(RequestValidationError)(on_validation)
    app.exception_handler(HTTPException)(on_http)
    app.exception_handler(BertkitError)(on_bertkit)
    app.exception_handler(Busy)(on_busy)
    app.exception_handler(Exception)(on_any)
