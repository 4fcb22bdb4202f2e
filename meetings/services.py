"""Every write to series, meetings, the chair's rota, answers and attendance.

Each service checks the actor's permission and the input itself and raises `MeetingError`
(a message for people, the form field it belongs to, a stable code) before changing
anything; every write runs in one transaction. `now` is a parameter so tests and the
periodic work (`manage.py meetings_maintain`) can say when "now" is.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from accounts.notifications import email_queue, email_user_on_commit
from communities.enums import MembershipStatus
from communities.models import Community, Membership
from communities.services import CommunityActionError, manager_require
from outbox.models import Email
from outbox.services import outbox_retry
from rooms.enums import RoomKind
from rooms.models import Room
from rooms.services import room_create

from . import emails, recurrence, selectors
from .enums import AttendanceStatus, ChairSource, MailKind, MeetingStatus, Response, SwapStatus
from .models import (
    MAX_MINUTES,
    Answer,
    Attendance,
    CalendarFeed,
    ChairChange,
    ChairSwap,
    Invitation,
    Meeting,
    Series,
    feed_token_new,
)

logger = logging.getLogger(__name__)

# Changes members must see: each raises the meeting's sequence (calendar updates carry it).
VISIBLE_FIELDS = {
    "starts_at",
    "timezone",  # the same instant said in another zone reads as another time
    "duration_minutes",
    "video_url",
    "title",
    "chair_id",
    "status",
}


class MeetingError(CommunityActionError):
    """A refused action; `field` names the form field it belongs to, if any."""

    def __init__(self, message, *, code: str, field: str | None = None, forbidden: bool = False):
        super().__init__(message, code=code, forbidden=forbidden)
        self.field = field


def _from_recurrence(error: recurrence.RecurrenceError) -> MeetingError:
    return MeetingError(error.message, code=error.code, field=error.field)


def _from_validation(error: ValidationError) -> MeetingError:
    field, messages = next(iter(error.message_dict.items()))
    return MeetingError(
        " ".join(messages), code="invalid", field=None if field == "__all__" else field
    )


# Checks --------------------------------------------------------------------------------


def _check_title(title: str) -> str:
    title = " ".join((title or "").split())
    if not title:
        raise MeetingError(_("Give it a title."), code="no_title", field="title")
    if len(title) > 200:
        raise MeetingError(
            _("A title has at most 200 characters."), code="long_title", field="title"
        )
    return title


def _check_duration(minutes) -> int:
    if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= MAX_MINUTES:
        raise MeetingError(
            _("A meeting lasts from 1 minute to 8 hours (480 minutes)."),
            code="bad_length",
            field="duration_minutes",
        )
    return minutes


def _check_zone(zone: str) -> str:
    try:
        recurrence.zone_get(zone)
    except recurrence.RecurrenceError as error:
        raise _from_recurrence(error) from None
    return zone


def _local_start(day: date, at: time, zone: str) -> datetime:
    """The UTC instant of a local date and time, refused when that time does not exist or
    happens twice that day."""
    _check_zone(zone)
    moment = recurrence.local_start(day, at, zone)
    error = recurrence.local_time_error(moment)
    if error is not None:
        raise _from_recurrence(error)
    return moment.astimezone(UTC)


def _not_started(meeting: Meeting, now: datetime) -> None:
    if meeting.has_ended(now):
        raise MeetingError(_("This meeting has ended; it can no longer be changed."), code="ended")
    if meeting.has_started(now):
        raise MeetingError(
            _("This meeting has started; it can no longer be changed."), code="started"
        )


def _active_membership(*, user: User, community: Community) -> Membership:
    membership = Membership.objects.filter(
        community=community, user=user, status=MembershipStatus.ACTIVE
    ).first()
    if membership is None:
        raise MeetingError(
            _("Only this community's members can do that."), code="not_member", forbidden=True
        )
    return membership


def _manager_locked(*, actor: User, meeting: Meeting, now: datetime, cancelled=None) -> Meeting:
    """The meeting, locked, for a manager's change: refused unless `actor` manages its
    community and it has neither started nor been cancelled."""
    manager_require(actor=actor, community=meeting.community)
    meeting = _locked(meeting)
    _not_started(meeting, now)
    if meeting.is_cancelled:
        raise MeetingError(cancelled or _("This meeting is cancelled."), code="cancelled")
    return meeting


def _locked(meeting: Meeting) -> Meeting:
    locked = Meeting.objects.select_for_update().select_related("community").get(pk=meeting.pk)
    return locked


def _save(meeting: Meeting, before: dict, now: datetime) -> set[str]:
    """Save with the sequence raised once if a change members must see happened; returns
    the names of the fields that changed."""
    changed = {name for name, value in before.items() if getattr(meeting, name) != value}
    if meeting.pk and changed & VISIBLE_FIELDS:
        meeting.sequence += 1
    meeting.updated_at = now
    try:
        meeting.full_clean(exclude=["room", "community", "series", "chair", "backup"])
    except ValidationError as error:
        raise _from_validation(error) from None
    meeting.save()
    if meeting.pk and changed & VISIBLE_FIELDS and meeting.invitations_sent_at is not None:
        _invitations_follow(meeting, now)
        if before.get("status") == MeetingStatus.CANCELLED and not meeting.is_cancelled:
            # Given back: its cancellation took it out of every holder's calendar (they are
            # all withdrawn now), so every member is invited afresh, newcomers included.
            _invitations_all(meeting, now)
    return changed


def _snapshot(meeting: Meeting) -> dict:
    return {name: getattr(meeting, name) for name in (*VISIBLE_FIELDS, "backup_id")}


def _room_for(meeting: Meeting, community: Community):
    local = timezone.localtime(meeting.starts_at, recurrence.zone_get(meeting.timezone))
    when = f" — {local:%Y-%m-%d}"
    # A meeting's title may be as long as a room's: shortened so the date still fits.
    title = meeting.title[: Room._meta.get_field("title").max_length - len(when)]
    return room_create(community=community, kind=RoomKind.MEETING, title=title + when)


# Series --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncResult:
    created: int = 0
    updated: int = 0
    cancelled: int = 0


def _series_fields(community: Community, fields: dict, series: Series | None) -> dict:
    current = {
        "title": series.title if series else "",
        "rrule": series.rrule if series else "",
        "first_date": series.first_date if series else None,
        "start_time": series.start_time if series else None,
        "timezone": series.timezone if series else community.timezone,
        "duration_minutes": series.duration_minutes if series else 60,
        "video_url": series.video_url if series else community.video_url,
        "invite_automatically": series.invite_automatically if series else False,
        "invite_days_before": series.invite_days_before if series else 21,
    }
    unknown = set(fields) - set(current)
    if unknown:
        raise TypeError(f"unknown series fields: {sorted(unknown)}")
    values = {**current, **{k: v for k, v in fields.items() if v is not None}}
    values["title"] = _check_title(values["title"])
    values["duration_minutes"] = _check_duration(values["duration_minutes"])
    values["timezone"] = _check_zone(values["timezone"])
    if not 1 <= values["invite_days_before"] <= 365:
        raise MeetingError(
            _("Send invitations between 1 and 365 days before."),
            code="bad_days",
            field="invite_days_before",
        )
    if values["first_date"] is None or values["start_time"] is None:
        raise MeetingError(
            _("Give the first date and the start time."), code="no_start", field="first_date"
        )
    return values


def series_preview(
    *, community: Community, now: datetime | None = None, count: int = 3, **fields
) -> list[datetime]:
    """The next `count` local starts the fields would give, checked as saving would check
    them (raises MeetingError); nothing is saved."""
    values = _series_fields(community, fields, None)
    return _series_dates(values, now or timezone.now())[:count]


def _series_dates(values: dict, now: datetime) -> list[datetime]:
    try:
        return recurrence.occurrences_within(
            rule=values["rrule"],
            first_date=values["first_date"],
            start_time=values["start_time"],
            zone=values["timezone"],
            now=now,
            months=settings.MEETINGS_HORIZON_MONTHS,
        )
    except recurrence.RecurrenceError as error:
        raise _from_recurrence(error) from None


@transaction.atomic
def series_create(
    *, actor: User, community: Community, now: datetime | None = None, **fields
) -> tuple[Series, SyncResult]:
    """A new series and its meetings for the horizon ahead. Managers only."""
    now = now or timezone.now()
    manager_require(actor=actor, community=community)
    values = _series_fields(community, fields, None)
    dates = _series_dates(values, now)
    series = Series(community=community, created_by=actor, created_at=now, updated_at=now, **values)
    try:
        series.full_clean(exclude=["community", "created_by"])
    except ValidationError as error:
        raise _from_validation(error) from None
    series.save()
    return series, _series_sync(series, now=now, dates=dates)


@transaction.atomic
def series_update(
    *, actor: User, series: Series, now: datetime | None = None, **fields
) -> tuple[Series, SyncResult]:
    """Change a series; its future meetings follow, except what was changed on a meeting
    alone. A changed rule cancels the future meetings it no longer gives."""
    now = now or timezone.now()
    community = series.community
    manager_require(actor=actor, community=community)
    series = Series.objects.select_for_update().get(pk=series.pk)
    values = _series_fields(community, fields, series)
    dates = _series_dates(values, now)
    for name, value in values.items():
        setattr(series, name, value)
    series.updated_at = now
    try:
        series.full_clean(exclude=["community", "created_by"])
    except ValidationError as error:
        raise _from_validation(error) from None
    series.save()
    series.community = community
    return series, _series_sync(series, now=now, dates=dates)


def _series_sync(series: Series, *, now: datetime, dates: list[datetime]) -> SyncResult:
    """Make the series' meetings match its rule from now to the horizon. Safe to repeat:
    a second run changes nothing."""
    community = series.community
    wanted = {moment.date(): moment for moment in dates}
    horizon = recurrence.horizon_end(now, settings.MEETINGS_HORIZON_MONTHS)
    existing = {
        m.occurrence_date: m
        for m in Meeting.objects.select_for_update()
        .filter(series=series)
        .filter(Q(starts_at__gt=now) | Q(occurrence_date__in=list(wanted)))
    }
    created = updated = cancelled = 0
    for day, moment in wanted.items():
        meeting = existing.get(day)
        if meeting is None:
            meeting = Meeting(
                community=community,
                series=series,
                occurrence_date=day,
                title=series.title,
                starts_at=moment,
                duration_minutes=series.duration_minutes,
                timezone=series.timezone,
                video_url=series.video_url,
                created_at=now,
                updated_at=now,
            )
            meeting.room = _room_for(meeting, community)
            _save(meeting, {}, now)
            created += 1
            continue
        if meeting.has_started(now):
            continue
        before = _snapshot(meeting)
        own = set(meeting.own_changes)
        if "start" not in own:
            meeting.starts_at, meeting.timezone = moment, series.timezone
        _series_follow(meeting, series)
        if "status" not in own and meeting.status == MeetingStatus.CANCELLED:
            meeting.status, meeting.cancelled_at = MeetingStatus.SCHEDULED, None  # given again
        if _save(meeting, before, now):
            updated += 1
    for day, meeting in existing.items():
        if day in wanted or meeting.has_started(now):
            continue
        before = _snapshot(meeting)
        if recurrence.local_start(day, series.start_time, series.timezone) < now:
            # Moved one by one to after now from a date of the rule that has passed: the
            # rule from now on says nothing about that date, so this is no reason to cancel.
            _series_follow(meeting, series)
            if _save(meeting, before, now):
                updated += 1
        elif meeting.status == MeetingStatus.SCHEDULED and meeting.starts_at < horizon:
            meeting.status, meeting.cancelled_at = MeetingStatus.CANCELLED, now
            _save(meeting, before, now)
            cancelled += 1
    return SyncResult(created, updated, cancelled)


def _series_follow(meeting: Meeting, series: Series) -> None:
    """The series' length, title and link, except where the meeting has its own."""
    own = set(meeting.own_changes)
    if "duration" not in own:
        meeting.duration_minutes = series.duration_minutes
    if "title" not in own:
        meeting.title = series.title
    if "video_url" not in own:
        meeting.video_url = series.video_url


