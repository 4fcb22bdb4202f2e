"""Every write of the agendas: the standing template, each meeting's agenda, topics for
future meetings, and the live run."""

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from communities.enums import MembershipStatus
from communities.models import Community, Membership
from communities.selectors import CommunityNotFound, community_can_manage, community_is_visible
from communities.services import CommunityActionError, manager_require
from live.clock import iso_utc
from live.errors import LiveError
from live.events import event_send_on_commit, frame_event
from meetings.enums import MeetingStatus
from meetings.models import Meeting
from meetings.selectors import meeting_following, meeting_previous
from meetings.services import attendance_from_run, meeting_changed_visibly
from rooms.services import system_message_post

from . import run as rules
from . import selectors
from .enums import ItemKind, RunStatus, TopicStatus
from .hooks import agenda_created_callbacks, run_ended_on_commit
from .models import (
    LINE_LENGTH,
    MAX_ITEM_MINUTES,
    Agenda,
    AgendaItem,
    AgendaTemplate,
    Connection,
    ItemFields,
    Run,
    RunLogEntry,
    TemplateItem,
    Topic,
    Turn,
)

TITLE_LENGTH = 200
DETAILS_LENGTH = 2000
TURN_SECONDS = (15, 600)
STANDING_KINDS = frozenset(ItemKind.values) - {ItemKind.OTHER}


class AgendaError(CommunityActionError):
    """A refused action; `field` names the form field it belongs to, if any."""

    def __init__(self, message, *, code: str, field: str | None = None, forbidden: bool = False):
        super().__init__(message, code=code, forbidden=forbidden)
        self.field = field


# Checks --------------------------------------------------------------------------------


def _check_title(title, *, field: str = "title") -> str:
    title = " ".join(str(title or "").split())
    if not title:
        raise AgendaError(_("Give it a title."), code="no_title", field=field)
    if len(title) > TITLE_LENGTH:
        raise AgendaError(_("A title has at most 200 characters."), code="long_title", field=field)
    return title


def _check_minutes(minutes) -> int:
    if (
        not isinstance(minutes, int)
        or isinstance(minutes, bool)
        or not 0 <= minutes <= MAX_ITEM_MINUTES
    ):
        raise AgendaError(
            _("An item lasts from 0 to 240 minutes."), code="bad_minutes", field="minutes"
        )
    return minutes


def _check_name(value, *, field: str) -> str:
    value = " ".join(str(value or "").split())
    if len(value) > TITLE_LENGTH:
        raise AgendaError(_("At most 200 characters."), code="too_long", field=field)
    return value


def _standing_title(kind: str, language: str) -> str:
    """A standing item's title, in the community's language (stored as text: managers
    retitle it, and members read the community's language)."""
    with translation.override(language):
        return str(ItemKind(kind).label)


# The standing template -----------------------------------------------------------------

# The five items of PRODUCT.md, in order: (kind, minutes, plus one turn per member).
STANDING_ITEMS = (
    (ItemKind.INTRODUCTIONS, 5, False),
    (ItemKind.ROUNDTABLE, 2, True),
    (ItemKind.FOCUS, 15, False),
    (ItemKind.DISCUSSION, 20, False),
    (ItemKind.FUTURE, 5, False),
)


@transaction.atomic
def template_ensure(*, community: Community) -> AgendaTemplate:
    """The community's agenda template, made with the five standing items (titled in the
    community's language) if it has none. Safe to repeat: an existing template is left as
    its managers made it. Called when a community is created (inside its transaction)."""
    template, created = AgendaTemplate.objects.get_or_create(community=community)
    if created:
        TemplateItem.objects.bulk_create(
            TemplateItem(
                template=template,
                kind=kind,
                title=_standing_title(kind, community.language),
                minutes=minutes,
                per_member=per_member,
                position=position,
            )
            for position, (kind, minutes, per_member) in enumerate(STANDING_ITEMS)
        )
    template.community = community
    return template


def community_created_template(*, community: Community, **kwargs) -> None:
    """communities' community_created callback: every community has its template."""
    template_ensure(community=community)


def _template_locked(actor: User, template: AgendaTemplate) -> AgendaTemplate:
    community = template.community
    manager_require(actor=actor, community=community)
    locked = AgendaTemplate.objects.select_for_update().get(pk=template.pk)
    locked.community = community
    return locked


def _touch(template: AgendaTemplate, now: datetime | None) -> None:
    template.updated_at = now or timezone.now()
    template.save(update_fields=["updated_at"])


def _item_of(items, item_id) -> ItemFields:
    item = items.filter(pk=item_id).first() if isinstance(item_id, int) else None
    if item is None:
        raise AgendaError(_("There is no such item on this agenda."), code="no_item")
    return item


def _renumber(items) -> None:
    """Positions 0, 1, 2… in the items' order, after a removal or a move."""
    changed = []
    for position, item in enumerate(items):
        if item.position != position:
            item.position = position
            changed.append(item)
    if changed:
        type(changed[0]).objects.bulk_update(changed, ["position"])


