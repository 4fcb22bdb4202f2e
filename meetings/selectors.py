"""Reads: a community's meetings, the rota's projection and its fairness, answers, the
chair's handover. Each runs a fixed number of queries whatever the number of meetings."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import Count, Exists, Max, Min, OuterRef, Q, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from communities.enums import MembershipStatus
from communities.models import Community, Membership
from communities.selectors import community_can_manage, community_members_joined_since
from outbox.models import Email
from outbox.selectors import MailProgress, outbox_progress

from . import ical
from .enums import AttendanceStatus, MailKind, MeetingStatus, Response, SwapStatus
from .hooks import handover_sections, meeting_links
from .hooks import invitation_sections as invitation_section_hooks
from .models import (
    Answer,
    Attendance,
    CalendarFeed,
    ChairChange,
    ChairSwap,
    Invitation,
    Meeting,
    Series,
)
from .rota import Candidate, Slot, Turn, reason_words, rota_plan
from .tokens import AnswerTokenError, answer_token, answer_token_read


class MeetingNotFound(Exception):
    """No such meeting in this community (the views answer 404)."""


def meeting_get(*, community: Community, meeting_id: int) -> Meeting:
    meeting = (
        Meeting.objects.select_related("chair", "backup", "series", "room")
        .filter(community=community, pk=meeting_id)
        .first()
    )
    if meeting is None:
        raise MeetingNotFound(meeting_id)
    meeting.community = community
    return meeting


def meetings_upcoming(*, community: Community, now: datetime | None = None) -> QuerySet[Meeting]:
    """Meetings that have not ended (cancelled ones too: they show as cancelled), soonest first."""
    return (
        Meeting.objects.filter(community=community, ends_at__gt=now or timezone.now())
        .select_related("community", "chair", "backup")
        .order_by("starts_at", "id")
    )


def meetings_past(*, community: Community, now: datetime | None = None) -> QuerySet[Meeting]:
    return (
        Meeting.objects.filter(community=community, ends_at__lte=now or timezone.now())
        .select_related("community", "chair", "backup")
        .order_by("-starts_at", "-id")
    )


def meeting_following(*, meeting: Meeting) -> Meeting | None:
    """The community's next meeting after this one (cancelled ones do not count)."""
    return (
        Meeting.objects.filter(
            community_id=meeting.community_id,
            status=MeetingStatus.SCHEDULED,
            starts_at__gt=meeting.starts_at,
        )
        .select_related("community", "chair")
        .order_by("starts_at", "pk")
        .first()
    )


def meeting_previous(*, meeting: Meeting) -> Meeting | None:
    """The community's last meeting held before this one (cancelled ones do not count)."""
    return (
        Meeting.objects.filter(
            community_id=meeting.community_id,
            status=MeetingStatus.SCHEDULED,
            starts_at__lt=meeting.starts_at,
        )
        .select_related("chair")
        .order_by("-starts_at")
        .first()
    )


# The rota ------------------------------------------------------------------------------


def _held(community: Community, now: datetime) -> QuerySet[Meeting]:
    return Meeting.objects.filter(
        community=community, status=MeetingStatus.SCHEDULED, starts_at__lte=now
    )


def rota_candidates(*, community: Community, now: datetime) -> list[Candidate]:
    """Every active member, with when they last chaired a meeting held and how often."""
    history = {
        row["chair"]: row
        for row in _held(community, now)
        .exclude(chair=None)
        .values("chair")
        .annotate(last=Max("starts_at"), times=Count("id"))
    }
    members = Membership.objects.filter(
        community=community, status=MembershipStatus.ACTIVE, user__is_active=True
    ).values_list("user_id", "joined_at", "willing_to_chair")
    return [
        Candidate(
            user_id=user_id,
            joined_at=joined_at,
            last_chaired=history.get(user_id, {}).get("last"),
            times=history.get(user_id, {}).get("times", 0),
            willing=willing,
        )
        for user_id, joined_at, willing in members
    ]


@dataclass(frozen=True)
class RotaTurn:
    meeting: Meeting
    chair: User | None
    backup: User | None
    why: dict  # as data; `reason` says it in words
    confirmed: bool  # False: the rota's projection (or a swap or override not yet confirmed)
    fixed: bool

    @property
    def reason(self) -> str:
        return reason_words(self.why)


