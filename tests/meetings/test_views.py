"""The meeting pages through the real URLs: who sees what (the video-call link never to a
non-member), times in the viewer's zone, every form's bad input (a clear message, the
database unchanged), the series preview, the rota and its swaps, and query counts."""

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.html import escape

from communities.enums import JoinPolicy, MembershipStatus, Role
from communities.models import Membership
from meetings import hooks, selectors, services
from meetings.enums import AttendanceStatus, MeetingStatus, Response, SwapStatus
from meetings.models import Answer, Attendance, ChairChange, ChairSwap, Meeting, Series
from rooms.enums import RoomKind
from rooms.services import room_create
from tests.factories import CommunityFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

VIDEO = "https://video.example.org/secret-room-42"
LENGTH_MESSAGE = "A meeting lasts from 1 minute to 8 hours (480 minutes)."


def _page(response) -> str:
    return response.content.decode()


def _messages(response) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def _community(**kwargs):
    kwargs.setdefault("join_policy", JoinPolicy.OPEN)
    kwargs.setdefault("video_url", VIDEO)
    return CommunityFactory(**kwargs)


def _joined(days: int) -> datetime:
    return timezone.now() - timedelta(days=days)


def _manager(community, **kwargs):
    kwargs.setdefault("joined_at", _joined(400))
    return MembershipFactory(community=community, role=Role.MANAGER, **kwargs).user


def _member(community, days: int = 300, **kwargs):
    return MembershipFactory(community=community, joined_at=_joined(days), **kwargs).user


def _future_day(days: int = 30) -> date:
    return (timezone.now() + timedelta(days=days)).date()


def _meeting(community, *, title="Monthly call", days=30, at=time(12), **kwargs) -> Meeting:
    """A single upcoming meeting made as the managers' form makes it."""
    actor = UserFactory(is_staff=True)
    return services.meeting_create(
        actor=actor,
        community=community,
        title=title,
        day=_future_day(days),
        start_time=at,
        **kwargs,
    )


def _past_meeting(community, *, days_ago=10, title="Past call", chair=None) -> Meeting:
    starts = timezone.now() - timedelta(days=days_ago)
    meeting = Meeting.objects.create(
        community=community,
        title=title,
        starts_at=starts,
        timezone=community.timezone,
        video_url=community.video_url,
        chair=chair,
        chair_confirmed_at=starts - timedelta(days=20) if chair else None,
    )
    meeting.room = room_create(community=community, kind=RoomKind.MEETING, title=title)
    meeting.save(update_fields=["room"])
    return meeting


def _started_meeting(community, *, title="Call under way") -> Meeting:
    meeting = _past_meeting(community, days_ago=0, title=title)
    Meeting.objects.filter(pk=meeting.pk).update(
        starts_at=timezone.now() - timedelta(minutes=10),
        ends_at=timezone.now() + timedelta(minutes=50),
    )
    meeting.refresh_from_db()
    return meeting


def _url(name: str, community, **kwargs) -> str:
    return reverse(f"meetings:{name}", kwargs={"slug": community.slug, **kwargs})


def _meeting_url(name: str, meeting) -> str:
    return _url(name, meeting.community, meeting_id=meeting.pk)


def _row(meeting) -> dict:
    return Meeting.objects.filter(pk=meeting.pk).values().get()


def _database() -> dict:
    """Everything the meeting pages can write, to show a refusal changed nothing."""
    return {
        "series": list(Series.objects.values()),
        "meetings": list(Meeting.objects.order_by("pk").values()),
        "answers": list(Answer.objects.values()),
        "attendance": list(Attendance.objects.values()),
        "changes": list(ChairChange.objects.values()),
        "swaps": list(ChairSwap.objects.values()),
        "willing": list(Membership.objects.order_by("pk").values_list("willing_to_chair")),
    }


def _viewer(kind: str, community):
    return {
        "anonymous": lambda: None,
        "outsider": UserFactory,
        "pending": lambda: (
            MembershipFactory(
                community=community, status=MembershipStatus.PENDING, joined_at=None
            ).user
        ),
        "member": lambda: _member(community),
        "manager": lambda: _manager(community),
        "staff": lambda: UserFactory(is_staff=True),
    }[kind]()


def _sign_in(client, user):
    if user is not None:
        client.force_login(user)
    return user


# Who may open the pages


def _page_urls(community, meeting, series) -> list[str]:
    return [
        _url("list", community),
        _meeting_url("detail", meeting),
        _meeting_url("handover", meeting),
        _meeting_url("edit", meeting),
        _url("create", community),
        _url("rota", community),
        _url("series_list", community),
        _url("series_create", community),
        _url("series_edit", community, series_id=series.pk),
    ]


def _series(community, **fields) -> Series:
    values = {
        "title": "Monthly call",
        "rrule": "FREQ=MONTHLY;BYDAY=2TU",
        "first_date": _future_day(1),
        "start_time": time(12),
        **fields,
    }
    series, _result = services.series_create(
        actor=UserFactory(is_staff=True), community=community, **values
    )
    return series


def test_every_page_anonymous_redirects_to_login(client):
    community = _community()
    meeting = _meeting(community)

    for url in _page_urls(community, meeting, _series(community)):
        response = client.get(url)

        assert response.status_code == 302, url
        assert response["Location"] == f"{reverse('login')}?next={url}"


def test_every_page_invitation_only_non_member_is_not_found(client):
    community = _community(join_policy=JoinPolicy.INVITATION)
    meeting = _meeting(community)
    client.force_login(UserFactory())

    for url in _page_urls(community, meeting, _series(community)):
        assert client.get(url).status_code == 404, url


def test_every_post_invitation_only_non_member_is_not_found_and_changes_nothing(client):
    community = _community(join_policy=JoinPolicy.INVITATION)
    meeting = _meeting(community)
    client.force_login(UserFactory())
    before = _database()

    for name in ("answer", "cancel", "chair_confirm", "chair_override", "attendance"):
        assert client.post(_meeting_url(name, meeting), {"response": "yes"}).status_code == 404
    for name in ("rota_willing", "swap_propose"):
        assert client.post(_url(name, community), {"willing": "no"}).status_code == 404

    assert _database() == before


def test_meeting_of_another_community_is_not_found(client):
    community, other = _community(), _community()
    elsewhere = _meeting(other)
    client.force_login(_manager(community))

    for name in ("detail", "handover", "edit"):
        url = _url(name, community, meeting_id=elsewhere.pk)
        assert client.get(url).status_code == 404, name
    before = _database()
    for name in ("answer", "cancel", "chair_confirm", "chair_override", "attendance"):
        url = _url(name, community, meeting_id=elsewhere.pk)
        assert client.post(url, {"response": "yes"}).status_code == 404, name
    assert _database() == before