def _move(items, item_id, direction: str) -> None:
    ordered = list(items.order_by("position", "pk"))
    index = next((i for i, item in enumerate(ordered) if item.pk == item_id), None)
    if index is None:
        raise AgendaError(_("There is no such item on this agenda."), code="no_item")
    if direction not in ("up", "down"):
        raise AgendaError(_("Move an item up or down."), code="bad_direction")
    other = index - 1 if direction == "up" else index + 1
    if not 0 <= other < len(ordered):
        raise AgendaError(
            _("This item is first already.")
            if direction == "up"
            else _("This item is last already."),
            code="cannot_move",
        )
    ordered[index], ordered[other] = ordered[other], ordered[index]
    _renumber(ordered)


def _next_position(items) -> int:
    top = items.aggregate(top=Max("position"))["top"]
    return 0 if top is None else top + 1


@transaction.atomic
def template_settings_set(
    *, actor: User, template: AgendaTemplate, turn_seconds, now: datetime | None = None
) -> AgendaTemplate:
    """A manager sets the roundtable's turn length (15 to 600 seconds)."""
    template = _template_locked(actor, template)
    low, high = TURN_SECONDS
    if not isinstance(turn_seconds, int) or isinstance(turn_seconds, bool):
        turn_seconds = None
    if turn_seconds is None or not low <= turn_seconds <= high:
        raise AgendaError(
            _("A roundtable turn lasts from 15 to 600 seconds (10 minutes)."),
            code="bad_turn",
            field="turn_seconds",
        )
    template.turn_seconds = turn_seconds
    template.updated_at = now or timezone.now()
    template.save(update_fields=["turn_seconds", "updated_at"])
    return template


@transaction.atomic
def template_item_add(
    *,
    actor: User,
    template: AgendaTemplate,
    kind: str = ItemKind.OTHER,
    title: str = "",
    minutes: int = 5,
    now: datetime | None = None,
) -> TemplateItem:
    """A manager adds an item at the end: any other item, or a standing item the template
    no longer has (its title, if none is given, in the community's language). The
    roundtable gets one turn per member."""
    template = _template_locked(actor, template)
    if kind not in ItemKind.values:
        raise AgendaError(_("Choose a kind of item."), code="bad_kind", field="kind")
    if kind in STANDING_KINDS and template.items.filter(kind=kind).exists():
        raise AgendaError(
            _("The template has this standing item already."), code="kind_present", field="kind"
        )
    if kind in STANDING_KINDS and not " ".join(str(title or "").split()):
        title = _standing_title(kind, template.community.language)
    item = TemplateItem.objects.create(
        template=template,
        kind=kind,
        title=_check_title(title),
        minutes=_check_minutes(minutes),
        per_member=kind == ItemKind.ROUNDTABLE,
        position=_next_position(template.items),
    )
    _touch(template, now)
    return item


@transaction.atomic
def template_item_update(
    *,
    actor: User,
    template: AgendaTemplate,
    item_id: int,
    title: str,
    minutes: int,
    now: datetime | None = None,
) -> TemplateItem:
    """A manager retitles an item of the template or changes its length."""
    template = _template_locked(actor, template)
    item = _item_of(template.items.select_for_update(), item_id)
    item.title, item.minutes = _check_title(title), _check_minutes(minutes)
    item.save(update_fields=["title", "minutes"])
    _touch(template, now)
    return item


@transaction.atomic
def template_item_move(
    *, actor: User, template: AgendaTemplate, item_id: int, direction: str, now=None
) -> None:
    """A manager moves an item one place "up" or "down"."""
    template = _template_locked(actor, template)
    _move(template.items.select_for_update(), item_id, direction)
    _touch(template, now)


@transaction.atomic
def template_item_remove(*, actor: User, template: AgendaTemplate, item_id: int, now=None) -> None:
    """A manager removes an item (a standing one too: it can be added back)."""
    template = _template_locked(actor, template)
    _item_of(template.items.select_for_update(), item_id).delete()
    _renumber(template.items.order_by("position", "pk"))
    _touch(template, now)


# Each meeting's agenda -----------------------------------------------------------------


def _topics_take(agenda: Agenda, topics: list[Topic], now: datetime) -> bool:
    """Put chosen topics on `agenda` (locked): the first as the focus topic if it has
    none, the others as items of their own (5 minutes each) before "Future agenda", or at
    the end without one. Each topic is then taken up (DONE). True if anything changed."""
    if not topics:
        return False
    items = list(agenda.items.order_by("position", "pk"))
    future = next((i for i, item in enumerate(items) if item.kind == ItemKind.FUTURE), None)
    added = []
    for topic in topics:
        if not agenda.focus_topic:
            agenda.focus_topic = topic.title[:TITLE_LENGTH]
            agenda.save(update_fields=["focus_topic"])
        else:
            added.append(
                AgendaItem(agenda=agenda, kind=ItemKind.OTHER, title=topic.title, minutes=5)
            )
    if added:
        AgendaItem.objects.bulk_create(added)
        fresh = list(agenda.items.filter(pk__in=[a.pk for a in added]).order_by("pk"))
        at = len(items) if future is None else future
        _renumber(items[:at] + fresh + items[at:])
    Topic.objects.filter(pk__in=[t.pk for t in topics]).update(status=TopicStatus.DONE)
    return True