def rota_turns(*, community: Community, now: datetime | None = None) -> list[RotaTurn]:
    """The chair and backup of every upcoming meeting: confirmed, or projected by the rule."""
    now = now or timezone.now()
    candidates = rota_candidates(community=community, now=now)
    meetings = list(
        Meeting.objects.filter(
            community=community, status=MeetingStatus.SCHEDULED, starts_at__gt=now
        ).order_by("starts_at", "id")
    )
    for meeting in meetings:
        meeting.community = community  # as given: its links cost no query per meeting
    declined: dict[int, set[int]] = {}
    for meeting_id, user_id in Answer.objects.filter(
        meeting__in=meetings, response=Response.NO
    ).values_list("meeting_id", "user_id"):
        declined.setdefault(meeting_id, set()).add(user_id)
    slots = [
        Slot(
            meeting_id=m.pk,
            starts_at=m.starts_at,
            fixed_chair=m.chair_id,
            fixed_backup=m.backup_id if m.chair_confirmed_at else None,
            declined=frozenset(declined.get(m.pk, ())),
        )
        for m in meetings
    ]
    plan: list[Turn] = rota_plan(candidates, slots, now=now)
    users = User.objects.in_bulk({t.chair for t in plan} | {t.backup for t in plan} - {None})
    return [
        RotaTurn(
            meeting=m,
            chair=users.get(t.chair),
            backup=users.get(t.backup),
            why=m.chair_why if t.fixed else t.why,
            confirmed=m.chair_confirmed_at is not None,
            fixed=t.fixed,
        )
        for m, t in zip(meetings, plan, strict=True)
    ]


def rota_turn(*, meeting: Meeting, now: datetime | None = None) -> RotaTurn | None:
    for turn in rota_turns(community=meeting.community, now=now):
        if turn.meeting.pk == meeting.pk:
            return turn
    return None


@dataclass(frozen=True)
class FairnessRow:
    user: User
    willing: bool
    times: int
    last_chaired: datetime | None
    next_turn: Meeting | None
    attended: int
    held_since_joined: int


def rota_fairness(*, community: Community, now: datetime | None = None) -> list[FairnessRow]:
    """One row per active member: times chaired, last chaired, next projected turn, and
    meetings attended of those held since they joined."""
    now = now or timezone.now()
    candidates = rota_candidates(community=community, now=now)
    turns = rota_turns(community=community, now=now)
    next_turn: dict[int, Meeting] = {}
    for turn in turns:
        if turn.chair is not None:
            next_turn.setdefault(turn.chair.pk, turn.meeting)
    held = list(_held(community, now).values_list("pk", "starts_at"))
    present = set(
        Attendance.objects.filter(
            meeting_id__in=[pk for pk, _start in held], status=AttendanceStatus.PRESENT
        ).values_list("meeting_id", "user_id")
    )
    users = User.objects.in_bulk([c.user_id for c in candidates])
    rows = []
    for c in candidates:
        since = [pk for pk, start in held if start >= c.joined_at]
        rows.append(
            FairnessRow(
                user=users[c.user_id],
                willing=c.willing,
                times=c.times,
                last_chaired=c.last_chaired,
                next_turn=next_turn.get(c.user_id),
                attended=sum((pk, c.user_id) in present for pk in since),
                held_since_joined=len(since),
            )
        )
    rows.sort(
        key=lambda r: (
            r.next_turn is None,
            r.next_turn.starts_at if r.next_turn else now,
            r.user.display_name.casefold(),
        )
    )
    return rows


def chair_log(*, community: Community) -> QuerySet[ChairChange]:
    return ChairChange.objects.filter(meeting__community=community).select_related(
        "meeting__community", "chair", "previous", "actor"
    )


def swaps_open(*, community: Community, user: User) -> QuerySet[ChairSwap]:
    """Swaps waiting for an answer that `user` proposed or was asked."""
    return (
        ChairSwap.objects.filter(community=community, status=SwapStatus.PROPOSED)
        .filter(Q(proposer=user) | Q(partner=user))
        .select_related("proposer", "partner", "proposer_meeting", "partner_meeting")
    )


# Answers and attendance ----------------------------------------------------------------


def answer_of(*, meeting: Meeting, user: User) -> Answer | None:
    if not user.is_authenticated:
        return None
    return Answer.objects.filter(meeting=meeting, user=user).first()


@dataclass(frozen=True)
class AnswerSummary:
    yes: list[User]
    counts: dict[str, int]
    answers: list[Answer]  # every answer with its note: for the chair and managers only


