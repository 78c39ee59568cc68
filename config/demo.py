"""The demo a fresh `make run` starts with: a guideline, one user per role, some prompts.

Running it again changes nothing: users, the guideline and prompts are looked up before
they are made. Passwords are printed once, when they are made, and kept in
DATA_DIR/demo-logins.json (readable by its owner only) for whoever needs them again.
"""

import json
import os
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


@dataclass(frozen=True)
class DemoSeeded:
    new_logins: list[DemoLogin]  # passwords made by this run, to show once
    logins_file: Path  # where every demo password is kept


def _load_passwords(path: Path) -> dict[str, str]:
    if path.exists():
        return json.loads(path.read_text())
    return {}


def _write_private(path: Path, text: str) -> None:
    """Write `path` readable by its owner only, even for a moment, even if it existed."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


@transaction.atomic
def demo_seed(*, data_dir: Path) -> DemoSeeded:
    User = get_user_model()
    password_file = data_dir / "demo-logins.json"
    passwords = _load_passwords(password_file)
    new_logins = []
    for username, roles in DEMO_USERS.items():
        user = User.objects.filter(username=username).first()
        if user is not None and username in passwords:
            continue
        passwords[username] = secrets.token_urlsafe(9)
        if user is None:
            user_create(username=username, password=passwords[username], roles=roles)
        else:
            # The user exists but its password is not in this DATA_DIR (another DATA_DIR
            # on the same database, or a lost file): a fresh one is the only one to give.
            user.set_password(passwords[username])
            user.save(update_fields=["password"])
        new_logins.append(DemoLogin(username, passwords[username], [str(r) for r in roles]))
    if new_logins:
        _write_private(password_file, json.dumps(passwords, indent=2))

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
    return DemoSeeded(new_logins=new_logins, logins_file=password_file)


def demo_counts() -> dict[str, int]:
    return {
        "guidelines": Guideline.objects.count(),
        "published_versions": GuidelineVersion.objects.filter(
            status=GuidelineVersion.Status.PUBLISHED
        ).count(),
        "prompts": Prompt.objects.count(),
    }
