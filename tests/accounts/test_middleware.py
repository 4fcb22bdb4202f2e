"""Each person sees the site in their own time zone and language."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import dateformat, translation

from communities.models import Invitation
from tests.factories import CommunityFactory, MembershipFactory, UserFactory

JANUARY = datetime(2026, 1, 15, 15, 0, tzinfo=UTC)
JULY = datetime(2026, 7, 15, 15, 0, tzinfo=UTC)


def time_tag(value: datetime, zone_name: str, fmt: str = "N j, Y, P") -> str:
    """What the `when` filter should render, computed independently with zoneinfo."""
    local = value.astimezone(ZoneInfo(zone_name))
    with translation.override("en"):
        formatted = dateformat.format(local, fmt)
    return f'<time datetime="{value.isoformat()}">{formatted} {local.tzname()}</time>'


def invitation_expiring_at(expires_at: datetime) -> Invitation:
    return Invitation.objects.create(
        community=CommunityFactory(join_policy="invitation"),
        token="an-invitation-token-for-time-zone-tests",
        expires_at=expires_at,
    )


def future(value: datetime) -> datetime:
    """The same time of year, a few years ahead, so an invitation is still valid."""
    return value.replace(year=datetime.now(UTC).year + 3)


# Time zones


@pytest.mark.django_db
@pytest.mark.parametrize(("joined_at", "zone_abbreviation"), [(JANUARY, "NST"), (JULY, "NDT")])
def test_member_sees_joined_time_in_their_own_zone(client, joined_at, zone_abbreviation):
    user = UserFactory(timezone="America/St_Johns", display_name="Dr. Lee")
    membership = MembershipFactory(user=user, joined_at=joined_at)
    client.force_login(user)

    response = client.get(membership.community.get_absolute_url())

    content = response.content.decode()
    assert response.status_code == 200
    assert f"Joined {time_tag(joined_at, 'America/St_Johns')}." in content
    assert f"joined {time_tag(joined_at, 'America/St_Johns', 'N j, Y')}" in content
    assert f"{zone_abbreviation}</time>" in content
    assert "Times are shown in America/St_Johns." in content


@pytest.mark.django_db
def test_member_newfoundland_time_is_half_an_hour_off_the_atlantic(client):
    user = UserFactory(timezone="America/St_Johns")
    membership = MembershipFactory(user=user, joined_at=JANUARY)
    client.force_login(user)

    response = client.get(membership.community.get_absolute_url())

    assert (
        'Joined <time datetime="2026-01-15T15:00:00+00:00">Jan. 15, 2026, 11:30 a.m. NST</time>.'
        in response.content.decode()
    )


@pytest.mark.django_db
def test_member_profile_zone_wins_over_the_browser_cookie(client):
    user = UserFactory(timezone="America/St_Johns")
    membership = MembershipFactory(user=user, joined_at=JANUARY)
    client.force_login(user)
    client.cookies["tz"] = "America/Vancouver"

    response = client.get(membership.community.get_absolute_url())

    assert f"Joined {time_tag(JANUARY, 'America/St_Johns')}." in response.content.decode()


@pytest.mark.django_db
def test_anonymous_visitor_sees_times_in_the_cookie_zone(client):
    expires_at = future(JANUARY)
    invitation = invitation_expiring_at(expires_at)
    client.cookies["tz"] = "America/Vancouver"

    response = client.get(f"/c/{invitation.community.slug}/invite/{invitation.token}/")

    content = response.content.decode()
    assert response.status_code == 200
    assert f"expires {time_tag(expires_at, 'America/Vancouver')}." in content
    assert "PST</time>" in content
    assert "Times are shown in America/Vancouver." in content


@pytest.mark.django_db
@pytest.mark.parametrize("cookie", ["Mars/Olympus", "../../etc/passwd", ""])
def test_anonymous_visitor_with_a_bad_zone_cookie_gets_the_site_default(client, settings, cookie):
    expires_at = future(JULY)
    invitation = invitation_expiring_at(expires_at)
    client.cookies["tz"] = cookie

    response = client.get(f"/c/{invitation.community.slug}/invite/{invitation.token}/")

    content = response.content.decode()
    assert response.status_code == 200
    assert f"expires {time_tag(expires_at, settings.TIME_ZONE)}." in content
    assert f"Times are shown in {settings.TIME_ZONE}." in content


@pytest.mark.django_db
def test_zone_does_not_leak_from_one_request_to_the_next(client, settings):
    expires_at = future(JANUARY)
    invitation = invitation_expiring_at(expires_at)
    url = f"/c/{invitation.community.slug}/invite/{invitation.token}/"
    client.cookies["tz"] = "America/St_Johns"
    client.get(url)
    del client.cookies["tz"]

    response = client.get(url)

    assert f"expires {time_tag(expires_at, settings.TIME_ZONE)}." in response.content.decode()


# Language


@pytest.mark.django_db
def test_signed_in_french_speaker_gets_french_html(client):
    client.force_login(UserFactory(language="fr"))

    response = client.get("/", HTTP_ACCEPT_LANGUAGE="en")

    assert '<html lang="fr">' in response.content.decode()
    assert response["Content-Language"] == "fr"


@pytest.mark.django_db
def test_signed_in_english_speaker_gets_english_html_whatever_the_browser(client):
    client.force_login(UserFactory(language="en"))
    client.cookies["django_language"] = "fr"

    response = client.get("/", HTTP_ACCEPT_LANGUAGE="fr")

    assert '<html lang="en">' in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("accept", ["fr", "fr-CA,fr;q=0.9,en;q=0.5"])
def test_anonymous_french_browser_gets_french_html(client, accept):
    response = client.get("/", HTTP_ACCEPT_LANGUAGE=accept)

    assert '<html lang="fr">' in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("accept", ["en-CA", "de", ""])
def test_anonymous_other_browser_gets_english_html(client, accept):
    response = client.get("/", HTTP_ACCEPT_LANGUAGE=accept)

    assert '<html lang="en">' in response.content.decode()


@pytest.mark.django_db
def test_language_selector_marks_the_current_language(client):
    client.force_login(UserFactory(language="fr"))

    response = client.get("/")

    assert '<option value="fr" lang="fr" selected>' in response.content.decode()


def test_time_tag_helper_knows_newfoundland_summer_time():
    # The helper must not simply echo the filter: check it against a known offset.
    assert ZoneInfo("America/St_Johns").utcoffset(JULY.replace(tzinfo=None)) == -timedelta(
        hours=2, minutes=30
    )
    assert time_tag(JULY, "America/St_Johns") == (
        '<time datetime="2026-07-15T15:00:00+00:00">July 15, 2026, 12:30 p.m. NDT</time>'
    )