@dataclass(frozen=True)
class MaintainResult:
    series: int = 0
    created: int = 0
    updated: int = 0
    cancelled: int = 0
    chairs_confirmed: int = 0
    invitations_sent: int = 0
    invitations_reconciled: int = 0
    cancellations_reconciled: int = 0
    reconcile_failed: int = 0
    failed: int = 0


def meetings_maintain(*, now: datetime | None = None) -> MaintainResult:
    """The periodic work: every series' meetings kept to the horizon, due chairs confirmed,
    due invitations queued, and each upcoming meeting's invitations reconciled with its
    members (what the membership receivers missed). Safe to run any number of times; one
    series or meeting that fails does not stop the others."""
    now = now or timezone.now()
    totals = {"series": 0, "created": 0, "updated": 0, "cancelled": 0, "failed": 0}
    for series in Series.objects.select_related("community"):
        try:
            with transaction.atomic():
                dates = recurrence.occurrences(
                    rule=series.rrule,
                    first_date=series.first_date,
                    start_time=series.start_time,
                    zone=series.timezone,
                    after=now,
                    before=recurrence.horizon_end(now, settings.MEETINGS_HORIZON_MONTHS),
                )
                result = _series_sync(series, now=now, dates=dates)
        except Exception:  # one series' failure (logged for staff) must not stop the others
            logger.exception("series %s could not be kept up to date", series.pk)
            totals["failed"] += 1
            continue
        totals["series"] += 1
        totals["created"] += result.created
        totals["updated"] += result.updated
        totals["cancelled"] += result.cancelled
    confirmed = chairs_confirm_due(now=now)
    invited = invitations_send_due(now=now)
    reconciled = invitations_reconcile(now=now)
    return MaintainResult(
        **totals,
        chairs_confirmed=confirmed,
        invitations_sent=invited,
        invitations_reconciled=reconciled.invited,
        cancellations_reconciled=reconciled.withdrawn,
        reconcile_failed=reconciled.failed,
    )


