"""The beat schedule on the dashboard and through /api/schedules/: admins see every entry
and change whether and how often it runs; bad input changes nothing."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

pytestmark = pytest.mark.django_db

EXPORT = "Export datasets when the data changed (hourly)"
RETRAIN = "Retrain when enough new data arrived (hourly)"
RECOVER = "Recover jobs of every kind whose worker died or whose message was lost (every minute)"
REFRESH = "Refresh the dashboard figures (every minute)"


def entry(name: str) -> PeriodicTask:
    return PeriodicTask.objects.select_related("interval").get(name=name)


def snapshot() -> list[tuple]:
    return sorted(
        PeriodicTask.objects.values_list(
            "name", "enabled", "interval__every", "interval__period", "crontab_id"
        )
    )


def test_the_api_lists_the_entries_the_migrations_made(api, carol):
    api.force_authenticate(carol)

    response = api.get("/api/schedules/")

    assert response.status_code == 200
    by_name = {row["name"]: row for row in response.json()}
    assert {EXPORT, RETRAIN, RECOVER, REFRESH} <= set(by_name)
    export = by_name[EXPORT]
    assert export["task"] == "dataset_io.tasks.export_when_changed"
    assert (export["enabled"], export["kind"], export["every"], export["period"]) == (
        True,
        "interval",
        1,
        "hours",
    )
    assert export["cadence"] == "every hour"
    assert export["last_run_at"] is None
    assert by_name[REFRESH]["task"] == "dashboard.tasks.rollup_refresh"


def test_an_admin_turns_an_entry_off_and_makes_it_run_every_two_days(api, carol):
    api.force_authenticate(carol)
    export = entry(EXPORT)
    shared_hourly = export.interval

    response = api.patch(
        f"/api/schedules/{export.pk}/",
        {"enabled": False, "every": 2, "period": "days"},
        format="json",
    )

    assert response.status_code == 200, response.json()
    assert response.json()["cadence"] == "every 2 days"
    export = entry(EXPORT)
    assert (export.enabled, export.interval.every, export.interval.period) == (False, 2, "days")
    # The hourly interval row is shared: the retraining entry still runs hourly.
    assert entry(RETRAIN).interval_id == shared_hourly.pk
    assert IntervalSchedule.objects.get(pk=shared_hourly.pk).every == 1


def test_changing_only_every_keeps_the_period(api, carol):
    api.force_authenticate(carol)
    recover = entry(RECOVER)

    response = api.patch(f"/api/schedules/{recover.pk}/", {"every": 2}, format="json")

    assert response.status_code == 200
    assert response.json()["cadence"] == "every 2 minutes"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"every": 0}, "every", "greater than or equal to 1"),
        ({"every": "often"}, "every", "valid integer"),
        ({"every": 2.5}, "every", "valid integer"),
        ({"period": "weeks"}, "period", "not a valid choice"),
        ({"every": 366, "period": "days"}, "every", "365 days or fewer"),
        ({"every": 10**30}, "every", "less than or equal to"),
        ({"enabled": "perhaps"}, "enabled", "valid boolean"),
        ({}, "non_field_errors", "at least one of enabled, every, period"),
        ({"enabled": False, "task": "os.system"}, "non_field_errors", "not: task"),
    ],
)
def test_bad_input_is_a_400_that_says_why_and_changes_nothing(api, carol, body, field, message):
    api.force_authenticate(carol)
    before = snapshot()

    response = api.patch(f"/api/schedules/{entry(EXPORT).pk}/", body, format="json")

    assert response.status_code == 400
    assert message in " ".join(response.json()[field])
    assert snapshot() == before


def test_a_crontab_entry_can_be_turned_off_but_not_given_an_interval(api, carol):
    api.force_authenticate(carol)
    nightly = PeriodicTask.objects.create(
        name="Nightly",
        task="dataset_io.tasks.export_when_changed",
        crontab=CrontabSchedule.objects.create(minute="0", hour="3"),
    )

    refused = api.patch(f"/api/schedules/{nightly.pk}/", {"every": 2}, format="json")
    turned_off = api.patch(f"/api/schedules/{nightly.pk}/", {"enabled": False}, format="json")

    assert refused.status_code == 400
    assert "crontab schedule" in refused.json()["every"][0]
    assert turned_off.status_code == 200
    nightly.refresh_from_db()
    assert (nightly.enabled, nightly.interval_id) == (False, None)


def test_an_unknown_schedule_is_a_404(api, carol):
    api.force_authenticate(carol)

    assert api.patch("/api/schedules/999999/", {"enabled": False}, format="json").status_code == 404


@pytest.mark.parametrize("who", ["alice", "bob", "dave"])
def test_only_admins_may_read_or_change_schedules(api, client, who, request):
    user = request.getfixturevalue(who)
    export = entry(EXPORT)
    before = snapshot()
    api.force_authenticate(user)
    client.force_login(user)

    assert api.get("/api/schedules/").status_code == 403
    assert api.patch(f"/api/schedules/{export.pk}/", {"enabled": False}).status_code == 403
    assert client.get("/dashboard/schedules/").status_code == 403
    assert client.post(f"/dashboard/schedules/{export.pk}/", {"every": "2"}).status_code == 403
    assert snapshot() == before


def test_anonymous_callers_are_refused(api):
    assert api.get("/api/schedules/").status_code in (401, 403)


def test_the_page_shows_each_entry_with_its_cadence_and_last_run(client, carol):
    client.force_login(carol)
    ran_at = timezone.now() - timedelta(minutes=3)
    PeriodicTask.objects.filter(name=RECOVER).update(last_run_at=ran_at, total_run_count=7)

    html = client.get("/dashboard/schedules/").content.decode()

    assert f'datetime="{ran_at.isoformat()}"' in html
    assert "(3\xa0minutes ago) · 7 runs in all" in html
    export = entry(EXPORT)
    assert f'id="schedule-{export.pk}"' in html
    assert "dataset_io.tasks.export_when_changed" in html
    assert 'data-field="cadence">every hour<' in html
    assert 'data-field="last-run">never' in html
    # Every field has its label.
    for field in ("enabled", "every", "period"):
        assert f'<label for="{field}-{export.pk}">' in html


def test_the_form_saves_a_new_cadence(client, carol):
    client.force_login(carol)
    export = entry(EXPORT)

    response = client.post(
        f"/dashboard/schedules/{export.pk}/", {"enabled": "on", "every": "3", "period": "hours"}
    )

    assert response.status_code == 302
    assert response["Location"] == f"/dashboard/schedules/#schedule-{export.pk}"
    export = entry(EXPORT)
    assert (export.enabled, export.interval.every, export.interval.period) == (True, 3, "hours")


def test_an_unticked_box_turns_the_entry_off(client, carol):
    client.force_login(carol)
    export = entry(EXPORT)

    client.post(f"/dashboard/schedules/{export.pk}/", {"every": "1", "period": "hours"})

    assert entry(EXPORT).enabled is False


def test_a_bad_form_is_shown_again_with_the_error_and_changes_nothing(client, carol):
    client.force_login(carol)
    export = entry(EXPORT)
    before = snapshot()

    response = client.post(
        f"/dashboard/schedules/{export.pk}/", {"enabled": "on", "every": "", "period": "hours"}
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert f'id="every-{export.pk}-error"' in html
    assert "A valid integer is required." in html
    assert 'aria-invalid="true"' in html
    assert snapshot() == before


def test_the_form_needs_the_csrf_token(carol):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(carol)
    export = entry(EXPORT)

    response = browser.post(f"/dashboard/schedules/{export.pk}/", {"every": "2"})

    assert response.status_code == 403
    assert entry(EXPORT).interval.every == 1


@pytest.mark.parametrize("name", [RECOVER, REFRESH])
def test_system_entries_cannot_be_turned_off_through_the_api(api, carol, name):
    api.force_authenticate(carol)
    before = snapshot()

    response = api.patch(f"/api/schedules/{entry(name).pk}/", {"enabled": False}, format="json")

    assert response.status_code == 400
    assert "cannot be turned off" in response.json()["enabled"][0]
    assert snapshot() == before
    listed = {row["name"]: row["system"] for row in api.get("/api/schedules/").json()}
    assert listed[name] is True
    assert listed[EXPORT] is False


def test_the_recovery_check_cannot_be_made_rare(api, carol):
    api.force_authenticate(carol)
    before = snapshot()

    response = api.patch(
        f"/api/schedules/{entry(RECOVER).pk}/", {"every": 1, "period": "hours"}, format="json"
    )

    assert response.status_code == 400
    assert "at least every 2 minutes" in response.json()["every"][0]
    assert snapshot() == before


def test_the_page_offers_no_switch_for_a_system_entry_and_its_form_keeps_it_on(client, carol):
    client.force_login(carol)
    recover = entry(RECOVER)

    html = client.get("/dashboard/schedules/").content.decode()
    saved = client.post(f"/dashboard/schedules/{recover.pk}/", {"every": "2", "period": "minutes"})

    assert f'id="enabled-{recover.pk}"' not in html
    assert "Always on" in html
    assert saved.status_code == 302
    recover = entry(RECOVER)
    assert (recover.enabled, recover.interval.every) == (True, 2)
