"""Guideline Markdown to HTML that is safe to put on any page.

Two layers, because guideline text is written by admins but read by everyone: the parser
escapes raw HTML and refuses dangerous link targets, and the result then goes through an
allow-list sanitizer, so a mistake in either layer alone lets no script through.
"""

import re
import unicodedata

import nh3
from markdown_it import MarkdownIt
from mdit_py_plugins.anchors import anchors_plugin

ALLOWED_TAGS = {
    "a",
    "blockquote",
    "br",
    "code",
    "del",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "li",
    "ol",
    "p",
    "pre",
    "strong",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
    "img",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "h1": {"id"},
    "h2": {"id"},
    "h3": {"id"},
    "h4": {"id"},
    "h5": {"id"},
    "h6": {"id"},
    "th": {"style"},
    "td": {"style"},
    "ol": {"start"},
}


def heading_slug(title: str) -> str:
    """`Refusals & safety` -> `refusals-safety`: the anchor a task cites as `#refusals-safety`."""
    text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-") or "section"


_parser = (
    MarkdownIt("commonmark", {"html": False, "linkify": False})
    .enable(["table", "strikethrough"])
    .use(anchors_plugin, min_level=1, max_level=4, slug_func=heading_slug)
)


def render_markdown(body: str) -> str:
    html = _parser.render(body)
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        # Table alignment is the only inline style markdown-it writes.
        filter_style_properties={"text-align"},
        link_rel="noopener noreferrer nofollow",
    )


# A reply (a demonstration, a draft, a candidate) is shown on pages whose own elements have
# ids: its headings get none, and its images are shown as their text, as a page that
# loaded them would tell an outside server who is reading.
_reply_parser = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(
    ["table", "strikethrough"]
)
REPLY_TAGS = ALLOWED_TAGS - {"img"}
REPLY_ATTRIBUTES = {tag: names for tag, names in ALLOWED_ATTRIBUTES.items() if names != {"id"}}


def render_reply(text: str) -> str:
    """A reply's Markdown as safe HTML, without ids or images (see above)."""
    html = _reply_parser.render(text)
    return nh3.clean(
        html,
        tags=REPLY_TAGS,
        attributes={k: v for k, v in REPLY_ATTRIBUTES.items() if k in REPLY_TAGS},
        url_schemes={"http", "https", "mailto"},
        filter_style_properties={"text-align"},
        link_rel="noopener noreferrer nofollow",
    )