# Meetings one by one -------------------------------------------------------------------


@transaction.atomic
def meeting_create(
    *,
    actor: User,
    community: Community,
    title: str,
    day: date,
    start_time: time,
    timezone_name: str | None = None,
    duration_minutes: int = 60,
    video_url: str | None = None,
    now: datetime | None = None,
) -> Meeting:
    """A single meeting outside any series. Managers only."""
    now = now or timezone.now()
    manager_require(actor=actor, community=community)
    zone = _check_zone(timezone_name or community.timezone)
    starts_at = _local_start(day, start_time, zone)
    if starts_at <= now:
        raise MeetingError(_("Choose a time in the future."), code="in_past", field="day")
    meeting = Meeting(
        community=community,
        title=_check_title(title),
        starts_at=starts_at,
        duration_minutes=_check_duration(duration_minutes),
        timezone=zone,
        video_url=community.video_url if video_url is None else video_url,
        created_at=now,
        updated_at=now,
    )
    _save(meeting, {}, now)  # validates before the room exists
    meeting.room = _room_for(meeting, community)
    meeting.save(update_fields=["room"])
    return meeting


@transaction.atomic
def meeting_update(
    *,
    actor: User,
    meeting: Meeting,
    now: datetime | None = None,
    title: str | None = None,
    day: date | None = None,
    start_time: time | None = None,
    timezone_name: str | None = None,
    duration_minutes: int | None = None,
    video_url: str | None = None,
) -> Meeting:
    """Move, lengthen, retitle or relink one meeting; the rest of its series is untouched
    and a later series edit leaves these changes alone."""
    now = now or timezone.now()
    meeting = _manager_locked(actor=actor, meeting=meeting, now=now)
    before = _snapshot(meeting)
    own = set(meeting.own_changes)
    if day is not None or start_time is not None or timezone_name is not None:
        zone = _check_zone(timezone_name or meeting.timezone)
        local = timezone.localtime(meeting.starts_at, recurrence.zone_get(meeting.timezone))
        starts_at = _local_start(day or local.date(), start_time or local.time(), zone)
        if starts_at <= now:
            raise MeetingError(_("Choose a time in the future."), code="in_past", field="day")
        if starts_at != meeting.starts_at or zone != meeting.timezone:
            meeting.starts_at, meeting.timezone = starts_at, zone
            own.add("start")
    if duration_minutes is not None:
        duration = _check_duration(duration_minutes)
        if duration != meeting.duration_minutes:
            meeting.duration_minutes = duration
            own.add("duration")
    if title is not None:
        new_title = _check_title(title)
        if new_title != meeting.title:
            meeting.title = new_title
            own.add("title")
    if video_url is not None and video_url != meeting.video_url:
        meeting.video_url = video_url
        own.add("video_url")
    meeting.own_changes = sorted(own)
    _save(meeting, before, now)
    return meeting


@transaction.atomic
def meeting_changed_visibly(*, meeting: Meeting, now: datetime | None = None) -> Meeting:
    """A change members must see, made by an app above (a published agenda's): the meeting
    is locked, its sequence raised by one, and every invitation holder gets an update.
    Call it once per change, inside the change's transaction; the caller has checked who
    may make the change and that the meeting may still change."""
    now = now or timezone.now()
    meeting = _locked(meeting)
    _sequence_raise(meeting, now)
    if meeting.invitations_sent_at is not None:
        _invitations_follow(meeting, now)
    return meeting


