"""The overview: its figures on a known flywheel (tests/dashboard/known_data.py), the
rollup behind them, and who may see it."""

import re
from datetime import date, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dashboard.charts import Chart, Series, bar_chart, line_chart
from dashboard.models import DailyTally, Rollup
from dashboard.rollup import rollup_refresh
from dashboard.tasks import refresh_figures
from labeling.services import prompt_create
from rankings.selectors import agreement_report
from tests.dashboard.known_data import EIGHT_DAYS, build, rank

pytestmark = pytest.mark.django_db


@pytest.fixture
def flywheel(alice, bob, carol):
    return build(alice=alice, bob=bob, carol=carol)


def label(day: date) -> str:
    return f"{day:%b} {day.day}"


def chart_table(html: str, key: str) -> dict[str, list[str]]:
    """The numbers under a chart: {row label: [cell, ...]}."""
    table = re.search(rf'data-chart-table="{key}">(.*?)</table>', html, re.S)
    assert table, f"no table for chart {key}"
    rows = re.findall(r'<tr><th scope="row">(.*?)</th>(.*?)</tr>', table.group(1), re.S)
    return {name: re.findall(r"<td>(.*?)</td>", cells) for name, cells in rows}


def tile(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}">(.*?)</', html, re.S)
    assert found, testid
    return found.group(1).strip()


def mini_table(html: str, testid: str) -> dict[str, str]:
    table = re.search(rf'data-testid="{testid}">(.*?)</table>', html, re.S).group(1)
    return dict(re.findall(r'<th scope="row">(.*?)</th><td>(.*?)</td>', table))


