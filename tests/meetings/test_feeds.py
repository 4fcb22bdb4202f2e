"""Private calendar feeds and a meeting's download, through the real URLs: what each feed
holds (its community's meetings, or every community of its member's; cancelled ones as
cancelled; nothing of a community they left), that three parsers read it, conditional
GETs, resetting an address, the subscriptions page and who may download a meeting."""

from datetime import time, timedelta

import icalendar
import pytest
import vobject
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from ical.calendar_stream import IcsCalendarStream

from communities import services as community_services
from communities.enums import JoinPolicy
from meetings import selectors, services
from meetings.models import CalendarFeed, Meeting
from tests.factories import MembershipFactory, UserFactory
from tests.meetings.helpers import community_with

pytestmark = pytest.mark.django_db

HOST = "cop.example.ca"


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_URL = f"https://{HOST}"


def _meeting(community, *, title="Monthly call", days=30) -> Meeting:
    return services.meeting_create(
        actor=UserFactory(is_staff=True),
        community=community,
        title=title,
        day=(timezone.now() + timedelta(days=days)).date(),
        start_time=time(12),
    )


def _held(community, *, days_ago: int, title="Past call") -> Meeting:
    starts = timezone.now() - timedelta(days=days_ago)
    return Meeting.objects.create(
        community=community, title=title, starts_at=starts, timezone=community.timezone
    )


def _feed_url(feed) -> str:
    return reverse("meetings:calendar_feed", args=[feed.token])


def _calendar(response) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(response.content)


def _uids(response) -> list[str]:
    return [str(event["UID"]) for event in _calendar(response).walk("VEVENT")]


def _uid(meeting) -> str:
    return f"meeting-{meeting.pk}@{HOST}"


# The feed ------------------------------------------------------------------------------


def test_feed_answers_a_calendar_without_signing_in(client):
    community, _manager, (member, *_rest) = community_with(2, name="Rural Family Medicine")
    first, second = _meeting(community, days=10), _meeting(community, days=40, title="Next")
    feed = services.feed_get_or_create(user=member, community=community)

    response = client.get(_feed_url(feed))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Content-Disposition"] == f'inline; filename="{community.slug}.ics"'
    assert response["Cache-Control"] == "private, max-age=900"
    assert _uids(response) == [_uid(first), _uid(second)]
    calendar = _calendar(response)
    assert str(calendar["NAME"]) == "Rural Family Medicine — meetings"
    assert str(calendar["X-WR-CALNAME"]) == "Rural Family Medicine — meetings"
    assert str(calendar["UID"]) == f"feed-{feed.pk}@{HOST}"
    assert b"\r\nREFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n" in response.content
    assert b"ATTENDEE" not in response.content
    assert b"METHOD" not in response.content


def test_feed_is_read_by_three_parsers(client):
    community, _manager, (member,) = community_with(1)
    _meeting(community)
    services.meeting_cancel(actor=UserFactory(is_staff=True), meeting=_meeting(community, days=60))
    feed = services.feed_get_or_create(user=member)

    response = client.get(_feed_url(feed))

    calendar = _calendar(response)
    assert calendar.errors == []
    assert [event.errors for event in calendar.walk("VEVENT")] == [[], []]
    assert calendar.get_missing_tzids() == set()
    assert calendar.to_ical() == response.content
    vobject.readOne(response.content.decode()).validate(raiseException=True)
    parsed = IcsCalendarStream.calendar_from_ics(response.content.decode())
    assert len(parsed.events) == 2


def test_cancelled_meeting_is_in_the_feed_as_cancelled(client):
    community, manager, (member,) = community_with(1)
    kept, cancelled = _meeting(community, days=10), _meeting(community, days=20)
    services.meeting_cancel(actor=manager, meeting=cancelled)
    feed = services.feed_get_or_create(user=member, community=community)

    events = _calendar(client.get(_feed_url(feed))).walk("VEVENT")

    assert [(str(e["UID"]), str(e["STATUS"])) for e in events] == [
        (_uid(kept), "CONFIRMED"),
        (_uid(cancelled), "CANCELLED"),
    ]