@transaction.atomic
def meeting_cancel(*, actor: User, meeting: Meeting, now: datetime | None = None) -> Meeting:
    """Cancel one meeting (never deleted: it keeps its answers); its series is untouched."""
    now = now or timezone.now()
    meeting = _manager_locked(
        actor=actor, meeting=meeting, now=now, cancelled=_("This meeting is already cancelled.")
    )
    before = _snapshot(meeting)
    meeting.status, meeting.cancelled_at = MeetingStatus.CANCELLED, now
    meeting.own_changes = sorted({*meeting.own_changes, "status"})
    _save(meeting, before, now)
    return meeting


# The chair -----------------------------------------------------------------------------


def _log(meeting: Meeting, *, previous_id, kind: str, actor: User | None, why: dict, now) -> None:
    ChairChange.objects.create(
        meeting=meeting,
        chair_id=meeting.chair_id,
        previous_id=previous_id,
        kind=kind,
        actor=actor,
        why=why,
        at=now,
    )


def _tell_chair(meeting: Meeting) -> None:
    if meeting.chair_id is None:
        return
    chair = meeting.chair
    email_user_on_commit(
        user=chair,
        template=MailKind.HANDOVER,
        context={
            "meeting": meeting,
            "community": meeting.community,
            "is_chair": True,
            "chair_zone": chair.timezone,
            **selectors.handover_context(meeting=meeting, user=chair),
        },
        key=selectors.mail_key(meeting),
        version=meeting.sequence,
        html=True,
    )


def _confirm(
    meeting: Meeting,
    *,
    actor: User | None,
    now: datetime,
    kind: str = ChairSource.ROTA,
    replaced_id: int | None = None,
):
    """Confirm the rota's chair (or the fixed one) and backup for `meeting` (locked);
    `replaced_id`: the chair this one replaces, already cleared from the meeting."""
    turn = selectors.rota_turn(meeting=meeting, now=now)
    if turn is None or turn.chair is None:
        return False
    before = _snapshot(meeting)
    previous_id = meeting.chair_id if replaced_id is None else replaced_id
    meeting.chair, meeting.backup = turn.chair, turn.backup
    if not turn.fixed:
        meeting.chair_source, meeting.chair_why = ChairSource.ROTA, turn.why
    meeting.chair_confirmed_at = now
    _save(meeting, before, now)
    _log(
        meeting,
        previous_id=previous_id,
        kind=kind if not turn.fixed else meeting.chair_source,
        actor=actor,
        why=meeting.chair_why,
        now=now,
    )
    _tell_chair(meeting)
    return True


@transaction.atomic
def chair_confirm(*, actor: User, meeting: Meeting, now: datetime | None = None) -> Meeting:
    """A manager confirms a meeting's chair now (the rota's choice, or the one fixed)."""
    now = now or timezone.now()
    meeting = _manager_locked(actor=actor, meeting=meeting, now=now)
    if meeting.chair_confirmed_at is not None:
        raise MeetingError(_("This meeting's chair is already confirmed."), code="confirmed")
    if not _confirm(meeting, actor=actor, now=now):
        turn = selectors.rota_turn(meeting=meeting, now=now)
        raise MeetingError(turn.reason if turn else _("No chair yet."), code="no_chair")
    return meeting


def chairs_confirm_due(*, now: datetime | None = None) -> int:
    """Confirm every chair that is due: the meeting's previous meeting has ended, or the
    meeting is less than MEETINGS_CHAIR_CONFIRM_DAYS away. Safe to repeat."""
    now = now or timezone.now()
    soon = now + timedelta(days=settings.MEETINGS_CHAIR_CONFIRM_DAYS)
    confirmed = 0
    seen: set[int] = set()
    unconfirmed = (
        Meeting.objects.filter(
            status=MeetingStatus.SCHEDULED, starts_at__gt=now, chair_confirmed_at=None
        )
        .order_by("community_id", "starts_at")
        .select_related("community")
    )
    for meeting in unconfirmed:
        first = meeting.community_id not in seen  # only a community's next meeting can
        seen.add(meeting.community_id)  # have a previous meeting that has ended
        due = meeting.starts_at <= soon
        if not due and first:
            previous = selectors.meeting_previous(meeting=meeting)
            due = previous is not None and previous.ends_at <= now
        if not due:
            continue
        with transaction.atomic():
            locked = _locked(meeting)
            if locked.chair_confirmed_at is None and _confirm(locked, actor=None, now=now):
                confirmed += 1
    return confirmed


@transaction.atomic
def chair_override(
    *, actor: User, meeting: Meeting, user: User, now: datetime | None = None
) -> Meeting:
    """A manager gives a meeting to a member, whatever the rota says."""
    now = now or timezone.now()
    meeting = _manager_locked(actor=actor, meeting=meeting, now=now)
    _active_membership_of(user, meeting.community)
    before = _snapshot(meeting)
    previous_id = meeting.chair_id
    meeting.chair = user
    meeting.chair_source = ChairSource.OVERRIDE
    meeting.chair_why = {"rule": "override", "by": actor.display_name}
    if meeting.chair_confirmed_at is not None:
        _backup_refresh(meeting, now)
    _save(meeting, before, now)
    _log(
        meeting,
        previous_id=previous_id,
        kind=ChairSource.OVERRIDE,
        actor=actor,
        why=meeting.chair_why,
        now=now,
    )
    if meeting.chair_confirmed_at is not None and previous_id != user.pk:
        _tell_chair(meeting)
    return meeting


def _active_membership_of(user: User, community: Community) -> Membership:
    membership = Membership.objects.filter(
        community=community, user=user, status=MembershipStatus.ACTIVE
    ).first()
    if membership is None or not user.is_active:
        raise MeetingError(
            _("%(name)s is not an active member of this community.") % {"name": user.display_name},
            code="not_member",
            field="chair",
        )
    return membership


def _backup_refresh(meeting: Meeting, now: datetime) -> None:
    """The next in line after the chair (meeting locked, its chair set; saved by the
    caller). The chair is written first so the rota leaves them out."""
    meeting.backup = None
    meeting.save(update_fields=["chair", "backup"])
    turn = selectors.rota_turn(meeting=meeting, now=now)
    meeting.backup = turn.backup if turn else None