def test_series_of_another_community_is_not_found(client):
    community, other = _community(), _community()
    series = _series(other)
    client.force_login(_manager(community))

    response = client.get(_url("series_edit", community, series_id=series.pk))

    assert response.status_code == 404


@pytest.mark.parametrize("viewer", ["outsider", "pending", "member"])
def test_manager_pages_for_others_are_forbidden(client, viewer):
    community = _community()
    meeting = _meeting(community)
    series = _series(community)
    _sign_in(client, _viewer(viewer, community))

    for url in [
        _meeting_url("edit", meeting),
        _url("create", community),
        _url("series_list", community),
        _url("series_create", community),
        _url("series_edit", community, series_id=series.pk),
    ]:
        response = client.get(url)

        assert response.status_code == 403, url
        assert escape("Only this community's managers can do that.") in _page(response)


@pytest.mark.parametrize("viewer", ["outsider", "pending", "member"])
def test_manager_actions_for_others_are_forbidden_and_change_nothing(client, viewer):
    community = _community()
    meeting = _meeting(community)
    member = _member(community)
    _sign_in(client, _viewer(viewer, community))
    before = _database()

    for name, data in [
        ("cancel", {}),
        ("chair_confirm", {}),
        ("chair_override", {"chair": member.pk}),
        ("attendance", {f"user_{member.pk}": "present"}),
        ("edit", {"title": "Hijacked", "duration_minutes": 60}),
    ]:
        assert client.post(_meeting_url(name, meeting), data).status_code == 403, name

    assert _database() == before


# The list of meetings


def test_list_member_shows_upcoming_then_past_with_chairs_and_cancelled_marked(client):
    community = _community(name="Rural Family Medicine")
    alice = _member(community, days=500, user__display_name="Dr. Alice")
    bob = _member(community, days=400, user__display_name="Dr. Bob")
    first = _meeting(community, title="January call", days=10)
    _meeting(community, title="February call", days=40)
    cancelled = _meeting(community, title="March call", days=70)
    services.meeting_cancel(actor=UserFactory(is_staff=True), meeting=cancelled)
    services.chair_confirm(actor=UserFactory(is_staff=True), meeting=first)
    _past_meeting(community, title="Old call", chair=bob)
    client.force_login(alice)

    response = client.get(_url("list", community))

    assert response.status_code == 200
    page = _page(response)
    order = [page.index(t) for t in ("January call", "February call", "March call", "Old call")]
    assert order == sorted(order)
    first_item = page[page.index("January call") : page.index("February call")]
    assert "Chair: Dr. Alice" in first_item
    assert "confirmed" in first_item
    second_item = page[page.index("February call") : page.index("March call")]
    assert "Chair: Dr. Bob" in second_item
    assert "projected by the rota" in second_item
    third_item = page[page.index("March call") : page.index("Old call")]
    assert "Cancelled" in third_item
    assert "Chair:" not in third_item
    assert "Chaired by Dr. Bob" in page


def test_list_times_are_in_the_viewer_zone(client):
    community = _community(timezone="America/Toronto")
    meeting = _meeting(community)
    client.force_login(_member(community, user__timezone="America/St_Johns"))

    response = client.get(_url("list", community))

    local = meeting.starts_at.astimezone(ZoneInfo("America/St_Johns"))
    assert local.strftime("%H:%M") == "13:30"
    assert f"{dateformat.format(local, 'N j, Y, P')} {local.tzname()}</time>" in _page(response)


def test_list_non_member_of_open_community_sees_times_without_names_or_links(client):
    community = _community()
    _member(community, user__display_name="Dr. Private")
    meeting = _meeting(community, title="Open call")
    client.force_login(UserFactory())

    response = client.get(_url("list", community))

    assert response.status_code == 200
    page = _page(response)
    assert "Open call" in page
    assert meeting.starts_at.isoformat() in page
    assert "Dr. Private" not in page
    assert VIDEO not in page
    assert _url("rota", community) not in page


def test_list_past_meetings_are_paginated(client):
    community = _community()
    for n in range(12):
        _past_meeting(community, days_ago=10 + n, title=f"Past number {n:02d}")
    client.force_login(_member(community))

    first = _page(client.get(_url("list", community)))
    second = _page(client.get(_url("list", community) + "?page=2"))

    assert [f"Past number {n:02d}" in first for n in (0, 9, 10, 11)] == [True, True, False, False]
    assert [f"Past number {n:02d}" in second for n in (0, 9, 10, 11)] == [False, False, True, True]
    assert "Page 1 of 2" in first


def test_list_manager_links_to_series_and_single_meeting(client):
    community = _community()
    client.force_login(_manager(community))

    page = _page(client.get(_url("list", community)))

    assert _url("series_list", community) in page
    assert _url("create", community) in page


def test_list_member_has_no_manager_links(client):
    community = _community()
    client.force_login(_member(community))

    page = _page(client.get(_url("list", community)))

    assert _url("series_list", community) not in page
    assert _url("create", community) not in page


def _list_queries(client, community) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(_url("list", community))
    assert response.status_code == 200
    return len(queries.captured_queries)


@pytest.mark.parametrize("viewer", ["member", "manager", "outsider"])
def test_list_query_count_does_not_grow_with_meetings(client, viewer):
    community = _community()
    _member(community)
    client.force_login(_viewer(viewer, community))
    _meeting(community, days=10)
    _past_meeting(community, chair=_member(community))
    one = _list_queries(client, community)

    for days in (40, 70):
        _meeting(community, days=days)
        _past_meeting(community, days_ago=days, chair=_member(community))
    upcoming = Meeting.objects.filter(starts_at__gt=timezone.now()).first()
    services.chair_confirm(actor=UserFactory(is_staff=True), meeting=upcoming)
    three = _list_queries(client, community)

    assert one == three


# The meeting page


@pytest.mark.parametrize(
    ("viewer", "sees_link"),
    [
        ("outsider", False),
        ("pending", False),
        ("member", True),
        ("manager", True),
        ("staff", True),
    ],
)
def test_detail_video_link_only_for_members(client, viewer, sees_link):
    community = _community()
    meeting = _meeting(community)
    _sign_in(client, _viewer(viewer, community))

    response = client.get(_meeting_url("detail", meeting))

    assert response.status_code == 200
    assert (VIDEO in _page(response)) is sees_link


def test_detail_video_link_never_in_a_non_member_page_even_in_meeting_own_link(client):
    community = _community()
    meeting = _meeting(community, video_url="https://video.example.org/own-link")
    _member(community)
    client.force_login(UserFactory())

    page = _page(client.get(_meeting_url("detail", meeting)))

    assert "video.example.org" not in page


