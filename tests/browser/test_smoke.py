import pytest

pytestmark = pytest.mark.browser


def test_home_page_renders_in_chromium(daphne_server, page):
    page.goto(daphne_server + "/")
    assert page.locator("h1").inner_text() == "Communities"
