"""The demo's agendas for `seed_demo`: every community's standing agenda, a few topics
members proposed (one chosen at the last meeting held), and the next meeting's agenda with
that topic as its focus presentation and a member to present it. Made through the
services; no email (the agenda stays a draft)."""

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.notifications import emails_suppressed
from communities.enums import Role
from communities.models import Community, Membership
from meetings.enums import MeetingStatus
from meetings.models import Meeting

from . import services
from .models import Agenda, Topic

# (email local part of who proposes it, title, details); the first is chosen.
TOPICS = [
    (
        "sean.obrien",
        "Same-day access slots: what worked in St. John's",
        "How we triage the slots, and what the first three months showed.",
    ),
    ("priya.natarajan", "Fewer no-shows with text reminders", ""),
    ("jordan.bird", "Nurse practitioners in team-based care", ""),
]
PRESENTER = "sean.obrien"


@transaction.atomic
def demo_agendas_seed(*, community: Community, domain: str) -> Agenda | None:
    """Idempotent: topics are proposed once, and an agenda already made is left as it
    is. Returns the next meeting's agenda (None without an upcoming meeting)."""
    for each in Community.objects.order_by("pk"):
        services.template_ensure(community=each)
    now = timezone.now()
    manager = (
        Membership.objects.filter(community=community, role=Role.MANAGER)
        .select_related("user")
        .first()
        .user
    )
    users = {u.email.split("@")[0]: u for u in User.objects.filter(email__endswith=f"@{domain}")}
    upcoming = (
        Meeting.objects.filter(
            community=community, status=MeetingStatus.SCHEDULED, starts_at__gt=now
        )
        .select_related("community")
        .order_by("starts_at")
        .first()
    )
    if upcoming is None:
        return None
    with emails_suppressed():
        if not Topic.objects.filter(community=community).exists():
            held = (
                Meeting.objects.filter(
                    community=community, status=MeetingStatus.SCHEDULED, ends_at__lte=now
                )
                .order_by("-starts_at")
                .first()
            )
            for index, (local, title, details) in enumerate(TOPICS):
                topic = services.topic_propose(
                    user=users[local], community=community, title=title, details=details
                )
                if (
                    index == 0
                    and held is not None
                    and not Agenda.objects.filter(meeting=upcoming).exists()
                ):
                    services.topic_choose(actor=manager, topic=topic, meeting=held, now=now)
        agenda = services.agenda_ensure(meeting=upcoming, now=now)
        if agenda.presenter_id is None and not agenda.presenter_name:
            agenda = services.agenda_focus_set(
                actor=manager,
                agenda=agenda,
                focus_topic=agenda.focus_topic or TOPICS[0][1],
                presenter=users[PRESENTER],
                now=now,
            )
    return agenda