@transaction.atomic
def agenda_ensure(*, meeting: Meeting, now: datetime | None = None) -> Agenda:
    """The meeting's agenda, made from its community's template if it has none: the
    template's items copied, and the topics chosen at the meetings before it (and not yet
    taken up) put on it, if the meeting is still to come and not cancelled (see
    `_topics_take`). Safe to repeat: an existing agenda is returned as it is. Anyone who
    may read the meeting's agenda may cause it to be made (its page does on opening)."""
    now = now or timezone.now()
    existing = Agenda.objects.filter(meeting=meeting).first()
    if existing is not None:
        existing.meeting = meeting
        return existing
    community = meeting.community
    meeting = Meeting.objects.select_for_update().get(pk=meeting.pk)  # one maker at a time
    meeting.community = community
    existing = Agenda.objects.filter(meeting=meeting).first()
    if existing is not None:
        existing.meeting = meeting
        return existing
    template = template_ensure(community=community)
    agenda = Agenda.objects.create(meeting=meeting, updated_at=now)
    AgendaItem.objects.bulk_create(
        AgendaItem(
            agenda=agenda,
            kind=item.kind,
            title=item.title,
            minutes=item.minutes,
            per_member=item.per_member,
            position=position,
        )
        for position, item in enumerate(template.items.order_by("position", "pk"))
    )
    if not meeting.is_cancelled and not meeting.has_started(now):
        previous = meeting_previous(meeting=meeting)
        if previous is not None:
            chosen = Topic.objects.select_for_update().filter(
                community=community,
                status=TopicStatus.CHOSEN,
                chosen_at__starts_at__lte=previous.starts_at,
            )
            _topics_take(agenda, list(chosen.order_by("created_at", "pk")), now)
    agenda.meeting = meeting
    for callback in agenda_created_callbacks:
        callback(agenda=agenda, now=now)
    return agenda


def _item_before_future(agenda: Agenda, item: AgendaItem) -> None:
    """Put a new item of `agenda` just before "Future agenda" (at the end without one)."""
    items = [i for i in agenda.items.order_by("position", "pk") if i.pk != item.pk]
    future = next((n for n, i in enumerate(items) if i.kind == ItemKind.FUTURE), len(items))
    _renumber([*items[:future], item, *items[future:]])


@transaction.atomic
def agenda_item_kind_ensure(
    *, meeting: Meeting, kind: str, minutes: int = 5, now: datetime | None = None
) -> AgendaItem | None:
    """For the apps above: an item of `kind` on the meeting's agenda (made if need be),
    titled in the community's language, before "Future agenda" — unless it has one, or
    the meeting has started or is cancelled (None then). A published agenda's members are
    told, as for any change."""
    now = now or timezone.now()
    meeting = Meeting.objects.select_for_update().select_related("community").get(pk=meeting.pk)
    if meeting.is_cancelled or meeting.has_started(now):
        return None
    agenda = agenda_ensure(meeting=meeting, now=now)
    agenda = Agenda.objects.select_for_update().get(pk=agenda.pk)
    agenda.meeting = meeting
    existing = agenda.items.filter(kind=kind).first()
    if existing is not None:
        return existing
    item = AgendaItem.objects.create(
        agenda=agenda,
        kind=kind,
        title=_standing_title(kind, meeting.community.language),
        minutes=minutes,
        position=_next_position(agenda.items),
    )
    _item_before_future(agenda, item)
    _changed(agenda, now)
    return item


def _can_edit(*, actor: User, meeting: Meeting, membership: Membership | None) -> bool:
    if community_can_manage(user=actor, membership=membership):
        return True
    return (
        membership is not None
        and membership.is_active
        and meeting.chair_id == actor.pk
        and meeting.chair_confirmed_at is not None
    )


def agenda_can_edit(*, actor: User, meeting: Meeting) -> bool:
    """Managers (and site staff) and the meeting's confirmed chair edit its agenda."""
    if not actor.is_authenticated:
        return False
    membership = Membership.objects.filter(community_id=meeting.community_id, user=actor).first()
    return _can_edit(actor=actor, meeting=meeting, membership=membership)


def agenda_editor_error() -> AgendaError:
    return AgendaError(
        _("Only the meeting's confirmed chair and the managers can change its agenda."),
        code="not_editor",
        forbidden=True,
    )


def _agenda_locked(actor: User, agenda: Agenda, now: datetime) -> Agenda:
    """The agenda, locked with its meeting, for `actor`'s change: refused unless they
    manage the community or are the meeting's confirmed chair, and the meeting has neither
    started nor been cancelled."""
    community = agenda.meeting.community
    membership = Membership.objects.filter(community=community, user=actor).first()
    if not community_is_visible(user=actor, community=community, membership=membership):
        raise CommunityNotFound(community.slug)
    meeting = Meeting.objects.select_for_update().get(pk=agenda.meeting_id)
    meeting.community = community
    if not _can_edit(actor=actor, meeting=meeting, membership=membership):
        raise agenda_editor_error()
    if meeting.is_cancelled:
        raise AgendaError(_("This meeting is cancelled."), code="cancelled")
    if meeting.has_started(now):
        raise AgendaError(
            _("This meeting has started; its agenda can no longer be changed here."),
            code="started",
        )
    locked = Agenda.objects.select_for_update().get(pk=agenda.pk)
    locked.meeting = meeting
    return locked


def _changed(agenda: Agenda, now: datetime) -> None:
    """After a change: saved, and members told if the agenda is published."""
    agenda.updated_at = now
    agenda.save(update_fields=["updated_at"])
    if agenda.published_at is not None:
        agenda.meeting = meeting_changed_visibly(meeting=agenda.meeting, now=now)


