import io

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command

from accounts.models import User
from communities.enums import JoinPolicy, MembershipStatus, Role
from communities.models import Community, Membership
from rooms.models import Room


def _seed(*args, **kwargs) -> str:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out, **kwargs)
    return out.getvalue()


@pytest.mark.django_db
def test_seed_demo_refuses_with_debug_off(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="--force"):
        _seed()

    assert User.objects.count() == 0


@pytest.mark.django_db
def test_seed_demo_creates_a_community_of_practice(settings):
    settings.DEBUG = True

    output = _seed("--password", "demo-pass-4321")

    community = Community.objects.get(slug="primary-care-cop")
    active = Membership.objects.filter(community=community, status=MembershipStatus.ACTIVE)
    members = active.filter(role=Role.MEMBER)
    managers = active.filter(role=Role.MANAGER)
    zones = set(active.values_list("user__timezone", flat=True))
    languages = set(active.values_list("user__language", flat=True))
    assert community.join_policy == JoinPolicy.REQUEST
    assert managers.count() == 1
    assert members.count() >= 6
    assert "America/St_Johns" in zones
    assert len(zones) >= 4
    assert languages == {"en", "fr"}
    assert all(m.user.background for m in active.select_related("user"))
    assert set(Community.objects.values_list("join_policy", flat=True)) == set(JoinPolicy.values)
    assert "Password for every login: demo-pass-4321" in output
    for user in User.objects.all():
        assert user.email in output
        assert authenticate(username=user.email, password="demo-pass-4321") == user


@pytest.mark.django_db
def test_seed_demo_is_idempotent(settings):
    settings.DEBUG = True
    _seed("--password", "first-pass-4321")
    counts = (User.objects.count(), Community.objects.count(), Membership.objects.count())

    output = _seed()

    assert (User.objects.count(), Community.objects.count(), Membership.objects.count()) == counts
    room = Room.objects.get(community__slug="primary-care-cop", kind="community")
    assert list(room.messages.values_list("seq", flat=True)) == [1, 2, 3, 4, 5]
    assert room.last_seq == 5
    # Without a password, existing logins keep theirs.
    assert "keep their password" in output
    user = User.objects.get(email="tom.clarke@example.org")
    assert authenticate(username=user.email, password="first-pass-4321") == user


@pytest.mark.django_db
def test_seed_demo_without_password_makes_a_random_one(settings, monkeypatch):
    settings.DEBUG = True
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)

    output = _seed()

    password = output.split("Password for new logins: ")[1].split()[0]
    assert len(password) >= 12
    assert authenticate(username="amelie.roy@example.org", password=password) is not None


@pytest.mark.django_db
def test_seed_demo_reads_password_from_environment(settings, monkeypatch):
    settings.DEBUG = True
    monkeypatch.setenv("DEMO_PASSWORD", "from-env-4321")

    _seed()

    assert authenticate(username="sean.obrien@example.org", password="from-env-4321") is not None


@pytest.mark.django_db
def test_seed_demo_force_runs_with_debug_off(settings):
    settings.DEBUG = False

    _seed("--force", "--password", "forced-pass-4321")

    assert Community.objects.filter(slug="primary-care-cop").exists()


@pytest.mark.django_db
def test_seed_demo_gives_every_community_its_room_once(settings):
    settings.DEBUG = True

    _seed("--password", "demo-pass-4321")
    _seed()

    rooms = Room.objects.filter(kind="community").values_list("community__slug", flat=True)
    assert sorted(rooms) == sorted(Community.objects.values_list("slug", flat=True))


@pytest.mark.django_db
def test_seed_demo_gives_the_community_a_year_of_meetings_and_sends_no_email(settings, mailoutbox):
    from django.utils import timezone

    from meetings.enums import MeetingStatus
    from meetings.models import Answer, Attendance, Meeting, Series
    from meetings.recurrence import zone_get

    settings.DEBUG = True
    _seed("--password", "demo-pass-4321")
    _seed()  # a second run adds nothing

    community = Community.objects.get(slug="primary-care-cop")
    series = Series.objects.get(community=community)
    now = timezone.now()
    meetings = Meeting.objects.filter(series=series, status=MeetingStatus.SCHEDULED)
    past = meetings.filter(starts_at__lte=now).order_by("starts_at")
    upcoming = meetings.filter(starts_at__gt=now).order_by("starts_at")
    assert series.rrule == "FREQ=MONTHLY;BYDAY=2TU"
    assert past.count() == 3
    assert 12 <= upcoming.count() <= 13
    for meeting in meetings:
        local = meeting.starts_at.astimezone(zone_get(community.timezone))
        assert (local.hour, local.minute, local.weekday()) == (12, 0, 1)
        assert 8 <= local.day <= 14
        assert meeting.room is not None
    assert all(m.chair_id for m in past)
    assert len({m.chair_id for m in past}) == 3  # the chair rotates
    assert Attendance.objects.filter(meeting__in=past).count() >= 12
    following = upcoming.first()
    assert following.chair_confirmed_at is not None
    assert following.backup_id and following.backup_id != following.chair_id
    assert Answer.objects.filter(meeting=following).count() >= 3
    assert mailoutbox == []