def test_community_feed_holds_only_its_own_community(client):
    community, _manager, (member,) = community_with(1)
    other, _other_manager, _others = community_with(1)
    MembershipFactory(community=other, user=member)
    mine, _theirs = _meeting(community), _meeting(other)
    feed = services.feed_get_or_create(user=member, community=community)

    assert _uids(client.get(_feed_url(feed))) == [_uid(mine)]


def test_all_communities_feed_holds_each_active_membership_but_not_one_left(client):
    first, _m1, (member,) = community_with(1)
    second, _m2, _others = community_with(1)
    left, _m3, _others = community_with(1)
    MembershipFactory(community=second, user=member)
    MembershipFactory(community=left, user=member)
    a, b = _meeting(first, days=10), _meeting(second, days=20)
    _meeting(left, days=15)
    community_services.membership_leave(user=member, community=left)
    feed = services.feed_get_or_create(user=member)

    response = client.get(_feed_url(feed))

    assert _uids(response) == [_uid(a), _uid(b)]
    assert str(_calendar(response)["NAME"]) == "My meetings"
    assert response["Content-Disposition"] == 'inline; filename="my-meetings.ics"'


def test_all_communities_feed_leaves_out_a_community_where_membership_is_pending(client):
    community, _manager, (member,) = community_with(1)
    other, _other_manager, _others = community_with(1, join_policy=JoinPolicy.REQUEST)
    MembershipFactory(community=other, user=member, status="pending", joined_at=None)
    mine = _meeting(community)
    _meeting(other)
    feed = services.feed_get_or_create(user=member)

    assert _uids(client.get(_feed_url(feed))) == [_uid(mine)]


def test_feed_holds_the_last_90_days_and_everything_to_come(client):
    community, _manager, (member,) = community_with(1)
    _held(community, days_ago=100, title="Too old")
    recent = _held(community, days_ago=80, title="Recent")
    upcoming = _meeting(community, days=400)
    feed = services.feed_get_or_create(user=member, community=community)

    assert _uids(client.get(_feed_url(feed))) == [_uid(recent), _uid(upcoming)]


def test_feed_of_a_community_left_is_not_found(client):
    community, _manager, (member,) = community_with(1)
    _meeting(community)
    feed = services.feed_get_or_create(user=member, community=community)
    community_services.membership_leave(user=member, community=community)

    assert client.get(_feed_url(feed)).status_code == 404


def test_feed_of_a_closed_account_is_not_found(client):
    _community, _manager, (member,) = community_with(1)
    feed = services.feed_get_or_create(user=member)
    member.is_active = False
    member.save(update_fields=["is_active"])

    assert client.get(_feed_url(feed)).status_code == 404


def test_feed_wrong_token_is_not_found(client):
    _community, _manager, (member,) = community_with(1)
    feed = services.feed_get_or_create(user=member)

    assert client.get(reverse("meetings:calendar_feed", args=["x" * 43])).status_code == 404
    assert client.get(f"{_feed_url(feed)[:-5]}.ics").status_code == 404


def test_feed_after_reset_old_token_not_found_new_one_works(client):
    community, _manager, (member,) = community_with(1)
    meeting = _meeting(community)
    old = services.feed_get_or_create(user=member, community=community)
    old_url = _feed_url(old)

    new = services.feed_reset(user=member, community=community)

    assert new.pk == old.pk
    assert new.token != old.token
    assert client.get(old_url).status_code == 404
    response = client.get(_feed_url(new))
    assert response.status_code == 200
    assert _uids(response) == [_uid(meeting)]


def test_feed_etag_answers_conditional_get_with_304(client):
    community, _manager, (member,) = community_with(1)
    _meeting(community)
    url = _feed_url(services.feed_get_or_create(user=member))
    first = client.get(url)
    etag = first["ETag"]

    again = client.get(url)
    unchanged = client.get(url, headers={"if-none-match": etag})

    assert etag.startswith('"') and etag.endswith('"') and len(etag) == 66
    assert again.content == first.content
    assert again["ETag"] == etag
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged["ETag"] == etag
    assert unchanged["Cache-Control"] == "private, max-age=900"
    assert client.get(url, headers={"if-none-match": '"other"'}).status_code == 200


