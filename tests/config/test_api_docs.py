import pytest

API_PATHS = [
    "/api/me/",
    "/api/users/",
    "/api/auth/token/",
    "/api/guidelines/",
    "/api/guidelines/{slug}/versions/{number}/acknowledge/",
    "/api/prompts/",
    "/api/tasks/next/",
    "/api/tasks/{task_id}/skip/",
    "/api/demonstrations/",
    "/api/demonstrations/{demonstration_id}/reviews/",
]


def test_the_schema_describes_the_api(client, alice):
    client.force_login(alice)
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in API_PATHS:
        assert path in paths
    # The OpenAI-compatible operations too, with the limits the views enforce.
    chat = paths["/v1/chat/completions"]["post"]
    asked = chat["requestBody"]["content"]["application/json"]["schema"]
    assert asked["required"] == ["model", "messages"] and asked["properties"]["n"]["maximum"] == 16
    assert {"200", "400", "401", "403", "404"} <= set(chat["responses"])
    refused = chat["responses"]["400"]["content"]["application/json"]["schema"]
    assert "error" in refused["properties"]
    assert "200" in paths["/v1/models"]["get"]["responses"]
    assert chat["security"] == [{"bearerAuth": []}]
    schemes = response.json()["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["scheme"] == "bearer"


def test_the_docs_page_loads_nothing_from_a_cdn(client, alice):
    client.force_login(alice)
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn." not in html
    assert "unpkg" not in html


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/"])
def test_anonymous_visitors_do_not_see_the_api_description(api, path):
    assert api.get(path).status_code == 401
