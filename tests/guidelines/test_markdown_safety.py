"""Stored XSS: whatever an admin writes, the rendered guideline runs no script."""

import re
from html.parser import HTMLParser

import pytest

from guidelines.markdown import render_markdown
from guidelines.services import version_draft_create, version_publish

PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    '<img src=x onerror="alert(1)">',
    "<svg onload=alert(1)><circle r=10 /></svg>",
    "<svg><script>alert(1)</script></svg>",
    '<a href="javascript:alert(1)">click</a>',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](  javascript:alert(1))",
    "[click](&#106;avascript:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](javascript:alert(1))",
    '![x](x" onerror="alert(1))',
    "<iframe src=javascript:alert(1)></iframe>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    "<body onload=alert(1)>",
    "<details open ontoggle=alert(1)>",
    '<form action="javascript:alert(1)"><button>go</button></form>',
    "<math><mi xlink:href=javascript:alert(1)>x</mi></math>",
    '<object data="javascript:alert(1)"></object>',
    "[a](vbscript:msgbox(1))",
]

ACTIVE_TAGS = {
    "script",
    "iframe",
    "object",
    "embed",
    "svg",
    "math",
    "form",
    "body",
    "style",
    "base",
    "link",
    "meta",
}
URL_ATTRIBUTES = {"href", "src", "action", "data", "formaction", "xlink:href", "style"}


class ActiveContent(HTMLParser):
    """Collects what a browser would run: elements, not text that merely looks like them."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ACTIVE_TAGS:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            cleaned = re.sub(r"[\s\x00-\x1f]", "", value or "").lower()
            if name.startswith("on"):
                self.found.append(f"{tag}[{name}]")
            elif name in URL_ATTRIBUTES and re.search(r"(javascript|vbscript|data):", cleaned):
                self.found.append(f"{tag}[{name}={value}]")


def active_content(html: str) -> list[str]:
    parser = ActiveContent()
    parser.feed(html)
    return parser.found


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_payload_renders_inert(payload):
    html = render_markdown(f"# Title\n\n{payload}\n\nafter")

    assert active_content(html) == [], html
    assert "after" in html


@pytest.mark.parametrize("payload", PAYLOADS[:6])
def test_the_payload_stored_in_a_published_version_is_inert_on_its_page(
    client, alice, carol, guideline, payload
):
    version = version_draft_create(guideline=guideline, body=payload, summary="", author=carol)
    version_publish(version=version)
    client.force_login(alice)

    page = client.get("/guidelines/assistant/").content.decode()
    body = page.split('id="guideline-body">', 1)[1].split("</article>", 1)[0]

    assert active_content(body) == [], body


def test_the_checker_itself_sees_active_content():
    assert active_content('<img src=x onerror="alert(1)"><a href=" JaVa\tscript:x">') == [
        "img[onerror]",
        "a[href= JaVa\tscript:x]",
    ]
    assert active_content("&lt;script&gt;alert(1)&lt;/script&gt;") == []


def test_safe_markdown_keeps_its_structure():
    html = render_markdown(
        "## Refusals & safety\n\n**bold** [docs](https://example.org) `code`\n\n"
        "| a | b |\n|:-|-:|\n| 1 | 2 |"
    )

    assert '<h2 id="refusals-safety">' in html
    assert "<strong>bold</strong>" in html
    assert 'href="https://example.org"' in html
    assert "<code>code</code>" in html
    assert '<td style="text-align:right">2</td>' in html


def test_any_user_previews_markdown_rendered_and_sanitized(api, alice):
    api.force_authenticate(alice)

    response = api.post(
        "/api/guidelines/preview/", {"body": "## Refusals\n<script>x</script>"}, format="json"
    )

    html = response.json()["html"]
    assert response.status_code == 200
    assert '<h2 id="refusals">Refusals</h2>' in html
    assert active_content(html) == []
    from guidelines.markdown import render_reply

    html = render_reply("# Content\n\n## submit-form\n\n![tracker](http://elsewhere/x.png) **ok**")

    assert "<h1>Content</h1>" in html and "<h2>submit-form</h2>" in html
    assert "id=" not in html and "<img" not in html
    assert "<strong>ok</strong>" in html
