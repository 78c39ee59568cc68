"""The dashboard's flywheel pages: training runs, model versions, generation, drafts and
the playground. carol is the admin; alice (labeler), bob (reviewer) and dave (no role) must
get nothing from any of them."""

import re

import pytest

from dataset_io.models import DatasetSnapshot
from jobs.models import JobStatus
from trainer.models import DraftJob, GenerationJob, ModelVersion, TrainingRun
from trainer.training import training_run_create

# A run's history as the trainer writes it: training loss every 2 steps, an evaluation.
HISTORY = [
    {"step": 2, "loss": 2.5, "lr": 1e-4, "grad_norm": 1.0},
    {"step": 4, "loss": 2.0, "lr": 1e-4, "grad_norm": 1.0},
    {"step": 4, "eval": {"validation_accuracy": 0.55, "validation_loss": 0.69}},
]


def field_error(response, field: str) -> str:
    found = re.search(rf'id="{field}-error">([^<]*)<', response.content.decode())
    return found.group(1) if found else ""


def model_version(kind: str, **fields) -> ModelVersion:
    """A model version as a finished run leaves it; no weights behind it."""
    run = TrainingRun.objects.create(kind=kind, status=JobStatus.SUCCEEDED, progress=1.0)
    return ModelVersion.objects.create(kind=kind, run=run, path=f"runs/{run.pk}/model", **fields)


@pytest.fixture
def run(carol):
    return TrainingRun.objects.create(
        kind="reward",
        status=JobStatus.RUNNING,
        progress=0.5,
        step=4,
        total_steps=8,
        eta_s=12.0,
        metrics={"loss": 2.0, "validation_accuracy": 0.55},
        history=HISTORY,
        logs="05:00:01 attempt 1 started\n05:00:03 step 4/8 loss 2.0000",
        created_by=carol,
    )


@pytest.fixture
def generation(carol):
    return GenerationJob.objects.create(
        model=model_version("sft"), prompts=[1, 2, 3], filed={"1": 41, "2": 0}, created_by=carol
    )


@pytest.fixture
def pages(run, generation):
    return [
        "/dashboard/training/",
        f"/dashboard/training/runs/{run.pk}/",
        "/dashboard/models/",
        "/dashboard/generations/",
        f"/dashboard/generations/{generation.pk}/",
        "/dashboard/drafts/",
        "/dashboard/playground/",
    ]


def test_an_admin_sees_each_page(client, carol, pages):
    client.force_login(carol)

    statuses = {url: client.get(url).status_code for url in pages}

    assert statuses == {url: 200 for url in pages}


def test_labelers_reviewers_and_people_without_a_role_get_403_on_every_page_and_form(
    client, alice, bob, dave, run, pages, django_capture_on_commit_callbacks
):
    version = model_version("sft")
    posts = [
        *pages,
        f"/dashboard/training/runs/{run.pk}/cancel/",
        f"/dashboard/models/{version.pk}/promote/",
    ]
    for person in (alice, bob, dave):
        client.force_login(person)
        for url in pages:
            assert client.get(url).status_code == 403, (person, url)
        with django_capture_on_commit_callbacks(execute=False) as queued:
            for url in posts:
                answer = client.post(url, {"kind": "sft", "limit": "1", "message": "Hi"})
                assert answer.status_code == 403, (person, url)
        assert not queued

    assert TrainingRun.objects.count() == 3  # the run, the generation's and the version's
    run.refresh_from_db()
    version.refresh_from_db()
    assert not run.cancel_requested and not version.promoted
    assert GenerationJob.objects.count() == 1 and not DraftJob.objects.exists()
    client.logout()
    assert client.get("/dashboard/training/").status_code == 302


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"kind": "magic"}, "kind", "not a valid choice"),
        ({"kind": "dpo"}, "base_model", "starts from a generative model"),
        ({"kind": "dpo", "base": "model", "base_version": "1", "beta": "0"}, "beta", "Between"),
        ({"kind": "sft", "lr": "fast"}, "lr", "A number."),
        ({"kind": "sft", "max_steps": "-1"}, "max_steps", "Between 0 and"),
        ({"kind": "sft", "max_steps": "2.5"}, "max_steps", "A whole number."),
        ({"kind": "sft", "batch_size": "0"}, "batch_size", "Between 1 and"),
        ({"kind": "sft", "base": "path", "base_path": "/nowhere"}, "base_model", "not a model"),
        ({"kind": "sft", "base": "model", "base_version": "999"}, "base_model", "No model"),
        ({"kind": "sft", "snapshot": "2000000000"}, "snapshot", "does not exist"),
    ],
)
def test_the_run_form_with_bad_input_shows_the_error_at_its_field_and_creates_nothing(
    client, carol, form, field, message, django_capture_on_commit_callbacks
):
    client.force_login(carol)

    with django_capture_on_commit_callbacks(execute=False) as queued:
        answer = client.post("/dashboard/training/", form)

    assert answer.status_code == 400
    assert message in field_error(answer, field), answer.content.decode()
    assert not TrainingRun.objects.exists() and not queued
    # What was typed stays in the form.
    for name, value in form.items():
        if name not in {"kind", "base", "base_version", "snapshot"}:
            assert f'value="{value}"' in answer.content.decode()


