"""The minutes' records: the draft from the live run (and a person's edits to it), notes,
decisions and action items.

Each service checks the actor's permission itself and raises `MinutesError` (a message for
people, a stable `code`) or `CommunityNotFound` (an invitation-only community the actor may
not see). On refusal nothing changes.
"""

from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from agendas.enums import ItemKind, RunStatus
from agendas.models import AgendaItem, Run
from agendas.services import agenda_item_kind_ensure
from communities.enums import MembershipStatus
from communities.models import Membership
from communities.selectors import (
    CommunityNotFound,
    community_can_manage,
    community_is_visible,
    membership_get,
)
from communities.services import CommunityActionError
from meetings.models import Meeting
from meetings.selectors import meeting_following

from .. import selectors
from ..draft import draft_render
from ..enums import ActionStatus, MinutesStatus
from ..models import (
    ACTION_LENGTH,
    BODY_LENGTH,
    DECISION_LENGTH,
    NOTE_LENGTH,
    ActionItem,
    Decision,
    Minutes,
    MinutesRevision,
    Note,
)


class MinutesError(CommunityActionError):
    """A refused action; `field` names the form field it belongs to, if any."""

    def __init__(self, message, *, code: str, field: str | None = None, forbidden: bool = False):
        super().__init__(message, code=code, forbidden=forbidden)
        self.field = field


# Checks --------------------------------------------------------------------------------


def _visible_membership(actor: User, meeting: Meeting) -> Membership | None:
    community = meeting.community
    membership = membership_get(user=actor, community=community)
    if not community_is_visible(user=actor, community=community, membership=membership):
        raise CommunityNotFound(community.slug)
    return membership


def minutes_can_record(*, actor: User, meeting: Meeting) -> bool:
    """Who takes the meeting's notes and records its decisions and action items: its
    chair and backup (active members), the community's managers and site staff."""
    if not actor.is_authenticated:
        return False
    membership = membership_get(user=actor, community=meeting.community)
    return _can_record(actor, meeting, membership)


def _can_record(actor: User, meeting: Meeting, membership: Membership | None) -> bool:
    if community_can_manage(user=actor, membership=membership):
        return True
    return (
        membership is not None
        and membership.is_active
        and actor.pk in (meeting.chair_id, meeting.backup_id)
    )


def _recorder_require(actor: User, meeting: Meeting) -> Meeting:
    """The meeting, as it is now, if `actor` may record for it; else refused."""
    meeting = Meeting.objects.select_related("community").get(pk=meeting.pk)
    membership = _visible_membership(actor, meeting)
    if not _can_record(actor, meeting, membership):
        raise MinutesError(
            _("Only the meeting's chair, its backup and the managers can do that."),
            code="not_recorder",
            forbidden=True,
        )
    if meeting.is_cancelled:
        raise MinutesError(_("This meeting is cancelled."), code="cancelled")
    return meeting


def _check_text(text, *, limit: int, field: str = "text", one_line: bool = False) -> str:
    text = str(text or "")
    text = " ".join(text.split()) if one_line else text.strip()
    if not text:
        raise MinutesError(_("Write something first."), code="no_text", field=field)
    if len(text) > limit:
        raise MinutesError(
            _("At most %(limit)d characters.") % {"limit": limit}, code="too_long", field=field
        )
    return text


def _check_item(item: AgendaItem | None, meeting: Meeting) -> AgendaItem | None:
    if item is None:
        return None
    if not AgendaItem.objects.filter(pk=item.pk, agenda__meeting=meeting).exists():
        raise MinutesError(
            _("There is no such item on this meeting's agenda."), code="no_item", field="item"
        )
    return item


# The draft -----------------------------------------------------------------------------


def _latest(minutes: Minutes) -> MinutesRevision | None:
    return minutes.revisions.select_for_update().order_by("-number").first()


