"""Taking a task from the queue leases it, so only a POST does; a GET shows the button."""

import pytest
from django.test import Client

from labeling.models import Assignment
from tests.labeling.conftest import make_prompts


@pytest.mark.parametrize("kind", ["demonstration", "review", "ranking"])
def test_a_get_of_the_next_task_page_leases_nothing(client, root, kind):
    client.force_login(root)

    response = client.get(f"/work/{kind}/next/")

    assert response.status_code == 200
    page = response.content.decode()
    assert 'method="post"' in page
    assert f"Take the next {kind} task" in page
    assert not Assignment.objects.exists()


def test_a_post_leases_the_task_and_opens_it(client, alice, read, guideline, carol):
    prompt = make_prompts(guideline, carol, 1)[0]
    read(alice)
    client.force_login(alice)
    assert client.get("/work/demonstration/next/").status_code == 200
    assert not Assignment.objects.exists()

    response = client.post("/work/demonstration/next/")

    assignment = Assignment.objects.get(user=alice)
    assert assignment.task.prompt_id == prompt.pk
    assert response.status_code == 302
    assert response["Location"] == f"/work/tasks/{assignment.task_id}/"


def test_a_cross_site_post_without_the_csrf_token_leases_nothing(alice, read, guideline, carol):
    make_prompts(guideline, carol, 1)
    read(alice)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)

    assert browser.post("/work/demonstration/next/").status_code == 403
    assert not Assignment.objects.exists()