def test_the_run_form_says_which_learning_rate_each_base_gets_by_default(client, carol):
    client.force_login(carol)

    page = client.get("/dashboard/training/").content.decode()

    hint = re.search(r'<p class="hint" id="lr-hint">(.*?)</p>', page, re.S).group(1)
    assert 'aria-describedby="lr-hint"' in page
    assert "5e-4 for the built-in tiny model (trained from scratch)" in hint
    assert "5e-5 for a pretrained base" in hint and "2e-5 for one over 1B parameters" in hint


def test_a_reward_run_needs_a_rankings_or_preference_snapshot(client, carol):
    client.force_login(carol)
    sft = DatasetSnapshot.objects.create(kind="sft", status=JobStatus.SUCCEEDED)

    answer = client.post("/dashboard/training/", {"kind": "reward", "snapshot": sft.pk})

    assert answer.status_code == 400
    assert "rankings or preference" in field_error(answer, "snapshot")
    assert not TrainingRun.objects.exists()


def test_the_run_form_queues_the_run_the_api_would(
    client, carol, django_capture_on_commit_callbacks
):
    client.force_login(carol)
    base = model_version("sft")
    rankings = DatasetSnapshot.objects.create(kind="rankings", status=JobStatus.SUCCEEDED)

    with django_capture_on_commit_callbacks(execute=False) as queued:
        answer = client.post(
            "/dashboard/training/",
            {
                "kind": "reward",
                "snapshot": rankings.pk,
                "base": "model",
                "base_version": base.pk,
                "max_steps": "8",
                "lr": "1e-4",
                "batch_size": "4",
                "max_length": "96",
                "epochs": "",
            },
        )

    run = TrainingRun.objects.exclude(pk=base.run_id).get()
    assert answer.status_code == 302 and answer.url == f"/dashboard/training/runs/{run.pk}/"
    assert run.kind == "reward" and run.snapshot == rankings and run.created_by == carol
    assert run.base_model == f"model:{base.pk}"
    assert run.config == {"max_steps": 8, "lr": 1e-4, "batch_size": 4, "max_length": 96}
    assert len(queued) == 1