def test_detail_shows_meeting_zone_and_viewer_zone_when_they_differ(client):
    community = _community(timezone="America/Toronto")
    meeting = _meeting(community)
    client.force_login(_member(community, user__timezone="America/St_Johns"))

    response = client.get(_meeting_url("detail", meeting))

    toronto = meeting.starts_at.astimezone(ZoneInfo("America/Toronto"))
    assert (toronto.hour, toronto.minute) == (12, 0)
    expected = f"{dateformat.format(toronto, 'N j, Y')}, noon in Toronto — 1:30 p.m. your time"
    assert expected in _page(response)


def test_detail_shows_one_time_when_zones_agree(client):
    community = _community(timezone="America/Toronto")
    meeting = _meeting(community)
    client.force_login(_member(community, user__timezone="America/Toronto"))

    page = _page(client.get(_meeting_url("detail", meeting)))

    toronto = meeting.starts_at.astimezone(ZoneInfo("America/Toronto"))
    assert f"{dateformat.format(toronto, 'N j, Y')}, noon {toronto.tzname()}</time>" in page
    assert "your time" not in page


def test_detail_chair_and_backup_projected_then_confirmed(client):
    community = _community()
    alice = _member(community, days=500, user__display_name="Dr. Alice")
    _member(community, days=400, user__display_name="Dr. Bob")
    meeting = _meeting(community)
    client.force_login(alice)

    before = _page(client.get(_meeting_url("detail", meeting)))
    services.chair_confirm(actor=UserFactory(is_staff=True), meeting=meeting)
    after = _page(client.get(_meeting_url("detail", meeting)))

    assert "Chair: Dr. Alice" in before
    assert "Backup: Dr. Bob" in before
    assert before.count("projected by the rota") == 2
    assert "Chair: Dr. Alice" in after
    assert "Backup: Dr. Bob" in after
    assert "projected by the rota" not in after
    assert '<span class="badge confirmed">confirmed</span>' in after


def test_detail_reason_for_managers_only(client):
    community = _community()
    _member(community, days=500, user__display_name="Dr. Alice")
    meeting = _meeting(community)
    reason = selectors.rota_turn(meeting=meeting).reason
    assert reason.startswith("never chaired; joined ")

    client.force_login(_manager(community))
    manager_page = _page(client.get(_meeting_url("detail", meeting)))
    client.force_login(_member(community))
    member_page = _page(client.get(_meeting_url("detail", meeting)))

    assert escape(reason) in manager_page
    assert escape(reason) not in member_page


def test_detail_no_chair_yet_says_why_to_managers(client):
    community = _community()
    manager = _manager(community, willing_to_chair=False)
    meeting = _meeting(community)
    client.force_login(manager)

    page = _page(client.get(_meeting_url("detail", meeting)))

    assert "No chair yet" in page
    assert "No chair yet: no member is willing to chair." in page


def _answers(community, meeting):
    yes = _member(community, user__display_name="Dr. Yes")
    maybe = _member(community, user__display_name="Dr. Maybe")
    services.answer_set(user=yes, meeting=meeting, response=Response.YES, note="Bringing slides")
    services.answer_set(user=maybe, meeting=meeting, response=Response.MAYBE, note="On call")


@pytest.mark.parametrize(
    ("viewer", "names", "notes"),
    [("outsider", False, False), ("member", True, False), ("manager", True, True)],
)
def test_detail_answers_by_viewer(client, viewer, names, notes):
    community = _community()
    meeting = _meeting(community)
    _answers(community, meeting)
    _sign_in(client, _viewer(viewer, community))

    page = _page(client.get(_meeting_url("detail", meeting)))

    answers = page[page.index("Who is coming") :]
    assert "Yes: 1 · Maybe: 1 · No: 0" in answers
    assert ("Dr. Yes" in answers) is names
    assert ("Dr. Maybe" in answers) is notes
    assert ("Bringing slides" in page) is notes
    assert ("On call" in page) is notes


def test_detail_confirmed_chair_sees_every_answer_and_note(client):
    community = _community()
    chair = _member(community, days=900)
    meeting = _meeting(community)
    services.chair_confirm(actor=UserFactory(is_staff=True), meeting=meeting)
    _answers(community, meeting)
    client.force_login(chair)

    page = _page(client.get(_meeting_url("detail", meeting)))

    assert "Bringing slides" in page
    assert "Dr. Maybe" in page
    assert _meeting_url("handover", meeting) in page


def test_detail_non_member_has_no_forms_and_no_side_chat(client):
    community = _community()
    meeting = _meeting(community)
    client.force_login(UserFactory())

    page = _page(client.get(_meeting_url("detail", meeting)))

    assert '<form method="post" action="/c/' not in page
    assert _meeting_url("answer", meeting) not in page
    assert reverse("rooms:room_detail", args=[community.slug, meeting.room_id]) not in page


def test_detail_member_links_to_side_chat(client):
    community = _community()
    meeting = _meeting(community)
    client.force_login(_member(community))

    page = _page(client.get(_meeting_url("detail", meeting)))

    assert meeting.room.kind == RoomKind.MEETING
    assert reverse("rooms:room_detail", args=[community.slug, meeting.room_id]) in page


def test_detail_manager_sees_the_managing_forms_before_the_start(client):
    community = _community()
    meeting = _meeting(community)
    _member(community)
    client.force_login(_manager(community))

    page = _page(client.get(_meeting_url("detail", meeting)))

    for name in ("edit", "cancel", "chair_confirm", "chair_override", "handover"):
        assert _meeting_url(name, meeting) in page, name
    assert _meeting_url("attendance", meeting) not in page


def test_detail_manager_sees_attendance_once_started(client):
    community = _community()
    meeting = _started_meeting(community)
    client.force_login(_manager(community))

    page = _page(client.get(_meeting_url("detail", meeting)))

    assert _meeting_url("attendance", meeting) in page
    for name in ("edit", "cancel", "chair_confirm", "chair_override"):
        assert _meeting_url(name, meeting) not in page, name


# Answering


def test_answer_member_saves_and_can_change_it(client):
    community = _community()
    meeting = _meeting(community)
    member = _member(community)
    client.force_login(member)

    response = client.post(
        _meeting_url("answer", meeting), {"response": "yes", "note": "  Glad to  come "}
    )
    client.post(_meeting_url("answer", meeting), {"response": "maybe", "note": ""})

    assert response.status_code == 302
    assert response["Location"] == _meeting_url("detail", meeting)
    assert _messages(response) == [("success", "Your answer is saved.")]
    assert list(Answer.objects.values_list("user", "response", "note")) == [
        (member.pk, "maybe", "")
    ]


def response_checked(page: str) -> list[str]:
    return re.findall(r'<input type="radio" name="response" value="(\w+)"[^>]* checked>', page)


