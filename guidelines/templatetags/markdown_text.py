"""`{{ text|markdown }}`: a reply's Markdown as the labeler's preview shows it, rendered
and sanitized by guidelines.markdown (safe to put on a page as it is)."""

from django import template
from django.utils.safestring import SafeString, mark_safe

from guidelines.markdown import render_markdown

register = template.Library()


@register.filter
def markdown(text: str) -> SafeString:
    # render_markdown sanitizes what it renders: nothing the text says reaches the page
    # as markup it did not allow.
    return mark_safe(render_markdown(text or ""))
