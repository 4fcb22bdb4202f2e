import io
from datetime import date, time, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from communities.enums import MembershipStatus, Role
from communities.models import Membership
from meetings import services
from meetings.enums import MailKind
from meetings.models import Meeting
from outbox.models import Email
from tests.factories import CommunityFactory, MembershipFactory

pytestmark = pytest.mark.django_db


def test_meetings_maintain_tops_up_the_horizon_and_is_safe_to_repeat(settings):
    community = CommunityFactory()
    manager = MembershipFactory(community=community, role=Role.MANAGER).user
    MembershipFactory(community=community)
    settings.MEETINGS_HORIZON_MONTHS = 2
    series, _ = services.series_create(
        actor=manager,
        community=community,
        title="Call",
        rrule="FREQ=WEEKLY;BYDAY=TU",
        first_date=date.today(),
        start_time=time(12),
    )
    before = Meeting.objects.filter(series=series).count()
    settings.MEETINGS_HORIZON_MONTHS = 3

    out = io.StringIO()
    call_command("meetings_maintain", stdout=out)
    after = Meeting.objects.filter(series=series).count()
    call_command("meetings_maintain", stdout=io.StringIO())

    assert after > before
    assert Meeting.objects.filter(series=series).count() == after
    assert f"{after - before} meetings created" in out.getvalue()
    last = Meeting.objects.filter(series=series).order_by("starts_at").last()
    assert last.starts_at > timezone.now() + timedelta(days=80)


def test_meetings_maintain_reconciles_invitations_with_the_members_and_says_so():
    community = CommunityFactory()
    manager = MembershipFactory(community=community, role=Role.MANAGER).user
    leaver = MembershipFactory(community=community)
    series, _ = services.series_create(
        actor=manager,
        community=community,
        title="Call",
        rrule="FREQ=WEEKLY;BYDAY=TU",
        first_date=date.today(),
        start_time=time(12),
    )
    meeting = Meeting.objects.filter(series=series).order_by("starts_at").first()
    services.invitations_send(actor=manager, meeting=meeting)
    # Rows changed directly: the membership receivers never run.
    newcomer = MembershipFactory(community=community).user
    Membership.objects.filter(pk=leaver.pk).update(status=MembershipStatus.LEFT)

    out, again = io.StringIO(), io.StringIO()
    call_command("meetings_maintain", stdout=out)
    call_command("meetings_maintain", stdout=again)

    assert "reconciled with the members: 1 invitations and 1 cancellations queued" in (
        out.getvalue()
    )
    assert "reconciled with the members: 0 invitations and 0 cancellations queued" in (
        again.getvalue()
    )
    assert Email.objects.filter(
        to=newcomer.email, kind=MailKind.INVITATION, key=f"meeting:{meeting.pk}"
    ).exists()
    assert Email.objects.filter(
        to=leaver.user.email, kind=MailKind.CANCELLATION, key=f"meeting:{meeting.pk}"
    ).exists()