def _replace(meeting: Meeting, user_id: int, *, kind: str, now: datetime) -> None:
    """`user_id` can no longer chair or back up `meeting` (locked): the rule replaces them."""
    if meeting.chair_id == user_id:
        before = _snapshot(meeting)
        was_confirmed = meeting.chair_confirmed_at is not None
        meeting.chair, meeting.backup, meeting.chair_why = None, None, {}
        meeting.chair_source, meeting.chair_confirmed_at = "", None
        meeting.save(
            update_fields=["chair", "backup", "chair_why", "chair_source", "chair_confirmed_at"]
        )
        if was_confirmed and _confirm(meeting, actor=None, now=now, kind=kind, replaced_id=user_id):
            return
        _save(meeting, before, now)
        _log(meeting, previous_id=user_id, kind=kind, actor=None, why={}, now=now)
    elif meeting.backup_id == user_id and meeting.chair_confirmed_at is not None:
        _backup_refresh(meeting, now)
        meeting.save(update_fields=["backup"])


def _replace_everywhere(*, user_id: int, community: Community, kind: str, now: datetime) -> None:
    upcoming = (
        Meeting.objects.select_for_update()
        .filter(community=community, status=MeetingStatus.SCHEDULED, starts_at__gt=now)
        .filter(Q(chair_id=user_id) | Q(backup_id=user_id))
    )
    for meeting in upcoming.order_by("starts_at"):
        meeting.community = community
        _replace(meeting, user_id, kind=kind, now=now)


@transaction.atomic
def chair_willing_set(
    *, user: User, community: Community, willing: bool, now: datetime | None = None
) -> Membership:
    """A member says whether they are willing to chair; not willing gives up their turns."""
    now = now or timezone.now()
    membership = _active_membership(user=user, community=community)
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    if membership.willing_to_chair != willing:
        membership.willing_to_chair = willing
        membership.save(update_fields=["willing_to_chair"])
        if not willing:
            _replace_everywhere(
                user_id=user.pk, community=community, kind=ChairSource.NOT_WILLING, now=now
            )
            _swaps_void(user=user, community=community, now=now)
    return membership


@transaction.atomic
def chair_member_left(*, membership: Membership, now: datetime | None = None) -> None:
    """A member who left or was removed gives up their turns (communities' membership_ended)."""
    now = now or timezone.now()
    _replace_everywhere(
        user_id=membership.user_id, community=membership.community, kind=ChairSource.LEFT, now=now
    )
    _swaps_void(user=membership.user, community=membership.community, now=now)


# Swaps ---------------------------------------------------------------------------------


def _turns_by_meeting(community: Community, now: datetime) -> dict[int, selectors.RotaTurn]:
    return {t.meeting.pk: t for t in selectors.rota_turns(community=community, now=now)}


@transaction.atomic
def swap_propose(
    *, user: User, meeting: Meeting, partner_meeting: Meeting, now: datetime | None = None
) -> ChairSwap:
    """The chair of `meeting` (confirmed or in the rota's projection) asks the chair of
    `partner_meeting` to swap turns."""
    now = now or timezone.now()
    community = meeting.community
    _active_membership(user=user, community=community)
    if partner_meeting.community_id != community.pk or partner_meeting.pk == meeting.pk:
        raise MeetingError(
            _("Choose another meeting of this community."), code="bad_swap", field="partner_meeting"
        )
    turns = _turns_by_meeting(community, now)
    mine, theirs = turns.get(meeting.pk), turns.get(partner_meeting.pk)
    if mine is None or theirs is None:
        raise MeetingError(_("Only upcoming meetings' turns can be swapped."), code="bad_swap")
    if mine.chair is None or mine.chair.pk != user.pk:
        raise MeetingError(
            _("You do not chair that meeting."), code="not_your_turn", forbidden=True
        )
    if theirs.chair is None or theirs.chair.pk == user.pk:
        raise MeetingError(
            _("That meeting has no other chair to swap with."),
            code="bad_swap",
            field="partner_meeting",
        )
    if ChairSwap.objects.filter(
        proposer_meeting=meeting, partner_meeting=partner_meeting, status=SwapStatus.PROPOSED
    ).exists():
        raise MeetingError(_("You have already proposed this swap."), code="already_proposed")
    swap = ChairSwap.objects.create(
        community=community,
        proposer=user,
        proposer_meeting=meeting,
        partner=theirs.chair,
        partner_meeting=partner_meeting,
        created_at=now,
    )
    email_user_on_commit(
        user=theirs.chair,
        template="meetings/email/swap_proposed",
        context={"swap": swap, "community": community},
        key=f"swap:{swap.pk}",
    )
    return swap


def swap_answer(
    *, user: User, swap: ChairSwap, accept: bool, now: datetime | None = None
) -> ChairSwap:
    """The member asked accepts or declines; on accepting, the two turns change hands if
    both still hold them. If they no longer do, the swap is kept as void and MeetingError
    (code "void") raised."""
    now = now or timezone.now()
    with transaction.atomic():
        swap, applied = _swap_answer(user=user, swap=swap, accept=accept, now=now)
    # Raised after the commit: inside the transaction it would roll back the swap's "void".
    if not applied:
        raise MeetingError(
            _("These turns have changed since the swap was proposed; it no longer applies."),
            code="void",
        )
    return swap


