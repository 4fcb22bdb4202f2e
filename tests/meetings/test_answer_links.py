"""The invitation's yes / no / maybe links through the real URLs: opening one changes
nothing (mail scanners open every link), its button saves the answer without signing in,
and every link that cannot be used gets a page saying why, with the database unchanged."""

import re
from datetime import time, timedelta
from types import SimpleNamespace
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.core import signing
from django.test import Client
from django.urls import resolve, reverse
from django.utils import timezone
from django.utils.html import escape

from accounts.templatetags.when import when
from communities import services as community_services
from communities.enums import JoinPolicy
from meetings import selectors, services, views
from meetings.enums import MeetingStatus, Response
from meetings.models import Answer, Meeting
from meetings.tokens import SALT, answer_token
from tests.meetings.helpers import community_with, db_state

pytestmark = pytest.mark.django_db

SITE = "https://cop.example.ca"


@pytest.fixture(autouse=True)
def _site_url(settings):
    settings.SITE_URL = SITE


def _page(response) -> str:
    return response.content.decode()


def _meeting(community, manager, *, title="Monthly call", days=30) -> Meeting:
    return services.meeting_create(
        actor=manager,
        community=community,
        title=title,
        day=(timezone.now() + timedelta(days=days)).date(),
        start_time=time(12),
    )


def _setup(**community_fields):
    """An upcoming meeting and a member. Returns (community, manager, member, meeting)."""
    community, manager, users = community_with(2, **community_fields)
    return community, manager, users[0], _meeting(community, manager)


def _path(meeting, user, response=Response.YES) -> str:
    """The path of the member's link, as the invitation email carries it."""
    return urlsplit(selectors.answer_links(meeting=meeting, user=user)[response]).path


def _path_with(meeting, token: str) -> str:
    return reverse(
        "meetings:answer_link",
        kwargs={"slug": meeting.community.slug, "meeting_id": meeting.pk, "token": token},
    )


def _answers() -> list[tuple[int, int, str, str]]:
    return list(Answer.objects.values_list("meeting", "user", "response", "note"))


# The links an invitation carries


def test_answer_links_are_three_absolute_urls_of_the_answer_page():
    _community, _manager, member, meeting = _setup()

    links = selectors.answer_links(meeting=meeting, user=member)

    assert list(links) == ["yes", "no", "maybe"]
    for response, url in links.items():
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == SITE
        match = resolve(parts.path)
        assert match.func == views.answer_link
        assert match.view_name == "meetings:answer_link"
        assert match.kwargs["slug"] == meeting.community.slug
        assert match.kwargs["meeting_id"] == meeting.pk
        assert match.kwargs["token"] == answer_token(
            meeting=meeting, user=member, response=response
        )


def test_answer_links_differ_by_member():
    _community, manager, member, meeting = _setup()

    mine = selectors.answer_links(meeting=meeting, user=member)
    theirs = selectors.answer_links(meeting=meeting, user=manager)

    assert set(mine.values()).isdisjoint(theirs.values())


# Opening a link: a button, nothing saved


@pytest.mark.parametrize("method", ["get", "head"])
def test_answer_link_opened_shows_the_question_and_changes_nothing(client, method):
    _community, _manager, member, meeting = _setup()
    before = db_state()

    response = getattr(client, method)(_path(meeting, member))

    assert response.status_code == 200
    assert db_state() == before
    assert "no-store" in response["Cache-Control"]


def test_answer_link_page_asks_with_one_button_in_the_members_zone(client):
    community, _manager, member, meeting = _setup()
    member.timezone = "America/Halifax"
    member.save(update_fields=["timezone"])

    page = _page(client.get(_path(meeting, member, Response.MAYBE)))

    with timezone.override(ZoneInfo("America/Halifax")):
        starts = when(meeting.starts_at)
    assert "AST</time>" in starts
    assert f"<h1>Answer maybe to Monthly call on {starts}?</h1>" in page
    assert re.findall(r"<button[^>]*>([^<]*)</button>", page)[-1] == "Answer maybe"
    form = re.search(r'<form method="post">(.*?)</form>', page, re.DOTALL).group(1)
    assert 'name="csrfmiddlewaretoken"' in form
    assert "Nothing is saved until you press the button." in page
    assert f'href="{meeting.get_absolute_url()}"' in page
    assert escape(f"{community.name} · this link was sent to {member.display_name}.") in page
    assert "Times are shown in America/Halifax." in page


