import pytest

API_PATHS = ["/api/me/", "/api/users/", "/api/auth/token/"]


@pytest.mark.django_db
def test_the_schema_describes_the_api(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in API_PATHS:
        assert path in paths


@pytest.mark.django_db
def test_the_docs_page_loads_nothing_from_a_cdn(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn." not in html
    assert "unpkg" not in html