def test_feed_etag_changes_when_a_meeting_changes(client):
    community, manager, (member,) = community_with(1)
    meeting = _meeting(community)
    url = _feed_url(services.feed_get_or_create(user=member, community=community))
    etag = client.get(url)["ETag"]

    services.meeting_update(actor=manager, meeting=meeting, title="Quarterly call")
    response = client.get(url, headers={"if-none-match": etag})

    assert response.status_code == 200
    assert response["ETag"] != etag
    assert [str(e["SUMMARY"]) for e in _calendar(response).walk("VEVENT")] == ["Quarterly call"]


def test_feed_head_answers_headers_without_a_body(client):
    community, _manager, (member,) = community_with(1)
    _meeting(community)
    url = _feed_url(services.feed_get_or_create(user=member))
    etag = client.get(url)["ETag"]

    response = client.head(url)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["ETag"] == etag
    assert response.content == b""
    assert client.head(url, headers={"if-none-match": etag}).status_code == 304


def test_feed_refuses_post(client):
    _community, _manager, (member,) = community_with(1)
    url = _feed_url(services.feed_get_or_create(user=member))

    assert client.post(url).status_code == 405


def test_feed_speaks_its_members_language(client):
    community, _manager, (member,) = community_with(1, name="Soins palliatifs")
    member.language = "fr"
    member.save(update_fields=["language"])
    _meeting(community)
    feed = services.feed_get_or_create(user=member, community=community)

    response = client.get(_feed_url(feed), headers={"accept-language": "en"})

    assert str(_calendar(response)["NAME"]) == "Soins palliatifs — rencontres"
    description = str(_calendar(response).walk("VEVENT")[0]["DESCRIPTION"])
    assert "Page de la rencontre\u00a0: " in description


def test_feed_runs_two_queries_whatever_the_number_of_meetings(client):
    def count(feed) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(_feed_url(feed)).status_code == 200
        return len(queries)

    community, _manager, (member, chair) = community_with(2)
    other, _other_manager, _others = community_with(1)
    MembershipFactory(community=other, user=member)
    one = services.feed_get_or_create(user=member)
    _meeting(community)
    single = count(one)
    for days in (20, 40):
        meeting = _meeting(other, days=days)
        meeting.chair = chair
        meeting.save(update_fields=["chair"])

    assert count(one) == single == 2


# Services ------------------------------------------------------------------------------


def test_feed_get_or_create_is_idempotent():
    community, _manager, (member,) = community_with(1)

    first = services.feed_get_or_create(user=member, community=community)
    again = services.feed_get_or_create(user=member, community=community)
    everything = services.feed_get_or_create(user=member)

    assert again == first
    assert everything != first
    assert everything.community is None
    assert len(first.token) == 43
    assert CalendarFeed.objects.filter(user=member).count() == 2


def test_feed_get_or_create_refuses_a_non_member():
    community, _manager, _members = community_with(1)
    stranger = UserFactory()

    with pytest.raises(services.MeetingError) as refused:
        services.feed_get_or_create(user=stranger, community=community)

    assert refused.value.forbidden
    assert refused.value.code == "not_member"
    assert not CalendarFeed.objects.exists()


def test_feed_reset_refuses_a_member_who_left_and_keeps_the_token():
    community, _manager, (member,) = community_with(1)
    feed = services.feed_get_or_create(user=member, community=community)
    community_services.membership_leave(user=member, community=community)

    with pytest.raises(services.MeetingError):
        services.feed_reset(user=member, community=community)

    assert CalendarFeed.objects.get().token == feed.token


def test_feed_is_unique_per_member_and_community_and_once_for_all():
    community, _manager, (member,) = community_with(1)
    CalendarFeed.objects.create(user=member, community=community)
    CalendarFeed.objects.create(user=member)

    for duplicate in ({"community": community}, {"community": None}):
        with pytest.raises(IntegrityError), transaction.atomic():
            CalendarFeed.objects.create(user=member, **duplicate)


def test_feeds_ensure_makes_each_once_all_first_then_by_name():
    first, _m1, (member,) = community_with(1, name="Zoology")
    second, _m2, _others = community_with(1, name="Anatomy")
    left, _m3, _others = community_with(1, name="Botany")
    MembershipFactory(community=second, user=member)
    MembershipFactory(community=left, user=member, status="left")

    feeds = services.feeds_ensure(user=member)
    again = services.feeds_ensure(user=member)

    assert [f.community for f in feeds] == [None, second, first]
    assert again == feeds
    assert CalendarFeed.objects.count() == 3