def _presenter_check(community: Community, presenter: User | None) -> User | None:
    if presenter is None:
        return None
    member = Membership.objects.filter(
        community=community, user=presenter, status=MembershipStatus.ACTIVE
    ).exists()
    if not presenter.is_active or not (member or presenter.is_staff):
        raise AgendaError(
            _("The presenter must be an active member of this community or staff."),
            code="bad_presenter",
            field="presenter",
        )
    return presenter


@transaction.atomic
def agenda_focus_set(
    *,
    actor: User,
    agenda: Agenda,
    focus_topic: str = "",
    presenter: User | None = None,
    presenter_name: str = "",
    now: datetime | None = None,
) -> Agenda:
    """The focus presentation's topic and its presenter: a member or staff
    (`presenter`), or an outside guest by name (`presenter_name`), one or none."""
    now = now or timezone.now()
    agenda = _agenda_locked(actor, agenda, now)
    focus_topic = _check_name(focus_topic, field="focus_topic")
    presenter_name = _check_name(presenter_name, field="presenter_name")
    if presenter is not None and presenter_name:
        raise AgendaError(
            _("Choose a member or name an outside guest, not both."),
            code="two_presenters",
            field="presenter_name",
        )
    presenter = _presenter_check(agenda.meeting.community, presenter)
    before = (agenda.focus_topic, agenda.presenter_id, agenda.presenter_name)
    agenda.focus_topic, agenda.presenter, agenda.presenter_name = (
        focus_topic,
        presenter,
        presenter_name,
    )
    if before != (focus_topic, presenter and presenter.pk, presenter_name):
        agenda.save(update_fields=["focus_topic", "presenter", "presenter_name"])
        _changed(agenda, now)
    return agenda


@transaction.atomic
def agenda_item_add(
    *, actor: User, agenda: Agenda, title: str, minutes: int, now: datetime | None = None
) -> AgendaItem:
    """An item of this meeting only (kind OTHER), at the end."""
    now = now or timezone.now()
    agenda = _agenda_locked(actor, agenda, now)
    item = AgendaItem.objects.create(
        agenda=agenda,
        kind=ItemKind.OTHER,
        title=_check_title(title),
        minutes=_check_minutes(minutes),
        position=_next_position(agenda.items),
    )
    _changed(agenda, now)
    return item


@transaction.atomic
def agenda_item_update(
    *,
    actor: User,
    agenda: Agenda,
    item_id: int,
    title: str,
    minutes: int,
    now: datetime | None = None,
) -> AgendaItem:
    """Retitle an item or change its length."""
    now = now or timezone.now()
    agenda = _agenda_locked(actor, agenda, now)
    item = _item_of(agenda.items.select_for_update(), item_id)
    title, minutes = _check_title(title), _check_minutes(minutes)
    if (item.title, item.minutes) != (title, minutes):
        item.title, item.minutes = title, minutes
        item.save(update_fields=["title", "minutes"])
        _changed(agenda, now)
    return item


@transaction.atomic
def agenda_item_move(
    *, actor: User, agenda: Agenda, item_id: int, direction: str, now: datetime | None = None
) -> None:
    """Move an item one place "up" or "down"."""
    now = now or timezone.now()
    agenda = _agenda_locked(actor, agenda, now)
    _move(agenda.items.select_for_update(), item_id, direction)
    _changed(agenda, now)


@transaction.atomic
def agenda_item_remove(
    *, actor: User, agenda: Agenda, item_id: int, now: datetime | None = None
) -> None:
    """Take an item off this meeting's agenda (a standing one too)."""
    now = now or timezone.now()
    agenda = _agenda_locked(actor, agenda, now)
    _item_of(agenda.items.select_for_update(), item_id).delete()
    _renumber(agenda.items.order_by("position", "pk"))
    _changed(agenda, now)


@transaction.atomic
def agenda_publish(*, actor: User, agenda: Agenda, now: datetime | None = None) -> Agenda:
    """Publish the agenda: their invitations, feeds and downloads show it from now on,
    so publishing is itself a change members must see (a new SEQUENCE; members who hold
    the invitation get an update carrying the agenda), and so is each change after."""
    now = now or timezone.now()
    agenda = _agenda_locked(actor, agenda, now)
    if agenda.published_at is not None:
        raise AgendaError(_("This agenda is published already."), code="published")
    agenda.published_at = agenda.updated_at = now
    agenda.save(update_fields=["published_at", "updated_at"])
    agenda.meeting = meeting_changed_visibly(meeting=agenda.meeting, now=now)
    return agenda


# Topics for future meetings ------------------------------------------------------------


def _active_member(user: User, community: Community) -> Membership | None:
    return Membership.objects.filter(
        community=community, user=user, status=MembershipStatus.ACTIVE
    ).first()


