"""Reads of the minutes: a meeting's facts for its draft, its revisions, action items,
attachments and the progress of their distribution."""

import difflib
from dataclasses import dataclass

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection
from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.urls import reverse
from django.utils.translation import gettext

from accounts.models import User
from agendas.enums import TopicStatus
from agendas.models import Agenda, AgendaItem, Run, Topic, Turn
from agendas.selectors import agenda_new_members
from communities.enums import MembershipStatus
from communities.models import Community, Membership
from meetings.enums import Response
from meetings.models import Answer, Meeting
from meetings.selectors import meeting_following
from outbox.models import Email
from outbox.selectors import MailProgress, outbox_progress

from .draft import ActionFacts, ItemFacts, MinutesFacts, NextMeeting, RoundtableLine, escape
from .enums import ActionStatus, MailKind, MinutesStatus
from .models import (
    ActionItem,
    Attachment,
    Decision,
    LinesWithheld,
    Minutes,
    MinutesRevision,
    Note,
)

# The minutes and their revisions -------------------------------------------------------


def minutes_of(*, meeting: Meeting) -> Minutes | None:
    minutes = Minutes.objects.filter(meeting=meeting).first()
    if minutes is not None:
        minutes.meeting = meeting
    return minutes


def minutes_revisions(*, minutes: Minutes) -> list[MinutesRevision]:
    """Every revision, the first first."""
    return list(minutes.revisions.order_by("number"))


def minutes_current(*, minutes: Minutes) -> MinutesRevision | None:
    """The latest revision: the minutes as they stand."""
    return minutes.revisions.order_by("-number").first()


def minutes_distributed(*, minutes: Minutes) -> MinutesRevision | None:
    """The latest revision sent to the members, if any: what they have read."""
    return minutes.revisions.filter(status=MinutesStatus.DISTRIBUTED).order_by("-number").first()


# Links, attachments, the distribution's progress ---------------------------------------


def minutes_url(minutes: Minutes) -> str:
    """The members' page of the distributed minutes, absolute (for emails and the room)."""
    meeting = minutes.meeting
    path = reverse("minutes:distributed", args=[meeting.community.slug, meeting.pk])
    return f"{settings.SITE_URL}{path}"


def attachment_url(attachment: Attachment, *, community: Community) -> str:
    """The members-only download of `attachment`, absolute."""
    path = reverse(
        "minutes:attachment", args=[community.slug, attachment.meeting_id, attachment.pk]
    )
    return f"{settings.SITE_URL}{path}"


def attachments_of(*, meeting: Meeting) -> QuerySet[Attachment]:
    return Attachment.objects.filter(meeting=meeting).order_by("uploaded_at", "pk")


def attachment_get(*, meeting: Meeting, attachment_id: int) -> Attachment | None:
    """The meeting's attachment with this id, or None (another meeting's is None too)."""
    return Attachment.objects.filter(meeting=meeting, pk=attachment_id).first()


def minutes_mail_key(minutes: Minutes) -> str:
    """The outbox key of the minutes' emails (their version: the revision's number)."""
    return f"minutes:{minutes.pk}"


def minutes_emails(*, minutes: Minutes) -> QuerySet[Email]:
    return Email.objects.filter(kind=MailKind.MINUTES, key=minutes_mail_key(minutes))


def minutes_mail_progress(
    *, minutes: Minutes, revision: MinutesRevision | None = None
) -> list[MailProgress]:
    """How the emails of `revision` (by default the latest distributed one) are doing:
    sent, failed (and why), waiting. Empty before any distribution. Two queries."""
    revision = revision or minutes_distributed(minutes=minutes)
    if revision is None:
        return []
    label = gettext("Minutes, revision %(number)d") % {"number": revision.number}
    return outbox_progress(
        emails=minutes_emails(minutes=minutes).filter(version=str(revision.number)),
        labels={MailKind.MINUTES: label},
    )


def minutes_was_approved(*, minutes: Minutes) -> bool:
    """Whether any revision was approved (or distributed): the minutes are on record."""
    return minutes.revisions.exclude(status=MinutesStatus.DRAFT).exists()


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "hunk" (where the lines below are), "added", "removed" or "same"
    text: str


@dataclass(frozen=True)
class RevisionEntry:
    revision: MinutesRevision
    changes: tuple[DiffLine, ...]  # from the revision before (none for the first)


_DIFF_KINDS = {"@": "hunk", "+": "added", "-": "removed", " ": "same"}


def minutes_revision_diff(
    *, before: MinutesRevision, after: MinutesRevision, context: int = 2
) -> tuple[DiffLine, ...]:
    """What changed from `before` to `after`, line by line (a unified diff, `context`
    unchanged lines around each change, without its two file-name lines)."""
    lines = difflib.unified_diff(
        before.body.splitlines(), after.body.splitlines(), lineterm="", n=context
    )
    return tuple(
        DiffLine(kind=_DIFF_KINDS[line[:1] or " "], text=line)
        for index, line in enumerate(lines)
        if index >= 2  # "--- " and "+++ "
    )


