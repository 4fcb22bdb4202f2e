"""Site administrators see the minutes of an ended meeting, its revisions and records in
the admin; what must go through the services (a revision, an attachment) is read-only."""

import pytest

from minutes.models import ActionItem, Minutes, MinutesRevision
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.mark.parametrize(
    "url",
    [
        "/admin/minutes/minutes/?q=call",
        "/admin/minutes/minutesrevision/?q=triage&status__exact=draft",
        "/admin/minutes/actionitem/?q=triage&status__exact=open",
        "/admin/minutes/note/?q=night",
        "/admin/minutes/decision/?q=triage",
        "/admin/minutes/attachment/?q=slides",
        "/admin/minutes/lineswithheld/",
    ],
)
def test_admin_lists_answer(admin_client, ended, url):
    response = admin_client.get(url)

    assert response.status_code == 200
    assert b'id="changelist-search"' in response.content or url.endswith("withheld/")


def test_admin_shows_the_minutes_and_keeps_revisions_read_only(admin_client, ended):
    minutes = Minutes.objects.get(meeting=ended.meeting)
    revision = MinutesRevision.objects.get(minutes=minutes)
    action = ActionItem.objects.get(meeting=ended.meeting)

    assert admin_client.get(f"/admin/minutes/minutes/{minutes.pk}/change/").status_code == 200
    page = admin_client.get(f"/admin/minutes/minutesrevision/{revision.pk}/change/")
    assert page.status_code == 200 and b'name="body"' not in page.content
    assert admin_client.get("/admin/minutes/minutesrevision/add/").status_code == 403
    assert admin_client.get(f"/admin/minutes/actionitem/{action.pk}/change/").status_code == 200
