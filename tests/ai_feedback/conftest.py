"""What the AI feedback tests start from: a guideline with sections, comparisons under it,
people who rank, and raters to ask: the platform's own /v1 serving a tiny model trained
for real to answer "A > B", and scripted OpenAI-compatible servers whose preference is
known (the longer reply, or the shorter), to measure agreement against."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ai_feedback.prompts import rank_messages
from guidelines.services import (
    acknowledgement_create,
    guideline_create,
    version_draft_create,
    version_publish,
)
from labeling.services import prompt_create
from rankings.services import comparison_create
from sources.models import ModelSource
from tests.sources import conftest as sources_fixtures

training_queue_emptied = sources_fixtures.training_queue_emptied
v1 = sources_fixtures.v1

GUIDELINE = (
    "Rate replies for a cooking help desk.\n\n"
    "# Helpful\nA reply answers the question fully, with the steps in order.\n\n"
    "# Harmless\nA reply never suggests anything unsafe in a kitchen.\n"
)
# (the longer reply, the shorter one) for each prompt.
PAIRS = [
    ("Boil it for seven minutes, then cool it in cold water.", "Boil it."),
    ("Knead for ten minutes, rest for an hour, then bake.", "Bake it."),
    ("Salt the water well and stir the pasta in at a full boil.", "Add pasta."),
    ("Sear both sides on high heat, then rest it for five minutes.", "Cook it."),
]


@pytest.fixture
def kitchen(carol):
    guideline = guideline_create(slug="kitchen", title="Kitchen help")
    version_publish(
        version=version_draft_create(guideline=guideline, body=GUIDELINE, summary="", author=carol)
    )
    return guideline


@pytest.fixture
def pairs(kitchen, carol, bob) -> list:
    """One pairwise comparison per PAIRS entry, the longer reply first, for one rater."""
    acknowledgement_create(user=bob, version=kitchen.versions.get(status="published"))
    made = []
    for i, (longer, shorter) in enumerate(PAIRS):
        prompt = prompt_create(
            author=carol,
            guideline=kitchen,
            require_acknowledgement=False,
            messages=[{"role": "user", "content": f"Kitchen question {i}: how do I do it?"}],
        )
        made.append(
            comparison_create(
                prompt=prompt,
                candidates=[
                    {"content": longer, "model": "m-long"},
                    {"content": shorter, "model": "m-short"},
                ],
                overlap=1,
            )
        )
    return made


def people_rank(api, reviewer, count: int) -> list[int]:
    """`reviewer` takes `count` ranking tasks from the queue and ranks the longer reply
    first in each; the comparison ids, in the order ranked."""
    api.force_authenticate(reviewer)
    ranked = []
    for _ in range(count):
        task = api.post(
            "/api/tasks/next/", {"kind": "ranking", "guideline": "kitchen"}, format="json"
        )
        assert task.status_code == 200, task.content
        comparison = task.json()["comparison"]
        longest = max(comparison["candidates"], key=lambda c: len(c["content"]))
        others = [c["id"] for c in comparison["candidates"] if c["id"] != longest["id"]]
        answer = api.post(
            f"/api/comparisons/{comparison['id']}/rankings/",
            {"ranking": [[longest["id"]], others]},
            format="json",
        )
        assert answer.status_code == 201, answer.content
        ranked.append(comparison["id"])
    return ranked


class Scripted(ThreadingHTTPServer):
    """An OpenAI-compatible rater with a known taste: it ranks the replies it is shown by
    length, longest first (`prefers="longer"`) or shortest first, and counts what it was
    asked. Critique and revision questions get fixed answers."""

    def __init__(self, prefers: str):
        self.prefers = prefers
        self.questions: list[str] = []
        super().__init__(("127.0.0.1", 0), ScriptedAnswer)

    def answer(self, question: str) -> str:
        replies = re.findall(
            r"Reply ([A-I]):\n(.*?)(?=\n\nReply [A-I]:|\n\nRank replies)", question, re.S
        )
        if not replies:
            return "Revised: a fuller reply." if "Critique:" in question else "Too short."
        ordered = sorted(replies, key=lambda r: len(r[1]), reverse=self.prefers == "longer")
        return " > ".join(letter for letter, _ in ordered)


class ScriptedAnswer(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        question = body["messages"][-1]["content"]
        self.server.questions.append(question)  # type: ignore[attr-defined]
        sources_fixtures.chat_reply_send(self, 200, self.server.answer(question))  # type: ignore[attr-defined]

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator:
    """scripted(prefers, name) -> (a ModelSource, its server)."""
    servers = []

    def make(prefers: str, name: str) -> tuple[ModelSource, Scripted]:
        server = Scripted(prefers)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        source = ModelSource.objects.create(
            name=name,
            base_url=f"http://127.0.0.1:{server.server_address[1]}/v1",
            model="scripted",
            max_concurrency=2,
        )
        return source, server

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def says_a_first(tmp_path_factory) -> Path:
    """A tiny model trained for real to answer a rating question with "A > B": a rater
    with nothing but position bias, which cannot rank three replies at all. Asked
    anything else, it says whatever it says."""
    from trainer.ml.sft import main

    folder = tmp_path_factory.mktemp("ai-rater")
    rows = []
    for i in range(12):
        conversation = [{"role": "user", "content": f"Question {i}: what is {i} plus {i}?"}]
        messages = rank_messages(GUIDELINE, conversation, [f"It is {2 * i}.", f"Maybe {i * 3}."])
        rows.append({"messages": [*messages, {"role": "assistant", "content": "A > B"}]})
    (folder / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    settings = ["max_steps=16", "batch_size=4", "max_length=256", "lr=5e-3", "checkpoint_every=0"]
    main(
        ["--train", str(folder / "train.jsonl"), "--output-dir", str(folder / "run")]
        + [part for setting in settings for part in ("--set", setting)]
    )
    return folder / "run" / "model"
