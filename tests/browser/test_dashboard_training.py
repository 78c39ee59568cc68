"""The flywheel turned from the dashboard in real Chromium, with a real Celery worker:
an admin trains a reward model and an SFT model on imported OpenAssistant data, follows
each run's progress bar and loss curve, promotes both, and samples new comparison tasks
from the promoted SFT model, keeping the replies the promoted reward model scores best."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in
from tests.conftest import PASSWORD, worker_process
from tests.datasets.conftest import guideline, oasst, queue_import  # noqa: F401 (fixtures)
from tests.trainer.test_training_worker import wait_for
from trainer.ml.chat import IM_END, IM_SEP, IM_START
from trainer.models import GenerationJob, ModelVersion
from trainer.playground import ModelNotReady, playground_answer

pytestmark = pytest.mark.browser

# The first run also waits for the worker to start; each trains a few steps on a CPU
# shared with other work.
RUN_TIMEOUT_MS = 240_000
TINY = {"Steps": "6", "Batch size": "4", "Maximum length": "96", "Log every": "2"}


# What the page's script writes while the run goes on: the percentage shown and the
# training loss curve drawn, at every change (the server's page replaces them at the end).
RECORD_WHAT_THE_SCRIPT_SHOWS = """() => {
  window.shown = { percent: [], loss: [] };
  const run = document.querySelector("[data-run-url]");
  new MutationObserver(() => {
    window.shown.percent.push(run.querySelector("[data-run-percent]").textContent);
    const line = run.querySelector('[data-chart="loss"] [data-series="train"]');
    window.shown.loss.push(line.getAttribute("points"));
  }).observe(run, { subtree: true, childList: true, characterData: true, attributes: true });
}"""


def warmed_up(version: ModelVersion) -> bool:
    """Whether the inference process answered for `version` (it keeps the model loaded)."""
    try:
        playground_answer(version=version, messages=[{"role": "user", "content": "Hi"}])
    except ModelNotReady:
        return False
    return True


def start_run(page, kind: str) -> None:
    page.goto("/dashboard/training/")
    page.get_by_label("Kind").select_option(label=kind)
    page.get_by_label("Training data").select_option(
        label="A fresh export of people's labels when the run starts"
    )
    page.get_by_label("The built-in tiny model").check()
    for label, value in TINY.items():
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_role("button", name="Start the run").click()
    expect(page.get_by_role("heading", name=re.compile(rf"Run \d+: {kind}"))).to_be_visible()
    # Marks this document: if it is still there at the end, the page was never reloaded.
    page.evaluate("window.followedInPlace = true")
    page.evaluate(RECORD_WHAT_THE_SCRIPT_SHOWS)


def watch_to_the_end_and_promote(page) -> None:
    expect(page.locator("[data-run-status]")).to_have_text("Succeeded", timeout=RUN_TIMEOUT_MS)
    expect(page.get_by_role("progressbar", name="Progress")).to_have_js_property("value", 1)
    expect(page.locator("[data-run-percent]")).to_have_text("100%")
    loss = page.locator('[data-chart="loss"] [data-series="train"]')
    # Steps 2, 4 and 6: three points on the training loss curve.
    expect(loss).to_have_attribute("points", re.compile(r"^[\d.]+,[\d.]+( [\d.]+,[\d.]+){2}$"))
    expect(page.locator("[data-run-logs]")).to_contain_text("saved as model version")
    assert page.evaluate("window.followedInPlace") is True
    shown = page.evaluate("window.shown")
    # The script moved the bar up to 100% in place. Which steps in between it caught
    # depends on how fast this machine trains, so they are not asked for.
    assert shown["percent"][-1] == "100%", shown["percent"]
    assert any(percent != "100%" for percent in shown["percent"]), shown["percent"]
    assert any(points.count(",") == 3 for points in shown["loss"]), shown["loss"]
    page.get_by_role("button", name=re.compile(r"^Promote ")).click()
    expect(page.locator(".model-made .status-promoted")).to_have_text("promoted")


def test_an_admin_trains_promotes_and_generates_from_the_dashboard(
    new_page,
    carol,
    oasst,  # noqa: F811
    child_env,
    live_server,
    settings,
):
    # The live server answers /v1 and the playground's model work itself, as the
    # inference process does: the web process and the worker ask it over HTTP.
    settings.INFERENCE_URL = live_server.url
    reward_page = new_page()
    log_in(reward_page, "carol", PASSWORD)
    start_run(reward_page, "Reward model")
    expect(reward_page.locator("[data-run-status]")).to_have_text("Queued")
    # A second tab of the same session: the SFT run waits in the queue behind the reward run.
    sft_page = reward_page.context.new_page()
    start_run(sft_page, "Supervised fine-tuning")

    env = {**child_env, "INFERENCE_URL": live_server.url}
    with worker_process(env, queue="default,training,drafts"):
        watch_to_the_end_and_promote(reward_page)
        accuracy = reward_page.locator("[data-chart='accuracy']")
        expect(accuracy.locator("circle")).to_have_count(1)  # one evaluation, at the end
        expect(accuracy.locator("[data-chart-summary]")).to_contain_text("held-out accuracy: ")
        watch_to_the_end_and_promote(sft_page)
        promoted = ModelVersion.objects.filter(promoted=True)
        assert sorted(promoted.values_list("kind", flat=True)) == ["reward", "sft"]

        page = sft_page
        page.get_by_role("navigation", name="Training").get_by_role("link", name="Models").click()
        sft = promoted.get(kind="sft")
        expect(page.locator(f'tr[data-model="{sft.pk}"] .status-promoted')).to_be_visible()

        page.get_by_role("navigation", name="Training").get_by_role(
            "link", name="Generation"
        ).click()
        expect(page.get_by_label("SFT model version")).to_contain_text(f"({sft.name})")
        page.get_by_label("Number of prompts").fill("2")
        page.get_by_label("Replies per prompt").fill("3")
        page.get_by_label("Maximum new tokens").fill("12")
        page.get_by_label("Raters per task").fill("2")
        # The promoted reward model keeps the 3 best of 5 replies.
        page.get_by_label("Best of n").fill("5")
        page.get_by_role("button", name="Start generating").click()
        expect(page.get_by_role("heading", name=re.compile(r"Generation \d+"))).to_be_visible()
        page.evaluate("window.followedInPlace = true")
        expect(page.locator("[data-job-status]")).to_have_text("Succeeded", timeout=RUN_TIMEOUT_MS)

    job = GenerationJob.objects.get()
    filed = [c for c in job.filed.values() if c]
    assert len(job.filed) == 2 and filed
    links = page.get_by_role("link", name=re.compile(r"^Comparison \d+$"))
    expect(links).to_have_count(len(filed))
    expect(page.locator("[data-job-count]")).to_have_text("2 of 2 prompts")
    assert page.evaluate("window.followedInPlace") is True
    assert job.best_of == 5 and job.reward_model == promoted.get(kind="reward")
    # The figures came in with the finished page, in place of the followed part.
    kept = page.locator("[data-reward-kept]")
    expect(kept).to_be_visible()
    assert float(kept.text_content()) == pytest.approx(job.reward_mean_kept, abs=1e-3)
    links.first.click()
    expect(page).to_have_url(re.compile(rf"/rankings/comparisons/{filed[0]}/$"))

    # The playground answers in place, through the API, and shows what the model read.
    # The model work runs in the inference process: the web process never loads a model.
    # Load the model first (which can take longer than a request waits on a busy
    # machine): the page's own request then answers in place.
    wait_for(lambda: warmed_up(sft), timeout=RUN_TIMEOUT_MS / 1000, what="the inference process")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()
    page.get_by_role("navigation", name="Dashboard sections").get_by_role(
        "link", name="Playground"
    ).click()
    page.evaluate("window.followedInPlace = true")
    reward = promoted.get(kind="reward")
    page.get_by_label("Model version").select_option(str(sft.pk))
    expect(page.get_by_label("Assistant reply to score")).to_be_hidden()
    page.get_by_label("Maximum new tokens").fill("8")
    page.get_by_label("Your message").fill("How do I boil an egg?")
    page.get_by_label("Your message").press("Tab")  # past the hidden reply box, to Send
    expect(page.get_by_role("button", name="Send")).to_be_focused()
    page.keyboard.press("Enter")
    transcript = page.locator("[data-transcript] li")
    expect(transcript).to_have_count(2, timeout=30_000)
    expect(transcript.last).to_have_class(re.compile("turn-assistant"))
    # The reply is shown once, as the conversation's last turn; the card says how.
    expect(page.locator("[data-sampled]")).to_contain_text("Seed ")
    assert page.locator("[data-reply]").count() == 0
    turn_tokens = page.locator("[data-tokens] li.turn-token")
    expect(turn_tokens).to_have_text(
        [IM_START, IM_SEP, IM_END, IM_START, IM_SEP]  # the user's turn, then the reply's header
    )
    expect(page.get_by_label("Your message")).to_be_focused()

    page.get_by_label("Model version").select_option(str(reward.pk))
    page.get_by_label("Your message").fill("How do I boil an egg?")
    page.get_by_label("Assistant reply to score").fill("Nine minutes in boiling water.")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("[data-score]")).to_have_text(re.compile(r"^-?\d+\.\d{4}$"))
    assert page.evaluate("window.followedInPlace") is True