@transaction.atomic
def topic_propose(
    *, user: User, community: Community, title: str, details: str = "", now=None
) -> Topic:
    """Any active member (or a manager) proposes a topic for a future meeting."""
    membership = Membership.objects.filter(community=community, user=user).first()
    if not community_is_visible(user=user, community=community, membership=membership):
        raise CommunityNotFound(community.slug)
    if not (
        (membership is not None and membership.is_active)
        or community_can_manage(user=user, membership=membership)
    ):
        raise AgendaError(
            _("Only this community's members can propose topics."),
            code="not_member",
            forbidden=True,
        )
    details = (details or "").strip()
    if len(details) > DETAILS_LENGTH:
        raise AgendaError(
            _("Details have at most 2000 characters."), code="long_details", field="details"
        )
    return Topic.objects.create(
        community=community,
        title=_check_title(title),
        details=details,
        proposed_by=user,
        created_at=now or timezone.now(),
    )


def _topic_locked(topic: Topic) -> Topic:
    community = topic.community
    locked = Topic.objects.select_for_update().get(pk=topic.pk)
    locked.community = community
    return locked


def topic_can_decide(*, actor: User, community: Community, meeting: Meeting | None = None):
    """Managers decide every topic; a confirmed chair decides at the meeting they chair
    (without a meeting: at any meeting they chair that has not ended)."""
    if not actor.is_authenticated:
        return False
    membership = Membership.objects.filter(community=community, user=actor).first()
    if community_can_manage(user=actor, membership=membership):
        return True
    if membership is None or not membership.is_active:
        return False
    if meeting is not None:
        return meeting.chair_id == actor.pk and meeting.chair_confirmed_at is not None
    return Meeting.objects.filter(
        community=community,
        chair=actor,
        chair_confirmed_at__isnull=False,
        status=MeetingStatus.SCHEDULED,
        ends_at__gt=timezone.now(),
    ).exists()


def _decider_require(actor: User, community: Community, meeting: Meeting | None) -> None:
    membership = Membership.objects.filter(community=community, user=actor).first()
    if not community_is_visible(user=actor, community=community, membership=membership):
        raise CommunityNotFound(community.slug)
    if not topic_can_decide(actor=actor, community=community, meeting=meeting):
        raise AgendaError(
            _("Only the managers and the meeting's confirmed chair decide on topics."),
            code="not_decider",
            forbidden=True,
        )


@dataclass(frozen=True)
class Chosen:
    topic: Topic
    agenda: Agenda | None  # the next meeting's agenda it went on at once, if it had one


@transaction.atomic
def topic_choose(
    *, actor: User, topic: Topic, meeting: Meeting, now: datetime | None = None
) -> Chosen:
    """Choose a proposed topic at `meeting` (not cancelled): it goes on the next meeting's
    agenda — at once if that agenda is made and the meeting still to come, else when it
    is made (`agenda_ensure`)."""
    now = now or timezone.now()
    community = topic.community
    if meeting.community_id != community.pk:
        raise AgendaError(
            _("Choose a meeting of this community."), code="bad_meeting", field="meeting"
        )
    _decider_require(actor, community, meeting)
    topic = _topic_locked(topic)
    if topic.status != TopicStatus.PROPOSED:
        raise AgendaError(
            _("Only a proposed topic can be chosen; this one is %(status)s.")
            % {"status": topic.get_status_display().lower()},
            code="not_proposed",
        )
    if meeting.is_cancelled:
        raise AgendaError(_("This meeting is cancelled."), code="cancelled", field="meeting")
    topic.status, topic.chosen_at = TopicStatus.CHOSEN, meeting
    topic.save(update_fields=["status", "chosen_at"])
    following = meeting_following(meeting=meeting)
    agenda = None
    if following is not None and not following.has_started(now):
        following = Meeting.objects.select_for_update().get(pk=following.pk)
        following.community = community
        agenda = Agenda.objects.select_for_update().filter(meeting=following).first()
        if agenda is not None:
            agenda.meeting = following
            _topics_take(agenda, [topic], now)
            _changed(agenda, now)
            topic.status = TopicStatus.DONE
    return Chosen(topic=topic, agenda=agenda)


@transaction.atomic
def topic_drop(*, actor: User, topic: Topic, now: datetime | None = None) -> Topic:
    """Drop a proposed or chosen topic (one taken up stays as it is)."""
    community = topic.community
    _decider_require(actor, community, None)
    topic = _topic_locked(topic)
    if topic.status not in (TopicStatus.PROPOSED, TopicStatus.CHOSEN):
        raise AgendaError(
            _("This topic is %(status)s; it can no longer be dropped.")
            % {"status": topic.get_status_display().lower()},
            code="not_open",
        )
    topic.status = TopicStatus.DROPPED
    topic.save(update_fields=["status"])
    return topic


# The live run ----------------------------------------------------------------------------
#
# One row of state per meeting (`Run`). Every move — a chair's command, the timer, who is
# present — is one conditional update `… WHERE version = <seen>` that raises `version` by
# one: of two concurrent moves exactly one wins; the loser re-reads. After the commit the
# whole state goes to every socket of the meeting (`meeting.state`); an event is never the
# state, so a client that missed one is whole again with the next.

logger = logging.getLogger(__name__)

# Commands whose meaning is "this turn": when another move won the race and the turn is
# no longer the one the command was for, it is done (the winner moved on), not repeated.
TURN_COMMANDS = rules.TURN_COMMANDS
# How many times a move is re-read and tried again when another won the race. Each try is
# one read and one conditional update; a busy meeting (two consoles, presence changes, the
# clock) can win several races in a row on a loaded server, so the margin is wide.
ATTEMPTS = 10


