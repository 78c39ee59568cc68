"""Every page, with something on it, checked by axe-core in Chromium (the copy the
axe-playwright-python package ships): no serious or critical violation. Each page is also
opened at 1280 px and on a 375 px phone screen, where nothing but a table may be wider
than the screen (tables scroll inside their own box)."""

import re
from pathlib import Path

import axe_playwright_python
import pytest
from django.urls import get_resolver
from django.urls.resolvers import URLPattern, URLResolver

from ai_feedback.models import AIFeedbackJob
from dataset_io.models import DatasetSnapshot, ImportJob
from guidelines.services import (
    acknowledgement_create,
    guideline_create,
    version_draft_create,
    version_publish,
)
from jobs.models import JobStatus
from labeling.queue import task_next_for_user
from labeling.services import demonstration_submit, prompt_create
from rankings.services import comparison_create
from sources.models import ModelSource
from tests.browser.conftest import log_in
from tests.conftest import PASSWORD
from trainer.models import DraftJob, EvaluationJob, GenerationJob, ModelVersion, TrainingRun

pytestmark = pytest.mark.browser

AXE = (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()
BODY = "# Assistant\n\nBe helpful.\n\n## Refusals\n\n| case | answer |\n|---|---|\n| harm | no |\n"
# Pages that only act (POST) or stream, and the ones each role reaches by other routes.
NOT_PAGES = ("api/", "v1/", "admin/", "static/", "accounts/logout", "healthz", "dashboard/refresh")


def plain_pages() -> list[str]:
    """Every route that takes no argument and answers a GET with a page."""
    found = []

    def walk(patterns, prefix: str = "") -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                route = prefix + str(pattern.pattern)
                if "<" not in route and "^" not in route and not route.startswith(NOT_PAGES):
                    found.append("/" + route)

    walk(get_resolver().url_patterns)
    return sorted(set(found))


@pytest.fixture
def everything(alice, bob, carol, root):
    """One of each thing a page shows, so no page is checked empty; the pages of them."""
    guideline = guideline_create(slug="assistant", title="Assistant behaviour")
    v1 = version_publish(
        version=version_draft_create(guideline=guideline, body=BODY, summary="", author=carol)
    )
    version_draft_create(guideline=guideline, body=BODY + "\nMore.\n", summary="More", author=carol)
    for user in (alice, bob):
        acknowledgement_create(user=user, version=v1)
    for text in ("How do plants make food?", "Why is the sky blue?"):
        prompt = prompt_create(
            author=carol,
            guideline=guideline,
            require_acknowledgement=False,
            messages=[{"role": "user", "content": text}],
        )
    written = task_next_for_user(user=alice, kind="demonstration")
    demonstration_submit(
        author=alice, task_id=written.task_id, content="They use **photosynthesis**."
    )
    comparison = comparison_create(
        prompt=prompt,
        candidates=[{"content": "Scattering."}, {"content": "Because it is."}],
        overlap=1,
    )
    run = TrainingRun.objects.create(kind="sft", status=JobStatus.SUCCEEDED, progress=1.0)
    model = ModelVersion.objects.create(kind="sft", run=run, path="models/none")
    source = ModelSource.objects.create(
        name="elsewhere", base_url="http://127.0.0.1:9/v1", model="m"
    )
    snapshot = DatasetSnapshot.objects.create(
        kind="sft", status=JobStatus.SUCCEEDED, counts={"train": 1, "validation": 0}
    )
    common = {"status": JobStatus.FAILED, "error": "RuntimeError: shown"}
    imported = ImportJob.objects.create(
        format="alpaca", guideline=guideline, file="uploads/x.jsonl", **common
    )
    generation = GenerationJob.objects.create(model=model, prompts=[prompt.pk], **common)
    drafts = DraftJob.objects.create(
        source=source, origin_name=source.label, prompts=[prompt.pk], **common
    )
    evaluation = EvaluationJob.objects.create(
        model=model, baseline=model, judge="reward", judge_name="reward", **common
    )
    rated = AIFeedbackJob.objects.create(
        kind="rank",
        source=source,
        rater_name="source:elsewhere/m",
        guideline_version=v1,
        items=[comparison.pk],
        **common,
    )
    return [
        f"/guidelines/assistant/v/{v1.number}/",
        "/guidelines/assistant/history/",
        "/guidelines/assistant/compare/?from=1&to=2",
        "/guidelines/assistant/write/",
        "/guidelines/assistant/readers/",
        "/guidelines/assistant/v/2/edit/",
        f"/rankings/comparisons/{comparison.pk}/",
        f"/datasets/exports/{snapshot.pk}/",
        f"/datasets/imports/{imported.pk}/",
        f"/dashboard/training/runs/{run.pk}/",
        f"/dashboard/models/{model.pk}/",
        f"/dashboard/generations/{generation.pk}/",
        f"/dashboard/drafts/{drafts.pk}/",
        f"/dashboard/evaluations/{evaluation.pk}/",
        f"/dashboard/ai-feedback/{rated.pk}/",
        f"/dashboard/people/{alice.pk}/",
    ]


def problems(page, url: str) -> list[str]:
    """What axe finds serious or critical on `url`, and at 375 px what is wider than the
    screen outside a table."""
    response = page.goto(url)
    assert response is not None and response.status < 400, (url, response and response.status)
    page.add_script_tag(content=AXE)
    found = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
            .filter(v => v.impact === "serious" || v.impact === "critical")
            .map(v => `${v.id}: ${v.nodes.map(n => n.target.join(" ")).slice(0, 3).join(", ")}`)"""
    )
    page.set_viewport_size({"width": 375, "height": 800})
    wide = page.evaluate(
        """() => [...document.body.querySelectorAll("*")]
            .filter(e => !e.closest("table, pre, .table-scroll, textarea, svg"))
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
            .map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : ""))
            .slice(0, 5)"""
    )
    page.set_viewport_size({"width": 1280, "height": 800})
    return [f"{url} {problem}" for problem in found] + [
        f"{url} wider than 375 px: {w}" for w in wide
    ]


# What it checks is the pages' markup and layout, the same on any database and broker.
@pytest.mark.any_backend
def test_every_page_passes_axe_and_fits_a_narrow_screen(new_page, everything, alice, bob):
    found = []
    admin = new_page()
    log_in(admin, "root", PASSWORD)
    pages = plain_pages()
    assert {"/", "/dashboard/people/", "/work/mine/"} <= set(pages)  # the walk found them
    for url in [*pages, *everything]:
        found += problems(admin, url)

    labeler = new_page()
    log_in(labeler, "alice", PASSWORD)
    # The take page presses its own button: the task's page follows.
    labeler.goto("/work/demonstration/next/")
    labeler.wait_for_url(re.compile(r"/work/tasks/\d+/$"))
    found += problems(labeler, labeler.url)
    found += problems(labeler, "/work/mine/")

    reviewer = new_page()
    log_in(reviewer, "bob", PASSWORD)
    for kind, page_of in (("review", r"/work/tasks/\d+/$"), ("ranking", r"/work/rank/\d+/$")):
        reviewer.goto(f"/work/{kind}/next/")
        reviewer.wait_for_url(re.compile(page_of))
        found += problems(reviewer, reviewer.url)

    assert found == []
