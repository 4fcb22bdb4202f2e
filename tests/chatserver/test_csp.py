"""The Content-Security-Policy header every page carries."""

import re

import pytest

from tests.conftest import ROOT

POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "frame-ancestors": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "object-src": "'none'",
}


def _directives(header: str) -> dict[str, str]:
    # django-csp does not keep the directives' order; their meaning does not depend on it.
    pairs = (part.strip().split(" ", 1) for part in header.split(";"))
    return dict(pairs)


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/accounts/signup/", "/accounts/login/", "/healthz"])
def test_page_carries_the_strict_policy(client, path):
    response = client.get(path)

    assert response.status_code == 200
    assert _directives(response["Content-Security-Policy"]) == POLICY


TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))
INLINE = re.compile(
    r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>|\sstyle=|\son[a-z]+=",
    re.IGNORECASE,
)


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda path: str(path.relative_to(ROOT)))
def test_template_has_no_inline_script_style_or_handler(template):
    # The policy blocks them: scripts and styles come from static files.
    assert INLINE.findall(template.read_text()) == []