class RunError(LiveError):
    """A refused command: the socket's `error` frame (`code`, and `detail` for people)."""


def run_get(*, meeting: Meeting) -> Run:
    """The meeting's run row (made, scheduled, on first use)."""
    run, _created = Run.objects.get_or_create(meeting=meeting)
    return run


def _state(run: Run) -> rules.State:
    return rules.State(
        status=run.status,
        current_item=run.current_item_id,
        queue=tuple(run.queue),
        done=tuple(run.done),
        passed=tuple(run.passed),
        speaker=run.speaker_id,
        turn_started_at=run.turn_started_at,
        turn_ends_at=run.turn_ends_at,
        turn_paused_ms=run.turn_paused_ms,
        turn_extensions=run.turn_extensions,
        handed_over=run.handed_over,
        started_at=run.started_at,
        ended_at=run.ended_at,
    )


def _fields(state: rules.State) -> dict:
    values = asdict(state)
    return {
        "status": values["status"],
        "current_item_id": values["current_item"],
        "queue": list(values["queue"]),
        "done": list(values["done"]),
        "passed": list(values["passed"]),
        "speaker_id": values["speaker"],
        "turn_started_at": values["turn_started_at"],
        "turn_ends_at": values["turn_ends_at"],
        "turn_paused_ms": values["turn_paused_ms"],
        "turn_extensions": values["turn_extensions"],
        "handed_over": values["handed_over"],
        "started_at": values["started_at"],
        "ended_at": values["ended_at"],
    }


def _context(meeting: Meeting, run: Run) -> rules.Context:
    items = [
        rules.Item(id=item.pk, kind=item.kind) for item in selectors.agenda_items(meeting=meeting)
    ]
    members = dict(
        Membership.objects.filter(community=meeting.community_id, status=MembershipStatus.ACTIVE)
        .values_list("user_id", "user__display_name")
        .order_by("user_id")
    )
    return rules.Context(
        items=items,
        present=[u for u in run.present if u in members],
        members=members,
        turn_seconds=selectors.turn_seconds(community=meeting.community),
        planned_end=meeting.ends_at,
        cancelled=meeting.is_cancelled,
    )


def _publish(meeting_id: int) -> None:
    """The whole state as this transaction wrote it (the row is locked by our update until
    the commit, so it holds exactly our version), to every socket of the meeting after the
    commit: each version goes out once, none skipped."""
    frame = selectors.run_state(meeting_id=meeting_id)
    if frame is not None:
        group = selectors.meeting_group(meeting_id)
        event_send_on_commit(group, frame_event(group, frame))


def _write(
    run: Run,
    outcome: rules.Outcome,
    *,
    now: datetime,
    command: str,
    actor: User | None,
    data: dict,
    extra: dict | None = None,
) -> bool:
    """Write `outcome` if the run is still at the version read (and `extra` holds); the
    items' times, the turns and the log with it. False when another move won."""
    changes = _fields(outcome.state)
    if (changes["speaker_id"], changes["turn_ends_at"]) != (run.speaker_id, run.turn_ends_at):
        changes["turn_warned"] = False  # a new deadline: its own warning
    starting = outcome.state.status == RunStatus.LIVE and run.status != RunStatus.LIVE
    ending = outcome.state.status == RunStatus.ENDED and run.status != RunStatus.ENDED
    if starting:
        changes["attended"] = sorted(set(run.attended) | set(run.present))
    with transaction.atomic():
        won = (
            Run.objects.filter(pk=run.pk, version=run.version, **(extra or {})).update(
                version=F("version") + 1, updated_at=now, **changes
            )
            == 1
        )
        if not won:
            return False
        version = run.version + 1
        if outcome.items_ended:
            AgendaItem.objects.filter(pk__in=outcome.items_ended).update(ended_at=now)
        if outcome.items_started:
            AgendaItem.objects.filter(pk__in=outcome.items_started, started_at=None).update(
                started_at=now
            )
            AgendaItem.objects.filter(pk__in=outcome.items_started).update(ended_at=None)
        if outcome.turn_ended is not None:
            user_id, passed = outcome.turn_ended
            Turn.objects.filter(run=run, user_id=user_id, ended_at=None).update(
                ended_at=now, passed=passed
            )
        if outcome.turn_started is not None:
            Turn.objects.create(run=run, user_id=outcome.turn_started, started_at=now)
        RunLogEntry.objects.create(
            run=run, version=version, at=now, command=command, actor=actor, data=data
        )
        _markers(run, outcome, version=version, starting=starting, ending=ending, now=now)
        if ending:
            attendance_from_run(
                meeting=Meeting.objects.get(pk=run.meeting_id),
                present_ids=changes.get("attended", run.attended),
                now=now,
            )
            run_ended_on_commit(meeting_id=run.meeting_id)
        _publish(run.meeting_id)
    return True


