"""Real Chromium driven by Playwright against the live test server.

Debian's chromium is used (Playwright's own browser download is not available); when it
is missing the browser tests are skipped, unless REQUIRE_BROWSER is set, as CI does, in
which case they fail.
"""

import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))

# Playwright's sync API runs an event loop in this thread; Django then refuses ORM calls
# from it unless told that the test thread is really synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        message = f"no Chromium at {CHROMIUM}: apt-get install chromium"
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser, live_server):
    """Pages in separate browser contexts: one per person, with cookies of their own."""
    contexts = []

    def make():
        context = browser.new_context(base_url=live_server.url)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()


def log_in(page, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")


def prompt_to_rank(*, author, reviewer, text: str):
    """A prompt under a published guideline that `reviewer` has acknowledged, ready for
    comparisons of replies to it to be ranked."""
    from guidelines.services import (
        acknowledgement_create,
        guideline_create,
        version_draft_create,
        version_publish,
    )
    from labeling.services import prompt_create

    guideline = guideline_create(slug="assistant", title="Assistant behaviour")
    version = version_publish(
        version=version_draft_create(
            guideline=guideline, body="# Rank\n", summary="", author=author
        )
    )
    acknowledgement_create(user=reviewer, version=version)
    return prompt_create(
        author=author,
        guideline=guideline,
        require_acknowledgement=False,
        messages=[{"role": "user", "content": text}],
    )
