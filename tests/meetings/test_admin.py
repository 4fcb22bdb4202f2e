from datetime import date, time

import pytest
from django.utils import timezone

from communities.enums import Role
from meetings import services
from meetings.enums import MeetingStatus
from meetings.models import Meeting, Series
from tests.factories import CommunityFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def series(staff):
    community = CommunityFactory()
    MembershipFactory(community=community, user=staff, role=Role.MANAGER)
    MembershipFactory(community=community)
    created, _ = services.series_create(
        actor=staff,
        community=community,
        title="Monthly call",
        rrule="FREQ=MONTHLY;BYDAY=2TU",
        first_date=date.today(),
        start_time=time(12),
    )
    return created


@pytest.mark.parametrize(
    "url",
    [
        "/admin/meetings/series/?q=call",
        "/admin/meetings/meeting/?q=call&status__exact=scheduled",
        "/admin/meetings/answer/?q=person",
        "/admin/meetings/attendance/?q=person",
        "/admin/meetings/chairchange/?q=call",
        "/admin/meetings/chairswap/?q=person",
    ],
)
def test_admin_changelists_filter_and_search(admin_client, series, url):
    response = admin_client.get(url)

    assert response.status_code == 200
    assert b'id="changelist-search"' in response.content
    assert b'id="changelist-filter"' in response.content


def test_admin_meeting_page_is_read_only_and_cancel_goes_through_the_service(admin_client, series):
    meeting = series.meetings.order_by("starts_at").first()
    assert admin_client.get(f"/admin/meetings/meeting/{meeting.pk}/change/").status_code == 200

    response = admin_client.post(
        "/admin/meetings/meeting/",
        {"action": "cancel_meetings", "_selected_action": [meeting.pk]},
        follow=True,
    )

    meeting.refresh_from_db()
    assert response.status_code == 200
    assert meeting.status == MeetingStatus.CANCELLED
    assert meeting.sequence == 1  # the service raised it, as on the site
    assert "status" in meeting.own_changes


def test_admin_series_edit_goes_through_the_service(admin_client, series):
    url = f"/admin/meetings/series/{series.pk}/change/"
    data = {
        "title": "Renamed call",
        "rrule": series.rrule,
        "first_date": series.first_date.isoformat(),
        "start_time": "13:00",
        "timezone": series.timezone,
        "duration_minutes": 90,
        "video_url": "",
        "invite_days_before": 21,
    }

    response = admin_client.post(url, data, follow=True)

    assert response.status_code == 200
    future = Meeting.objects.filter(series=series, starts_at__gt=timezone.now())
    assert set(future.values_list("title", "duration_minutes")) == {("Renamed call", 90)}


def test_admin_series_bad_rule_shows_the_reason_and_changes_nothing(admin_client, series):
    before = list(Meeting.objects.values_list("pk", "starts_at", "sequence"))
    data = {
        "title": "Call",
        "rrule": "FREQ=DAILY;BYHOUR=9,10",
        "first_date": series.first_date.isoformat(),
        "start_time": "12:00",
        "timezone": series.timezone,
        "duration_minutes": 60,
        "video_url": "",
        "invite_days_before": 21,
    }

    response = admin_client.post(f"/admin/meetings/series/{series.pk}/change/", data)

    assert response.status_code == 200
    assert "more than one meeting a day" in response.content.decode()
    assert list(Meeting.objects.values_list("pk", "starts_at", "sequence")) == before
    assert Series.objects.get(pk=series.pk).rrule == "FREQ=MONTHLY;BYDAY=2TU"


def test_admin_membership_willingness_is_read_only(admin_client):
    membership = MembershipFactory()

    response = admin_client.get(f"/admin/communities/membership/{membership.pk}/change/")

    assert response.status_code == 200
    assert b'name="willing_to_chair"' not in response.content
