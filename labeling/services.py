import hashlib
import json

from django.contrib.auth.models import AbstractBaseUser

from guidelines.models import Guideline
from guidelines.selectors import version_current_published
from labeling.models import Prompt


def prompt_content_hash(messages: list[dict[str, str]]) -> str:
    """A stable fingerprint of a conversation: roles and whitespace-trimmed text."""
    canonical = [{"role": m["role"], "content": m["content"].strip()} for m in messages]
    return hashlib.sha256(json.dumps(canonical, ensure_ascii=False).encode()).hexdigest()


def prompt_import(
    *,
    guideline: Guideline,
    messages: list[dict[str, str]],
    category: str = Prompt.Category.OTHER,
    author: AbstractBaseUser | None = None,
) -> tuple[Prompt, bool]:
    """Store an imported prompt under the guideline's current version, once per content."""
    version = version_current_published(guideline=guideline)
    if version is None:
        raise ValueError(f"guideline {guideline.slug!r} has no published version")
    return Prompt.objects.get_or_create(
        guideline=guideline,
        content_hash=prompt_content_hash(messages),
        defaults={
            "guideline_version": version,
            "messages": messages,
            "category": category,
            "source": Prompt.Source.IMPORTED,
            "author": author,
        },
    )