def test_answer_form_shows_the_current_answer(client):
    community = _community()
    meeting = _meeting(community)
    member = _member(community)
    services.answer_set(user=member, meeting=meeting, response=Response.NO, note="Away")
    client.force_login(member)

    page = _page(client.get(_meeting_url("detail", meeting)))

    assert response_checked(page) == ["no"]
    assert "You answered: No." in page
    assert "Away</textarea>" in page


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"response": "perhaps"}, "response", "Select a valid choice. perhaps is not one of"),
        ({}, "response", "This field is required."),
        ({"response": "yes", "note": "x" * 501}, "note", "A note has at most 500 characters."),
    ],
)
def test_answer_bad_input_shows_message_and_changes_nothing(client, data, field, message):
    community = _community()
    meeting = _meeting(community)
    client.force_login(_member(community))
    before = _database()

    response = client.post(_meeting_url("answer", meeting), data)

    assert response.status_code == 400
    form = response.context["answer_form"]
    assert message in " ".join(form.errors[field])
    assert escape(message.split(" perhaps")[0]) in _page(response)
    assert _database() == before


def test_answer_after_the_start_is_refused_and_changes_nothing(client):
    community = _community()
    meeting = _started_meeting(community)
    client.force_login(_member(community))
    before = _database()

    response = client.post(_meeting_url("answer", meeting), {"response": "yes"})

    assert response.status_code == 400
    assert "This meeting has started; answers can no longer change." in _page(response)
    assert _database() == before


@pytest.mark.parametrize("viewer", ["outsider", "pending", "staff"])
def test_answer_non_member_is_refused_and_changes_nothing(client, viewer):
    community = _community()
    meeting = _meeting(community)
    _sign_in(client, _viewer(viewer, community))
    before = _database()

    response = client.post(_meeting_url("answer", meeting), {"response": "yes"})

    assert response.status_code == 403
    assert escape("Only this community's members can do that.") in _page(response)
    assert _database() == before


# Managing one meeting


def test_meeting_create_by_manager_plans_a_meeting_with_its_side_chat(client):
    community = _community(timezone="America/Halifax")
    client.force_login(_manager(community))
    day = _future_day(20)

    response = client.post(
        _url("create", community),
        {
            "title": "Special session",
            "day": day.isoformat(),
            "start_time": "09:30",
            "timezone": "America/Regina",
            "duration_minutes": "90",
            "video_url": "https://video.example.org/special",
        },
    )

    meeting = Meeting.objects.get()
    assert response.status_code == 302
    assert response["Location"] == _meeting_url("detail", meeting)
    local = meeting.starts_at.astimezone(ZoneInfo("America/Regina"))
    assert (local.date(), local.time()) == (day, time(9, 30))
    assert (meeting.title, meeting.duration_minutes) == ("Special session", 90)
    assert meeting.series is None
    assert meeting.video_url == "https://video.example.org/special"
    assert meeting.room.kind == RoomKind.MEETING


def test_meeting_create_form_defaults_to_community_zone_and_link(client):
    community = _community(timezone="America/Winnipeg")
    client.force_login(_manager(community))

    response = client.get(_url("create", community))

    form = response.context["form"]
    assert form["timezone"].value() == "America/Winnipeg"
    assert form["video_url"].value() == VIDEO
    assert form["duration_minutes"].value() == 60


def _spring_forward_sunday(zone: str) -> date:
    """The next day the clocks go forward at 2:00 in `zone` (2:30 does not exist)."""
    day = _future_day(1)
    while True:
        moment = datetime.combine(day, time(2, 30), tzinfo=ZoneInfo(zone))
        if moment.astimezone(UTC).astimezone(ZoneInfo(zone)).time() != time(2, 30):
            return day
        day += timedelta(days=1)


def _meeting_data(**changes) -> dict:
    return {
        "title": "Special session",
        "day": _future_day(20).isoformat(),
        "start_time": "12:00",
        "timezone": "America/Toronto",
        "duration_minutes": "60",
        "video_url": "",
        **changes,
    }


def _bad_meeting_inputs():
    sunday = _spring_forward_sunday("America/Vancouver")
    past = (timezone.now() - timedelta(days=2)).date().isoformat()
    return [
        ({"duration_minutes": "0"}, "duration_minutes", LENGTH_MESSAGE),
        ({"duration_minutes": "481"}, "duration_minutes", LENGTH_MESSAGE),
        (
            {"day": sunday.isoformat(), "start_time": "02:30", "timezone": "America/Vancouver"},
            "start_time",
            f"2:30 a.m. does not exist on {dateformat.format(sunday, 'N j, Y')} in "
            "America/Vancouver: the clocks go forward that night. Choose another time.",
        ),
        (
            {"timezone": "Mars/Olympus_Mons"},
            "timezone",
            "“Mars/Olympus_Mons” is not a time zone we know. Choose one from the list.",
        ),
        ({"title": "   "}, "title", "Give it a title."),
        ({"day": past}, "day", "Choose a time in the future."),
    ]


@pytest.mark.parametrize("case", range(6))
def test_meeting_create_bad_input_shows_message_by_field_and_changes_nothing(client, case):
    changes, field, message = _bad_meeting_inputs()[case]
    community = _community()
    client.force_login(_manager(community))
    before = _database()

    response = client.post(_url("create", community), _meeting_data(**changes))

    assert response.status_code == 400
    assert response.context["form"].errors[field] == [message]
    assert escape(message) in _page(response)
    assert _database() == before


@pytest.mark.parametrize("case", range(6))
def test_meeting_edit_bad_input_shows_message_by_field_and_changes_nothing(client, case):
    changes, field, message = _bad_meeting_inputs()[case]
    community = _community()
    meeting = _meeting(community)
    client.force_login(_manager(community))
    before = _database()

    response = client.post(_meeting_url("edit", meeting), _meeting_data(**changes))

    assert response.status_code == 400
    assert response.context["form"].errors[field] == [message]
    assert _database() == before


def test_meeting_edit_moves_one_meeting_of_a_series_only(client):
    community = _community()
    series = _series(community)
    first, second = Meeting.objects.filter(series=series).order_by("starts_at")[:2]
    client.force_login(_manager(community))
    local = first.starts_at.astimezone(ZoneInfo(series.timezone))

    response = client.post(
        _meeting_url("edit", first),
        _meeting_data(
            title="Moved call",
            day=local.date().isoformat(),
            start_time="13:15",
            timezone=series.timezone,
            duration_minutes="120",
            video_url="https://video.example.org/other",
        ),
    )

    assert response.status_code == 302
    first.refresh_from_db()
    moved = first.starts_at.astimezone(ZoneInfo(series.timezone))
    assert (moved.date(), moved.time()) == (local.date(), time(13, 15))
    assert (first.title, first.duration_minutes) == ("Moved call", 120)
    assert first.video_url == "https://video.example.org/other"
    assert sorted(first.own_changes) == ["duration", "start", "title", "video_url"]
    assert _row(second)["title"] == "Monthly call"