def test_answer_link_page_shows_the_answer_so_far(client):
    _community, _manager, member, meeting = _setup()
    services.answer_set(user=member, meeting=meeting, response=Response.NO)

    page = _page(client.get(_path(meeting, member, Response.YES)))

    assert "You answered: No." in page
    assert "Answer yes to Monthly call on" in page


# Pressing the button


def test_answer_link_post_saves_the_answer_without_signing_in(client):
    _community, _manager, member, meeting = _setup()

    response = client.post(_path(meeting, member, Response.YES))

    assert response.status_code == 200
    page = _page(response)
    assert "<h1>Your answer is saved: yes</h1>" in page
    assert f'href="{meeting.get_absolute_url()}"' in page
    assert "(you will be asked to sign in)" in page
    assert _answers() == [(meeting.pk, member.pk, "yes", "")]
    assert not response.wsgi_request.user.is_authenticated


def test_answer_link_post_of_another_answer_changes_it(client):
    _community, _manager, member, meeting = _setup()
    client.post(_path(meeting, member, Response.YES))

    response = client.post(_path(meeting, member, Response.MAYBE))

    assert "Your answer is saved: maybe" in _page(response)
    assert _answers() == [(meeting.pk, member.pk, "maybe", "")]


def test_answer_link_post_keeps_the_members_note(client):
    _community, _manager, member, meeting = _setup()
    services.answer_set(user=member, meeting=meeting, response=Response.MAYBE, note="On call")

    client.post(_path(meeting, member, Response.NO))

    assert _answers() == [(meeting.pk, member.pk, "no", "On call")]


def test_answer_link_post_signed_in_as_its_member(client):
    _community, _manager, member, meeting = _setup()
    client.force_login(member)

    response = client.post(_path(meeting, member, Response.NO))

    assert response.status_code == 200
    assert "(you will be asked to sign in)" not in _page(response)
    assert _answers() == [(meeting.pk, member.pk, "no", "")]


def test_answer_link_works_in_an_invitation_only_community(client):
    _community, _manager, member, meeting = _setup(join_policy=JoinPolicy.INVITATION)

    assert client.get(_path(meeting, member)).status_code == 200
    assert client.post(_path(meeting, member)).status_code == 200
    assert _answers() == [(meeting.pk, member.pk, "yes", "")]


def test_answer_link_works_for_a_meeting_moved_later(client):
    _community, _manager, member, meeting = _setup()
    path = _path(meeting, member)
    past = timezone.now() - timedelta(hours=1)
    Meeting.objects.filter(pk=meeting.pk).update(starts_at=past, ends_at=past)
    assert client.get(path).status_code == 410
    later = timezone.now() + timedelta(days=3)
    Meeting.objects.filter(pk=meeting.pk).update(starts_at=later, ends_at=later)

    assert client.post(path).status_code == 200
    assert _answers() == [(meeting.pk, member.pk, "yes", "")]


def test_answer_link_chair_answering_no_is_replaced(client):
    _community, _manager, member, meeting = _setup()
    Meeting.objects.filter(pk=meeting.pk).update(chair=member, chair_confirmed_at=timezone.now())

    client.post(_path(meeting, member, Response.NO))

    assert Meeting.objects.get(pk=meeting.pk).chair_id != member.pk


