"""The demo a fresh `make run` starts with: a guideline, one user per role, some prompts.

Running it again changes nothing: users, the guideline and prompts are looked up before
they are made, and passwords are kept in DATA_DIR so they can be printed every time.
"""

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction

from accounts.roles import Role
from accounts.services import user_create
from guidelines.models import Guideline, GuidelineVersion
from guidelines.selectors import version_current_published
from guidelines.services import version_draft_create, version_publish
from labeling.models import Prompt
from labeling.services import prompt_import

DEMO_USERS = {"labeler": [Role.LABELER], "reviewer": [Role.REVIEWER], "admin": [Role.ADMIN]}

GUIDELINE_BODY = """\
# Assistant behaviour

Write the reply a helpful, honest and harmless assistant would give.

## Helpfulness
Answer the question that was asked. Prefer a direct answer first, then the detail.

## Honesty
Say when you do not know. Never invent citations, numbers or quotes.

## Refusals
Decline requests that would cause serious harm, briefly and without lecturing, and offer
a safe alternative where there is one.

## Formatting
Use Markdown lists and code blocks where they help the reader, not by habit.
"""

DEMO_PROMPTS: list[tuple[str, str]] = [
    ("open_qa", "Why is the sky blue? Explain it to a curious ten-year-old."),
    ("brainstorming", "Give me five names for a bakery that only sells sourdough."),
    ("rewrite", "Rewrite this more politely: 'Send me the report now.'"),
    ("summarization", "Summarize the plot of Romeo and Juliet in three sentences."),
    ("generation", "Write a haiku about a server that never goes down."),
    ("classification", "Is this review positive or negative? 'The battery died in a day.'"),
    (
        "closed_qa",
        "According to the text 'Paris is the capital of France', what is France's capital?",
    ),
    ("extraction", "List every date in: 'We met on 3 May 2021 and married on 12 June 2023.'"),
    ("chat", "Hi! Can you help me plan a three-day trip to Lisbon?"),
    ("other", "How do I reverse a list in Python without modifying the original?"),
]


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    roles: list[str]


def _load_passwords(path: Path) -> dict[str, str]:
    if path.exists():
        return json.loads(path.read_text())
    return {}


@transaction.atomic
def demo_seed(*, data_dir: Path) -> list[DemoLogin]:
    User = get_user_model()
    password_file = data_dir / "demo-logins.json"
    passwords = _load_passwords(password_file)
    logins = []
    for username, roles in DEMO_USERS.items():
        user = User.objects.filter(username=username).first()
        if user is None:
            passwords[username] = secrets.token_urlsafe(9)
            user = user_create(username=username, password=passwords[username], roles=roles)
        elif username not in passwords:
            # The user exists (another DATA_DIR on the same database): a fresh password is
            # the only one we can print.
            passwords[username] = secrets.token_urlsafe(9)
            user.set_password(passwords[username])
            user.save(update_fields=["password"])
        logins.append(DemoLogin(username, passwords[username], [str(r) for r in roles]))
    password_file.write_text(json.dumps(passwords, indent=2))
    password_file.chmod(0o600)

    admin = User.objects.get(username="admin")
    guideline, _ = Guideline.objects.get_or_create(
        slug="assistant", defaults={"title": "General assistant behaviour"}
    )
    if version_current_published(guideline=guideline) is None:
        draft = version_draft_create(
            guideline=guideline, body=GUIDELINE_BODY, summary="First version", author=admin
        )
        version_publish(version=draft)
    for category, text in DEMO_PROMPTS:
        prompt_import(
            guideline=guideline,
            messages=[{"role": "user", "content": text}],
            category=category,
            author=admin,
        )
    return logins


def demo_counts() -> dict[str, int]:
    return {
        "guidelines": Guideline.objects.count(),
        "published_versions": GuidelineVersion.objects.filter(
            status=GuidelineVersion.Status.PUBLISHED
        ).count(),
        "prompts": Prompt.objects.count(),
    }