def test_the_run_page_shows_progress_curves_metrics_and_logs_without_javascript(client, carol, run):
    client.force_login(carol)

    page = client.get(f"/dashboard/training/runs/{run.pk}/").content.decode()

    assert 'value="0.500000"' in page and "50%" in page and "about 12 s left" in page
    assert f'data-run-url="/api/training-runs/{run.pk}/"' in page
    loss = re.search(r'data-chart="loss".*?</figure>', page, re.S).group(0)
    train_points = re.search(r'data-series="train" points="([^"]*)"', loss).group(1)
    # Two points, the first higher on the chart (a larger loss) than the second.
    (x1, y1), (x2, y2) = [map(float, p.split(",")) for p in train_points.split()]
    assert x1 < x2 and y1 < y2
    accuracy = re.search(r'data-chart="accuracy".*?</figure>', page, re.S).group(0)
    assert accuracy.count("<circle") == 1 and "0.55 at step 4" in accuracy
    assert "validation_accuracy" in page and "step 4/8 loss 2.0000" in page
    assert "data-chart-scale>" in loss  # a scale once there is something to scale

    run.history = []
    run.save(update_fields=["history"])
    empty = client.get(f"/dashboard/training/runs/{run.pk}/").content.decode()
    loss = re.search(r'data-chart="loss".*?</figure>', empty, re.S).group(0)
    assert "data-chart-scale hidden>" in loss  # not "from to" before any point
    assert "Cancel the run" in page


def test_cancel_from_the_run_page(client, carol, run):
    client.force_login(carol)

    answer = client.post(f"/dashboard/training/runs/{run.pk}/cancel/", follow=True)

    run.refresh_from_db()
    assert run.cancel_requested and "cancel asked for" in answer.content.decode()
    run.status = JobStatus.CANCELLED
    run.save()
    refused = client.post(f"/dashboard/training/runs/{run.pk}/cancel/", follow=True)
    assert "already cancelled" in refused.content.decode()


def test_a_finished_run_links_its_model_version_and_promotes_it(client, carol):
    client.force_login(carol)
    run = training_run_create(kind="sft", enqueue=False)
    TrainingRun.objects.filter(pk=run.pk).update(status=JobStatus.SUCCEEDED, progress=1.0)
    version = ModelVersion.objects.create(kind="sft", run=run, path="runs/x/model")
    url = f"/dashboard/training/runs/{run.pk}/"

    page = client.get(url).content.decode()
    assert f"Promote {version.name}" in page and 'data-run-finished="true"' in page
    assert 'data-chart="loss"' in page and 'data-chart="accuracy"' not in page  # SFT: no accuracy

    answer = client.post(f"/dashboard/models/{version.pk}/promote/", {"next": url})

    assert answer.status_code == 302 and answer.url == url
    version.refresh_from_db()
    assert version.promoted


def test_the_models_page_puts_metrics_side_by_side_and_promotes_one_per_kind(client, carol):
    client.force_login(carol)
    first = model_version("sft", metrics={"validation_loss": 2.5, "lr": 1e-4}, promoted=True)
    second = model_version("sft", metrics={"validation_loss": 2.25, "validation_perplexity": 9.5})
    reward = model_version("reward", metrics={"validation_accuracy": 0.625}, promoted=True)

    page = client.get("/dashboard/models/").content.decode()
    sft_table = re.search(r'data-models="sft".*?</table>', page, re.S).group(0)
    headers = re.findall(r'<th scope="col" class="metric">([^<]*)<', sft_table)
    assert headers == ["validation_loss", "validation_perplexity"]  # lr is bookkeeping
    assert "2.5" in sft_table and "2.25" in sft_table and "9.5" in sft_table
    assert "0.625" in page

    answer = client.post(f"/dashboard/models/{second.pk}/promote/")

    assert answer.status_code == 302 and answer.url == "/dashboard/models/"
    promoted = set(ModelVersion.objects.filter(promoted=True).values_list("pk", flat=True))
    assert promoted == {second.pk, reward.pk}
    page = client.get("/dashboard/models/").content.decode()
    row = re.search(rf'<tr data-model="{first.pk}".*?</tr>', page, re.S).group(0)
    assert f"Promote {first.name}" in row
    row = re.search(rf'<tr data-model="{second.pk}".*?</tr>', page, re.S).group(0)
    assert "promoted" in row and "Promote" not in row


def test_promoting_a_model_that_does_not_exist_is_a_404(client, carol):
    client.force_login(carol)

    assert client.post("/dashboard/models/999/promote/").status_code == 404