def test_answer_link_post_needs_the_csrf_token_of_its_page():
    _community, _manager, member, meeting = _setup()
    client = Client(enforce_csrf_checks=True)
    path = _path(meeting, member)
    before = db_state()

    refused = client.post(path)

    assert refused.status_code == 403
    assert db_state() == before
    page = _page(client.get(path))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    saved = client.post(path, {"csrfmiddlewaretoken": token})
    assert saved.status_code == 200
    assert _answers() == [(meeting.pk, member.pk, "yes", "")]


# Links that cannot be used


def _tampered(path: str) -> str:
    head, token, tail = path.rsplit("/", 2)
    i = len(token) // 2
    return f"{head}/{token[:i]}{'A' if token[i] != 'A' else 'B'}{token[i + 1 :]}/{tail}"


def _case(name: str, client, *, community, manager, member, meeting) -> str:
    """Arrange one refused case; returns the path to open."""
    if name == "other meeting":
        other = _meeting(community, manager, title="Other call", days=40)
        token = _path(other, member).rsplit("/", 2)[1]
        return _path_with(meeting, token)
    if name == "tampered":
        return _tampered(_path(meeting, member))
    if name == "not a token":
        return _path_with(meeting, "nonsense")
    if name == "bad answer":
        payload = {"m": meeting.pk, "u": member.pk, "a": "perhaps"}
        return _path_with(meeting, signing.Signer(salt=SALT).sign_object(payload))
    if name == "another salt":
        payload = {"m": meeting.pk, "u": member.pk, "a": "yes"}
        return _path_with(meeting, signing.Signer(salt="other").sign_object(payload))
    path = _path(meeting, member)
    if name == "started":
        started = timezone.now() - timedelta(minutes=5)
        Meeting.objects.filter(pk=meeting.pk).update(
            starts_at=started, ends_at=started + timedelta(hours=1)
        )
    elif name == "cancelled":
        services.meeting_cancel(actor=manager, meeting=meeting)
    elif name == "left":
        community_services.membership_leave(user=member, community=community)
    elif name == "account deactivated":
        member.is_active = False
        member.save(update_fields=["is_active"])
    elif name == "another member signed in":
        client.force_login(manager)
    return path