def answer_summary(*, meeting: Meeting) -> AnswerSummary:
    answers = list(meeting.answers.select_related("user").order_by("user__display_name"))
    counts = dict.fromkeys(Response.values, 0)
    for answer in answers:
        counts[answer.response] += 1
    return AnswerSummary(
        yes=[a.user for a in answers if a.response == Response.YES],
        counts=counts,
        answers=answers,
    )


def attendance_for(*, meeting: Meeting) -> dict[int, str]:
    return dict(meeting.attendance.values_list("user_id", "status"))


# Answer links: the invitation's yes / no / maybe -----------------------------------------


def answer_links(*, meeting: Meeting, user: User) -> dict[str, str]:
    """`user`'s three answer links for `meeting`, absolute, by answer ("yes", "no",
    "maybe"): what an invitation email carries."""
    slug = meeting.community.slug
    return {
        response: settings.SITE_URL
        + reverse(
            "meetings:answer_link",
            kwargs={
                "slug": slug,
                "meeting_id": meeting.pk,
                "token": answer_token(meeting=meeting, user=user, response=response),
            },
        )
        for response in Response.values
    }


ANSWER_LINK_REFUSALS = {
    "bad_link": _(
        "This answer link is not valid. Check that you opened all of it, as it is in the "
        "invitation email."
    ),
    "other_meeting": _("This answer link is for another meeting."),
    "bad_answer": _("This link does not answer yes, no or maybe."),
    "other_user": _(
        "This link was sent to another member, and you are signed in as someone else. To "
        "answer for yourself, use the meeting's page; to use this link, sign out first."
    ),
    "not_member": _(
        "This link no longer works: the person it was sent to is no longer an active member "
        "of this community."
    ),
    "cancelled": _("This meeting is cancelled."),
    "started": _("This meeting has started; answers can no longer change."),
}


class AnswerLinkError(Exception):
    """An answer link that cannot be used: `code` is a key of `ANSWER_LINK_REFUSALS`,
    `message` says why to people. `user` and `meeting` are the link's when it was genuine
    and theirs: its page then speaks the member's language and leads to the meeting."""

    def __init__(self, code: str, *, user: User | None = None, meeting: Meeting | None = None):
        super().__init__(code)
        self.code = code
        self.message = ANSWER_LINK_REFUSALS[code]
        self.user = user
        self.meeting = meeting


@dataclass(frozen=True)
class AnswerLink:
    """A usable answer link: its member answers `response` to `meeting`."""

    meeting: Meeting
    user: User
    response: str
    current: Answer | None  # the member's answer so far

    @property
    def note(self) -> str:
        """The link answers only yes / no / maybe: the note the member wrote stays."""
        return self.current.note if self.current else ""


def answer_link_get(
    *, slug: str, meeting_id: int, token: str, viewer, now: datetime | None = None
) -> AnswerLink:
    """The link `viewer` (signed in or not) opened, if it may be used now; else
    `AnswerLinkError`, or `MeetingNotFound` when its meeting is not in that community.

    The signature is checked before anything is read, so a made-up address learns
    nothing about which meetings exist. A genuine link works until its meeting starts
    (its start as it is now: meetings move), unless the meeting is cancelled, its member
    is no longer an active member (or account), or someone else is signed in."""
    try:
        user_id, response = answer_token_read(token, meeting_id=meeting_id)
    except AnswerTokenError as error:
        raise AnswerLinkError(error.code) from None
    meeting = (
        Meeting.objects.select_related("community")
        .filter(pk=meeting_id, community__slug=slug)
        .first()
    )
    if meeting is None:
        raise MeetingNotFound(meeting_id)
    if viewer is not None and viewer.is_authenticated and viewer.pk != user_id:
        raise AnswerLinkError("other_user", meeting=meeting)
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if (
        user is None
        or not Membership.objects.filter(
            community=meeting.community, user=user, status=MembershipStatus.ACTIVE
        ).exists()
    ):
        raise AnswerLinkError("not_member", user=user)
    if meeting.is_cancelled:
        raise AnswerLinkError("cancelled", user=user, meeting=meeting)
    if meeting.has_started(now):
        raise AnswerLinkError("started", user=user, meeting=meeting)
    current = Answer.objects.filter(meeting=meeting, user=user).first()
    return AnswerLink(meeting=meeting, user=user, response=response, current=current)


# The chair's handover ------------------------------------------------------------------


