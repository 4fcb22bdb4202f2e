"""Reads of the agendas: templates, agendas and their timeline, topics, the live run's
state."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import models
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import User
from communities.enums import MembershipStatus
from communities.models import Community, Membership
from communities.selectors import (
    community_can_manage,
    community_can_read,
    community_is_visible,
    community_members_joined_since,
    membership_get,
)
from live.clock import iso_utc
from meetings.enums import MeetingStatus
from meetings.models import Meeting
from meetings.selectors import meeting_previous

from .enums import TopicStatus
from .models import (
    Agenda,
    AgendaItem,
    AgendaTemplate,
    ItemFields,
    Run,
    TemplateItem,
    Topic,
    Turn,
)

# Templates and agendas -----------------------------------------------------------------


def template_of(*, community: Community) -> AgendaTemplate | None:
    template = AgendaTemplate.objects.filter(community=community).first()
    if template is not None:
        template.community = community
    return template


def template_items(*, template: AgendaTemplate) -> list[TemplateItem]:
    return list(template.items.order_by("position", "pk"))


def agenda_of(*, meeting: Meeting) -> Agenda | None:
    agenda = Agenda.objects.select_related("presenter").filter(meeting=meeting).first()
    if agenda is not None:
        agenda.meeting = meeting
    return agenda


def agenda_items(
    *, agenda: Agenda | None = None, meeting: Meeting | None = None
) -> list[AgendaItem]:
    """An agenda's items in order; or, by `meeting`, its agenda's (none before it has one:
    the live run reads them this way without fetching the agenda)."""
    found = (
        agenda.items.all()
        if agenda is not None
        else AgendaItem.objects.filter(agenda__meeting=meeting)
    )
    return list(found.order_by("position", "pk"))


def member_count(*, community: Community, now: datetime | None = None) -> int:
    """Active members (with an active account) who have joined by `now`: one turn each."""
    return Membership.objects.filter(
        community=community,
        status=MembershipStatus.ACTIVE,
        user__is_active=True,
        joined_at__lte=now or timezone.now(),
    ).count()


def agenda_new_members(*, meeting: Meeting) -> QuerySet[Membership]:
    """Who joined since the community's last meeting before this one (or since the
    community began): "New members introduction" lists them."""
    previous = meeting_previous(meeting=meeting)
    since = previous.starts_at if previous else meeting.community.created_at
    return community_members_joined_since(community=meeting.community, since=since)


# The planned timeline ------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineRow:
    item: ItemFields
    starts_at: datetime
    ends_at: datetime
    turns: int  # the roundtable's turns (0 for other items)

    @property
    def seconds(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds())

    @property
    def minutes(self) -> int:
        """Its length in whole minutes, rounded up."""
        return -(-self.seconds // 60)


@dataclass(frozen=True)
class Timeline:
    rows: list[TimelineRow]
    starts_at: datetime
    ends_at: datetime  # when the last item ends
    meeting_ends_at: datetime
    members: int
    turn_seconds: int

    @property
    def total_seconds(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds())

    @property
    def total_minutes(self) -> int:
        return -(-self.total_seconds // 60)

    @property
    def overrun_seconds(self) -> int:
        return max(0, int((self.ends_at - self.meeting_ends_at).total_seconds()))

    @property
    def overrun_minutes(self) -> int:
        return -(-self.overrun_seconds // 60)

    @property
    def overruns(self) -> bool:
        return self.overrun_seconds > 0

    @property
    def spare_minutes(self) -> int:
        """Whole minutes left before the meeting's end (0 when it overruns)."""
        return max(0, int((self.meeting_ends_at - self.ends_at).total_seconds()) // 60)


def timeline_plan(
    *,
    items: list[ItemFields],
    starts_at: datetime,
    duration_minutes: int,
    members: int,
    turn_seconds: int,
) -> Timeline:
    """Items one after another from `starts_at`: each lasts its minutes, plus one turn of
    `turn_seconds` per member for the roundtable."""
    rows, at = [], starts_at
    for item in items:
        turns = members if item.per_member else 0
        end = at + timedelta(minutes=item.minutes, seconds=turns * turn_seconds)
        rows.append(TimelineRow(item=item, starts_at=at, ends_at=end, turns=turns))
        at = end
    return Timeline(
        rows=rows,
        starts_at=starts_at,
        ends_at=at,
        meeting_ends_at=starts_at + timedelta(minutes=duration_minutes),
        members=members,
        turn_seconds=turn_seconds,
    )


def agenda_timeline(*, agenda: Agenda, now: datetime | None = None) -> Timeline:
    """The agenda's planned timeline: each item's start and end from the meeting's start,
    the total, and whether (and by how much) it overruns the meeting's length. The
    roundtable has one turn (the community's turn length) per member active `now`."""
    meeting = agenda.meeting
    community = meeting.community
    return timeline_plan(
        items=agenda_items(agenda=agenda),
        starts_at=meeting.starts_at,
        duration_minutes=meeting.duration_minutes,
        members=member_count(community=community, now=now),
        turn_seconds=turn_seconds(community=community),
    )


def template_timeline(
    *, template: AgendaTemplate, meeting: Meeting | None = None, now: datetime | None = None
) -> Timeline:
    """The template's timeline: for `meeting` (its start and length), or for a 60-minute
    meeting starting `now`."""
    now = now or timezone.now()
    return timeline_plan(
        items=template_items(template=template),
        starts_at=meeting.starts_at if meeting else now,
        duration_minutes=meeting.duration_minutes if meeting else 60,
        members=member_count(community=template.community, now=now),
        turn_seconds=template.turn_seconds,
    )


# Topics --------------------------------------------------------------------------------


def topics_open(*, community: Community) -> QuerySet[Topic]:
    """Topics proposed or chosen, not yet taken up or dropped: oldest first."""
    return (
        Topic.objects.filter(
            community=community, status__in=[TopicStatus.PROPOSED, TopicStatus.CHOSEN]
        )
        .select_related("proposed_by", "chosen_at")
        .order_by("status", "created_at", "pk")  # "chosen" before "proposed"
    )


def topics_closed(*, community: Community, limit: int = 20) -> list[Topic]:
    """The latest topics taken up or dropped."""
    return list(
        Topic.objects.filter(
            community=community, status__in=[TopicStatus.DONE, TopicStatus.DROPPED]
        )
        .select_related("proposed_by", "chosen_at")
        .order_by("-created_at", "-pk")[:limit]
    )


def topic_get(*, community: Community, topic_id: int) -> Topic | None:
    topic = Topic.objects.filter(community=community, pk=topic_id).first()
    if topic is not None:
        topic.community = community
    return topic


def topic_meetings(
    *, community: Community, user: User, can_manage: bool, now: datetime | None = None
) -> list[Meeting]:
    """The meetings `user` may choose topics at: not cancelled, under way, ended within a
    week or still to come (the next three); a chair only the ones they chair."""
    now = now or timezone.now()
    meetings = Meeting.objects.filter(
        community=community, status=MeetingStatus.SCHEDULED, ends_at__gt=now - timedelta(days=7)
    )
    if not can_manage:
        meetings = meetings.filter(chair=user, chair_confirmed_at__isnull=False)
    found = list(meetings.order_by("starts_at", "pk")[:3])
    for meeting in found:
        meeting.community = community
    return found


# The chair's handover page: its sections -----------------------------------------------


def handover_topics(*, meeting: Meeting, user: User) -> dict:
    """The topics proposed and chosen, for the chair to plan with."""
    return {"agenda_topics": list(topics_open(community=meeting.community))}


def handover_timeline(*, meeting: Meeting, user: User) -> dict:
    """The meeting's agenda as planned so far; the template's when it is not made yet."""
    agenda = agenda_of(meeting=meeting)
    if agenda is not None:
        timeline = agenda_timeline(agenda=agenda)
    else:
        template = template_of(community=meeting.community)
        timeline = template_timeline(template=template, meeting=meeting) if template else None
    return {"agenda": agenda, "agenda_timeline": timeline}


# A meeting's invitation: its section ---------------------------------------------------


@dataclass(frozen=True)
class InvitationAgenda:
    agenda: Agenda
    timeline: Timeline


def invitation_meetings(meetings: QuerySet[Meeting]) -> QuerySet[Meeting]:
    """`meetings` with what `invitation_agenda` reads joined: their agenda and its
    presenter, the community's template (its turn length) and its members now (the
    roundtable's turns); the agendas' items in one more query, when there are agendas."""
    members = (
        Membership.objects.filter(
            community=OuterRef("community_id"),
            status=MembershipStatus.ACTIVE,
            user__is_active=True,
            joined_at__lte=timezone.now(),
        )
        .order_by()
        .values("community")
        .annotate(count=Count("pk"))
        .values("count")
    )
    return (
        meetings.select_related("agenda__presenter", "community__agenda_template")
        .prefetch_related("agenda__items")
        .annotate(agenda_members=Coalesce(Subquery(members), 0))
    )


def invitation_agenda(*, meeting: Meeting, now: datetime | None = None) -> InvitationAgenda | None:
    """The meeting's agenda and its planned timeline as its invitation shows them; None
    unless the agenda is published. Reads what `invitation_meetings` joined when it did
    (a feed), else a few queries (an email, a download)."""
    agenda = getattr(meeting, "agenda", None)  # None: no agenda (the reverse one-to-one)
    if agenda is None or agenda.published_at is None:
        return None
    community = meeting.community
    items = list(agenda.items.all())  # in order: the items' Meta.ordering
    members = getattr(meeting, "agenda_members", None)
    if members is None:
        per_member = any(item.per_member for item in items)
        members = member_count(community=community, now=now) if per_member else 0
    template = getattr(community, "agenda_template", None)
    timeline = timeline_plan(
        items=items,
        starts_at=meeting.starts_at,
        duration_minutes=meeting.duration_minutes,
        members=members,
        turn_seconds=template.turn_seconds if template is not None else 60,
    )
    return InvitationAgenda(agenda=agenda, timeline=timeline)


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


def turn_current(*, meeting: Meeting) -> Turn | None:
    """The turn under way in the meeting's live run, with its lines (None if nobody
    speaks)."""
    return (
        Turn.objects.filter(
            run__meeting=meeting,
            run__status="live",
            run__speaker_id=models.F("user_id"),
            ended_at=None,
        )
        .order_by("-started_at")
        .first()
    )


def turn_key(turn: Turn) -> str:
    """Names a turn as a page sees it in the state frame: `<speaker id>@<turn_started_at>`."""
    return f"{turn.user_id}@{iso_utc(turn.started_at)}"


def _person(user_id: int | None, names: dict[int, str]) -> dict | None:
    if user_id is None:
        return None
    return {"id": user_id, "name": names.get(user_id, "")}


def run_spoken(*, run: Run, names: dict[int, str]) -> list[dict]:
    """How long each member spoke in the roundtable, longest first (turns that ended,
    from their start to their end, pauses included; a pass counts its few seconds)."""
    if run.pk is None:
        return []
    totals: dict[int, float] = {}
    turns = Turn.objects.filter(run=run, ended_at__isnull=False).values_list(
        "user_id", "started_at", "ended_at"
    )
    for user_id, started_at, ended_at in turns:
        totals[user_id] = totals.get(user_id, 0.0) + (ended_at - started_at).total_seconds()
    return [
        {**_person(user_id, names), "seconds": round(seconds)}
        for user_id, seconds in sorted(totals.items(), key=lambda pair: (-pair[1], pair[0]))
    ]


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
    seconds = turn_seconds(community=meeting.community)
    # The same plan as the agenda page's (one turn per member for the roundtable).
    plan = timeline_plan(
        items=agenda_items(meeting=meeting),
        starts_at=meeting.starts_at,
        duration_minutes=meeting.duration_minutes,
        members=member_count(community=meeting.community, now=now),
        turn_seconds=seconds,
    )
    items = [
        {
            "id": row.item.pk,
            "title": row.item.title,
            "kind": row.item.kind,
            "planned_start": iso_utc(row.starts_at),
            "planned_end": iso_utc(row.ends_at),
            "started_at": iso_utc(row.item.started_at),
            "ended_at": iso_utc(row.item.ended_at),
        }
        for row in plan.rows
    ]
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
            "spoken": run_spoken(run=run, names=names),
        },
        "present": [_person(u, names) for u in run.present],
        "chair": _person(meeting.chair_id, names),
        "backup": _person(meeting.backup_id, names),
        "handed_over": run.handed_over,
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


def run_current_item(*, meeting_id: int) -> int | None:
    """The id of the item the live run is on (None before it starts or once it ended)."""
    found = Run.objects.filter(meeting_id=meeting_id, status="live").values_list(
        "current_item_id", flat=True
    )
    return next(iter(found), None)


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