def test_feeds_ensure_runs_the_same_queries_for_one_community_or_three():
    def count(user) -> tuple[int, int]:
        with CaptureQueriesContext(connection) as made:
            services.feeds_ensure(user=user)
        with CaptureQueriesContext(connection) as shown:
            services.feeds_ensure(user=user)
        return len(made), len(shown)

    one_member = community_with(1)[2][0]
    three_member = community_with(1)[2][0]
    for _ in range(2):
        MembershipFactory(community=community_with(0)[0], user=three_member)

    assert count(one_member) == count(three_member)


def test_feed_meetings_reads_meetings_with_their_community_and_chair():
    community, _manager, (member, chair) = community_with(2)
    meeting = _meeting(community)
    meeting.chair = chair
    meeting.save(update_fields=["chair"])
    feed = services.feed_get_or_create(user=member)

    with CaptureQueriesContext(connection) as queries:
        found = selectors.feed_meetings(feed=feed)
        assert [(m.community.name, m.chair.display_name) for m in found] == [
            (community.name, chair.display_name)
        ]

    assert len(queries) == 1


# The subscriptions page ----------------------------------------------------------------


def test_subscriptions_page_shows_each_address_over_https_and_webcal(client):
    community, _manager, (member,) = community_with(1, name="Rural Family Medicine")
    client.force_login(member)

    response = client.get(reverse("meetings:calendar_subscriptions"), secure=True)

    assert response.status_code == 200
    page = response.content.decode()
    everything = CalendarFeed.objects.get(user=member, community=None)
    mine = CalendarFeed.objects.get(user=member, community=community)
    for feed in (everything, mine):
        path = _feed_url(feed)
        assert f'value="https://testserver{path}"' in page
        assert f'href="webcal://testserver{path}"' in page
        assert f'<label for="feed-{feed.pk}-url">' in page
        assert reverse("meetings:calendar_reset", args=[feed.pk]) in page
    assert page.index("All my communities</h2>") < page.index("Rural Family Medicine</h2>")
    assert "Reset this address" in page
    assert "Subscribe from web" in page
    assert "New Calendar Subscription" in page
    assert "From URL" in page


def test_subscriptions_page_shown_twice_makes_nothing_new(client):
    _community, _manager, (member,) = community_with(1)
    client.force_login(member)
    url = reverse("meetings:calendar_subscriptions")

    client.get(url)
    tokens = set(CalendarFeed.objects.values_list("token", flat=True))
    client.get(url)

    assert set(CalendarFeed.objects.values_list("token", flat=True)) == tokens
    assert len(tokens) == 2


def test_subscriptions_page_needs_signing_in(client):
    url = reverse("meetings:calendar_subscriptions")

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


def test_reset_button_gives_a_new_address_and_the_old_one_stops(client):
    community, _manager, (member,) = community_with(1)
    _meeting(community)
    feed = services.feed_get_or_create(user=member, community=community)
    old_url = _feed_url(feed)
    client.force_login(member)

    response = client.post(reverse("meetings:calendar_reset", args=[feed.pk]), follow=True)

    feed.refresh_from_db()
    assert response.redirect_chain == [
        (f"{reverse('meetings:calendar_subscriptions')}#feed-{feed.pk}", 302)
    ]
    assert "the old one no longer works" in response.content.decode()
    assert _feed_url(feed) != old_url
    assert _feed_url(feed) in response.content.decode()
    client.logout()
    assert client.get(old_url).status_code == 404
    assert client.get(_feed_url(feed)).status_code == 200


def test_reset_refuses_get(client):
    _community, _manager, (member,) = community_with(1)
    feed = services.feed_get_or_create(user=member)
    client.force_login(member)

    response = client.get(reverse("meetings:calendar_reset", args=[feed.pk]))

    assert response.status_code == 405
    assert CalendarFeed.objects.get().token == feed.token


def test_reset_of_another_members_address_is_not_found(client):
    _community, _manager, (member, other) = community_with(2)
    feed = services.feed_get_or_create(user=other)
    client.force_login(member)

    response = client.post(reverse("meetings:calendar_reset", args=[feed.pk]))

    assert response.status_code == 404
    assert CalendarFeed.objects.get().token == feed.token


