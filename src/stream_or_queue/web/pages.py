"""The HTML pages: `/` (ask), `POST /ask` -> `303` to `/r/{id}`, and the permalink.

The permalink shows progress while the job runs and the answer with its sources
when it is done; it works with no JavaScript (the page reloads) and with it (SSE,
or polling with `?transport=poll`).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from .. import config
from . import jobs
from .schemas import QuestionIn
from .state import State

__all__ = ["router"]

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def index(request: Request, state: State) -> HTMLResponse:
    return state.templates.TemplateResponse(
        request,
        "index.html",
        {"question": "", "error": None, "limit": config.WEB_QUESTION_MAX_CHARS},
    )


@router.post("/ask", response_class=HTMLResponse, response_model=None)
async def ask(request: Request, state: State) -> HTMLResponse | RedirectResponse:
    form = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=10)
    raw = (form.get("question") or [""])[0]
    try:
        question = QuestionIn(question=raw).question
    except ValidationError as exc:
        message = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        return state.templates.TemplateResponse(
            request,
            "index.html",
            {
                "question": raw[: config.WEB_QUESTION_MAX_CHARS * 2],
                "error": message,
                "limit": config.WEB_QUESTION_MAX_CHARS,
            },
            status_code=422,
        )
    # the form is what a person uses: their job runs on the human clock (real time)
    job = await run_in_threadpool(
        jobs.submit,
        question,
        queue=state.queue,
        job=state.job,
        time_scale=config.human_time_scale(),
    )
    return RedirectResponse(f"/r/{job.id}", status_code=303)


@router.get("/r/{job_id}", response_class=HTMLResponse)
def permalink(
    request: Request, job_id: str, state: State, transport: Annotated[str | None, Query()] = None
) -> HTMLResponse:
    view = jobs.job_view(state.connection, job_id)
    if view is None:
        return state.templates.TemplateResponse(request, "missing.html", {}, status_code=404)
    result = view.get("result") or {}
    paragraphs = [p.strip() for p in str(result.get("answer", "")).split("\n\n") if p.strip()]
    response = state.templates.TemplateResponse(
        request,
        "job.html",
        {
            "view": view,
            "paragraphs": paragraphs,
            "sources": list(result.get("sources") or []),
            "transport": "poll" if transport == "poll" else "sse",
        },
    )
    response.headers["Cache-Control"] = "no-store"
    return response
