"""The model sources page: carol (admin) lists the sources without their keys, checks
one and adds one; everyone else gets a 403 and changes nothing."""

import re

import pytest

from sources.models import ModelSource

from .conftest import SECRET

PAGE = "/dashboard/sources/"


def field_error(answer, field: str) -> str:
    found = re.search(rf'id="{field}-error">([^<]*)<', answer.content.decode())
    return found.group(1) if found else ""


@pytest.fixture
def down(db, closed_port) -> ModelSource:
    return ModelSource.objects.create(
        name="down",
        base_url=f"http://127.0.0.1:{closed_port}/v1",
        model="llama-3-8b",
        api_key=SECRET,
        max_concurrency=6,
        timeout_s=20,
    )


def test_the_page_lists_each_source_without_its_key_and_is_linked_from_the_tabs(
    client, carol, down
):
    client.force_login(carol)

    page = client.get(PAGE).content.decode()

    row = re.search(rf'<tr data-source="{down.pk}">(.*?)</tr>', page, re.S).group(1)
    assert "down" in row and down.base_url in row and "llama-3-8b" in row
    assert "<td>6</td>" in row and "20 s" in row
    assert SECRET not in page
    assert f'href="{PAGE}" aria-current="page"' in page
    assert f'href="{PAGE}"' in client.get("/dashboard/training/").content.decode()


def test_checking_a_source_that_is_down_shows_it_failed_and_how_long_it_took(client, carol, down):
    client.force_login(carol)

    answer = client.post(f"{PAGE}{down.pk}/check/")

    assert answer.status_code == 200
    shown = re.search(r'data-check="(\w+)">\s*([^<]*)<', answer.content.decode())
    assert shown.group(1) == "failed"
    assert shown.group(2).startswith("Does not answer ·") and " ms · " in shown.group(2)
    assert SECRET not in answer.content.decode()


def test_checking_the_platforms_own_v1_shows_its_answer(client, carol, own_source):
    client.force_login(carol)

    answer = client.post(f"{PAGE}{own_source.pk}/check/")

    shown = re.search(r'data-check="(\w+)">\s*([^<]*)<', answer.content.decode())
    assert shown.group(1) == "ok", shown.group(2)
    assert f"{own_source.model} answered:" in shown.group(2)


def test_the_form_adds_a_source_with_the_apis_defaults(client, carol):
    client.force_login(carol)
    form = {"name": "vllm", "base_url": "http://gpu-1:8000/v1/", "model": "qwen", "api_key": ""}

    answer = client.post(PAGE, {**form, "max_concurrency": "", "timeout_s": ""})

    assert answer.status_code == 302 and answer.url == PAGE
    source = ModelSource.objects.get()
    assert (source.name, source.base_url, source.model, source.api_key) == (
        "vllm",
        "http://gpu-1:8000/v1",
        "qwen",
        "",
    )
    assert (source.max_concurrency, source.timeout_s, source.created_by) == (4, 60.0, carol)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"name": ""}, "name", "may not be blank"),
        ({"base_url": "ftp://host/v1"}, "base_url", "An http:// or https:// address"),
        ({"max_concurrency": "65"}, "max_concurrency", "less than or equal to 64"),
        ({"timeout_s": "soon"}, "timeout_s", "valid number"),
        ({"name": "down"}, "name", "exists already"),
    ],
)
def test_bad_input_is_shown_at_its_field_without_the_key_and_adds_nothing(
    client, carol, down, change, field, message
):
    client.force_login(carol)
    form = {"name": "new", "base_url": "http://h/v1", "model": "m", "api_key": SECRET, **change}

    answer = client.post(PAGE, form)

    assert answer.status_code == 400
    assert message in field_error(answer, field), answer.content.decode()
    assert SECRET not in answer.content.decode()
    assert list(ModelSource.objects.values_list("name", flat=True)) == ["down"]


def test_only_admins_see_the_page_add_or_check(client, alice, bob, dave, down):
    for person in (alice, bob, dave):
        client.force_login(person)
        assert client.get(PAGE).status_code == 403
        assert (
            client.post(PAGE, {"name": "x", "base_url": "http://h/v1", "model": "m"}).status_code
            == 403
        )
        assert client.post(f"{PAGE}{down.pk}/check/").status_code == 403
    assert ModelSource.objects.count() == 1