def test_meeting_edit_form_shows_the_meeting_in_its_zone(client):
    community = _community(timezone="America/Toronto")
    meeting = _meeting(community, timezone_name="America/Edmonton", at=time(8, 45))
    client.force_login(_manager(community, user__timezone="America/St_Johns"))

    form = client.get(_meeting_url("edit", meeting)).context["form"]

    assert form["start_time"].value() == time(8, 45)
    assert form["timezone"].value() == "America/Edmonton"
    assert form["day"].value() == _future_day(30)


def test_meeting_edit_after_the_start_is_refused_and_changes_nothing(client):
    community = _community()
    meeting = _started_meeting(community)
    client.force_login(_manager(community))
    before = _database()

    response = client.post(_meeting_url("edit", meeting), _meeting_data())

    assert response.status_code == 400
    assert response.context["form"].non_field_errors() == [
        "This meeting has started; it can no longer be changed."
    ]
    assert _database() == before


def test_meeting_cancel_by_manager_marks_it_cancelled(client):
    community = _community()
    meeting = _meeting(community)
    client.force_login(_manager(community))

    response = client.post(_meeting_url("cancel", meeting))

    assert response.status_code == 302
    assert _messages(response) == [("success", "The meeting is cancelled.")]
    assert _row(meeting)["status"] == MeetingStatus.CANCELLED
    page = _page(client.get(_meeting_url("detail", meeting)))
    assert '<span class="badge cancelled">Cancelled</span>' in page
    assert _meeting_url("answer", meeting) not in page


def test_meeting_cancel_twice_says_so_and_changes_nothing(client):
    community = _community()
    meeting = _meeting(community)
    services.meeting_cancel(actor=UserFactory(is_staff=True), meeting=meeting)
    client.force_login(_manager(community))
    before = _database()

    response = client.post(_meeting_url("cancel", meeting))

    assert response.status_code == 302
    assert response["Location"] == _meeting_url("detail", meeting)
    assert _messages(response) == [("error", "This meeting is already cancelled.")]
    assert _database() == before


def test_chair_confirm_by_manager_confirms_the_rota_choice(client):
    community = _community()
    alice = _member(community, days=900, user__display_name="Dr. Alice")
    meeting = _meeting(community)
    client.force_login(_manager(community))

    response = client.post(_meeting_url("chair_confirm", meeting))

    assert _messages(response) == [("success", "The chair is confirmed and told.")]
    row = _row(meeting)
    assert row["chair_id"] == alice.pk
    assert row["chair_confirmed_at"] is not None


def test_chair_confirm_with_nobody_willing_says_why_and_changes_nothing(client):
    community = _community()
    manager = _manager(community, willing_to_chair=False)
    meeting = _meeting(community)
    client.force_login(manager)
    before = _database()

    response = client.post(_meeting_url("chair_confirm", meeting))

    assert _messages(response) == [("error", "No chair yet: no member is willing to chair.")]
    assert _database() == before


def test_chair_override_by_manager_gives_the_meeting_to_the_member(client):
    community = _community()
    _member(community, days=900)
    chosen = _member(community, days=10, user__display_name="Dr. Chosen")
    meeting = _meeting(community)
    manager = _manager(community)
    client.force_login(manager)

    response = client.post(_meeting_url("chair_override", meeting), {"chair": chosen.pk})

    assert response.status_code == 302
    assert _messages(response) == [("success", "Dr. Chosen now chairs this meeting.")]
    assert _row(meeting)["chair_id"] == chosen.pk
    change = ChairChange.objects.get()
    assert (change.chair, change.actor, change.kind) == (chosen, manager, "override")


@pytest.mark.parametrize("who", ["outsider", "nobody"])
def test_chair_override_with_a_non_member_shows_message_and_changes_nothing(client, who):
    community = _community()
    meeting = _meeting(community)
    client.force_login(_manager(community))
    chair = UserFactory().pk if who == "outsider" else ""
    before = _database()

    response = client.post(_meeting_url("chair_override", meeting), {"chair": chair})

    assert response.status_code == 400
    assert response.context["override_form"].errors["chair"]
    assert _database() == before


def test_attendance_by_manager_records_each_member(client):
    community = _community()
    meeting = _started_meeting(community)
    present, regrets, unknown = (_member(community) for _ in range(3))
    manager = _manager(community)
    client.force_login(manager)

    response = client.post(
        _meeting_url("attendance", meeting),
        {
            f"user_{present.pk}": "present",
            f"user_{regrets.pk}": "regrets",
            f"user_{unknown.pk}": "",
        },
    )

    assert response.status_code == 302
    assert _messages(response) == [("success", "Attendance is saved.")]
    assert selectors.attendance_for(meeting=meeting) == {
        present.pk: AttendanceStatus.PRESENT,
        regrets.pk: AttendanceStatus.REGRETS,
    }
    assert set(Attendance.objects.values_list("recorded_by", flat=True)) == {manager.pk}


def test_attendance_before_the_start_is_refused_and_changes_nothing(client):
    community = _community()
    meeting = _meeting(community)
    member = _member(community)
    client.force_login(_manager(community))
    before = _database()

    response = client.post(_meeting_url("attendance", meeting), {f"user_{member.pk}": "present"})

    assert response.status_code == 400
    assert "Attendance is recorded once the meeting has started." in _page(response)
    assert _database() == before


def test_attendance_bad_status_shows_message_and_changes_nothing(client):
    community = _community()
    meeting = _started_meeting(community)
    member = _member(community)
    client.force_login(_manager(community))
    before = _database()

    response = client.post(_meeting_url("attendance", meeting), {f"user_{member.pk}": "asleep"})

    assert response.status_code == 400
    assert response.context["attendance_form"].errors[f"user_{member.pk}"]
    assert _database() == before


# The handover page


@pytest.fixture
def handover_section(settings, tmp_path):
    """A section as agendas or minutes would register one, with its own template."""
    (tmp_path / "section.html").write_text("<p>Topic: {{ topic }} for {{ meeting.title }}</p>")
    settings.TEMPLATES = [
        {**settings.TEMPLATES[0], "DIRS": [*settings.TEMPLATES[0]["DIRS"], tmp_path]}
    ]
    section = hooks.HandoverSection(
        key="topics",
        title="Proposed topics",
        template="section.html",
        context=lambda *, meeting, user: {"topic": f"Sleep medicine ({user.display_name})"},
    )
    hooks.handover_sections.append(section)
    yield section
    hooks.handover_sections.remove(section)


def _handover_meeting():
    community = _community(timezone="America/Toronto")
    before = _member(community, days=500, user__display_name="Dr. Earlier")
    chair = _member(
        community, days=400, user__display_name="Dr. Chair", user__timezone="America/Vancouver"
    )
    backup = _member(community, days=300, user__display_name="Dr. Backup")
    _past_meeting(community, days_ago=20, chair=before)
    newcomer = _member(community, days=5, user__display_name="Dr. Newcomer")
    meeting = _meeting(community)
    services.chair_override(actor=UserFactory(is_staff=True), meeting=meeting, user=chair)
    services.chair_confirm(actor=UserFactory(is_staff=True), meeting=meeting)
    meeting.refresh_from_db()
    assert (meeting.chair, meeting.backup) == (chair, backup)
    return community, meeting, chair, newcomer