def _swap_answer(*, user: User, swap: ChairSwap, accept: bool, now: datetime):
    """swap_answer's work, in its transaction: (the swap, False if it turned out void)."""
    swap = ChairSwap.objects.select_for_update().select_related("community").get(pk=swap.pk)
    if swap.partner_id != user.pk:
        raise MeetingError(
            _("This swap was not proposed to you."), code="not_yours", forbidden=True
        )
    if swap.status != SwapStatus.PROPOSED:
        raise MeetingError(_("This swap has already been answered."), code="answered")
    swap.decided_at = now
    if not accept:
        swap.status = SwapStatus.DECLINED
        swap.save(update_fields=["status", "decided_at"])
        return swap, True
    # Both turns locked (in one order, so two swaps cannot deadlock) before they are read.
    list(
        Meeting.objects.select_for_update()
        .filter(pk__in=[swap.proposer_meeting_id, swap.partner_meeting_id])
        .order_by("pk")
    )
    turns = _turns_by_meeting(swap.community, now)
    mine, theirs = turns.get(swap.proposer_meeting_id), turns.get(swap.partner_meeting_id)
    if (
        mine is None
        or theirs is None
        or mine.chair is None
        or theirs.chair is None
        or mine.chair.pk != swap.proposer_id
        or theirs.chair.pk != swap.partner_id
    ):
        swap.status = SwapStatus.VOID
        swap.save(update_fields=["status", "decided_at"])
        return swap, False
    why = {"rule": "swap", "a": swap.proposer.display_name, "b": swap.partner.display_name}
    for meeting_id, new_chair, previous in (
        (swap.proposer_meeting_id, swap.partner, swap.proposer),
        (swap.partner_meeting_id, swap.proposer, swap.partner),
    ):
        meeting = Meeting.objects.select_for_update().select_related("community").get(pk=meeting_id)
        before = _snapshot(meeting)
        previous_id = previous.pk
        meeting.chair, meeting.chair_source, meeting.chair_why = new_chair, ChairSource.SWAP, why
        if meeting.chair_confirmed_at is not None:
            _backup_refresh(meeting, now)
        _save(meeting, before, now)
        _log(
            meeting,
            previous_id=previous_id,
            kind=ChairSource.SWAP,
            actor=user,
            why=why,
            now=now,
        )
    swap.status = SwapStatus.ACCEPTED
    swap.save(update_fields=["status", "decided_at"])
    email_user_on_commit(
        user=swap.proposer,
        template="meetings/email/swap_accepted",
        context={"swap": swap, "community": swap.community},
        key=f"swap:{swap.pk}",
    )
    return swap, True


@transaction.atomic
def swap_withdraw(*, user: User, swap: ChairSwap, now: datetime | None = None) -> ChairSwap:
    swap = ChairSwap.objects.select_for_update().get(pk=swap.pk)
    if swap.proposer_id != user.pk:
        raise MeetingError(
            _("Only who proposed a swap can withdraw it."), code="not_yours", forbidden=True
        )
    if swap.status != SwapStatus.PROPOSED:
        raise MeetingError(_("This swap has already been answered."), code="answered")
    swap.status, swap.decided_at = SwapStatus.WITHDRAWN, now or timezone.now()
    swap.save(update_fields=["status", "decided_at"])
    return swap


def _swaps_void(*, user: User, community: Community, now: datetime) -> None:
    ChairSwap.objects.filter(community=community, status=SwapStatus.PROPOSED).filter(
        Q(proposer=user) | Q(partner=user)
    ).update(status=SwapStatus.VOID, decided_at=now)


# Answers and attendance ----------------------------------------------------------------


@transaction.atomic
def answer_set(
    *, user: User, meeting: Meeting, response: str, note: str = "", now: datetime | None = None
) -> Answer:
    """A member answers yes / no / maybe, until the meeting starts. A chair who answers no
    is replaced by the rota."""
    now = now or timezone.now()
    community = meeting.community
    _active_membership(user=user, community=community)
    if response not in Response.values:
        raise MeetingError(_("Answer yes, no or maybe."), code="bad_answer", field="response")
    note = " ".join((note or "").split())
    if len(note) > 500:
        raise MeetingError(_("A note has at most 500 characters."), code="long_note", field="note")
    meeting = _locked(meeting)
    if meeting.is_cancelled:
        raise MeetingError(_("This meeting is cancelled."), code="cancelled")
    if meeting.has_started(now):
        raise MeetingError(
            _("This meeting has started; answers can no longer change."), code="started"
        )
    answer, _created = Answer.objects.update_or_create(
        meeting=meeting,
        user=user,
        defaults={"response": response, "note": note, "answered_at": now},
    )
    if response == Response.NO and user.pk in (meeting.chair_id, meeting.backup_id):
        _replace(meeting, user.pk, kind=ChairSource.ANSWERED_NO, now=now)
    return answer


@transaction.atomic
def attendance_from_run(*, meeting: Meeting, present_ids, now: datetime | None = None) -> int:
    """The live run ended: who was present is the meeting's attendance (the others:
    absent with regrets if they answered no, else absent). What a person recorded stays.
    Returns how many rows were written."""
    now = now or timezone.now()
    present = set(present_ids)
    regrets = set(
        Answer.objects.filter(meeting=meeting, response=Response.NO).values_list(
            "user_id", flat=True
        )
    )
    recorded = set(
        Attendance.objects.filter(meeting=meeting, recorded_by__isnull=False).values_list(
            "user_id", flat=True
        )
    )
    members = Membership.objects.filter(
        community=meeting.community_id, status=MembershipStatus.ACTIVE
    ).values_list("user_id", flat=True)
    written = 0
    for user_id in sorted(set(members) | present):
        if user_id in recorded:
            continue
        if user_id in present:
            status = AttendanceStatus.PRESENT
        elif user_id in regrets:
            status = AttendanceStatus.REGRETS
        else:
            status = AttendanceStatus.ABSENT
        Attendance.objects.update_or_create(
            meeting=meeting,
            user_id=user_id,
            defaults={"status": status, "recorded_by": None, "recorded_at": now},
        )
        written += 1
    return written


@transaction.atomic
def attendance_set(
    *, actor: User, meeting: Meeting, user: User, status: str, now: datetime | None = None
) -> Attendance:
    """A manager records whether a member was present (the live agenda will fill it too)."""
    now = now or timezone.now()
    manager_require(actor=actor, community=meeting.community)
    if status not in AttendanceStatus.values:
        raise MeetingError(
            _("Choose present, absent with regrets or absent."), code="bad_status", field="status"
        )
    meeting = _locked(meeting)  # as it is now: it may have been cancelled meanwhile
    if meeting.is_cancelled:
        raise MeetingError(_("This meeting is cancelled."), code="cancelled")
    if not meeting.has_started(now):
        raise MeetingError(
            _("Attendance is recorded once the meeting has started."), code="not_started"
        )
    if not Membership.objects.filter(community=meeting.community, user=user).exists():
        raise MeetingError(_("This person is not a member of this community."), code="not_member")
    attendance, _created = Attendance.objects.update_or_create(
        meeting=meeting,
        user=user,
        defaults={"status": status, "recorded_by": actor, "recorded_at": now},
    )
    return attendance