def handover_context(*, meeting: Meeting, user: User) -> dict:
    previous = meeting_previous(meeting=meeting)
    since = previous.starts_at if previous else meeting.community.created_at
    sections = [
        {"section": section, **section.context(meeting=meeting, user=user)}
        for section in handover_sections
    ]
    return {
        "previous": previous,
        "new_members": list(
            community_members_joined_since(community=meeting.community, since=since)
        ),
        "sections": sections,
    }


def meeting_can_see_link(*, user: User, membership: Membership | None) -> bool:
    """The video-call link is for members (and managers, site staff) only."""
    return bool(membership and membership.is_active) or community_can_manage(
        user=user, membership=membership
    )


# Series, for managers -------------------------------------------------------------------


class SeriesNotFound(Exception):
    """No such series in this community (the views answer 404)."""


def series_list(*, community: Community, now: datetime | None = None) -> QuerySet[Series]:
    """The community's series, each with the start of its next scheduled meeting (`next_at`)."""
    upcoming = Q(
        meetings__status=MeetingStatus.SCHEDULED, meetings__starts_at__gt=now or timezone.now()
    )
    return (
        Series.objects.filter(community=community)
        .annotate(next_at=Min("meetings__starts_at", filter=upcoming))
        .order_by("title", "id")
    )


def series_get(*, community: Community, series_id: int) -> Series:
    series = Series.objects.filter(community=community, pk=series_id).first()
    if series is None:
        raise SeriesNotFound(series_id)
    series.community = community
    return series


# Calendars -------------------------------------------------------------------------------


def calendar_host() -> str:
    """The host in every UID (`meeting-<id>@<host>`): SITE_URL's, so it must not change."""
    return urlsplit(settings.SITE_URL).hostname or "localhost"


def community_organizer(*, community: Community) -> ical.Person:
    """The invitations' ORGANIZER: the community's contact address, so replies reach a
    person, or the site's sender address."""
    if community.contact_email:
        return ical.Person(community.contact_email, community.name)
    name, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    return ical.Person(address, community.name or name)


def meeting_url(meeting: Meeting) -> str:
    path = reverse(
        "meetings:detail", kwargs={"slug": meeting.community.slug, "meeting_id": meeting.pk}
    )
    return f"{settings.SITE_URL}{path}"


def invitation_sections(*, meeting: Meeting, reader: User) -> list[str]:
    """What the apps above add to `meeting`'s invitation for `reader` (its email and its
    calendar entry), each a plain text in their language and zone. Nothing for a
    cancelled meeting: its cancellation only says which meeting goes."""
    if meeting.is_cancelled:
        return []
    with translation.override(reader.language), timezone.override(reader.timezone):
        texts = [
            section.text(meeting=meeting, reader=reader).strip()
            for section in invitation_section_hooks
        ]
    return [text for text in texts if text]


def invitation_sections_prefetch(meetings: QuerySet[Meeting]) -> QuerySet[Meeting]:
    """`meetings` with what the invitation sections read joined or prefetched."""
    for section in invitation_section_hooks:
        if section.prefetch is not None:
            meetings = section.prefetch(meetings)
    return meetings


def calendar_event(
    *,
    meeting: Meeting,
    reader: User,
    stamp: datetime | None = None,
    sections: list[str] | None = None,
):
    """What a calendar says about `meeting` to `reader` (its description in their
    language, with the apps' `invitation_sections`, or `sections` when the caller has
    them already). `stamp`: when the message is made; by default the meeting's last
    change, so a feed or a download says the same bytes until the meeting changes."""
    community = meeting.community
    if sections is None:
        sections = invitation_sections(meeting=meeting, reader=reader)
    with translation.override(reader.language):
        description = render_to_string(
            "meetings/calendar/description.txt",
            {"meeting": meeting, "community": community, "url": meeting_url(meeting)},
        ).strip()
    return ical.MeetingEvent(
        id=meeting.pk,
        title=meeting.title,
        starts_at=meeting.starts_at,
        ends_at=meeting.ends_at,
        zone=meeting.timezone,
        sequence=meeting.sequence,
        cancelled=meeting.is_cancelled,
        stamp=stamp or meeting.updated_at,
        organizer=community_organizer(community=community),
        video_url=meeting.video_url,
        url=meeting_url(meeting),
        description="\n\n".join([description, *sections]),
    )


def meeting_invitees(*, meeting: Meeting) -> QuerySet[User]:
    """Who should hold the meeting's invitation: its community's active members whose
    account is active."""
    return User.objects.filter(
        is_active=True,
        memberships__community=meeting.community_id,
        memberships__status=MembershipStatus.ACTIVE,
    )