def test_handover_confirmed_chair_sees_everything_in_their_zone(client, handover_section):
    community, meeting, chair, _newcomer = _handover_meeting()
    client.force_login(chair)

    response = client.get(_meeting_url("handover", meeting))

    assert response.status_code == 200
    page = _page(response)
    toronto = meeting.starts_at.astimezone(ZoneInfo("America/Toronto"))
    assert f"{dateformat.format(toronto, 'N j, Y')}, noon in Toronto — 9 a.m. your time" in page
    assert "Dr. Backup" in page
    assert VIDEO in page
    assert reverse("rooms:room_detail", args=[community.slug, meeting.room_id]) in page
    assert "chaired by Dr. Earlier" in page
    new_members = page[page.index("New members to introduce") : page.index("Proposed topics")]
    assert "Dr. Newcomer" in new_members
    assert "Dr. Earlier" not in new_members
    assert "<p>Topic: Sleep medicine (Dr. Chair) for Monthly call</p>" in page


def test_handover_manager_sees_the_chair_zone(client, handover_section):
    community, meeting, _chair, _newcomer = _handover_meeting()
    client.force_login(_manager(community, user__timezone="America/Halifax"))

    page = _page(client.get(_meeting_url("handover", meeting)))

    vancouver = meeting.starts_at.astimezone(ZoneInfo("America/Vancouver"))
    halifax = meeting.starts_at.astimezone(ZoneInfo("America/Halifax"))
    assert (
        f"{dateformat.format(vancouver, 'N j, Y, P')} {vancouver.tzname()}</time> "
        "in the chair's time zone" in page
    )
    assert f"{dateformat.format(halifax, 'N j, Y, P')} {halifax.tzname()}</time> your time" in page


@pytest.mark.parametrize("viewer", ["member", "outsider", "backup", "projected"])
def test_handover_others_are_forbidden(client, viewer):
    community, meeting, _chair, _newcomer = _handover_meeting()
    later = _meeting(community, days=60)
    user = {
        "member": lambda: _member(community),
        "outsider": UserFactory,
        "backup": lambda: meeting.backup,
        "projected": lambda: selectors.rota_turn(meeting=later).chair,
    }[viewer]()
    client.force_login(user)

    response = client.get(_meeting_url("handover", later if viewer == "projected" else meeting))

    assert response.status_code == 403
    assert escape(
        "Only the meeting's confirmed chair and the managers see its handover page."
    ) in _page(response)


# Series


def _series_data(**changes) -> dict:
    return {
        "title": "Monthly call",
        "kind": "monthly_weekday",
        "ordinal": "2",
        "weekday": "1",
        "monthday": "15",
        "interval": "1",
        "first_date": _future_day(1).isoformat(),
        "start_time": "12:00",
        "timezone": "America/Toronto",
        "duration_minutes": "60",
        "video_url": VIDEO,
        **changes,
    }


def _second_tuesdays(count: int, after: date) -> list[date]:
    found, day = [], after
    while len(found) < count:
        if day.weekday() == 1 and 8 <= day.day <= 14:
            found.append(day)
        day += timedelta(days=1)
    return found


def test_series_create_form_defaults_to_community_zone_and_link(client):
    community = _community(timezone="America/Regina")
    client.force_login(_manager(community))

    form = client.get(_url("series_create", community)).context["form"]

    assert form["timezone"].value() == "America/Regina"
    assert form["video_url"].value() == VIDEO
    assert form["duration_minutes"].value() == 60
    assert form["kind"].value() == "monthly_weekday"


def test_series_preview_shows_three_dates_in_both_zones_and_saves_nothing(client):
    community = _community()
    client.force_login(_manager(community, user__timezone="America/St_Johns"))
    before = _database()

    response = client.post(
        _url("series_create", community),
        {**_series_data(timezone="America/Vancouver", start_time="09:00"), "preview": "1"},
    )

    assert response.status_code == 200
    preview = response.context["preview"]
    expected = _second_tuesdays(3, _future_day(1))
    assert [(m.date(), m.time()) for m in preview] == [(d, time(9)) for d in expected]
    page = _page(response)
    for moment in preview:
        vancouver = dateformat.format(moment, "N j, Y, P")
        st_johns = moment.astimezone(ZoneInfo("America/St_Johns"))
        assert f"{vancouver} {moment.tzname()}</time>" in page
        assert f"{dateformat.format(st_johns, 'N j, Y, P')} {st_johns.tzname()}</time>" in page
        assert st_johns.strftime("%H:%M") == "13:30"
    assert "Nothing is saved yet." in page
    assert _database() == before


def test_series_save_creates_the_series_and_its_meetings(client):
    community = _community()
    manager = _manager(community)
    client.force_login(manager)

    response = client.post(_url("series_create", community), {**_series_data(), "save": "1"})

    assert response.status_code == 302
    assert response["Location"] == _url("series_list", community)
    series = Series.objects.get()
    assert (series.rrule, series.timezone, series.created_by) == (
        "FREQ=MONTHLY;BYDAY=2TU",
        "America/Toronto",
        manager,
    )
    count = series.meetings.count()
    assert count in (12, 13)
    assert _messages(response) == [
        (
            "success",
            f"The series is saved. Meetings created: {count}; changed: 0; cancelled: 0.",
        )
    ]
    listing = _page(client.get(_url("series_list", community)))
    assert "monthly on the second Tuesday" in listing


@pytest.mark.parametrize(
    ("changes", "rrule"),
    [
        ({"kind": "monthly_weekday", "ordinal": "-1", "weekday": "3"}, "FREQ=MONTHLY;BYDAY=-1TH"),
        ({"kind": "monthly_day", "monthday": "15"}, "FREQ=MONTHLY;BYMONTHDAY=15"),
        ({"kind": "weekly", "interval": "2", "weekday": "0"}, "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO"),
    ],
)
def test_series_save_each_kind_of_rule(client, changes, rrule):
    community = _community()
    client.force_login(_manager(community))

    response = client.post(
        _url("series_create", community), {**_series_data(**changes), "save": "1"}
    )

    assert response.status_code == 302
    assert Series.objects.get().rrule == rrule


