import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def log_in(page, username: str) -> None:
    page.goto("/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_a_labeler_logs_in_and_sees_where_their_work_is(page, alice):
    log_in(page, "alice")

    expect(page.get_by_role("heading", name="Welcome, alice")).to_be_visible()
    expect(page.get_by_role("heading", name="Labeling")).to_be_visible()
    expect(page.get_by_role("heading", name="Administration")).to_have_count(0)
    expect(page.get_by_test_id("username")).to_have_text("alice")


def test_a_wrong_password_keeps_the_user_on_the_login_page(page, alice):
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()

    expect(page.get_by_role("alert")).to_contain_text("do not match")
    assert page.url.endswith("/accounts/login/")


def test_an_admin_logs_in_with_the_keyboard_and_logs_out(page, carol):
    page.goto("/accounts/login/")
    expect(page.get_by_label("Username")).to_be_focused()
    page.keyboard.type("carol")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Administration")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
