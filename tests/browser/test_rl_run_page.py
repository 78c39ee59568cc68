"""An RL run's page in real Chromium: while the run goes on, its script draws the reward
and KL curves from the run's records as they arrive, as the server draws them."""

import re

import pytest
from playwright.sync_api import expect

from jobs.models import JobStatus
from tests.browser.conftest import log_in
from tests.conftest import PASSWORD
from trainer.models import TrainingRun

pytestmark = pytest.mark.browser


def record(step: int, reward: float, kl: float) -> dict:
    return {
        "step": step,
        "loss": 0.1,
        "lr": 1e-4,
        "grad_norm": 1.0,
        "reward": reward,
        "kl": kl,
        "entropy": 1.2,
        "reply_length": 9.0,
        "samples": 32.0,
        "reply_tokens": 288.0,
    }


@pytest.mark.django_db(transaction=True)
def test_the_run_page_draws_reward_and_kl_as_records_arrive(page, carol):
    run = TrainingRun.objects.create(
        kind="rl",
        status=JobStatus.RUNNING,
        step=2,
        total_steps=6,
        progress=2 / 6,
        history=[record(2, -1.0, 0.5)],
    )
    log_in(page, "carol", PASSWORD)
    page.goto(f"/dashboard/training/runs/{run.pk}/")
    reward = page.locator('[data-chart="reward"] [data-series="train"]')
    kl = page.locator('[data-chart="kl"] [data-series="train"]')
    one_point = re.compile(r"^[\d.]+,[\d.]+$")
    expect(reward).to_have_attribute("points", one_point)

    TrainingRun.objects.filter(pk=run.pk).update(
        step=4, progress=4 / 6, history=[record(2, -1.0, 0.5), record(4, 0.5, 1.5)]
    )

    two_points = re.compile(r"^[\d.]+,[\d.]+ [\d.]+,[\d.]+$")
    expect(reward).to_have_attribute("points", two_points)
    expect(kl).to_have_attribute("points", two_points)
    # A larger reward is higher on the chart: a smaller y.
    first, second = (float(p.split(",")[1]) for p in reward.get_attribute("points").split())
    assert second < first
    summary = page.locator('[data-chart="reward"] [data-chart-summary]')
    expect(summary).to_contain_text("training reward: -1 at step 2, 0.5 at step 4")