def test_the_generation_form_files_a_job_from_the_promoted_sft_model(
    client, carol, prompts, django_capture_on_commit_callbacks
):
    client.force_login(carol)
    version = model_version("sft", promoted=True)
    form = {"limit": "2", "k": "3", "temperature": "0.7", "top_p": "0.9", "overlap": "2"}

    with django_capture_on_commit_callbacks(execute=False) as queued:
        answer = client.post("/dashboard/generations/", {**form, "max_new_tokens": "24"})

    job = GenerationJob.objects.get()
    assert answer.status_code == 302 and answer.url == f"/dashboard/generations/{job.pk}/"
    assert job.model == version and job.prompts == [p.pk for p in prompts[:2]]
    assert (job.k, job.temperature, job.top_p, job.max_new_tokens, job.overlap) == (
        3,
        0.7,
        0.9,
        24,
        2,
    )
    assert job.created_by == carol and len(queued) == 1


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"k": "12"}, "k", "Between 2 and 9"),
        ({"temperature": "hot"}, "temperature", "valid number"),
        ({"top_p": "0"}, "top_p", "top_p"),
        ({"overlap": "0"}, "overlap", "Between 1 and"),
        ({"limit": "many"}, "limit", "A whole number."),
        ({"limit": "0"}, "limit", "Between 1 and"),
        ({"model": "999"}, "model", "does not exist"),
    ],
)
def test_the_generation_form_with_bad_input_shows_the_error_and_files_nothing(
    client, carol, prompts, form, field, message
):
    client.force_login(carol)
    model_version("sft", promoted=True)

    answer = client.post("/dashboard/generations/", form)

    assert answer.status_code == 400
    assert message in field_error(answer, field), answer.content.decode()
    assert not GenerationJob.objects.exists()


def test_generation_needs_a_promoted_sft_model_or_one_chosen(client, carol, prompts):
    client.force_login(carol)
    reward = model_version("reward", promoted=True)

    answer = client.post("/dashboard/generations/", {"limit": "1"})
    assert "promote one first" in field_error(answer, "model")
    answer = client.post("/dashboard/generations/", {"limit": "1", "model": reward.pk})
    assert "from an SFT model" in field_error(answer, "model")
    assert not GenerationJob.objects.exists()


def test_the_generation_page_shows_progress_and_links_the_comparisons_filed(
    client, carol, generation
):
    client.force_login(carol)

    page = client.get(f"/dashboard/generations/{generation.pk}/").content.decode()

    assert "2 of 3 prompts" in page
    assert re.findall(r'href="(/rankings/comparisons/\d+/)"', page) == ["/rankings/comparisons/41/"]
    assert 'data-comparison-url="/rankings/comparisons/0/"' in page


@pytest.mark.parametrize(
    ("kind", "form", "field", "message"),
    [
        ("sft", {"message": "  "}, "message", "Must not be empty"),
        ("sft", {"message": "Hi", "temperature": "hot"}, "temperature", "valid number"),
        ("sft", {"message": "Hi", "max_new_tokens": "0"}, "max_new_tokens", "greater than"),
        ("sft", {"message": "Hi", "conversation": "[{"}, "conversation", "start over"),
        (
            "sft",
            {"message": "Hi", "conversation": '[{"role": "robot", "content": "Hi"}]'},
            "conversation",
            "Role must be one of",
        ),
        ("reward", {"message": "Hi", "reply": ""}, "reply", "Must not be empty"),
        ("reward", {"message": "", "reply": "Hello."}, "message", "Must not be empty"),
    ],
)
def test_the_playground_shows_bad_input_at_its_field_before_loading_any_model(
    client, carol, kind, form, field, message
):
    from serving.engine import engine
    from serving.scoring import scorers

    client.force_login(carol)
    version = model_version(kind)  # no weights: loading it would fail

    answer = client.post("/dashboard/playground/", {"model": version.pk, **form})

    assert answer.status_code == 400
    assert message in field_error(answer, field), answer.content.decode()
    assert engine.loaded() == [] and scorers.loaded() == []
    if form["message"].strip():
        assert f">{form['message']}</textarea>" in answer.content.decode()