def _draft_write(minutes: Minutes, meeting: Meeting, now: datetime) -> MinutesRevision:
    """Draft (or redraft) the minutes from the meeting, `minutes` locked: the first
    revision is made, an untouched draft is rewritten, anything a person edited, approved
    or distributed is left as it is."""
    latest = _latest(minutes)
    if latest is not None and not latest.is_untouched_draft:
        return latest
    body = draft_render(selectors.minutes_facts(meeting=meeting))
    if latest is None:
        return MinutesRevision.objects.create(
            minutes=minutes,
            number=1,
            body=body,
            generated_at=now,
            created_at=now,
            updated_at=now,
        )
    if latest.body != body:
        latest.body, latest.generated_at, latest.updated_at = body, now, now
        latest.save(update_fields=["body", "generated_at", "updated_at"])
    return latest


def _draft_refresh(meeting: Meeting, now: datetime) -> None:
    """After a note, decision or action item: an untouched draft says it too."""
    minutes = Minutes.objects.select_for_update().filter(meeting=meeting).first()
    if minutes is not None:
        _draft_write(minutes, meeting, now)


@transaction.atomic
def minutes_draft_generate(*, meeting: Meeting, now: datetime | None = None) -> MinutesRevision:
    """Draft the minutes of `meeting`, whose live run has ended, from the run (see
    `selectors.minutes_facts`), in the community's language. Safe to repeat, from any
    process: one draft is kept, rewritten only while nobody has edited it; a draft a
    person edited and approved minutes are returned as they are. No permission check:
    it writes what the meeting's records say (agendas calls it when the run ends)."""
    now = now or timezone.now()
    if not Run.objects.filter(meeting=meeting, status=RunStatus.ENDED).exists():
        raise MinutesError(_("The meeting has not ended yet."), code="not_ended")
    minutes, _created = Minutes.objects.get_or_create(meeting=meeting, defaults={"created_at": now})
    # One drafter at a time: the second waits, then finds the first's draft.
    minutes = Minutes.objects.select_for_update().get(pk=minutes.pk)
    return _draft_write(minutes, meeting, now)


def minutes_run_ended(*, meeting_id: int) -> None:
    """agendas' run-ended callback (after the ending committed): the draft minutes."""
    meeting = Meeting.objects.filter(pk=meeting_id).first()
    if meeting is not None:
        minutes_draft_generate(meeting=meeting)


@transaction.atomic
def minutes_draft_edit(
    *, actor: User, meeting: Meeting, body: str, now: datetime | None = None
) -> MinutesRevision:
    """A person's change to the minutes (the chair, backup or a manager): a draft is
    changed in place, and is no longer redrafted from the meeting; approved or
    distributed minutes get a new revision, a draft. An unchanged text changes nothing."""
    now = now or timezone.now()
    meeting = _recorder_require(actor, meeting)
    # As drafted: Unix line ends, one at the end (a browser's form sends CRLF).
    body = _check_text(str(body or "").replace("\r\n", "\n"), limit=BODY_LENGTH, field="body")
    body += "\n"
    minutes = Minutes.objects.select_for_update().filter(meeting=meeting).first()
    latest = _latest(minutes) if minutes is not None else None
    if latest is None:
        raise MinutesError(
            _("These minutes are not drafted yet: the meeting has not ended."),
            code="no_minutes",
        )
    if latest.body == body:
        return latest
    if latest.status == MinutesStatus.DRAFT:
        latest.body, latest.edited_at, latest.edited_by, latest.updated_at = body, now, actor, now
        latest.save(update_fields=["body", "edited_at", "edited_by", "updated_at"])
        return latest
    return MinutesRevision.objects.create(
        minutes=minutes,
        number=latest.number + 1,
        body=body,
        edited_at=now,
        edited_by=actor,
        created_at=now,
        updated_at=now,
    )


# Notes, decisions, action items --------------------------------------------------------


@transaction.atomic
def note_add(
    *,
    actor: User,
    meeting: Meeting,
    text: str,
    item: AgendaItem | None = None,
    now: datetime | None = None,
) -> Note:
    """A note by the chair, backup or a manager, on one of the meeting's items (or on
    the meeting as a whole). Markdown, at most 2000 characters."""
    now = now or timezone.now()
    meeting = _recorder_require(actor, meeting)
    note = Note.objects.create(
        meeting=meeting,
        item=_check_item(item, meeting),
        author=actor,
        text=_check_text(text, limit=NOTE_LENGTH),
        created_at=now,
    )
    _draft_refresh(meeting, now)
    return note


