"""The French catalogues: complete, compiled, and used by pages and scripts."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.conf import settings

from accounts.models import User
from tests import services
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parent.parent
LOCALE_DIR = ROOT / "locale" / "fr" / "LC_MESSAGES"
DOMAINS = ("django", "djangojs")
# What makemessages reads: every app, the templates, the scripts, and the catalogues
# it merges into.
SOURCES = (
    "accounts",
    "communities",
    "chatserver",
    "live",
    "outbox",
    "rooms",
    "meetings",
    "agendas",
    "minutes",
    "templates",
    "static",
    "locale",
    "manage.py",
)
FRENCH_PLURAL_FORMS = "nplurals=2; plural=(n > 1);"


def _copy_sources(target: Path) -> None:
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(
                source, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        else:
            shutil.copy2(source, target / name)


def _makemessages(cwd: Path, domain: str) -> None:
    env = {
        **os.environ,
        "DEBUG": "true",
        "DJANGO_SETTINGS_MODULE": "chatserver.settings.base",
    }
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "makemessages",
            "-l",
            "fr",
            "-d",
            domain,
            "--no-obsolete",
            "--ignore=var",
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"makemessages -d {domain} failed:\n{result.stderr}"


def test_french_catalogues_complete_after_makemessages(tmp_path):
    services.need(services.gettext_available(), "GNU gettext (xgettext, msgfmt)")
    _copy_sources(tmp_path)
    problems = []
    for domain in DOMAINS:
        _makemessages(tmp_path, domain)
        po = polib.pofile(str(tmp_path / "locale" / "fr" / "LC_MESSAGES" / f"{domain}.po"))
        problems += [f"{domain}: untranslated: {e.msgid!r}" for e in po.untranslated_entries()]
        problems += [f"{domain}: fuzzy: {e.msgid!r}" for e in po.fuzzy_entries()]
    assert problems == [], (
        "The French catalogues are incomplete. Run `make messages`, translate these in "
        "locale/fr/LC_MESSAGES/*.po, and run it again to compile:\n" + "\n".join(problems)
    )


def test_compiled_catalogues_match_po_files():
    stale = []
    for domain in DOMAINS:
        po = polib.pofile(str(LOCALE_DIR / f"{domain}.po"))
        mo = polib.mofile(str(LOCALE_DIR / f"{domain}.mo"))
        for entry in po.translated_entries():
            compiled = mo.find(entry.msgid, msgctxt=entry.msgctxt)
            if compiled is None:
                stale.append(f"{domain}: missing from the .mo: {entry.msgid!r}")
            elif (compiled.msgstr, compiled.msgstr_plural) != (
                entry.msgstr,
                entry.msgstr_plural,
            ):
                stale.append(f"{domain}: differs in the .mo: {entry.msgid!r}")
    assert stale == [], (
        "The compiled catalogues are out of date; run `make messages` (or "
        "`python manage.py compilemessages --ignore=.venv`) and commit the .mo files:\n"
        + "\n".join(stale)
    )


def test_french_catalogues_headers_declare_french():
    for domain in DOMAINS:
        po = polib.pofile(str(LOCALE_DIR / f"{domain}.po"))
        assert po.metadata["Language"] == "fr", domain
        assert po.metadata["Plural-Forms"] == FRENCH_PLURAL_FORMS, domain
        assert po.metadata["Content-Type"] == "text/plain; charset=UTF-8", domain
        assert not po.metadata_is_fuzzy, domain


@pytest.mark.django_db
def test_home_page_french_when_browser_asks_for_french(client):
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="fr")

    assert response.status_code == 200
    content = response.content.decode()
    assert '<html lang="fr">' in content
    assert "<h1>Communautés</h1>" in content


@pytest.mark.django_db
def test_home_page_french_when_profile_says_french(client):
    client.force_login(UserFactory(language="fr"))

    response = client.get("/", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    assert "<h1>Communautés</h1>" in response.content.decode()


@pytest.mark.django_db
def test_setlang_saves_language_when_signed_in(client):
    user = UserFactory(language="en")
    client.force_login(user)

    response = client.post("/i18n/setlang/", {"language": "fr", "next": "/"})

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert User.objects.get(pk=user.pk).language == "fr"
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="en")
    assert "<h1>Communautés</h1>" in page.content.decode()


@pytest.mark.django_db
def test_setlang_sets_cookie_when_anonymous(client):
    response = client.post("/i18n/setlang/", {"language": "fr", "next": "/"})

    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "fr"
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="en")
    assert "<h1>Communautés</h1>" in page.content.decode()


def test_javascript_catalogue_french_when_french_active(client):
    response = client.get("/jsi18n/", HTTP_ACCEPT_LANGUAGE="fr")

    assert response.status_code == 200
    match = re.search(r"const newcatalog = (\{.*?\});\n", response.content.decode(), re.DOTALL)
    assert match is not None, "the catalogue script carries no translations"
    assert json.loads(match.group(1))["Copied"] == "Copié"
