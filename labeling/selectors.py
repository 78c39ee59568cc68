from collections.abc import Mapping

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from labeling.models import Demonstration, Prompt


def prompt_list(*, filters: Mapping[str, str]) -> QuerySet[Prompt]:
    prompts = Prompt.objects.select_related("guideline", "guideline_version").order_by("-id")
    for field in ("category", "language", "source", "sensitive_category"):
        if field in filters:
            prompts = prompts.filter(**{field: filters[field]})
    if "guideline" in filters:
        prompts = prompts.filter(guideline__slug=filters["guideline"])
    return prompts


def demonstrations_of_author(*, author: AbstractBaseUser) -> QuerySet[Demonstration]:
    return (
        Demonstration.objects.filter(author=author)
        .select_related("guideline_version")
        .order_by("-id")
    )
