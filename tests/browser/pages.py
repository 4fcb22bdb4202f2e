"""What the browser tests share: signing in through the real form, and axe-core's verdict."""

from axe_playwright_python.sync_playwright import Axe
from django.urls import reverse
from playwright.sync_api import expect

from tests.factories import PASSWORD

# Violations a screen-reader or keyboard user would be blocked by.
BLOCKING = {"serious", "critical"}


def sign_in(page, base: str, user, next_url: str) -> None:
    """Sign `user` in on `page` with the login form, landing on `next_url`."""
    page.goto(f"{base}{reverse('login')}?next={next_url}")
    page.locator("input[name=username]").fill(user.email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[name=password]").press("Enter")
    expect(page).to_have_url(base + next_url)


def blocking_violations(page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is, one line each."""
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {[node['html'] for node in v['nodes']]}"
        for v in results.response["violations"]
        if v["impact"] in BLOCKING
    ]