def invitations_held(*, meeting: Meeting) -> QuerySet[Invitation]:
    """The members who have this meeting in their calendar from our emails."""
    return Invitation.objects.filter(meeting=meeting, withdrawn=False).select_related("user")


def mail_key(meeting: Meeting) -> str:
    """The outbox key of every email about `meeting`."""
    return f"meeting:{meeting.pk}"


def calendar_thread(meeting: Meeting) -> str:
    """The outbox thread of a member's calendar messages about `meeting` (invitation,
    updates, cancellation): only the newest of them still to send counts."""
    return f"calendar:{meeting.pk}"


def meeting_mail_progress(*, meeting: Meeting) -> list[MailProgress]:
    """Per kind of email about `meeting`: how many were sent, failed (and why), wait.
    Two queries."""
    return outbox_progress(
        emails=Email.objects.filter(key=mail_key(meeting)), labels=dict(MailKind.choices)
    )


# Calendar feeds ------------------------------------------------------------------------

# How far back a feed reaches: last quarter's meetings stay in calendars, older ones go.
FEED_PAST = timedelta(days=90)


def feed_by_token(token: str) -> CalendarFeed | None:
    """The feed this secret address opens, or None: no such token (a wrong or reset
    one), its member's account is closed, or they are no longer an active member of the
    feed's community. The feed answers 404 to all of these, so a stranger learns nothing
    and a member who left gets nothing more (their calendar app keeps what it had)."""
    active = Membership.objects.filter(
        community=OuterRef("community"), user=OuterRef("user"), status=MembershipStatus.ACTIVE
    )
    return (
        CalendarFeed.objects.select_related("user", "community")
        .filter(token=token, user__is_active=True)
        .filter(Q(community__isnull=True) | Exists(active))
        .first()
    )


def feed_meetings(*, feed: CalendarFeed, now: datetime | None = None) -> list[Meeting]:
    """The feed's meetings that ended at most 90 days ago or are still to come, cancelled
    ones included (calendars show them as cancelled, and drop them from their own copy
    only when told): its community's, or, without one, those of every community its member
    is an active member of. One query whatever the number of meetings, with what the
    invitation sections read (the apps' prefetches may add a fixed few)."""
    now = now or timezone.now()
    communities = Membership.objects.filter(user=feed.user_id, status=MembershipStatus.ACTIVE)
    if feed.community_id is not None:
        communities = communities.filter(community=feed.community_id)
    meetings = (
        Meeting.objects.filter(
            community__in=communities.values("community"), ends_at__gte=now - FEED_PAST
        )
        .select_related("community", "chair")
        .order_by("starts_at", "id")
    )
    return list(invitation_sections_prefetch(meetings))


def feed_name(*, feed: CalendarFeed) -> str:
    """The calendar's name in the member's language."""
    with translation.override(feed.user.language):
        if feed.community is None:
            return gettext("My meetings")
        return gettext("%(community)s — meetings") % {"community": feed.community.name}


def feed_ics(*, feed: CalendarFeed, now: datetime | None = None) -> bytes:
    """The feed as iCalendar bytes: the same bytes until one of its meetings changes (or
    the member's language or zone does, or what an app's invitation section says: a
    published agenda's roundtable lasts one turn per member), so its hash is a fair ETag."""
    host = calendar_host()
    events = [
        calendar_event(meeting=meeting, reader=feed.user)
        for meeting in feed_meetings(feed=feed, now=now)
    ]
    calendar = ical.feed_calendar(
        events, host=host, name=feed_name(feed=feed), uid=f"feed-{feed.pk}@{host}"
    )
    return ical.serialize(calendar)


def meeting_ics(*, meeting: Meeting, reader: User) -> bytes:
    """One meeting as a calendar to download and open (no METHOD, no ATTENDEE): the same
    event, with the same UID, as in the feeds and invitations."""
    host = calendar_host()
    calendar = ical.feed_calendar(
        [calendar_event(meeting=meeting, reader=reader)],
        host=host,
        name=meeting.title,
        uid=f"meeting-{meeting.pk}-download@{host}",
    )
    return ical.serialize(calendar)


def meeting_links_for(*, meeting: Meeting) -> list[tuple[str, str]]:
    """(label, URL) of each link the apps above put on a meeting's page for its members."""
    return [
        (str(link.label), reverse(link.url_name, args=[meeting.community.slug, meeting.pk]))
        for link in meeting_links
    ]