# Invitations ---------------------------------------------------------------------------


def _invitation_queue(meeting: Meeting, user: User, *, kind: str, now: datetime) -> None:
    """Queue `user`'s message of `kind` for `meeting` (locked) as it is now, once per
    SEQUENCE, and remember which SEQUENCE they hold."""
    email_queue(
        user=user,
        kind=kind,
        key=selectors.mail_key(meeting),
        version=meeting.sequence,
        # The newest calendar message replaces those not sent yet: an older REQUEST
        # retried after a CANCEL would put a cancelled meeting back in a calendar.
        thread=selectors.calendar_thread(meeting),
        **emails.invitation_message(meeting=meeting, user=user, kind=kind, now=now),
    )
    Invitation.objects.update_or_create(
        meeting=meeting,
        user=user,
        defaults={
            "sequence": meeting.sequence,
            "withdrawn": kind == MailKind.CANCELLATION,
            "sent_at": now,
        },
    )


def _sequence_raise(meeting: Meeting, now: datetime) -> None:
    """A new SEQUENCE without a change others must see: a calendar accepts a message only
    if it is newer than the one it holds (an attendee removed, or invited back)."""
    meeting.sequence += 1
    meeting.updated_at = now
    meeting.save(update_fields=["sequence", "updated_at"])


def _invite(meeting: Meeting, user: User, held: Invitation | None, now: datetime) -> bool:
    """Invite `user` to `meeting` (locked, not cancelled), unless they hold its invitation
    already (every change members must see has sent them an update). True if queued."""
    if held is not None and not held.withdrawn:
        return False
    if held is not None and held.sequence >= meeting.sequence:
        # Invited back after their cancellation: a calendar takes only a newer SEQUENCE.
        # Raised once for all: the next withdrawn holder's cancellation is older already.
        _sequence_raise(meeting, now)
    _invitation_queue(meeting, user, kind=MailKind.INVITATION, now=now)
    return True


def _invitations_all(meeting: Meeting, now: datetime) -> int:
    """Invite every active member who does not hold the meeting as it is now."""
    held = {i.user_id: i for i in Invitation.objects.filter(meeting=meeting)}
    members = selectors.meeting_invitees(meeting=meeting).order_by("pk")
    if meeting.invitations_sent_at is None:
        meeting.invitations_sent_at = now
        meeting.save(update_fields=["invitations_sent_at"])
    return sum(_invite(meeting, user, held.get(user.pk), now) for user in members)


@transaction.atomic
def invitations_send(*, actor: User, meeting: Meeting, now: datetime | None = None) -> int:
    """A manager sends a meeting's invitations to every active member; asking again sends
    only to those who do not have it yet (members who joined since). Returns how many."""
    now = now or timezone.now()
    meeting = _manager_locked(actor=actor, meeting=meeting, now=now)
    return _invitations_all(meeting, now)


def invitations_send_due(*, now: datetime | None = None) -> int:
    """The periodic work: invitations of the series that send them by themselves, once a
    meeting is that many days away. Safe to repeat; returns how many messages."""
    now = now or timezone.now()
    sent = 0
    for series in Series.objects.filter(invite_automatically=True):
        due = Meeting.objects.filter(
            series=series,
            status=MeetingStatus.SCHEDULED,
            invitations_sent_at__isnull=True,
            starts_at__gt=now,
            starts_at__lte=now + timedelta(days=series.invite_days_before),
        )
        for meeting_id in due.values_list("pk", flat=True):
            try:
                with transaction.atomic():
                    meeting = Meeting.objects.select_for_update().get(pk=meeting_id)
                    if meeting.invitations_sent_at is None and not meeting.is_cancelled:
                        sent += _invitations_all(meeting, now)
            except Exception:  # one meeting's failure (logged) must not stop the others
                logger.exception("invitations of meeting %s could not be queued", meeting_id)
    return sent


def _invitations_follow(meeting: Meeting, now: datetime) -> None:
    """After a change members must see: an update to every holder of an invitation who
    should hold it (an active member with an active account), or the cancellation to every
    holder — one who left without being told (the periodic repair had not run yet) must
    not keep a cancelled meeting in their calendar."""
    holders = selectors.invitations_held(meeting=meeting)
    if meeting.is_cancelled:
        kind = MailKind.CANCELLATION
    else:
        kind = MailKind.UPDATE
        holders = holders.filter(user__in=selectors.meeting_invitees(meeting=meeting))
    for held in holders:
        if held.sequence < meeting.sequence:
            _invitation_queue(meeting, held.user, kind=kind, now=now)


def _upcoming_invited(community_id: int, now: datetime):
    return Meeting.objects.select_for_update().filter(
        community_id=community_id,
        status=MeetingStatus.SCHEDULED,
        invitations_sent_at__isnull=False,
        starts_at__gt=now,
    )


@transaction.atomic
def invitations_member_joined(*, membership: Membership, now: datetime | None = None) -> int:
    """A member who joins gets the invitations of the upcoming meetings already sent
    (communities' membership_started)."""
    now = now or timezone.now()
    sent = 0
    for meeting in _upcoming_invited(membership.community_id, now).order_by("starts_at"):
        held = Invitation.objects.filter(meeting=meeting, user=membership.user).first()
        sent += _invite(meeting, membership.user, held, now)
    return sent