def overview(client, carol) -> str:
    client.force_login(carol)
    response = client.get("/dashboard/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_totals_and_states_are_the_known_ones(client, carol, flywheel):
    html = overview(client, carol)

    assert tile(html, "prompts-total") == "6"
    assert mini_table(html, "prompts-by-source") == {
        "Generated": "1",
        "Imported": "2",
        "Written by a labeler": "3",
    }
    assert tile(html, "demonstrations-total") == "2"
    assert mini_table(html, "demonstrations-by-status") == {
        "Submitted": "0",
        "Approved": "1",
        "Rejected": "1",
        "Needs revision": "0",
    }
    assert tile(html, "rankings-total") == "8"
    assert tile(html, "rankings-here") == "7"
    tasks = re.search(r'data-testid="tasks">(.*?)</table>', html, re.S).group(1)
    rows = re.findall(
        r'<th scope="row">(.*?)</th><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td>', tasks
    )
    # erin holds the third prompt's task; a rejection closed the second review round.
    assert rows == [
        ("Write a demonstration", "0", "1", "2"),
        ("Rank candidates", "0", "0", "4"),
        ("Review a demonstration", "0", "0", "2"),
    ]


def test_the_plots_show_work_per_day_and_agreement_per_week_and_version(client, carol, flywheel):
    html = overview(client, carol)
    today = timezone.localdate()
    then = today - EIGHT_DAYS

    demonstrations = chart_table(html, "demonstrations-per-day")
    assert demonstrations[label(today)] == ["2", "1"]  # submitted, approved
    assert len(demonstrations) == 30
    rankings = chart_table(html, "rankings-per-day")
    # A and G today; B eight days ago; the imported ranking is nobody's work here.
    assert rankings[label(today)] == ["5"]
    assert rankings[label(then)] == ["2"]
    assert sum(int(v[0]) for v in rankings.values()) == 7

    weekly = chart_table(html, "agreement-per-week")
    this_week, that_week = (d - timedelta(days=d.weekday()) for d in (today, then))
    assert weekly[label(this_week)] == ["38.9%"]  # (7/9 for A + 0 for G) / 2
    assert weekly[label(that_week)] == ["100.0%"]  # B
    assert sum(v != ["\u2013"] for v in weekly.values()) == 2

    versions = chart_table(html, "agreement-by-version")
    assert versions == {"assistant v1": ["72.7%"]}  # (7 + 1 + 0) alike of (9 + 1 + 1)


def test_agreement_per_version_is_the_agreement_pages_figure(flywheel):
    rollup_refresh()
    pairs = DailyTally.objects.filter(metric="rater_agreement")

    ours = sum(t.total for t in pairs) / sum(t.count for t in pairs)

    [version] = agreement_report()["by_guideline_version"]
    assert ours == pytest.approx(version["pairwise_agreement"]) == pytest.approx(8 / 11)


def test_the_charts_carry_titles_axis_labels_and_their_numbers(client, carol, flywheel):
    html = overview(client, carol)

    assert html.count('<svg class="dash-svg"') == 4
    for key in ("demonstrations-per-day", "rankings-per-day", "agreement-per-week"):
        assert f'<title id="chart-{key}-title">' in html
        assert f'<desc id="chart-{key}-desc">' in html
        assert f'aria-labelledby="chart-{key}-title chart-{key}-desc"' in html
    assert ">Mean agreement</text>" in html and ">Week starting</text>" in html
    assert '<details class="dash-numbers"><summary>' in html
    # Nothing from elsewhere: the stylesheet is ours, there is no script at all.
    assert "/static/css/dashboard-overview.css" in html
    assert "<script" not in html and "https://" not in html


def test_a_chart_says_its_highest_and_latest_values_in_words():
    svg = line_chart(
        Chart("k", "Things <per> day", "How many.", "Day", "Things", ["Mon", "Tue", "Wed"]),
        [Series("Made", [3, None, 1])],
    )

    assert '<title id="chart-k-title">Things &lt;per&gt; day</title>' in svg
    assert "Made: highest 3 (Mon), latest 1 (Wed)." in svg
    # The gap breaks the line: two separate moves, no line through Tuesday.
    path = re.search(r'class="dash-line"[^>]* d="([^"]*)"', svg).group(1)
    assert path.count("M") == 2 and "L" not in path
    bars = bar_chart(
        Chart("b", "Share", "", "Version", "Agreement", ["v1", "v2"], percent=True), [0.5, None]
    )
    assert bars.count("<rect") == 1
    assert "<td>50.0%</td>" in bars and "<td>\u2013</td>" in bars


def test_the_page_says_how_fresh_its_figures_are_and_recounts_on_request(client, carol, flywheel):
    rollup_refresh()
    before = Rollup.objects.get().refreshed_at
    html = overview(client, carol)
    assert f'datetime="{timezone.localtime(before).isoformat()}' in html
    assert "recounted every minute" in html

    response = client.post("/dashboard/refresh/")

    assert response.status_code == 302
    assert Rollup.objects.get().refreshed_at > before


def test_an_incremental_refresh_ends_where_a_full_recount_does(flywheel, alice, bob, carol):
    rollup_refresh()
    # New since: a prompt, and a third rater on B, a comparison from eight days ago whose
    # agreement (and so that week's mean) changes.
    prompt_create(
        author=None,
        guideline=flywheel.a.task.guideline,
        messages=[{"role": "user", "content": "One more?"}],
        source="imported",
        require_acknowledgement=False,
        open_task=False,
    )
    flywheel.b.task.wanted = 3
    flywheel.b.task.status = "open"
    flywheel.b.task.save(update_fields=["wanted", "status"])
    rank(flywheel.frank, flywheel.b, [1, 0], 25)

    with CaptureQueriesContext(connection) as queries:
        rollup_refresh()
    incremental = sorted(
        DailyTally.objects.values_list("metric", "key", "day", "count", "total", "first_id")
    )
    rollup_refresh(full=True)
    full = sorted(
        DailyTally.objects.values_list("metric", "key", "day", "count", "total", "first_id")
    )

    assert incremental == full
    week_of_b = dict(
        DailyTally.objects.filter(metric="comparison_agreement").values_list("day", "total")
    )[(timezone.now() - EIGHT_DAYS).date()]
    assert week_of_b == pytest.approx(1 / 3)  # B now: x>y twice, y>x once
    # It looked only at what is new: every read of a counted table starts from an id.
    counted = [
        q["sql"]
        for q in queries.captured_queries
        if 'FROM "rankings_ranking"' in q["sql"] and "GROUP BY" in q["sql"]
    ]
    assert counted and all('"rankings_ranking"."id" >=' in sql for sql in counted)


def test_the_beat_task_refreshes(flywheel):
    took = refresh_figures()

    assert took > 0
    assert Rollup.objects.get().refreshed_at is not None
    assert DailyTally.objects.filter(metric="rankings").exists()


def test_the_first_visit_counts_and_the_next_visits_only_read(client, carol, flywheel):
    assert not Rollup.objects.exists()
    overview(client, carol)
    assert Rollup.objects.get().refreshed_at is not None
    with CaptureQueriesContext(connection) as few:
        overview(client, carol)
    build_more(flywheel)
    rollup_refresh()
    with CaptureQueriesContext(connection) as more:
        overview(client, carol)

    assert len(few) == len(more)
    assert not any('"rankings_ranking"' in q["sql"] for q in more.captured_queries)


def build_more(flywheel) -> None:
    """More days of figures: the same comparisons again, a week and two weeks back."""
    for weeks in (1, 2):
        DailyTally.objects.bulk_create(
            [
                DailyTally(
                    metric=t.metric,
                    key=t.key,
                    day=t.day - timedelta(weeks=weeks),
                    count=t.count,
                    total=t.total,
                    first_id=0,
                    last_id=0,
                )
                for t in DailyTally.objects.filter(day=timezone.localdate())
            ]
        )


@pytest.mark.parametrize("who", ["alice", "bob", "dave"])
def test_only_admins_see_the_overview_or_recount(client, who, request, flywheel):
    client.force_login(request.getfixturevalue(who))

    assert client.get("/dashboard/").status_code == 403
    assert client.post("/dashboard/refresh/").status_code == 403
    assert not Rollup.objects.exists()


def test_a_superuser_sees_the_overview(client, root):
    client.force_login(root)

    assert client.get("/dashboard/").status_code == 200


def test_the_command_counts_from_scratch(flywheel):
    out = StringIO()
    call_command("dashboard_refresh", "--full", stdout=out)

    assert "Dashboard figures as of" in out.getvalue()
    assert DailyTally.objects.filter(metric="prompts").exists()
