"""The demo community's meetings for `seed_demo`: a monthly series (second Tuesday, 12:00
in the community's zone) with three past meetings (chairs, attendance) and a year of
upcoming ones, some answers, a confirmed chair and a backup. Made through the services, as
time passes: the series three months ago, then each month's periodic work. No email."""

from datetime import time, timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.notifications import emails_suppressed
from communities.enums import Role
from communities.models import Community, Membership

from . import services
from .enums import AttendanceStatus, MeetingStatus, Response
from .models import Meeting, Series

PAST_MONTHS = 3
SERIES_TITLE = "Monthly call"
# Who answers the next meeting, and how (email local parts of the demo people).
ANSWERS = [
    ("amelie.roy", Response.YES, ""),
    ("sean.obrien", Response.YES, "Joining from the clinic."),
    ("priya.natarajan", Response.MAYBE, "Depends on the clinic's schedule that day."),
    ("tom.clarke", Response.YES, ""),
]


@transaction.atomic
def demo_meetings_seed(*, community: Community, domain: str) -> Series:
    """Idempotent: a community that has a series keeps it as it is."""
    existing = Series.objects.filter(community=community).first()
    if existing is not None:
        services.meetings_maintain()  # only tops the year ahead up
        return existing
    now = timezone.now()
    start = now - timedelta(days=31 * PAST_MONTHS + 7)
    manager = (
        Membership.objects.filter(community=community, role=Role.MANAGER)
        .select_related("user")
        .first()
        .user
    )
    with emails_suppressed():
        series, _result = services.series_create(
            actor=manager,
            community=community,
            title=SERIES_TITLE,
            rrule="FREQ=MONTHLY;BYDAY=2TU",
            first_date=start.date(),
            start_time=time(12, 0),
            now=start,
        )
        past = list(Meeting.objects.filter(series=series, starts_at__lte=now).order_by("starts_at"))
        members = list(
            Membership.objects.filter(community=community, status="active").select_related("user")
        )
        for index, meeting in enumerate(past):
            # The month before it: its chair is confirmed 28 days ahead by the periodic work.
            services.meetings_maintain(now=meeting.starts_at - timedelta(days=27))
            meeting.refresh_from_db()
            after = meeting.ends_at + timedelta(minutes=5)
            for position, membership in enumerate(members):
                if membership.joined_at > meeting.starts_at:
                    continue
                status = (
                    AttendanceStatus.PRESENT if (position + index) % 4 else AttendanceStatus.REGRETS
                )
                if membership.user_id == meeting.chair_id:
                    status = AttendanceStatus.PRESENT
                services.attendance_set(
                    actor=manager, meeting=meeting, user=membership.user, status=status, now=after
                )
        services.meetings_maintain(now=now)
        upcoming = (
            Meeting.objects.filter(series=series, starts_at__gt=now, status=MeetingStatus.SCHEDULED)
            .order_by("starts_at")
            .first()
        )
        users = {
            u.email.split("@")[0]: u for u in User.objects.filter(email__endswith=f"@{domain}")
        }
        for local, response, note in ANSWERS:
            user = users.get(local)
            if user is not None and upcoming.chair_id != user.pk:
                services.answer_set(
                    user=user, meeting=upcoming, response=response, note=note, now=now
                )
        if upcoming.chair_confirmed_at is None:
            services.chair_confirm(actor=manager, meeting=upcoming, now=now)
    return series