def _bad_series_inputs():
    sunday = _spring_forward_sunday("America/Vancouver")
    beyond = (timezone.now() + timedelta(days=400)).date()
    return [
        ({"duration_minutes": "0"}, "duration_minutes", LENGTH_MESSAGE),
        ({"duration_minutes": "481"}, "duration_minutes", LENGTH_MESSAGE),
        (
            {
                "kind": "weekly",
                "weekday": "6",
                "first_date": (sunday - timedelta(days=7)).isoformat(),
                "start_time": "02:30",
                "timezone": "America/Vancouver",
            },
            "start_time",
            f"2:30 a.m. does not exist on {dateformat.format(sunday, 'N j, Y')} in "
            "America/Vancouver: the clocks go forward that night. Choose another time.",
        ),
        (
            {"timezone": "Mars/Olympus_Mons"},
            "timezone",
            "“Mars/Olympus_Mons” is not a time zone we know. Choose one from the list.",
        ),
        (
            {"first_date": beyond.isoformat()},
            "kind",
            "This rule gives no meeting in the next 12 months.",
        ),
        ({"title": ""}, "title", "Give it a title."),
        ({"first_date": ""}, "first_date", "Give the first date and the start time."),
        (
            {"kind": "daily"},
            "kind",
            "Select a valid choice. daily is not one of the available choices.",
        ),
    ]


@pytest.mark.parametrize("button", ["preview", "save"])
@pytest.mark.parametrize("case", range(8))
def test_series_bad_input_shows_message_by_field_and_changes_nothing(client, case, button):
    changes, field, message = _bad_series_inputs()[case]
    community = _community()
    client.force_login(_manager(community))
    before = _database()

    response = client.post(
        _url("series_create", community), {**_series_data(**changes), button: "1"}
    )

    assert response.status_code == 400
    assert response.context["form"].errors[field] == [message]
    assert escape(message) in _page(response)
    assert response.context["preview"] is None
    assert _database() == before


def test_series_edit_shows_the_rule_and_updates_future_meetings(client):
    community = _community()
    series = _series(community, rrule="FREQ=MONTHLY;BYMONTHDAY=20", start_time=time(9, 30))
    client.force_login(_manager(community))

    form = client.get(_url("series_edit", community, series_id=series.pk)).context["form"]
    assert (form["kind"].value(), form["monthday"].value()) == ("monthly_day", 20)
    assert form["start_time"].value() == time(9, 30)

    response = client.post(
        _url("series_edit", community, series_id=series.pk),
        {
            **_series_data(kind="monthly_day", monthday="20", first_date=series.first_date),
            "title": "Renamed call",
            "start_time": "10:00",
            "save": "1",
        },
    )

    assert response.status_code == 302
    meetings = Meeting.objects.filter(series=series)
    assert set(meetings.values_list("title", flat=True)) == {"Renamed call"}
    local = {m.starts_at.astimezone(ZoneInfo("America/Toronto")).time() for m in meetings}
    assert local == {time(10)}


def test_series_edit_bad_input_changes_nothing(client):
    community = _community()
    series = _series(community)
    client.force_login(_manager(community))
    before = _database()

    response = client.post(
        _url("series_edit", community, series_id=series.pk),
        {**_series_data(duration_minutes="481"), "save": "1"},
    )

    assert response.status_code == 400
    assert response.context["form"].errors["duration_minutes"] == [
        "A meeting lasts from 1 minute to 8 hours (480 minutes)."
    ]
    assert _database() == before


def test_series_edit_keeps_a_rule_the_form_cannot_make(client):
    community = _community()
    series = _series(community, rrule="FREQ=MONTHLY;BYDAY=1TU,3TU")
    client.force_login(_manager(community))

    get = client.get(_url("series_edit", community, series_id=series.pk))
    response = client.post(
        _url("series_edit", community, series_id=series.pk),
        {**_series_data(kind="keep", first_date=series.first_date), "title": "Twice", "save": "1"},
    )

    assert "Keep the current rule (FREQ=MONTHLY;BYDAY=1TU,3TU)" in _page(get)
    assert response.status_code == 302
    series.refresh_from_db()
    assert (series.title, series.rrule) == ("Twice", "FREQ=MONTHLY;BYDAY=1TU,3TU")


def test_series_list_shows_each_series_with_its_next_meeting(client):
    community = _community()
    series = _series(community, title="Second Tuesdays")
    _series(_community(), title="Another community's")
    client.force_login(_manager(community))

    response = client.get(_url("series_list", community))

    page = _page(response)
    assert "Second Tuesdays" in page
    assert "Another community" not in page
    nxt = series.meetings.order_by("starts_at").first()
    assert nxt.starts_at.isoformat() in page
    assert _url("series_edit", community, series_id=series.pk) in page


# The rota


def _rota_community():
    community = _community()
    alice = _member(community, days=500, user__display_name="Dr. Alice")
    bob = _member(community, days=400, user__display_name="Dr. Bob")
    first = _meeting(community, title="First call", days=10)
    second = _meeting(community, title="Second call", days=40)
    return community, alice, bob, first, second


@pytest.mark.parametrize("viewer", ["outsider", "pending"])
def test_rota_non_member_is_forbidden(client, viewer):
    community, *_rest = _rota_community()
    _sign_in(client, _viewer(viewer, community))

    response = client.get(_url("rota", community))

    assert response.status_code == 403
    assert escape("Only this community's members see its chair rota.") in _page(response)
    assert "Dr. Alice" not in _page(response)


def test_rota_member_sees_turns_and_fairness_without_reasons_or_log(client):
    community, alice, bob, first, second = _rota_community()
    services.chair_confirm(actor=UserFactory(is_staff=True), meeting=first)
    client.force_login(alice)

    response = client.get(_url("rota", community))

    assert response.status_code == 200
    page = _page(response)
    assert [(t.chair, t.confirmed) for t in response.context["turns"]] == [
        (alice, True),
        (bob, False),
    ]
    assert [(r.user, r.times, r.next_turn) for r in response.context["fairness"]] == [
        (alice, 0, first),
        (bob, 0, second),
    ]
    assert "0 of 0" in page
    assert "never chaired" not in page
    assert "Changes of chair" not in page
    assert "You are willing to chair meetings." in page


def test_rota_manager_sees_reasons_and_log(client):
    community, _alice, _bob, first, _second = _rota_community()
    manager = _manager(community, willing_to_chair=False)
    services.chair_confirm(actor=manager, meeting=first)
    client.force_login(manager)

    page = _page(client.get(_url("rota", community)))

    assert "never chaired; joined" in page
    assert "Changes of chair" in page
    log = page[page.index("Changes of chair") :]
    assert "Dr. Alice" in log
    assert manager.display_name in log


def test_rota_fairness_counts_attendance_since_joining(client):
    community, alice, bob, _first, _second = _rota_community()
    held = _past_meeting(community, days_ago=100, chair=alice)
    services.attendance_set(
        actor=UserFactory(is_staff=True), meeting=held, user=alice, status="present"
    )
    _past_meeting(community, days_ago=450)  # before Bob joined
    client.force_login(bob)

    rows = {r.user: r for r in client.get(_url("rota", community)).context["fairness"]}

    assert (rows[alice].times, rows[alice].attended, rows[alice].held_since_joined) == (1, 1, 2)
    assert (rows[bob].times, rows[bob].attended, rows[bob].held_since_joined) == (0, 0, 1)


