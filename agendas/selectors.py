"""Reads of the agendas: templates, agendas and their timeline, topics, the live run's
state."""

from datetime import UTC, datetime, timedelta

from django.utils import timezone

from communities.enums import MembershipStatus
from communities.models import Community, Membership
from meetings.models import Meeting

from .models import AgendaItem, AgendaTemplate, Run

# The live run ----------------------------------------------------------------------------


def meeting_group(meeting_id: int) -> str:
    """The live layer's group of a meeting's sockets."""
    return f"meeting.{meeting_id}"


def iso(moment: datetime | None) -> str | None:
    """A time for the protocol: UTC, ISO 8601 with milliseconds and `Z`."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def turn_seconds(*, community: Community) -> int:
    """How long a roundtable turn lasts in this community (60 s unless its template says)."""
    found = AgendaTemplate.objects.filter(community=community).values_list(
        "turn_seconds", flat=True
    )
    return next(iter(found), 60)


def run_items(*, meeting: Meeting) -> list[AgendaItem]:
    """The meeting's agenda items in order (none before it has an agenda)."""
    return list(AgendaItem.objects.filter(agenda__meeting=meeting).order_by("position", "pk"))


def _person(user_id: int | None, names: dict[int, str]) -> dict | None:
    if user_id is None:
        return None
    return {"id": user_id, "name": names.get(user_id, "")}


def run_state(*, meeting_id: int, now: datetime | None = None) -> dict | None:
    """The whole state of a meeting's live run, as the `meeting.state` frame every socket
    gets on connect and after each change. None if there is no such meeting."""
    now = now or timezone.now()
    meeting = (
        Meeting.objects.select_related("community", "chair", "backup").filter(pk=meeting_id).first()
    )
    if meeting is None:
        return None
    run = Run.objects.filter(meeting=meeting).first() or Run(meeting=meeting)
    names = dict(
        Membership.objects.filter(community=meeting.community_id)
        .values_list("user_id", "user__display_name")
        .order_by()
    )
    for user in (meeting.chair, meeting.backup):
        if user is not None:
            names.setdefault(user.pk, user.display_name)
    members = Membership.objects.filter(
        community=meeting.community_id, status=MembershipStatus.ACTIVE
    ).count()
    seconds = turn_seconds(community=meeting.community)
    items, at = [], meeting.starts_at
    for item in run_items(meeting=meeting):
        planned = timedelta(minutes=item.minutes)
        if item.per_member:
            planned += timedelta(seconds=seconds * members)
        items.append(
            {
                "id": item.pk,
                "title": item.title,
                "kind": item.kind,
                "planned_start": iso(at),
                "planned_end": iso(at + planned),
                "started_at": iso(item.started_at),
                "ended_at": iso(item.ended_at),
            }
        )
        at += planned
    return {
        "type": "meeting.state",
        "version": run.version,
        "server_time": iso(now),
        "status": run.status,
        "items": items,
        "current_item": run.current_item_id,
        "roundtable": {
            "current_speaker": _person(run.speaker_id, names),
            "turn_started_at": iso(run.turn_started_at),
            "turn_ends_at": iso(run.turn_ends_at),
            "paused_ms": run.turn_paused_ms,
            "extensions": run.turn_extensions,
            "turn_seconds": seconds,
            "queue": [_person(u, names) for u in run.queue],
            "done": [_person(u, names) for u in run.done],
            "passed": [_person(u, names) for u in run.passed],
        },
        "present": [_person(u, names) for u in run.present],
        "chair": _person(meeting.chair_id, names),
        "backup": _person(meeting.backup_id, names),
    }