REFUSALS = [
    ("other meeting", 400, "This answer link is for another meeting."),
    ("tampered", 400, "This answer link is not valid."),
    ("not a token", 400, "This answer link is not valid."),
    ("another salt", 400, "This answer link is not valid."),
    ("bad answer", 400, "This link does not answer yes, no or maybe."),
    ("started", 410, "This meeting has started; answers can no longer change."),
    ("cancelled", 410, "This meeting is cancelled."),
    ("left", 410, "This link no longer works: the person it was sent to is no longer"),
    ("account deactivated", 410, "This link no longer works: the person it was sent to"),
    ("another member signed in", 403, "This link was sent to another member"),
]


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize(("name", "status", "message"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_answer_link_refused_says_why_and_changes_nothing(client, method, name, status, message):
    community, manager, member, meeting = _setup()
    services.answer_set(user=member, meeting=meeting, response=Response.MAYBE, note="On call")
    path = _case(name, client, community=community, manager=manager, member=member, meeting=meeting)
    before = db_state()

    response = getattr(client, method)(path)

    assert response.status_code == status
    page = _page(response)
    assert "<h1>This link cannot be used</h1>" in page
    assert f'<p role="alert">{escape(message)}' in page
    assert "Nothing was changed." in page
    assert '<form method="post">' not in page
    assert db_state() == before


def test_answer_link_refused_when_the_meeting_started_leads_to_its_page(client):
    _community, _manager, member, meeting = _setup()
    path = _path(meeting, member)
    started = timezone.now() - timedelta(minutes=5)
    Meeting.objects.filter(pk=meeting.pk).update(starts_at=started, ends_at=started)

    page = _page(client.get(path))

    assert f'href="{meeting.get_absolute_url()}"' in page


def test_answer_link_another_member_signed_in_is_not_answered_for(client):
    _community, manager, member, meeting = _setup()
    client.force_login(manager)

    client.post(_path(meeting, member))

    assert _answers() == []


def test_answer_link_of_a_meeting_in_another_community_is_not_found(client):
    _community, _manager, member, meeting = _setup()
    other, _other_manager, _users = community_with(1)
    token = _path(meeting, member).rsplit("/", 2)[1]
    path = reverse(
        "meetings:answer_link",
        kwargs={"slug": other.slug, "meeting_id": meeting.pk, "token": token},
    )
    before = db_state()

    assert client.get(path).status_code == 404
    assert client.post(path).status_code == 404
    assert db_state() == before


def test_answer_link_for_no_meeting_is_not_valid_unless_genuine(client):
    """The signature is checked first: a made-up address learns nothing about meetings."""
    community, _manager, member, _meeting = _setup()
    kwargs = {"slug": community.slug, "meeting_id": 999999}
    genuine = answer_token(meeting=SimpleNamespace(pk=999999), user=member, response="yes")

    made_up = client.get(reverse("meetings:answer_link", kwargs={**kwargs, "token": "nonsense"}))
    signed = client.get(reverse("meetings:answer_link", kwargs={**kwargs, "token": genuine}))

    assert made_up.status_code == 400
    assert signed.status_code == 404


def test_answer_link_race_refusal_from_the_service_changes_nothing(client, monkeypatch):
    """Cancelled between the check and the write: the service's refusal, the same page."""
    _community, _manager, member, meeting = _setup()
    refusal = services.MeetingError("This meeting is cancelled.", code="cancelled")

    def cancelled(**kwargs):
        raise refusal

    monkeypatch.setattr(services, "answer_set", cancelled)
    before = db_state()

    response = client.post(_path(meeting, member))

    assert response.status_code == 410
    assert '<p role="alert">This meeting is cancelled.</p>' in _page(response)
    assert db_state() == before


def test_answer_link_other_methods_are_not_allowed(client):
    _community, _manager, member, meeting = _setup()

    assert client.put(_path(meeting, member)).status_code == 405


# In the member's language


def test_answer_link_in_french_for_a_french_member(client):
    _community, _manager, member, meeting = _setup()
    member.language, member.timezone = "fr", "Europe/Paris"
    member.save(update_fields=["language", "timezone"])
    path = _path(meeting, member)

    asked = client.get(path, HTTP_ACCEPT_LANGUAGE="en")
    saved = client.post(path, HTTP_ACCEPT_LANGUAGE="en")

    page = _page(asked)
    assert '<html lang="fr">' in page
    assert asked["Content-Language"] == "fr"
    local = timezone.localtime(meeting.starts_at, ZoneInfo("Europe/Paris"))
    assert f"{local:%H:%M} CET</time>" in page
    assert "<h1>Répondre oui à Monthly call le " in page
    assert "Répondre oui</button>" in page
    assert "Votre réponse est enregistrée\u00a0: oui" in _page(saved)
    assert _answers() == [(meeting.pk, member.pk, "yes", "")]


def test_answer_link_refused_in_french_for_a_french_member(client):
    _community, manager, member, meeting = _setup()
    member.language = "fr"
    member.save(update_fields=["language"])
    path = _path(meeting, member)
    services.meeting_cancel(actor=manager, meeting=meeting)

    page = _page(client.get(path, HTTP_ACCEPT_LANGUAGE="en"))

    assert "<h1>Ce lien ne peut pas être utilisé</h1>" in page
    assert "Cette rencontre est annulée." in page
    assert Meeting.objects.get(pk=meeting.pk).status == MeetingStatus.CANCELLED


def test_answer_link_signed_in_viewer_keeps_their_own_language(client):
    _community, manager, member, meeting = _setup()
    member.language = "fr"
    member.save(update_fields=["language"])
    client.force_login(manager)  # English

    page = _page(client.get(_path(meeting, member)))

    assert '<html lang="en">' in page
    assert "This link was sent to another member" in page
