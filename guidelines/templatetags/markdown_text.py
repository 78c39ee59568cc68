"""`{{ text|markdown }}`: a reply's Markdown, rendered and sanitized by
guidelines.markdown.render_reply (safe to put on a page as it is)."""

from django import template
from django.utils.safestring import SafeString, mark_safe

from guidelines.markdown import render_reply

register = template.Library()


@register.filter
def markdown(text: str) -> SafeString:
    # render_reply sanitizes what it renders: nothing the text says reaches the page
    # as markup it did not allow.
    return mark_safe(render_reply(text or ""))
