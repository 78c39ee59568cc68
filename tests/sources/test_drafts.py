"""Model drafts: a drafts job asks a model source (the platform's own /v1 over real HTTP)
or a model version for a reply to each prompt, stores each as a Draft, and records a
prompt that failed without failing the others."""

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from jobs.models import JobStatus
from jobs.services import job_requeue, jobs_recover_all
from labeling.models import Draft
from serving.engine import engine
from tests.conftest import worker_process
from tests.trainer.test_job_recovery import job_finished
from trainer.drafts import drafts_create, drafts_run
from trainer.models import DraftJob

from .conftest import chat_reply_send, prompts_for_labelers

# Far more tokens than the tiny model's 512 positions: the server refuses it with a 400.
TOO_LONG = " ".join(f"word{i} zq{i * 7}" for i in range(900))


@pytest.mark.django_db(transaction=True)
def test_a_worker_drafts_each_prompt_through_a_source_and_lists_the_one_that_failed(
    api, carol, own_source, guideline, child_env, drafts_queue_emptied
):
    short = prompts_for_labelers(guideline, 3)
    long = prompts_for_labelers(guideline, 1, text=TOO_LONG)[0]
    api.force_authenticate(carol)

    # The drafts queue's own worker: no drafts job waits behind a training run.
    with worker_process(child_env, queue="drafts"):
        answer = api.post(
            "/api/drafts/",
            {"source": own_source.pk, "prompts": [p.pk for p in [*short, long]]},
            format="json",
        )
        assert answer.status_code == 202, answer.json()
        job = job_finished(DraftJob, answer.json()["id"], timeout=120)

    assert job.status == JobStatus.SUCCEEDED, job.error
    assert set(job.made) == {str(p.pk) for p in short}
    assert list(job.failures) == [str(long.pk)]
    assert "HTTP 400" in job.failures[str(long.pk)] and "tokens" in job.failures[str(long.pk)]
    drafts = Draft.objects.filter(prompt__in=short)
    assert drafts.count() == 3 and not Draft.objects.filter(prompt=long).exists()
    assert {d.origin for d in drafts} == {Draft.Origin.SOURCE}
    assert {d.origin_name for d in drafts} == {"source:ourselves"}
    assert all(d.text.strip() for d in drafts)
    shown = api.get(f"/api/drafts/{job.pk}/")
    assert shown.json()["progress"] == 1.0 and shown.json()["origin_name"] == "source:ourselves"
    assert own_source.api_key not in shown.content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_source_that_refuses_every_prompt_fails_the_job_and_a_retry_after_the_fix_works(
    api, carol, own_source, guideline, drafts_queue_emptied
):
    prompts = prompts_for_labelers(guideline, 2)
    api.force_authenticate(carol)
    model = own_source.model
    api.patch(f"/api/model-sources/{own_source.pk}/", {"model": "sft-999999"}, format="json")
    job = drafts_create(
        source=own_source.__class__.objects.get(), prompt_ids=[p.pk for p in prompts]
    )

    job = drafts_run(job_id=job.pk)

    assert job.status == JobStatus.FAILED and job.made == {}
    assert job.error.startswith("No draft was made: SourceError: HTTP 404")
    assert set(job.failures) == {str(p.pk) for p in prompts}
    assert all("HTTP 404" in why for why in job.failures.values())
    assert own_source.api_key not in job.error + json.dumps(job.failures)
    api.patch(f"/api/model-sources/{own_source.pk}/", {"model": model}, format="json")
    job = drafts_run(job_id=job_requeue(job).pk)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.failures == {} and len(job.made) == 2
    assert Draft.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_model_version_drafts_through_the_inference_process_and_bad_requests_are_refused(
    api, carol, sft_version, guideline, live_server, settings, drafts_queue_emptied
):
    # The live server answers /v1 with the models itself, as the inference process does.
    settings.INFERENCE_URL = live_server.url
    engine.clear()
    prompts = prompts_for_labelers(guideline, 2)
    api.force_authenticate(carol)
    for payload, field in [
        ({"prompts": [prompts[0].pk]}, "source"),
        ({"model": sft_version.pk, "source": 10**6}, "source"),
        ({"model": sft_version.pk, "prompts": [10**9]}, "prompts"),
        ({"model": sft_version.pk, "temperature": 3}, "temperature"),
    ]:
        answer = api.post("/api/drafts/", payload, format="json")
        assert answer.status_code == 400 and field in answer.json(), (payload, answer.json())
    answer = api.post(
        "/api/drafts/",
        {"model": sft_version.pk, "prompts": [p.pk for p in prompts], "max_new_tokens": 24},
        format="json",
    )
    assert answer.status_code == 202, answer.json()

    job = drafts_run(job_id=answer.json()["id"])

    assert job.status == JobStatus.SUCCEEDED, (job.error, job.failures)
    drafts = Draft.objects.filter(prompt__in=prompts)
    assert drafts.count() == 2
    assert {(d.origin, d.origin_name) for d in drafts} == {("model", sft_version.name)}
    # The replies came from the engine serving the model (here in this process, as the
    # live server is the inference process too): it decoded them in its steps.
    (serving,) = engine.loaded()
    assert serving.stats.steps > 0


