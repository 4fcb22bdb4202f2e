"""The minutes on their way to the record: approval by the meeting's chair or a manager,
and, before it, a member's request that their roundtable lines be left out.

Each service checks the actor's permission itself and raises `MinutesError` (a message for
people, a stable `code`) or `CommunityNotFound` (an invitation-only community the actor may
not see). On refusal nothing changes.
"""

from dataclasses import replace
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import override

from accounts.models import User
from communities.models import Membership
from communities.selectors import community_can_manage, membership_get
from meetings.models import Meeting

from .. import selectors
from ..draft import RoundtableLine, roundtable_part
from ..enums import MinutesStatus
from ..models import LinesWithheld, Minutes, MinutesRevision
from .records import MinutesError, _draft_write, _latest, _visible_membership


def _can_approve(actor: User, meeting: Meeting, membership: Membership | None) -> bool:
    if community_can_manage(user=actor, membership=membership):
        return True
    return membership is not None and membership.is_active and actor.pk == meeting.chair_id


def minutes_can_approve(*, actor: User, meeting: Meeting) -> bool:
    """Who approves the minutes: the meeting's chair (an active member) and the
    community's managers and site staff — not the backup, who may only edit them."""
    if not actor.is_authenticated:
        return False
    return _can_approve(actor, meeting, membership_get(user=actor, community=meeting.community))


def _minutes_locked(meeting: Meeting) -> tuple[Minutes, MinutesRevision]:
    minutes = Minutes.objects.select_for_update().filter(meeting=meeting).first()
    latest = _latest(minutes) if minutes is not None else None
    if latest is None:
        raise MinutesError(
            _("These minutes are not drafted yet: the meeting has not ended."),
            code="no_minutes",
        )
    return minutes, latest


@transaction.atomic
def minutes_approve(
    *, actor: User, minutes: Minutes, number: int | None = None, now: datetime | None = None
) -> MinutesRevision:
    """The chair of the meeting or a manager approves the minutes as they stand: their
    latest revision, which must be a draft (approving twice is refused), and, when
    `number` is given, the revision the approver read (refused if it changed since).
    Refused too while a member's withheld roundtable lines are still in the text. An
    approved revision is edited no more: a change to it is the next revision."""
    now = now or timezone.now()
    meeting = Meeting.objects.select_related("community").get(pk=minutes.meeting_id)
    membership = _visible_membership(actor, meeting)
    if not _can_approve(actor, meeting, membership):
        raise MinutesError(
            _("Only the meeting's chair and the managers can approve its minutes."),
            code="not_approver",
            forbidden=True,
        )
    minutes, latest = _minutes_locked(meeting)
    if latest.status != MinutesStatus.DRAFT:
        raise MinutesError(
            _("Revision %(number)d of these minutes is already approved.")
            % {"number": latest.number},
            code="not_draft",
        )
    if number is not None and number != latest.number:
        raise MinutesError(
            _("The minutes changed since you read them: read revision %(number)d first.")
            % {"number": latest.number},
            code="stale",
        )
    still_in = selectors.minutes_lines_still_in(meeting=meeting, body=latest.body)
    if still_in:
        raise MinutesError(
            _(
                "%(names)s asked that their roundtable lines be left out, and the text "
                "still has them. Remove them before approving."
            )
            % {"names": ", ".join(user.display_name for user in still_in)},
            code="withheld_lines",
        )
    latest.status, latest.approved_at, latest.approved_by = MinutesStatus.APPROVED, now, actor
    latest.updated_at = now
    latest.save(update_fields=["status", "approved_at", "approved_by", "updated_at"])
    return latest


def _remove_block(body: str, block: list[str]) -> str | None:
    """`body` without the lines of `block` (consecutive, whole lines), or None when they
    are not there as they were drafted."""
    lines = body.split("\n")
    size = len(block)
    for start in range(len(lines) - size + 1):
        if lines[start : start + size] == block:
            return "\n".join(lines[:start] + lines[start + size :])
    return None


def _drafted_lines(meeting: Meeting, user: User) -> list[list[str]]:
    """`user`'s roundtable lines as the draft wrote them (in the community's language)."""
    facts = selectors.minutes_facts(meeting=meeting)
    blocks = []
    for turn in selectors.minutes_lines_of(meeting=meeting, user=user):
        line = RoundtableLine(
            name=user.display_name, challenge=turn.challenge, help_wanted=turn.help_wanted
        )
        with override(facts.language):
            blocks.append(roundtable_part(replace(facts, roundtable=(line,))))
    return blocks


def minutes_can_withhold(*, actor: User, meeting: Meeting) -> bool:
    """Whether `actor` may still ask that their roundtable lines be left out: an active
    member with lines in the minutes, who has not asked yet, before any approval."""
    if not actor.is_authenticated:
        return False
    membership = membership_get(user=actor, community=meeting.community)
    if membership is None or not membership.is_active:
        return False
    if (
        MinutesRevision.objects.filter(minutes__meeting=meeting)
        .exclude(status=MinutesStatus.DRAFT)
        .exists()
    ):
        return False
    if LinesWithheld.objects.filter(meeting=meeting, user=actor).exists():
        return False
    return bool(selectors.minutes_lines_of(meeting=meeting, user=actor))


@transaction.atomic
def minutes_lines_withhold(
    *, actor: User, meeting: Meeting, now: datetime | None = None
) -> tuple[LinesWithheld, bool]:
    """A member asks, before the minutes are approved, that their roundtable lines at
    `meeting` be left out. Recorded once; a draft nobody edited is redrafted without
    them, and from an edited draft they are removed where it still says them as drafted.
    Returns the request and whether the text is now free of the lines (if not, the
    chair is told, and approval waits until they are removed). Refused once any revision
    was approved, and for a member with no lines in the minutes."""
    now = now or timezone.now()
    meeting = Meeting.objects.select_related("community").get(pk=meeting.pk)
    membership = _visible_membership(actor, meeting)
    if membership is None or not membership.is_active:
        raise MinutesError(
            _("Only this community's members can do that."), code="not_member", forbidden=True
        )
    minutes, latest = _minutes_locked(meeting)
    if minutes.revisions.exclude(status=MinutesStatus.DRAFT).exists():
        raise MinutesError(
            _(
                "These minutes are approved: your lines can no longer be left out here. "
                "Ask the chair or a manager."
            ),
            code="approved",
        )
    if not selectors.minutes_lines_of(meeting=meeting, user=actor):
        raise MinutesError(_("You have no roundtable lines in these minutes."), code="no_lines")
    try:
        with transaction.atomic():
            request = LinesWithheld.objects.create(meeting=meeting, user=actor, created_at=now)
    except IntegrityError:
        request = LinesWithheld.objects.get(meeting=meeting, user=actor)
    if latest.is_untouched_draft:
        latest = _draft_write(minutes, meeting, now)
    else:
        body = latest.body
        for block in _drafted_lines(meeting, actor):
            body = _remove_block(body, block) or body
        if body != latest.body:
            latest.body, latest.updated_at = body, now
            latest.save(update_fields=["body", "updated_at"])
    clean = not selectors.minutes_lines_still_in(meeting=meeting, body=latest.body)
    return request, clean
