"""The page in a real browser: Debian's chromium, headless, driven by Playwright, against a live server.

Loads the page, asks a question about a Korean + emoji context, and checks that the highlighted answer is the
API's answer (offsets are code points in the API and UTF-16 units in JS: an emoji before the answer would
shift a naive highlight). Saves a screenshot under the test's tmp dir.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time

import httpx
import pytest

CHROMIUM = os.environ.get("BERTKIT_CHROMIUM", "/usr/bin/chromium")
if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
    pytest.skip(
        f"chromium is not installed at {CHROMIUM} (make install runs apt-get install chromium)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
)

CONTEXT = "🙂 이순신은 1545년 서울 건천동에서 태어났다. John lives in New York City. 😀 He works in Brooklyn."
QUESTION = "이순신은 어디에서 태어났나요?"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server_url(tiny_qa_dir):
    import uvicorn

    from bertkit.server import ServerConfig, create_app

    port = free_port()
    app = create_app(ServerConfig(model=str(tiny_qa_dir), timeout_s=120))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def page(tmp_path):
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"),  # a fresh user-data-dir
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-dev-shm-usage",
            ],
            viewport={"width": 1200, "height": 1000},
        )
        context.set_default_timeout(90_000)
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


def test_ask_a_question_and_see_the_answer_highlighted(server_url, page, tmp_path):
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server_url + "/")
    page.wait_for_selector("body[data-ready=true]")

    page.fill("#qa-context-input", CONTEXT)
    page.fill("#qa-question", QUESTION)
    page.select_option("#qa-topk", "2")
    page.click("#qa-ask")
    mark = page.wait_for_selector('#qa-context mark[data-rank="1"]')

    api = httpx.post(
        f"{server_url}/v1/qa", json={"question": QUESTION, "context": CONTEXT, "top_k": 2}, timeout=60
    )
    expected = api.json()["answers"]
    assert mark.text_content() == expected[0]["answer"] == CONTEXT[expected[0]["start"] : expected[0]["end"]]
    listed = [e.text_content() for e in page.query_selector_all("#qa-answers .answer-text")]
    assert listed == [a["answer"] or "(no answer)" for a in expected]
    assert page.text_content("#qa-context") == CONTEXT  # highlighting never drops or repeats characters

    figure = page.wait_for_selector("#qa-figure img")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=figure)
    shot = tmp_path / "qa-page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert not errors, errors


def test_tokenize_tab_and_unavailable_tasks(server_url, page, tmp_path):
    page.goto(server_url + "/")
    page.wait_for_selector("body[data-ready=true]")
    page.click('nav button[data-tab="tokenize"]')
    page.fill("#tok-text", "안녕하세요 world")
    page.fill("#tok-pair", "")
    page.click("#tok-form button[type=submit]")
    page.wait_for_selector("#tok-table table")
    rows = page.query_selector_all("#tok-table tr")
    windows = httpx.post(f"{server_url}/v1/tokenize", json={"text": "안녕하세요 world"}, timeout=60).json()[
        "windows"
    ]
    assert len(rows) - 1 == sum(len(w["tokens"]) for w in windows)
    page.wait_for_selector("#tok-figure img")

    health = httpx.get(f"{server_url}/health", timeout=30).json()
    for task in ("fill-mask", "nsp", "ner", "attention"):
        offered = health["tasks"][task]
        page.click(f'nav button[data-tab="{task}"]')
        assert page.is_visible("#unavailable") == (not offered)
    page.screenshot(path=str(tmp_path / "tabs.png"), full_page=True)


def test_the_korean_example_asks_the_tutorials_question(server_url, page):
    page.goto(server_url + "/")
    page.wait_for_selector("body[data-ready=true]")
    page.click("#qa-example-ko")
    mark = page.wait_for_selector('#qa-context mark[data-rank="1"]')
    question, context = "철수는 어디에 삽니까?", "철수는 서울에 삽니다. 영희는 부산에 삽니다."
    assert page.input_value("#qa-question") == question
    response = httpx.post(
        f"{server_url}/v1/qa", json={"question": question, "context": context, "top_k": 3}, timeout=60
    ).json()
    expected = response["answers"]
    assert mark.text_content() == expected[0]["answer"]
    assert page.text_content("#qa-context") == context
    assert page.text_content("#qa-model") == f"answered by {response['model']}"  # which model answered