def _markers(run: Run, outcome: rules.Outcome, *, version: int, starting, ending, now) -> None:
    """The side chat's markers: the meeting started, each item's start and end, the end —
    the server's own messages, in the community's language."""
    meeting = Meeting.objects.select_related("community").get(pk=run.meeting_id)
    if meeting.room_id is None:
        return
    titles = dict(
        AgendaItem.objects.filter(
            pk__in=[*outcome.items_started, *outcome.items_ended]
        ).values_list("pk", "title")
    )
    said = []
    with translation.override(meeting.community.language):
        if starting:
            said.append(_("The meeting started."))
        for item_id in outcome.items_ended:
            said.append(_("Ended: %(item)s") % {"item": titles.get(item_id, "")})
        for item_id in outcome.items_started:
            said.append(_("Now: %(item)s") % {"item": titles.get(item_id, "")})
        if ending:
            said.append(_("The meeting ended."))
        for number, text in enumerate(said):
            system_message_post(
                room_id=meeting.room_id, body=str(text), key=f"run.{run.pk}.{version}.{number}"
            )


def _may(meeting: Meeting, run: Run, user: User, now: datetime) -> bool:
    membership = Membership.objects.filter(community=meeting.community_id, user=user).first()
    return rules.may_command(
        user_id=user.pk,
        chair_id=meeting.chair_id,
        backup_id=meeting.backup_id,
        is_manager=community_can_manage(user=user, membership=membership),
        state=_state(run),
        chair_away_since=run.chair_away_since,
        now=now,
    )


def run_command(
    *, actor: User, meeting: Meeting, command: str, args: dict | None = None, now=None
) -> Run:
    """A chair's command: refused (RunError, nothing changed) unless `actor` may run the
    meeting and the command fits its state; else written as one move. Returns the run."""
    now = now or timezone.now()
    args = args if isinstance(args, dict) else {}
    if command not in rules.CHAIR_COMMANDS:
        raise RunError("unknown_type", _("Unknown command."))
    meeting = Meeting.objects.select_related("community").get(pk=meeting.pk)
    first = None
    for _attempt in range(ATTEMPTS):
        run = run_get(meeting=meeting)
        if not _may(meeting, run, actor, now):
            raise RunError(
                "forbidden",
                _(
                    "Only the meeting's chair, its backup once handed over, or a manager "
                    "can do that."
                ),
            )
        expected = args.get("speaker")
        if command in TURN_COMMANDS and expected is not None and expected != run.speaker_id:
            return run  # that turn is over already (the clock, or another chair, moved on)
        if first is None:
            first = run
        elif command in TURN_COMMANDS and (run.speaker_id, run.turn_started_at) != (
            first.speaker_id,
            first.turn_started_at,
        ):
            return run  # the turn it was for is over: another move did it
        try:
            outcome = rules.apply(_state(run), command, args, _context(meeting, run), now=now)
        except rules.CommandError as refused:
            raise RunError(refused.code, refused.message) from None
        data = {"args": args} if args else {}
        if _write(run, outcome, now=now, command=command, actor=actor, data=data):
            return Run.objects.get(pk=run.pk)
    raise RunError("conflict", _("The meeting changed meanwhile; try again."))


def run_expire(*, meeting_id: int, now=None) -> bool:
    """The timer: if the speaker's turn has run out, the next one speaks — exactly once,
    whichever processes (and chairs pressing "next") try at the same moment."""
    now = now or timezone.now()
    run = Run.objects.select_related("meeting__community").filter(meeting_id=meeting_id).first()
    if run is None:
        return False
    outcome = rules.expire(_state(run), _context(run.meeting, run), now=now)
    if outcome is None:
        return False
    return _write(
        run,
        outcome,
        now=now,
        command="turn.expire",
        actor=None,
        data={"speaker": run.speaker_id},
        extra={"turn_ends_at__lte": now, "speaker_id": run.speaker_id},
    )


def run_warn(*, meeting_id: int, now=None) -> bool:
    """Ten seconds before a turn ends: `turn.warning` once (the process that marks the
    turn warned sends it). Not a change of state: the version stays."""
    now = now or timezone.now()
    run = Run.objects.filter(meeting_id=meeting_id).first()
    if run is None or run.turn_warned or not rules.warning_due(_state(run), now=now):
        return False
    won = Run.objects.filter(
        pk=run.pk,
        speaker_id=run.speaker_id,
        turn_ends_at=run.turn_ends_at,
        turn_warned=False,
    ).update(turn_warned=True)
    if won:
        group = selectors.meeting_group(meeting_id)
        frame = {
            "type": "turn.warning",
            "speaker": run.speaker_id,
            "turn_ends_at": iso_utc(run.turn_ends_at),
            "server_time": iso_utc(now),
        }
        event_send_on_commit(group, frame_event(group, frame))
    return bool(won)


def run_presence_set(*, meeting_id: int, present: list[int], now=None) -> bool:
    """Who has a socket open on the meeting (user ids, from every process): a change is a
    move like any other (the version rises). Notes since when the chair is away."""
    now = now or timezone.now()
    present = sorted(set(present))
    for _attempt in range(ATTEMPTS):
        run, _created = Run.objects.select_related("meeting").get_or_create(meeting_id=meeting_id)
        chair_id = run.meeting.chair_id
        away = None
        if chair_id is not None and chair_id not in present:
            away = run.chair_away_since or now
        if sorted(run.present) == present and run.chair_away_since == away:
            return False
        attended = run.attended
        if run.status == RunStatus.LIVE:
            attended = sorted(set(attended) | set(present))
        with transaction.atomic():
            won = Run.objects.filter(pk=run.pk, version=run.version).update(
                version=F("version") + 1,
                present=present,
                attended=attended,
                chair_away_since=away,
                updated_at=now,
            )
            if won:
                RunLogEntry.objects.create(
                    run=run,
                    version=run.version + 1,
                    at=now,
                    command="presence",
                    data={"present": present},
                )
                _publish(meeting_id)
                return True
    return False


