from django import template

from guidelines.models import GuidelineVersion

register = template.Library()


@register.inclusion_tag("guidelines/_panel.html")
def guideline_panel(version: GuidelineVersion) -> dict[str, object]:
    """The guideline a task is under, in a side panel that Alt+G opens from anywhere."""
    return {"version": version}