def minutes_history(*, minutes: Minutes) -> list[RevisionEntry]:
    """Every revision, the first first, each with what changed since the one before."""
    revisions = list(
        minutes.revisions.select_related("edited_by", "approved_by").order_by("number")
    )
    return [
        RevisionEntry(
            revision=revision,
            changes=minutes_revision_diff(before=revisions[index - 1], after=revision)
            if index
            else (),
        )
        for index, revision in enumerate(revisions)
    ]


def minutes_revision_get(*, minutes: Minutes, number: int) -> MinutesRevision | None:
    return minutes.revisions.filter(number=number).first()


# The archive ---------------------------------------------------------------------------

ON_RECORD = (MinutesStatus.APPROVED, MinutesStatus.DISTRIBUTED)
# PostgreSQL's text search configuration for each community language.
SEARCH_CONFIGS = {"fr": "french", "en": "english"}


def minutes_archive(
    *, community: Community, user: User, can_manage: bool, query: str = ""
) -> QuerySet[MinutesRevision]:
    """The community's minutes, the latest meeting first: for each meeting the latest
    revision approved or distributed, or, for its chair and backup and the managers, the
    latest revision (a draft too). With `query`, only those whose text matches it:
    PostgreSQL's full-text search in the community's language, a plain case-insensitive
    filter elsewhere (SQLite)."""
    visible = MinutesRevision.objects.filter(minutes__meeting__community=community)
    if not can_manage:
        visible = visible.filter(
            Q(status__in=ON_RECORD)
            | Q(minutes__meeting__chair=user)
            | Q(minutes__meeting__backup=user)
        )
    latest = visible.filter(minutes=OuterRef("minutes")).order_by("-number").values("number")
    revisions = visible.filter(number=Subquery(latest[:1]))
    query = " ".join(str(query or "").split())
    if query:
        if connection.vendor == "postgresql":
            config = SEARCH_CONFIGS.get(community.language, "simple")
            revisions = revisions.annotate(
                document=SearchVector("body", "minutes__meeting__title", config=config)
            ).filter(document=SearchQuery(query, config=config, search_type="websearch"))
        else:
            revisions = revisions.filter(
                Q(body__icontains=query) | Q(minutes__meeting__title__icontains=query)
            )
    return revisions.select_related("minutes__meeting", "approved_by").order_by(
        "-minutes__meeting__starts_at", "-minutes__meeting_id"
    )


# Roundtable lines a member asked to leave out ------------------------------------------


def minutes_lines_of(*, meeting: Meeting, user: User) -> list[Turn]:
    """`user`'s roundtable lines at `meeting` that the draft takes (not marked "not for
    the minutes")."""
    if not user.is_authenticated:
        return []
    return list(
        Turn.objects.filter(run__meeting=meeting, user=user, private=False)
        .filter(~Q(challenge="") | ~Q(help_wanted=""))
        .order_by("started_at", "pk")
    )


def minutes_lines_withheld(*, meeting: Meeting) -> list[LinesWithheld]:
    return list(LinesWithheld.objects.filter(meeting=meeting).select_related("user").order_by("pk"))


# A line shorter than this ("Yes", "Nothing new") could be any words of the minutes: it
# counts as still there only where it ends a line, as the draft writes it.
SHORT_LINE = 15


def _line_texts(turn: Turn) -> list[str]:
    texts = []
    for text in (turn.challenge, turn.help_wanted):
        text = " ".join(text.split())
        if text:
            texts += [text, escape(text)]
    return texts


def _says(body: str, lines: list[str], text: str) -> bool:
    if len(text) >= SHORT_LINE:
        return text in body
    return any(line == text or line.endswith((f": {text}", f"- {text}")) for line in lines)


def minutes_lines_still_in(*, meeting: Meeting, body: str) -> list[User]:
    """The members who asked that their lines be left out, but whose lines `body` still
    says (as typed, or as the draft writes them), by name."""
    withheld = minutes_lines_withheld(meeting=meeting)
    if not withheld:
        return []
    users = {entry.user_id: entry.user for entry in withheld}
    lines = [line.strip() for line in body.splitlines()]
    turns = Turn.objects.filter(run__meeting=meeting, user_id__in=users, private=False)
    found = {
        turn.user_id
        for turn in turns
        if any(_says(body, lines, text) for text in _line_texts(turn))
    }
    return sorted((users[pk] for pk in found), key=lambda u: (u.display_name.casefold(), u.pk))


# The facts of a meeting, for its draft -------------------------------------------------


def _by_name(users) -> tuple[str, ...]:
    return tuple(sorted((u.display_name for u in users), key=lambda n: (n.casefold(), n)))


def _next_meeting(meeting: Meeting) -> NextMeeting | None:
    following = meeting_following(meeting=meeting)
    if following is None:
        return None
    return NextMeeting(
        starts_at=following.starts_at,
        chair=following.chair.display_name if following.chair else "",
    )