def runs_end_overdue(*, now=None) -> int:
    """The periodic work: a run left live ends by itself AGENDAS_END_AFTER_HOURS (2) after
    its meeting's planned end, so its minutes still come. Safe to repeat."""
    now = now or timezone.now()
    after = timedelta(hours=settings.AGENDAS_END_AFTER_HOURS)
    ended = 0
    for run in Run.objects.select_related("meeting").filter(
        status=RunStatus.LIVE, meeting__ends_at__lte=now - after
    ):
        outcome = rules.end_overdue(
            _state(run), planned_end=run.meeting.ends_at, after=after, now=now
        )
        if outcome is not None and _write(
            run, outcome, now=now, command="meeting.end", actor=None, data={"by": "timer"}
        ):
            ended += 1
    return ended


# Who is present: the meeting's sockets, on every process ---------------------------------


def _present_now(meeting_id: int, now: datetime) -> list[int]:
    cutoff = now - timedelta(seconds=settings.PRESENCE_TIMEOUT_SECONDS)
    return sorted(
        set(
            Connection.objects.filter(meeting_id=meeting_id, last_seen__gte=cutoff).values_list(
                "user_id", flat=True
            )
        )
    )


def connection_open(*, user: User, meeting_id: int, connection_id: str, now=None) -> None:
    """A socket opens on the meeting: its user is present (a change if they were not)."""
    now = now or timezone.now()
    Connection.objects.create(
        meeting_id=meeting_id, user=user, connection_id=connection_id, last_seen=now
    )
    run_presence_set(meeting_id=meeting_id, present=_present_now(meeting_id, now), now=now)


def connection_close(*, meeting_id: int, connection_id: str, now=None) -> None:
    """A socket closes: its user leaves the present unless another of their sockets stays."""
    now = now or timezone.now()
    Connection.objects.filter(connection_id=connection_id).delete()
    run_presence_set(meeting_id=meeting_id, present=_present_now(meeting_id, now), now=now)


def connections_beat(*, connections: dict[str, tuple[int, int]], now=None) -> set[int]:
    """A process's heartbeat for its meeting sockets (connection id → (meeting id, user
    id)): refreshed in one statement (made again if swept), the connections of dead
    processes dropped, each meeting's present brought up to date. Returns the meetings."""
    now = now or timezone.now()
    ids = list(connections)
    Connection.objects.filter(connection_id__in=ids).update(last_seen=now)
    known = set(
        Connection.objects.filter(connection_id__in=ids).values_list("connection_id", flat=True)
    )
    Connection.objects.bulk_create(
        [
            Connection(connection_id=cid, meeting_id=meeting_id, user_id=user_id, last_seen=now)
            for cid, (meeting_id, user_id) in connections.items()
            if cid not in known
        ],
        ignore_conflicts=True,
    )
    meeting_ids = {meeting_id for meeting_id, _user in connections.values()}
    cutoff = now - timedelta(seconds=settings.PRESENCE_TIMEOUT_SECONDS)
    Connection.objects.filter(meeting_id__in=meeting_ids, last_seen__lt=cutoff).delete()
    for meeting_id in meeting_ids:
        run_presence_set(meeting_id=meeting_id, present=_present_now(meeting_id, now), now=now)
    return meeting_ids


def turn_lines_set(
    *,
    user: User,
    meeting: Meeting,
    challenge: str,
    help_wanted: str,
    private: bool = False,
    now=None,
) -> Turn:
    """The speaker records their two lines during their turn (or the chair for them);
    kept on the turn for the minutes; `private`: not for the minutes."""
    now = now or timezone.now()
    run = run_get(meeting=meeting)
    if run.status != RunStatus.LIVE or run.speaker_id is None:
        raise RunError("no_turn", _("Nobody is speaking."))
    if user.pk != run.speaker_id and not _may(meeting, run, user, now):
        raise RunError("forbidden", _("Only the speaker or the chair records these lines."))
    lines = {"challenge": challenge, "help_wanted": help_wanted}
    for name, text in lines.items():
        text = " ".join((text or "").split())
        if len(text) > LINE_LENGTH:
            raise RunError(
                "line_too_long",
                _("A line has at most %(max)d characters.") % {"max": LINE_LENGTH},
            )
        lines[name] = text
    turn = selectors.turn_current(meeting=meeting)
    if turn is None:
        raise RunError("no_turn", _("Nobody is speaking."))
    Turn.objects.filter(pk=turn.pk).update(**lines, private=bool(private))
    turn.refresh_from_db()
    return turn


def runs_maintain(*, now=None) -> tuple[int, int]:
    """The periodic work (`manage.py agendas_maintain`, every minute): turns that ran out
    while no process watched moved on, runs left live ended. Returns (moved, ended)."""
    now = now or timezone.now()
    due = Run.objects.filter(status=RunStatus.LIVE, turn_ends_at__lte=now).values_list(
        "meeting_id", flat=True
    )
    moved = sum(run_expire(meeting_id=meeting_id, now=now) for meeting_id in list(due))
    return moved, runs_end_overdue(now=now)