def test_meetings_list_links_to_the_subscriptions_page(client):
    community, _manager, (member,) = community_with(1)
    client.force_login(member)

    page = client.get(reverse("meetings:list", args=[community.slug])).content.decode()

    assert f'href="{reverse("meetings:calendar_subscriptions")}"' in page


# A meeting's download ------------------------------------------------------------------


def _download_url(meeting) -> str:
    return reverse("meetings:calendar_download", args=[meeting.community.slug, meeting.pk])


def test_download_gives_a_member_the_meeting_as_an_attachment(client):
    community, _manager, (member,) = community_with(1)
    meeting = _meeting(community, title="Monthly call")
    client.force_login(member)

    response = client.get(_download_url(meeting))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="meeting-{meeting.pk}.ics"'
    calendar = _calendar(response)
    assert str(calendar["NAME"]) == "Monthly call"
    assert str(calendar["UID"]) == f"meeting-{meeting.pk}-download@{HOST}"
    assert _uids(response) == [_uid(meeting)]
    assert b"ATTENDEE" not in response.content
    vobject.readOne(response.content.decode()).validate(raiseException=True)
    (event,) = IcsCalendarStream.calendar_from_ics(response.content.decode()).events
    assert event.dtstart == meeting.starts_at


def test_download_is_linked_from_the_meeting_page_for_members_only(client):
    community, _manager, (member,) = community_with(1)
    meeting = _meeting(community)
    detail = reverse("meetings:detail", args=[community.slug, meeting.pk])

    client.force_login(UserFactory())
    visitor = client.get(detail).content.decode()
    client.force_login(member)
    own = client.get(detail).content.decode()

    assert _download_url(meeting) in own
    assert _download_url(meeting) not in visitor


def test_download_by_a_non_member_of_an_invitation_only_community_is_not_found(client):
    community, _manager, _members = community_with(1, join_policy=JoinPolicy.INVITATION)
    meeting = _meeting(community)
    client.force_login(UserFactory())

    assert client.get(_download_url(meeting)).status_code == 404


def test_download_by_a_non_member_of_an_open_community_is_forbidden(client):
    community, _manager, _members = community_with(1, join_policy=JoinPolicy.OPEN)
    meeting = _meeting(community)
    client.force_login(UserFactory())

    response = client.get(_download_url(meeting))

    assert response.status_code == 403
    assert "Only this community&#x27;s members can add its meetings." in response.content.decode()


def test_download_by_site_staff_who_are_not_members_works(client):
    community, _manager, _members = community_with(1, join_policy=JoinPolicy.INVITATION)
    meeting = _meeting(community)
    client.force_login(UserFactory(is_staff=True))

    assert client.get(_download_url(meeting)).status_code == 200


def test_download_signed_out_goes_to_sign_in(client):
    community, _manager, _members = community_with(1)
    meeting = _meeting(community)
    url = _download_url(meeting)

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


def test_download_of_a_meeting_of_another_community_is_not_found(client):
    community, _manager, (member,) = community_with(1)
    other, _other_manager, _others = community_with(1)
    theirs = _meeting(other)
    client.force_login(member)

    url = reverse("meetings:calendar_download", args=[community.slug, theirs.pk])

    assert client.get(url).status_code == 404


# Administration ------------------------------------------------------------------------


def test_admin_lists_feeds_and_shows_the_token_read_only(client):
    community, _manager, (member,) = community_with(1)
    feed = services.feed_get_or_create(user=member, community=community)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    listing = client.get(reverse("admin:meetings_calendarfeed_changelist"))
    change = client.get(reverse("admin:meetings_calendarfeed_change", args=[feed.pk]))

    assert listing.status_code == 200
    assert member.display_name in listing.content.decode()
    assert change.status_code == 200
    assert feed.token in change.content.decode()
    assert 'name="token"' not in change.content.decode()
    assert client.get(reverse("admin:meetings_calendarfeed_add")).status_code == 403


def test_subscriptions_page_is_not_cached(client):
    _community, _manager, (member,) = community_with(1)
    client.force_login(member)

    response = client.get(reverse("meetings:calendar_subscriptions"))

    assert "no-store" in response["Cache-Control"]