def test_rota_willing_toggle_leaves_and_rejoins_the_rota(client):
    community, alice, bob, _first, _second = _rota_community()
    client.force_login(alice)

    response = client.post(_url("rota_willing", community), {"willing": "no"})

    assert response.status_code == 302
    assert _messages(response) == [
        ("success", "You are out of the chair's rota; your turns go to others.")
    ]
    assert not Membership.objects.get(user=alice).willing_to_chair
    assert {t.chair for t in selectors.rota_turns(community=community)} == {bob}
    page = _page(client.get(_url("rota", community)))
    assert "not willing to chair" in page

    client.post(_url("rota_willing", community), {"willing": "yes"})
    assert Membership.objects.get(user=alice).willing_to_chair


def test_rota_swap_proposed_accepted(client, mailoutbox):
    community, alice, bob, first, second = _rota_community()
    client.force_login(alice)

    form = client.get(_url("rota", community)).context["swap_form"]
    assert [v for v, _label in form.fields["meeting"].choices] == [first.pk]
    assert [v for v, _label in form.fields["partner_meeting"].choices] == [second.pk]
    response = client.post(
        _url("swap_propose", community), {"meeting": first.pk, "partner_meeting": second.pk}
    )

    assert response.status_code == 302
    assert _messages(response) == [("success", "Your proposal is sent to Dr. Bob.")]
    swap = ChairSwap.objects.get()
    assert (swap.proposer, swap.partner, swap.status) == (alice, bob, SwapStatus.PROPOSED)
    assert _url("swap_withdraw", community, swap_id=swap.pk) in _page(
        client.get(_url("rota", community))
    )

    client.force_login(bob)
    bob_page = _page(client.get(_url("rota", community)))
    assert _url("swap_accept", community, swap_id=swap.pk) in bob_page
    response = client.post(_url("swap_accept", community, swap_id=swap.pk))

    assert _messages(response) == [("success", "The turns are swapped.")]
    assert [t.chair for t in selectors.rota_turns(community=community)] == [bob, alice]


def test_rota_swap_declined_and_withdrawn(client):
    community, alice, bob, first, second = _rota_community()
    declined = services.swap_propose(user=alice, meeting=first, partner_meeting=second)
    client.force_login(bob)
    response = client.post(_url("swap_decline", community, swap_id=declined.pk))
    assert _messages(response) == [("success", "You declined the swap.")]
    client.get(_url("rota", community))  # shows the message, once
    withdrawn = services.swap_propose(user=alice, meeting=first, partner_meeting=second)
    client.force_login(alice)
    response = client.post(_url("swap_withdraw", community, swap_id=withdrawn.pk))

    assert _messages(response) == [("success", "Your proposal is withdrawn.")]
    assert list(ChairSwap.objects.order_by("pk").values_list("status", flat=True)) == [
        SwapStatus.DECLINED,
        SwapStatus.WITHDRAWN,
    ]
    assert [t.chair for t in selectors.rota_turns(community=community)] == [alice, bob]


def test_rota_swap_answered_by_someone_else_is_forbidden_and_changes_nothing(client):
    community, alice, _bob, first, second = _rota_community()
    swap = services.swap_propose(user=alice, meeting=first, partner_meeting=second)
    client.force_login(_member(community))
    before = _database()

    response = client.post(_url("swap_accept", community, swap_id=swap.pk))

    assert response.status_code == 403
    assert escape("This swap was not proposed to you.") in _page(response)
    assert _database() == before


def test_rota_swap_proposed_twice_shows_message_and_changes_nothing(client):
    community, alice, _bob, first, second = _rota_community()
    services.swap_propose(user=alice, meeting=first, partner_meeting=second)
    client.force_login(alice)
    before = _database()

    response = client.post(
        _url("swap_propose", community), {"meeting": first.pk, "partner_meeting": second.pk}
    )

    assert response.status_code == 400
    assert response.context["swap_form"].non_field_errors() == [
        "You have already proposed this swap."
    ]
    assert _database() == before


def test_rota_swap_of_a_turn_not_yours_shows_message_and_changes_nothing(client):
    community, alice, _bob, _first, second = _rota_community()
    client.force_login(alice)
    before = _database()

    response = client.post(
        _url("swap_propose", community), {"meeting": second.pk, "partner_meeting": second.pk}
    )

    assert response.status_code == 400
    assert response.context["swap_form"].errors["meeting"]
    assert _database() == before


def _rota_queries(client, community) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(_url("rota", community))
    assert response.status_code == 200
    return len(queries.captured_queries)


@pytest.mark.parametrize("viewer", ["member", "manager"])
def test_rota_query_count_does_not_grow_with_meetings(client, viewer):
    community = _community()
    members = [_member(community, days=500 - n) for n in range(4)]
    user = _viewer(viewer, community)
    client.force_login(user)
    staff = UserFactory(is_staff=True)
    first = _meeting(community, days=10)
    services.chair_confirm(actor=staff, meeting=first)
    _past_meeting(community, chair=members[0])
    one = _rota_queries(client, community)

    for days in (40, 70):
        _meeting(community, days=days)
        held = _past_meeting(community, days_ago=days, chair=members[1])
        services.attendance_set(actor=staff, meeting=held, user=members[1], status="present")
    later = Meeting.objects.filter(starts_at__gt=timezone.now()).order_by("starts_at")
    services.chair_override(actor=staff, meeting=later[1], user=members[3])
    services.swap_propose(user=members[3], meeting=later[1], partner_meeting=later[2])
    three = _rota_queries(client, community)

    assert one == three


# Links and languages


@pytest.mark.parametrize(
    ("viewer", "meetings", "series"),
    [("outsider", False, False), ("member", True, False), ("manager", True, True)],
)
def test_community_page_links_to_meetings_rota_and_series(client, viewer, meetings, series):
    community = _community()
    _sign_in(client, _viewer(viewer, community))

    page = _page(client.get(community.get_absolute_url()))

    assert (f'href="{_url("list", community)}">Meetings</a>' in page) is meetings
    assert (f'href="{_url("rota", community)}">Chair rota</a>' in page) is meetings
    assert (f'href="{_url("series_list", community)}">Meeting series</a>' in page) is series


def test_detail_in_french(client):
    community = _community(timezone="America/Toronto")
    meeting = _meeting(community)
    client.force_login(_member(community, user__language="fr", user__timezone="America/St_Johns"))

    page = _page(client.get(_meeting_url("detail", meeting)))

    assert "Se joindre à l\N{RIGHT SINGLE QUOTATION MARK}appel vidéo" in page
    assert "12:00 à Toronto — 13:30 chez vous" in page
    assert "Qui sera présent" in page
