import pytest

from dashboard.context_processors import SECTIONS


@pytest.mark.django_db
def test_only_admins_see_any_dashboard_page(client, alice, bob, carol, dave):
    from django.urls import reverse

    urls = [reverse(url_name) for _, _, url_name in SECTIONS]
    for person in (alice, bob, dave):
        client.force_login(person)
        for url in urls:
            assert client.get(url).status_code == 403, (person, url)
    client.force_login(carol)
    for url in urls:
        assert client.get(url).status_code == 200, url
    client.logout()
    assert client.get(urls[0]).status_code == 302
