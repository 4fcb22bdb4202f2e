"""The managers' side of invitations on the meeting page: send, see "sent 3 of 4, 1
failed: <reason>", retry; members and other people cannot."""

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from communities.enums import Role
from meetings.enums import MailKind
from meetings.forms import SeriesForm
from meetings.models import Invitation
from outbox.enums import EmailState
from outbox.models import Email
from tests.factories import CommunityFactory, MembershipFactory
from tests.meetings.helpers import meetings_of, series_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    community = CommunityFactory(video_url="https://video.example.org/cop")
    joined = timezone.now().replace(year=timezone.now().year - 1)
    manager = MembershipFactory(community=community, role=Role.MANAGER, joined_at=joined).user
    members = [MembershipFactory(community=community, joined_at=joined).user for _ in range(3)]
    series = series_make(community, manager, first_date=timezone.now().date(), now=timezone.now())
    return community, manager, members, meetings_of(series)[0]


def _url(name, meeting):
    return reverse(name, kwargs={"slug": meeting.community.slug, "meeting_id": meeting.pk})


def test_manager_sends_from_the_meeting_page_and_sees_the_progress(client, world):
    _community, manager, _members, meeting = world
    client.force_login(manager)

    page = client.get(_url("meetings:detail", meeting)).content.decode()
    assert "Send the invitations" in page and "No invitation sent yet." in page

    response = client.post(_url("meetings:invitations_send", meeting), follow=True)

    page = response.content.decode()
    assert "The invitations are on their way to 4 members." in page
    assert Email.objects.filter(kind=MailKind.INVITATION).count() == 4
    assert "Send to members who have none" in page
    # The tests' task backend sends at once after commit; the console backend accepts all.
    assert "sent" in page and "of 4" in page


def test_progress_shows_failures_with_their_reason_and_retry_queues_them(client, world):
    _community, manager, members, meeting = world
    client.force_login(manager)
    client.post(_url("meetings:invitations_send", meeting))
    Email.objects.filter(to=members[0].email).update(
        state=EmailState.FAILED, last_error="550 5.1.1 No such mailbox here"
    )
    Email.objects.exclude(to=members[0].email).update(state=EmailState.SENT)

    page = client.get(_url("meetings:detail", meeting)).content.decode()
    assert "sent 3 of 4, 1 failed" in page
    assert "550 5.1.1 No such mailbox here" in page
    assert "Try the failed email again" in page

    response = client.post(_url("meetings:emails_retry", meeting), follow=True)
    assert "1 email will be tried again now." in response.content.decode()
    assert not Email.objects.filter(state=EmailState.FAILED).exists()


def test_a_member_cannot_send_or_retry_and_nothing_changes(client, world):
    _community, _manager, members, meeting = world
    client.force_login(members[0])

    page = client.get(_url("meetings:detail", meeting)).content.decode()
    assert "Send the invitations" not in page
    for name in ("meetings:invitations_send", "meetings:emails_retry"):
        assert client.post(_url(name, meeting)).status_code == 403
    assert not Email.objects.exists() and not Invitation.objects.exists()


def test_send_is_post_only_and_anonymous_visitors_are_sent_to_sign_in(client, world):
    _community, manager, _members, meeting = world
    client.force_login(manager)
    assert client.get(_url("meetings:invitations_send", meeting)).status_code == 405
    client.logout()
    response = client.post(_url("meetings:invitations_send", meeting))
    assert response.status_code == 302 and "login" in response["Location"]
    assert not Email.objects.exists()


def test_sending_a_cancelled_meetings_invitations_says_why_and_sends_nothing(client, world):
    _community, manager, _members, meeting = world
    client.force_login(manager)
    client.post(_url("meetings:cancel", meeting))

    response = client.post(_url("meetings:invitations_send", meeting), follow=True)

    assert "This meeting is cancelled." in response.content.decode()
    assert not Email.objects.filter(kind=MailKind.INVITATION).exists()


def test_a_manager_of_another_community_cannot_send(client, world):
    _community, _manager, _members, meeting = world
    other = CommunityFactory()
    stranger = MembershipFactory(community=other, role=Role.MANAGER).user
    client.force_login(stranger)

    assert client.post(_url("meetings:invitations_send", meeting)).status_code in (403, 404)
    assert not Email.objects.exists()


def test_series_form_turns_on_automatic_invitations(client, world):
    community, manager, _members, meeting = world
    client.force_login(manager)
    url = reverse(
        "meetings:series_edit", kwargs={"slug": community.slug, "series_id": meeting.series_id}
    )
    page = client.get(url).content.decode()
    assert "Send each meeting&#x27;s invitations by themselves" in page

    series = meeting.series
    initial = SeriesForm(community=community, series=series).initial
    data = {
        **{name: value for name, value in initial.items() if value is not None},
        "monthday": 15,
        "interval": 1,
        "invite_automatically": "on",
        "invite_days_before": 10,
    }
    response = client.post(url, data)
    assert response.status_code in (200, 302), re.findall(r"errorlist.*", response.content.decode())
    series.refresh_from_db()
    assert (series.invite_automatically, series.invite_days_before) == (True, 10)

    data["invite_days_before"] = 400
    response = client.post(url, data)
    assert response.status_code == 400
    series.refresh_from_db()
    assert series.invite_days_before == 10