@transaction.atomic
def decision_add(
    *,
    actor: User,
    meeting: Meeting,
    text: str,
    item: AgendaItem | None = None,
    now: datetime | None = None,
) -> Decision:
    """A decision taken at the meeting, recorded by the chair, backup or a manager."""
    now = now or timezone.now()
    meeting = _recorder_require(actor, meeting)
    decision = Decision.objects.create(
        meeting=meeting,
        item=_check_item(item, meeting),
        text=_check_text(text, limit=DECISION_LENGTH),
        created_by=actor,
        created_at=now,
    )
    _draft_refresh(meeting, now)
    return decision


def _owner_check(owner: User | None, meeting: Meeting) -> User:
    active = (
        owner is not None
        and owner.is_active
        and Membership.objects.filter(
            community_id=meeting.community_id, user=owner, status=MembershipStatus.ACTIVE
        ).exists()
    )
    if not active:
        raise MinutesError(
            _("An action item's owner must be an active member of this community."),
            code="bad_owner",
            field="owner",
        )
    return owner


@transaction.atomic
def action_item_create(
    *,
    actor: User,
    meeting: Meeting,
    owner: User,
    text: str,
    due_date: date | None = None,
    item: AgendaItem | None = None,
    now: datetime | None = None,
) -> ActionItem:
    """An action item for `owner` (an active member), due on `due_date` (if any, not
    before the meeting's day), recorded by the chair, backup or a manager. Open until its
    owner or a manager marks it done or dropped."""
    now = now or timezone.now()
    meeting = _recorder_require(actor, meeting)
    owner = _owner_check(owner, meeting)
    text = _check_text(text, limit=ACTION_LENGTH, one_line=True)
    if due_date is not None:
        if not isinstance(due_date, date) or isinstance(due_date, datetime):
            raise MinutesError(_("Give a date."), code="bad_due", field="due_date")
        zone = ZoneInfo(meeting.community.timezone)
        meeting_day = timezone.localtime(meeting.starts_at, zone).date()
        if due_date < meeting_day:
            raise MinutesError(
                _("An action item cannot be due before its meeting."),
                code="due_past",
                field="due_date",
            )
    action = ActionItem.objects.create(
        meeting=meeting,
        item=_check_item(item, meeting),
        text=text,
        owner=owner,
        due_date=due_date,
        created_by=actor,
        created_at=now,
    )
    _draft_refresh(meeting, now)
    following = meeting_following(meeting=meeting)
    if following is not None:
        agenda_item_kind_ensure(meeting=following, kind=ItemKind.ACTIONS, now=now)
    return action


def agenda_created_review(*, agenda, now: datetime) -> None:
    """agendas' callback when a meeting's agenda is made: "Review of action items" on it
    while its community has open action items from the meetings before."""
    meeting = agenda.meeting
    earlier = ActionItem.objects.filter(
        meeting__community_id=meeting.community_id,
        meeting__starts_at__lt=meeting.starts_at,
        status=ActionStatus.OPEN,
    )
    if earlier.exists():
        agenda_item_kind_ensure(meeting=meeting, kind=ItemKind.ACTIONS, now=now)


@transaction.atomic
def action_item_status_set(
    *, actor: User, action_item: ActionItem, status: str, now: datetime | None = None
) -> ActionItem:
    """Its owner or a manager marks an action item open, done or dropped. The minutes
    already written keep what was decided."""
    now = now or timezone.now()
    action = ActionItem.objects.select_for_update().get(pk=action_item.pk)
    meeting = Meeting.objects.select_related("community").get(pk=action.meeting_id)
    membership = _visible_membership(actor, meeting)
    is_owner = actor.is_authenticated and action.owner_id == actor.pk
    if not (is_owner or community_can_manage(user=actor, membership=membership)):
        raise MinutesError(
            _("Only its owner and the managers can change this action item."),
            code="not_owner",
            forbidden=True,
        )
    if status not in ActionStatus.values:
        raise MinutesError(_("Choose open, done or dropped."), code="bad_status", field="status")
    if action.status != status:
        action.status, action.status_changed_at, action.status_changed_by = status, now, actor
        action.save(update_fields=["status", "status_changed_at", "status_changed_by"])
    return action
