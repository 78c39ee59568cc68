from guidelines.diff import side_by_side, unified_diff
from guidelines.services import version_draft_create, version_publish
from tests.guidelines.conftest import V2


def test_the_unified_diff_shows_exactly_the_changed_lines():
    diff = unified_diff("a\nb\nc\n", "a\nB\nc\nd\n", old_label="v1", new_label="v2")

    assert diff == "--- v1\n+++ v2\n@@ -1,3 +1,4 @@\n a\n-b\n+B\n c\n+d\n"


def test_equal_texts_have_an_empty_diff():
    assert unified_diff("same\n", "same\n", old_label="v1", new_label="v2") == ""


def test_side_by_side_pairs_every_line_of_both_versions():
    rows = side_by_side("a\nb\nc\nx\n", "a\nB\nc\n")

    assert [(r.kind, r.left_number, r.left, r.right_number, r.right) for r in rows] == [
        ("same", 1, "a", 1, "a"),
        ("changed", 2, "b", 2, "B"),
        ("same", 3, "c", 3, "c"),
        ("removed", 4, "x", None, ""),
    ]


def test_a_replaced_block_of_unequal_length_lines_up_then_adds(db):
    rows = side_by_side("keep\nold one\n", "keep\nnew one\nnew two\n")

    assert [r.kind for r in rows] == ["same", "changed", "added"]
    assert rows[2].right_number == 3


def test_the_diff_api_compares_two_versions(api, alice, carol, v1):
    version_publish(
        version=version_draft_create(guideline=v1.guideline, body=V2, summary="", author=carol)
    )
    api.force_authenticate(alice)

    response = api.get("/api/guidelines/assistant/diff/?from=1&to=2")

    assert response.status_code == 200
    diff = response.json()["diff"]
    assert "-Answer the question.\n+Answer the question first, then explain.\n" in diff
    assert "+## Honesty\n" in diff
    assert diff.startswith("--- assistant v1\n+++ assistant v2\n")


def test_the_diff_api_needs_two_numbers(api, alice, v1):
    api.force_authenticate(alice)

    assert api.get("/api/guidelines/assistant/diff/?from=1").status_code == 400
    assert api.get("/api/guidelines/assistant/diff/?from=1&to=9").status_code == 404


def test_the_diff_page_shows_both_views_escaped(client, alice, carol, v1):
    version_publish(
        version=version_draft_create(
            guideline=v1.guideline, body="<script>x</script>\n", summary="", author=carol
        )
    )
    client.force_login(alice)

    html = client.get("/guidelines/assistant/compare/?from=1&to=2").content.decode()

    assert "Side by side" in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    assert "<script>x</script>" not in html