@pytest.mark.django_db
def test_a_drafts_job_whose_worker_went_silent_is_sent_again_by_the_recovery(
    carol, guideline, drafts_queue_emptied
):
    from sources.models import ModelSource

    source = ModelSource.objects.create(name="s", base_url="http://127.0.0.1:9/v1", model="m")
    prompt = prompts_for_labelers(guideline, 1)[0]
    long_ago = timezone.now() - timedelta(hours=1)
    job = DraftJob.objects.create(
        source=source,
        origin_name=source.label,
        prompts=[prompt.pk],
        status=JobStatus.RUNNING,
        attempts=1,
        started_at=long_ago,
        heartbeat_at=long_ago,
        sent_at=long_ago,
    )

    sent = jobs_recover_all()

    assert sent.get("DraftJob") == [job.pk]
    job.refresh_from_db()
    assert job.sent_at > long_ago


class Paired(ThreadingHTTPServer):
    """Answers chat completions two at a time: each request waits until a second one is in
    flight with it, and the most requests ever in flight together are counted."""

    def __init__(self):
        self.pair = threading.Barrier(2)
        self.lock = threading.Lock()
        self.running = self.most = 0
        super().__init__(("127.0.0.1", 0), PairedAnswer)


class PairedAnswer(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        server: Paired = self.server  # type: ignore[assignment]
        self.rfile.read(int(self.headers["Content-Length"]))
        with server.lock:
            server.running += 1
            server.most = max(server.most, server.running)
        try:
            server.pair.wait(timeout=20)
            status, text = 200, "A paired reply."
        except threading.BrokenBarrierError:
            status, text = 503, "alone"
        with server.lock:
            server.running -= 1
        chat_reply_send(self, status, text)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.django_db
def test_a_source_gets_as_many_requests_at_once_as_its_max_concurrency(
    carol, guideline, drafts_queue_emptied
):
    from sources.models import ModelSource

    server = Paired()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        source = ModelSource.objects.create(
            name="paired",
            base_url=f"http://127.0.0.1:{server.server_address[1]}/v1",
            model="m",
            max_concurrency=2,
        )
        prompts = prompts_for_labelers(guideline, 4)
        job = drafts_run(job_id=drafts_create(source=source, prompt_ids=[p.pk for p in prompts]).pk)
    finally:
        server.shutdown()
        server.server_close()

    assert job.status == JobStatus.SUCCEEDED and job.failures == {}, job.failures
    assert server.most == 2
    assert list(Draft.objects.values_list("text", flat=True)) == ["A paired reply."] * 4


@pytest.mark.django_db
def test_a_double_submit_makes_one_draft_per_prompt(api, carol, guideline):
    from sources.models import ModelSource

    from .test_client import COMPLETION, Scripted

    server = Scripted([(200, COMPLETION)])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    source = ModelSource.objects.create(name="s", base_url=server.url, model="m")
    prompts = prompts_for_labelers(guideline, 2)
    api.force_authenticate(carol)
    asked = {"source": source.pk, "prompts": [p.pk for p in prompts]}
    try:
        # Both are accepted: neither job has drafted anything yet.
        first, second = (api.post("/api/drafts/", asked, format="json") for _ in range(2))
        assert (first.status_code, second.status_code) == (202, 202), second.json()
        jobs = [drafts_run(job_id=answer.json()["id"]) for answer in (first, second)]
    finally:
        server.shutdown()
        server.server_close()

    assert [job.status for job in jobs] == [JobStatus.SUCCEEDED] * 2, jobs[1].error
    drafts = Draft.objects.filter(prompt__in=prompts)
    assert sorted(d.prompt_id for d in drafts) == sorted(p.pk for p in prompts)
    assert jobs[1].made == jobs[0].made  # the second job names the drafts the first made