@transaction.atomic
def invitations_member_left(*, membership: Membership, now: datetime | None = None) -> int:
    """A member who left or was removed gets the cancellation of each upcoming meeting
    they were invited to, so it leaves their calendar (communities' membership_ended)."""
    now = now or timezone.now()
    sent = 0
    meetings = _upcoming_invited(membership.community_id, now).filter(
        invitations__user=membership.user, invitations__withdrawn=False
    )
    for meeting in meetings.order_by("starts_at"):
        _sequence_raise(meeting, now)
        _invitation_queue(meeting, membership.user, kind=MailKind.CANCELLATION, now=now)
        sent += 1
    return sent


@dataclass(frozen=True)
class ReconcileResult:
    invited: int = 0
    withdrawn: int = 0
    failed: int = 0


def invitations_reconcile(*, now: datetime | None = None) -> ReconcileResult:
    """The periodic work's repair of what the membership receivers may have lost (they run
    after the membership's commit, so a crash in between loses their messages): in every
    upcoming scheduled meeting whose invitations went out, each active member who holds
    no invitation, or its cancellation, is invited, and each holder who is no longer an
    active member (or whose account is not active) gets the cancellation. Each meeting is
    locked in its own transaction; one that fails is logged and the others go on. Safe to
    repeat: a second run queues nothing."""
    now = now or timezone.now()
    invited = withdrawn = failed = 0
    upcoming = Meeting.objects.filter(
        status=MeetingStatus.SCHEDULED, invitations_sent_at__isnull=False, starts_at__gt=now
    )
    for meeting_id in list(upcoming.order_by("starts_at", "pk").values_list("pk", flat=True)):
        try:
            with transaction.atomic():
                meeting = (
                    Meeting.objects.select_for_update()
                    .select_related("community")
                    .get(pk=meeting_id)
                )
                if meeting.is_cancelled or meeting.has_started(now):
                    continue  # cancelled or started since it was listed
                meeting_invited, meeting_withdrawn = _invitations_reconcile(meeting, now)
        except Exception:  # one meeting's failure (logged) must not stop the others
            logger.exception("invitations of meeting %s could not be reconciled", meeting_id)
            failed += 1
            continue
        invited += meeting_invited
        withdrawn += meeting_withdrawn
    return ReconcileResult(invited=invited, withdrawn=withdrawn, failed=failed)


def _invitations_reconcile(meeting: Meeting, now: datetime) -> tuple[int, int]:
    """Bring `meeting`'s (locked) holders in line with its members: (invited, withdrawn)."""
    # Read under the meeting's lock: a receiver working on this meeting has committed or
    # waits, so what it did is seen here and what is done here is seen by it.
    held = {i.user_id: i for i in Invitation.objects.filter(meeting=meeting)}
    members = set(selectors.meeting_invitees(meeting=meeting).values_list("pk", flat=True))
    holding = {user_id for user_id, invitation in held.items() if not invitation.withdrawn}
    gone, missing = holding - members, members - holding
    if not gone and not missing:
        return 0, 0
    users = {user.pk: user for user in User.objects.filter(pk__in=gone | missing)}
    if any(held[user_id].sequence >= meeting.sequence for user_id in gone):
        # As invitations_member_left: a newer SEQUENCE than the one they hold, once for all.
        _sequence_raise(meeting, now)
    for user_id in sorted(gone):
        _invitation_queue(meeting, users[user_id], kind=MailKind.CANCELLATION, now=now)
    for user_id in sorted(missing):
        _invite(meeting, users[user_id], held.get(user_id), now)
    return len(missing), len(gone)


@transaction.atomic
def meeting_emails_retry(*, actor: User, meeting: Meeting) -> int:
    """A manager queues a meeting's failed emails again. Returns how many."""
    manager_require(actor=actor, community=meeting.community)
    return outbox_retry(emails=Email.objects.filter(key=selectors.mail_key(meeting)))


# Calendar feeds ------------------------------------------------------------------------


@transaction.atomic
def feed_get_or_create(*, user: User, community: Community | None = None) -> CalendarFeed:
    """The member's subscription address for `community`'s meetings, or for those of all
    their communities (`None`); made on first use. For a community, `user` must be one of
    its active members (else forbidden)."""
    if community is not None:
        _active_membership(user=user, community=community)
    feed, _created = CalendarFeed.objects.get_or_create(user=user, community=community)
    return feed


@transaction.atomic
def feeds_ensure(*, user: User) -> list[CalendarFeed]:
    """Every subscription address of the member, made where missing: all their
    communities' first, then one per community they are an active member of, by name.
    Only ever adds the member's own rows, so a page may call it on GET. Four queries at
    most, whatever the number of communities."""
    communities = list(
        Community.objects.filter(
            memberships__user=user, memberships__status=MembershipStatus.ACTIVE
        ).order_by("name", "pk")
    )

    def existing() -> dict[int | None, CalendarFeed]:
        found = CalendarFeed.objects.filter(user=user).filter(
            Q(community__isnull=True) | Q(community__in=communities)
        )
        return {feed.community_id: feed for feed in found}

    feeds = existing()
    missing = [c for c in [None, *communities] if (c and c.pk) not in feeds]
    if missing:
        # A concurrent request may make the same rows: the constraints keep one of each,
        # and the second read returns those.
        CalendarFeed.objects.bulk_create(
            [CalendarFeed(user=user, community=c) for c in missing], ignore_conflicts=True
        )
        feeds = existing()
    ordered = [feeds[None]]
    for community in communities:
        feed = feeds[community.pk]
        feed.community = community  # already read: showing its name costs no query
        ordered.append(feed)
    return ordered


@transaction.atomic
def feed_reset(*, user: User, community: Community | None = None) -> CalendarFeed:
    """A new secret address for the member's feed (made if there was none); the old
    address stops working at once. For a community, `user` must be one of its active
    members (else forbidden)."""
    if community is not None:
        _active_membership(user=user, community=community)
    feed = CalendarFeed.objects.select_for_update().filter(user=user, community=community).first()
    if feed is None:
        return feed_get_or_create(user=user, community=community)
    feed.token = feed_token_new()
    feed.save(update_fields=["token"])
    return feed