def minutes_facts(*, meeting: Meeting) -> MinutesFacts:
    """Everything the draft minutes say about `meeting`, from its run and its records:
    who was present (everyone present while it was live), regrets (active members absent
    who answered no) and the other active members absent; each item with its times and
    notes; the new members; the roundtable's lines (but those their author kept out of
    the minutes, and those of members who asked later that theirs be left out); the
    focus; decisions and action items; the topics chosen at it; and the community's next
    meeting."""
    meeting = Meeting.objects.select_related("community", "chair").get(pk=meeting.pk)
    community = meeting.community
    run = Run.objects.filter(meeting=meeting).first()
    agenda = Agenda.objects.select_related("presenter").filter(meeting=meeting).first()

    present_ids = set(run.attended) if run else set()
    members = {
        m.user_id: m.user
        for m in Membership.objects.filter(
            community=community, status=MembershipStatus.ACTIVE
        ).select_related("user")
    }
    said_no = set(
        Answer.objects.filter(meeting=meeting, response=Response.NO).values_list(
            "user_id", flat=True
        )
    )
    absent_ids = set(members) - present_ids
    regrets_ids = absent_ids & said_no
    present = User.objects.filter(pk__in=present_ids)

    notes = list(Note.objects.filter(meeting=meeting).order_by("created_at", "pk"))
    agenda_items = (
        list(AgendaItem.objects.filter(agenda=agenda).order_by("position", "pk")) if agenda else []
    )
    item_ids = {item.pk for item in agenda_items}
    items = tuple(
        ItemFacts(
            title=item.title,
            kind=item.kind,
            started_at=item.started_at,
            ended_at=item.ended_at,
            notes=tuple(n.text for n in notes if n.item_id == item.pk),
        )
        for item in agenda_items
    )

    roundtable = ()
    if run is not None:
        roundtable = tuple(
            RoundtableLine(
                name=turn.user.display_name,
                challenge=turn.challenge,
                help_wanted=turn.help_wanted,
            )
            for turn in Turn.objects.filter(run=run, private=False)
            .exclude(user_id__in=LinesWithheld.objects.filter(meeting=meeting).values("user_id"))
            .select_related("user")
            .order_by("started_at", "pk")
            if turn.challenge or turn.help_wanted
        )

    presenter = ""
    if agenda is not None:
        presenter = agenda.presenter.display_name if agenda.presenter else agenda.presenter_name

    return MinutesFacts(
        language=community.language,
        zone=community.timezone,
        community=community.name,
        title=meeting.title,
        starts_at=meeting.starts_at,
        started_at=run.started_at if run else None,
        ended_at=run.ended_at if run else None,
        chair=meeting.chair.display_name if meeting.chair else "",
        present=_by_name(present),
        regrets=_by_name(members[u] for u in regrets_ids),
        absent=_by_name(members[u] for u in absent_ids - regrets_ids),
        items=items,
        new_members=tuple(m.user.display_name for m in agenda_new_members(meeting=meeting)),
        roundtable=roundtable,
        focus_topic=agenda.focus_topic if agenda else "",
        presenter=presenter,
        notes=tuple(n.text for n in notes if n.item_id not in item_ids),
        decisions=tuple(
            Decision.objects.filter(meeting=meeting)
            .order_by("created_at", "pk")
            .values_list("text", flat=True)
        ),
        actions=tuple(
            ActionFacts(
                text=action.text,
                owner=action.owner.display_name if action.owner else "",
                due=action.due_date,
            )
            for action in ActionItem.objects.filter(meeting=meeting)
            .exclude(status=ActionStatus.DROPPED)
            .select_related("owner")
            .order_by("created_at", "pk")
        ),
        topics_next=tuple(
            Topic.objects.filter(
                chosen_at=meeting, status__in=[TopicStatus.CHOSEN, TopicStatus.DONE]
            )
            .order_by("created_at", "pk")
            .values_list("title", flat=True)
        ),
        next_meeting=_next_meeting(meeting),
    )


# Action items --------------------------------------------------------------------------


def _ordered(actions: QuerySet[ActionItem]) -> QuerySet[ActionItem]:
    return actions.select_related("owner", "meeting__community").order_by(
        F("due_date").asc(nulls_last=True), "created_at", "pk"
    )


def action_items_of(
    *, user: User, status: str | None = None, community: Community | None = None
) -> QuerySet[ActionItem]:
    """`user`'s action items (of `status`, or all; in `community`, or all of theirs), the
    soonest due first."""
    actions = ActionItem.objects.filter(owner=user)
    if community is not None:
        actions = actions.filter(meeting__community=community)
    if status is not None:
        actions = actions.filter(status=status)
    return _ordered(actions)


def action_items_open(*, community: Community) -> QuerySet[ActionItem]:
    """The community's open action items, from all its meetings, the soonest due first."""
    return _ordered(
        ActionItem.objects.filter(meeting__community=community, status=ActionStatus.OPEN)
    )


def handover_action_items(*, meeting: Meeting, user: User) -> dict:
    """The chair's handover page: the open action items to review at the meeting."""
    return {"action_items": list(action_items_open(community=meeting.community))}
