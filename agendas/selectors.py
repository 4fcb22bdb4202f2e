"""Reads of the agendas: templates, agendas and their timeline, topics, the live run's
state."""

from datetime import datetime, timedelta

from django.utils import timezone

from communities.enums import MembershipStatus
from communities.models import Community, Membership
from communities.selectors import (
    community_can_manage,
    community_can_read,
    community_is_visible,
    membership_get,
)
from live.clock import iso_utc
from meetings.models import Meeting

from .models import AgendaItem, AgendaTemplate, Run

# The live run ----------------------------------------------------------------------------


def meeting_group(meeting_id: int) -> str:
    """The live layer's group of a meeting's sockets."""
    return f"meeting.{meeting_id}"


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
                "planned_start": iso_utc(at),
                "planned_end": iso_utc(at + planned),
                "started_at": iso_utc(item.started_at),
                "ended_at": iso_utc(item.ended_at),
            }
        )
        at += planned
    return {
        "type": "meeting.state",
        "version": run.version,
        "server_time": iso_utc(now),
        "status": run.status,
        "items": items,
        "current_item": run.current_item_id,
        "roundtable": {
            "current_speaker": _person(run.speaker_id, names),
            "turn_started_at": iso_utc(run.turn_started_at),
            "turn_ends_at": iso_utc(run.turn_ends_at),
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


class MeetingNotFound(Exception):
    pass


class NotMeetingMember(Exception):
    pass


def meeting_access(*, user, meeting_id: int) -> tuple[Meeting, bool]:
    """The meeting and whether `user` manages its community: its community's active
    members (and site staff) follow it live. Raises MeetingNotFound (also to outsiders of
    an invitation-only community, as its pages answer 404) or NotMeetingMember."""
    meeting = Meeting.objects.select_related("community").filter(pk=meeting_id).first()
    if meeting is None:
        raise MeetingNotFound(meeting_id)
    membership = membership_get(user=user, community=meeting.community)
    if not community_is_visible(user=user, community=meeting.community, membership=membership):
        raise MeetingNotFound(meeting_id)
    if not community_can_read(user=user, membership=membership):
        raise NotMeetingMember(meeting_id)
    return meeting, community_can_manage(user=user, membership=membership)


def runs_ticking(*, meeting_ids) -> list[tuple[int, datetime | None, bool]]:
    """For the timer: each live meeting's (id, turn deadline, warning sent)."""
    return list(
        Run.objects.filter(meeting_id__in=list(meeting_ids), status="live").values_list(
            "meeting_id", "turn_ends_at", "turn_warned"
        )
    )


def run_versions(*, meeting_ids) -> dict[int, int]:
    return dict(
        Run.objects.filter(meeting_id__in=list(meeting_ids)).values_list("meeting_id", "version")
    )
