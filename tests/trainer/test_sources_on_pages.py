"""The generation form taking candidates from model sources (alone, or mixed with our
model), and the drafts form, each starting the job the API would or showing the error
at its field. carol is the admin."""

import pytest

from sources.models import ModelSource
from trainer.models import DraftJob, GenerationJob

from .test_training_pages import field_error, model_version


@pytest.fixture
def sources(db) -> list[ModelSource]:
    # Nothing listens at these: the forms only file jobs, which the tests do not run.
    return [
        ModelSource.objects.create(
            name=name, base_url="http://127.0.0.1:9/v1", model=f"{name}-7b", api_key="sk-x"
        )
        for name in ("mistral", "qwen")
    ]


def generation_posted(client, form: dict, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as queued:
        answer = client.post("/dashboard/generations/", {"limit": "2", **form})
    return answer, queued


def test_the_generation_form_offers_each_source_a_number_of_replies(client, carol, sources):
    client.force_login(carol)

    page = client.get("/dashboard/generations/").content.decode()

    assert f'name="source_{sources[0].pk}"' in page and f'name="source_{sources[1].pk}"' in page
    assert 'value="none"' in page and "sk-x" not in page


def test_a_source_alone_files_all_candidates_from_it(
    client, carol, prompts, sources, django_capture_on_commit_callbacks
):
    client.force_login(carol)
    model_version("sft", promoted=True)

    form = {"model": "none", f"source_{sources[0].pk}": "3"}

    answer, queued = generation_posted(client, form, django_capture_on_commit_callbacks)

    job = GenerationJob.objects.get()
    assert answer.status_code == 302 and answer.url == f"/dashboard/generations/{job.pk}/"
    assert job.model is None and job.k == 0
    assert job.sources == [{"source": sources[0].pk, "name": "mistral", "k": 3}]
    assert job.prompts == [p.pk for p in prompts[:2]] and len(queued) == 1


def test_the_promoted_model_with_k_mixes_with_sources_and_their_k(
    client, carol, prompts, sources, django_capture_on_commit_callbacks
):
    client.force_login(carol)
    promoted = model_version("sft", promoted=True)
    form = {"k": "2", f"source_{sources[0].pk}": "1", f"source_{sources[1].pk}": "3"}

    answer, _ = generation_posted(client, form, django_capture_on_commit_callbacks)

    job = GenerationJob.objects.get()
    assert answer.status_code == 302
    assert job.model == promoted and job.k == 2
    assert [(s["name"], s["k"]) for s in job.sources] == [("mistral", 1), ("qwen", 3)]


def test_a_chosen_model_mixes_with_one_source(
    client, carol, prompts, sources, django_capture_on_commit_callbacks
):
    client.force_login(carol)
    model_version("sft", promoted=True)
    chosen = model_version("sft")
    form = {"model": chosen.pk, "k": "1", f"source_{sources[1].pk}": "1"}

    generation_posted(client, form, django_capture_on_commit_callbacks)

    job = GenerationJob.objects.get()
    assert job.model == chosen and [s["name"] for s in job.sources] == ["qwen"]


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"model": "none"}, "sources", "at least one source"),
        ({"k": "4", "source_0": "6"}, "k", "Between 2 and 9"),
        ({"model": "none", "source_0": "0"}, "sources", "k: Ensure this value is greater"),
        ({"model": "none", "source_0": "12"}, "sources", "k: Ensure this value is less"),
        ({"source_0": "two"}, "source_0", "A whole number."),
    ],
)
def test_bad_source_input_shows_the_error_at_its_field_and_files_nothing(
    client, carol, prompts, sources, form, field, message
):
    client.force_login(carol)
    model_version("sft", promoted=True)
    pk = str(sources[0].pk)
    form = {name.replace("_0", f"_{pk}"): value for name, value in form.items()}

    answer = client.post("/dashboard/generations/", {"limit": "2", **form})

    assert answer.status_code == 400
    assert message in field_error(answer, field.replace("_0", f"_{pk}")), answer.content
    assert not GenerationJob.objects.exists()


def test_sources_with_our_model_need_one_promoted_or_chosen(client, carol, prompts, sources):
    client.force_login(carol)

    answer = client.post("/dashboard/generations/", {f"source_{sources[0].pk}": "2"})

    assert answer.status_code == 400
    assert "promote one first" in field_error(answer, "model")
    assert not GenerationJob.objects.exists()


def test_the_drafts_form_starts_a_job_from_a_source_on_prompts_by_filter(
    client, carol, prompts, sources, django_capture_on_commit_callbacks
):
    client.force_login(carol)
    form = {
        "origin": f"source:{sources[1].pk}",
        "limit": "2",
        "guideline": "assistant",
        "category": "other",
        "temperature": "0.3",
        "max_new_tokens": "40",
    }

    with django_capture_on_commit_callbacks(execute=False) as queued:
        answer = client.post("/dashboard/drafts/", form)

    job = DraftJob.objects.get()
    assert answer.status_code == 302 and answer.url == f"/dashboard/drafts/{job.pk}/"
    assert job.source == sources[1] and job.model is None and job.origin_name == "source:qwen"
    assert job.prompts == [p.pk for p in prompts[:2]]
    assert (job.temperature, job.top_p, job.max_new_tokens) == (0.3, 0.95, 40)
    assert job.created_by == carol and len(queued) == 1
    listed = client.get("/dashboard/drafts/").content.decode()
    assert f'href="/dashboard/drafts/{job.pk}/"' in listed


def test_the_drafts_form_starts_a_job_from_a_model_version(
    client, carol, prompts, django_capture_on_commit_callbacks
):
    client.force_login(carol)
    version = model_version("sft")

    with django_capture_on_commit_callbacks(execute=False):
        client.post("/dashboard/drafts/", {"origin": f"model:{version.pk}", "limit": "1"})

    job = DraftJob.objects.get()
    assert job.model == version and job.source is None and job.prompts == [prompts[0].pk]


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"origin": ""}, "origin", "Choose a model or a model source."),
        ({"origin": "source:"}, "origin", "Choose a model or a model source."),
        ({"origin": "source:999"}, "origin", "does not exist"),
        ({"origin": "reward"}, "origin", "from an SFT model"),
        ({"limit": "lots"}, "limit", "A whole number."),
        ({"limit": "0"}, "limit", "Between 1 and"),
        ({"category": "poetry"}, "limit", "No prompt matches"),
        ({"temperature": "3"}, "temperature", "Between 0 and 2"),
        ({"max_new_tokens": "0"}, "max_new_tokens", "greater than or equal to 1"),
    ],
)
def test_bad_drafts_input_shows_the_error_at_its_field_and_starts_nothing(
    client, carol, prompts, sources, form, field, message
):
    client.force_login(carol)
    reward = model_version("reward")
    origins = {"reward": f"model:{reward.pk}"}
    form = {"origin": f"source:{sources[0].pk}", "limit": "1", **form}
    form["origin"] = origins.get(form["origin"], form["origin"])

    answer = client.post("/dashboard/drafts/", form)

    assert answer.status_code == 400
    assert message in field_error(answer, field), answer.content.decode()
    assert not DraftJob.objects.exists()
