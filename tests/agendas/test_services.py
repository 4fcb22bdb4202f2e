"""The agendas' writes: the standing template made with each community and edited by its
managers, each meeting's agenda made from it and edited by its chair and the managers
until the meeting starts, publishing and the updates it entails, and topics that flow
into the next meeting's agenda. Every refusal is a clear error that changes nothing."""

import importlib
from datetime import timedelta

import pytest
from django.apps import apps

from agendas import services
from agendas.enums import ItemKind, TopicStatus
from agendas.models import Agenda, AgendaItem, AgendaTemplate, TemplateItem, Topic
from agendas.services import AgendaError
from communities import services as community_services
from communities.enums import JoinPolicy
from communities.selectors import CommunityNotFound
from meetings import services as meeting_services
from meetings.enums import MailKind
from meetings.models import Meeting
from outbox.models import Email
from tests.agendas.helpers import agendas_state, chair_confirm, world
from tests.factories import CommunityFactory, MembershipFactory, UserFactory
from tests.meetings.helpers import NOW

pytestmark = pytest.mark.django_db

STANDING = [
    ("introductions", "New members introduction", 5, False),
    ("roundtable", "Current progress / initiatives roundtable", 2, True),
    ("focus", "Focus presentation", 15, False),
    ("discussion", "Open discussion", 20, False),
    ("future", "Future agenda and next meeting", 5, False),
]
STANDING_FR = [
    "Présentation des nouveaux membres",
    "Tour de table\u00a0: progrès et initiatives en cours",
    "Présentation thématique",
    "Discussion ouverte",
    "Prochains sujets et prochaine rencontre",
]


def _items(owner) -> list[tuple]:
    return list(
        owner.items.order_by("position").values_list("kind", "title", "minutes", "per_member")
    )


def _titles(owner) -> list[str]:
    return list(owner.items.order_by("position").values_list("title", flat=True))


def _positions(owner) -> list[int]:
    return list(owner.items.order_by("position").values_list("position", flat=True))


# The standing template -----------------------------------------------------------------


def test_community_create_makes_the_template_with_the_five_standing_items():
    staff = UserFactory(is_staff=True)

    community = community_services.community_create(actor=staff, name="Rural care", slug="rural")

    template = AgendaTemplate.objects.get(community=community)
    assert _items(template) == [tuple(row) for row in STANDING]
    assert _positions(template) == [0, 1, 2, 3, 4]
    assert template.turn_seconds == 60


def test_community_create_titles_the_standing_items_in_the_community_language():
    staff = UserFactory(is_staff=True)

    community = community_services.community_create(
        actor=staff, name="Soins", slug="soins", language="fr"
    )

    assert _titles(community.agenda_template) == STANDING_FR


def test_template_ensure_makes_a_missing_template_once():
    community = CommunityFactory()
    AgendaTemplate.objects.filter(community=community).delete()

    first = services.template_ensure(community=community)
    second = services.template_ensure(community=community)

    assert first.pk == second.pk
    assert AgendaTemplate.objects.filter(community=community).count() == 1
    assert TemplateItem.objects.filter(template=first).count() == 5


def test_template_ensure_leaves_an_edited_template_as_it_is():
    community, manager, _users, _meetings = world()
    template = services.template_ensure(community=community)
    item = template.items.get(kind=ItemKind.FOCUS)
    services.template_item_update(
        actor=manager, template=template, item_id=item.pk, title="Guest talk", minutes=25
    )

    services.template_ensure(community=community)

    assert template.items.get(pk=item.pk).title == "Guest talk"
    assert template.items.count() == 5


def test_data_migration_gives_existing_communities_their_template_in_their_language():
    english = CommunityFactory(language="en")
    french = CommunityFactory(language="fr")
    kept = CommunityFactory()
    AgendaTemplate.objects.filter(community__in=[english, french]).delete()
    kept_items = _items(kept.agenda_template)
    migration = importlib.import_module(
        "agendas.migrations.0002_templates_for_existing_communities"
    )

    migration.templates_create(apps, None)

    assert _items(AgendaTemplate.objects.get(community=english)) == [tuple(r) for r in STANDING]
    assert _titles(AgendaTemplate.objects.get(community=french)) == STANDING_FR
    assert _items(AgendaTemplate.objects.get(community=kept)) == kept_items
    assert AgendaTemplate.objects.count() == 3


def test_template_managers_edit_titles_lengths_order_and_turns():
    community, manager, _users, _meetings = world()
    template = services.template_ensure(community=community)
    focus = template.items.get(kind=ItemKind.FOCUS)
    discussion = template.items.get(kind=ItemKind.DISCUSSION)

    services.template_item_update(
        actor=manager, template=template, item_id=focus.pk, title="  Guest   talk ", minutes=25
    )
    services.template_item_move(
        actor=manager, template=template, item_id=discussion.pk, direction="up"
    )
    services.template_settings_set(actor=manager, template=template, turn_seconds=90)

    assert [row[:3] for row in _items(template)] == [
        ("introductions", "New members introduction", 5),
        ("roundtable", "Current progress / initiatives roundtable", 2),
        ("discussion", "Open discussion", 20),
        ("focus", "Guest talk", 25),
        ("future", "Future agenda and next meeting", 5),
    ]
    assert _positions(template) == [0, 1, 2, 3, 4]
    assert AgendaTemplate.objects.get(pk=template.pk).turn_seconds == 90


def test_template_remove_and_add_back_a_standing_item_and_add_another():
    community, manager, _users, _meetings = world()
    template = services.template_ensure(community=community)
    roundtable = template.items.get(kind=ItemKind.ROUNDTABLE)

    services.template_item_remove(actor=manager, template=template, item_id=roundtable.pk)
    services.template_item_add(
        actor=manager, template=template, kind=ItemKind.OTHER, title="Announcements", minutes=3
    )
    back = services.template_item_add(
        actor=manager, template=template, kind=ItemKind.ROUNDTABLE, title="", minutes=4
    )

    assert back.title == "Current progress / initiatives roundtable"
    assert back.per_member is True
    assert [row[0] for row in _items(template)] == [
        "introductions",
        "focus",
        "discussion",
        "future",
        "other",
        "roundtable",
    ]
    assert _positions(template) == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"minutes": -1}, "bad_minutes", "minutes"),
        ({"minutes": 241}, "bad_minutes", "minutes"),
        ({"minutes": 10**6}, "bad_minutes", "minutes"),
        ({"minutes": True}, "bad_minutes", "minutes"),
        ({"minutes": "5"}, "bad_minutes", "minutes"),
        ({"title": ""}, "no_title", "title"),
        ({"title": "   "}, "no_title", "title"),
        ({"title": "x" * 201}, "long_title", "title"),
    ],
)
def test_template_item_update_bad_input_is_refused_and_changes_nothing(change, code, field):
    community, manager, _users, _meetings = world()
    template = services.template_ensure(community=community)
    item = template.items.get(kind=ItemKind.FOCUS)
    before = agendas_state()

    with pytest.raises(AgendaError) as caught:
        services.template_item_update(
            actor=manager,
            template=template,
            item_id=item.pk,
            **{"title": "Guest talk", "minutes": 10, **change},
        )

    assert (caught.value.code, caught.value.field) == (code, field)
    assert caught.value.message
    assert agendas_state() == before


def test_template_unknown_or_other_community_item_is_refused_and_changes_nothing():
    community, manager, _users, _meetings = world()
    template = services.template_ensure(community=community)
    elsewhere = services.template_ensure(community=CommunityFactory()).items.first()
    before = agendas_state()

    for item_id in (elsewhere.pk, 999_999, "1"):
        for action in (
            lambda i: services.template_item_update(
                actor=manager, template=template, item_id=i, title="Hijack", minutes=1
            ),
            lambda i: services.template_item_move(
                actor=manager, template=template, item_id=i, direction="up"
            ),
            lambda i: services.template_item_remove(actor=manager, template=template, item_id=i),
        ):
            with pytest.raises(AgendaError) as caught:
                action(item_id)
            assert caught.value.code == "no_item"

    assert agendas_state() == before


@pytest.mark.parametrize(
    ("name", "fields", "code"),
    [
        ("template_settings_set", {"turn_seconds": 14}, "bad_turn"),
        ("template_settings_set", {"turn_seconds": 601}, "bad_turn"),
        ("template_settings_set", {"turn_seconds": None}, "bad_turn"),
        ("template_item_add", {"kind": "speech", "title": "A"}, "bad_kind"),
        ("template_item_add", {"kind": "focus", "title": "A"}, "kind_present"),
        ("template_item_add", {"title": "", "minutes": 3}, "no_title"),
        ("template_item_add", {"title": "A", "minutes": -3}, "bad_minutes"),
        ("template_item_move", {"item": 0, "direction": "up"}, "cannot_move"),
        ("template_item_move", {"item": -1, "direction": "down"}, "cannot_move"),
        ("template_item_move", {"item": 1, "direction": "left"}, "bad_direction"),
    ],
)
def test_template_bad_changes_are_refused_and_change_nothing(name, fields, code):
    community, manager, _users, _meetings = world()
    template = services.template_ensure(community=community)
    items = list(template.items.order_by("position"))
    fields = dict(fields)
    if "item" in fields:
        fields["item_id"] = items[fields.pop("item")].pk
    before = agendas_state()

    with pytest.raises(AgendaError) as caught:
        getattr(services, name)(actor=manager, template=template, **fields)

    assert caught.value.code == code
    assert agendas_state() == before


def test_template_members_are_refused_and_nothing_changes():
    community, _manager, users, _meetings = world()
    template = services.template_ensure(community=community)
    item = template.items.first()
    before = agendas_state()

    for actor in (users[0], UserFactory()):
        with pytest.raises(community_services.CommunityActionError) as caught:
            services.template_item_update(
                actor=actor, template=template, item_id=item.pk, title="Mine", minutes=1
            )
        assert caught.value.forbidden
        with pytest.raises(community_services.CommunityActionError):
            services.template_settings_set(actor=actor, template=template, turn_seconds=30)

    assert agendas_state() == before


# Each meeting's agenda -----------------------------------------------------------------


def test_agenda_ensure_copies_the_template_and_is_idempotent():
    community, manager, _users, meetings = world()
    template = services.template_ensure(community=community)
    services.template_settings_set(actor=manager, template=template, turn_seconds=45)
    services.template_item_add(actor=manager, template=template, title="Announcements", minutes=3)

    agenda = services.agenda_ensure(meeting=meetings[0], now=NOW)
    again = services.agenda_ensure(meeting=meetings[0], now=NOW)

    assert again.pk == agenda.pk
    assert Agenda.objects.count() == 1
    assert _items(agenda) == _items(template)
    assert _positions(agenda) == [0, 1, 2, 3, 4, 5]
    assert (agenda.focus_topic, agenda.presenter, agenda.published_at) == ("", None, None)


def test_agenda_ensure_keeps_the_agenda_when_the_template_changes_later():
    community, manager, _users, meetings = world()
    agenda = services.agenda_ensure(meeting=meetings[0], now=NOW)
    template = community.agenda_template

    services.template_item_add(actor=manager, template=template, title="Announcements", minutes=3)
    services.agenda_ensure(meeting=meetings[0], now=NOW)

    assert AgendaItem.objects.filter(agenda=agenda).count() == 5
    following = services.agenda_ensure(meeting=meetings[1], now=NOW)
    assert AgendaItem.objects.filter(agenda=following).count() == 6


def test_agenda_chair_and_manager_edit_it():
    _community, manager, users, meetings = world()
    meeting = chair_confirm(meetings[0], users[1])
    agenda = services.agenda_ensure(meeting=meeting, now=NOW)
    focus = agenda.items.get(kind=ItemKind.FOCUS)

    added = services.agenda_item_add(
        actor=users[1], agenda=agenda, title="Clinic tour", minutes=10, now=NOW
    )
    services.agenda_item_move(
        actor=users[1], agenda=agenda, item_id=added.pk, direction="up", now=NOW
    )
    services.agenda_item_update(
        actor=manager, agenda=agenda, item_id=focus.pk, title="Guest talk", minutes=12, now=NOW
    )
    services.agenda_item_remove(
        actor=manager,
        agenda=agenda,
        item_id=agenda.items.get(kind=ItemKind.DISCUSSION).pk,
        now=NOW,
    )

    assert [row[:3] for row in _items(agenda)] == [
        ("introductions", "New members introduction", 5),
        ("roundtable", "Current progress / initiatives roundtable", 2),
        ("focus", "Guest talk", 12),
        ("other", "Clinic tour", 10),
        ("future", "Future agenda and next meeting", 5),
    ]
    assert _positions(agenda) == [0, 1, 2, 3, 4]


def _edits(agenda, item, now=NOW):
    return [
        lambda actor: services.agenda_item_add(
            actor=actor, agenda=agenda, title="Mine", minutes=1, now=now
        ),
        lambda actor: services.agenda_item_update(
            actor=actor, agenda=agenda, item_id=item.pk, title="Mine", minutes=1, now=now
        ),
        lambda actor: services.agenda_item_move(
            actor=actor, agenda=agenda, item_id=item.pk, direction="down", now=now
        ),
        lambda actor: services.agenda_item_remove(
            actor=actor, agenda=agenda, item_id=item.pk, now=now
        ),
        lambda actor: services.agenda_focus_set(
            actor=actor, agenda=agenda, focus_topic="Mine", now=now
        ),
        lambda actor: services.agenda_publish(actor=actor, agenda=agenda, now=now),
    ]


def test_agenda_members_an_unconfirmed_chair_and_others_are_refused_and_nothing_changes():
    _community, _manager, users, meetings = world()
    meeting = meetings[0]
    meeting_services.chair_override(
        actor=UserFactory(is_staff=True), meeting=meeting, user=users[1], now=NOW
    )  # chosen, not confirmed yet
    agenda = services.agenda_ensure(meeting=meeting, now=NOW)
    item = agenda.items.first()
    other_chair = chair_confirm(meetings[1], users[2])
    assert other_chair.chair == users[2]
    before = agendas_state()

    for actor in (users[0], users[1], users[2], UserFactory()):
        for edit in _edits(agenda, item):
            with pytest.raises(AgendaError) as caught:
                edit(actor)
            assert (caught.value.code, caught.value.forbidden) == ("not_editor", True)

    assert agendas_state() == before


def test_agenda_of_an_invitation_only_community_is_not_found_to_outsiders():
    _community, _manager, _users, meetings = world(join_policy=JoinPolicy.INVITATION)
    agenda = services.agenda_ensure(meeting=meetings[0], now=NOW)
    before = agendas_state()

    for edit in _edits(agenda, agenda.items.first()):
        with pytest.raises(CommunityNotFound):
            edit(UserFactory())

    assert agendas_state() == before


def test_agenda_a_chair_who_left_can_no_longer_edit():
    community, _manager, users, meetings = world()
    meeting = chair_confirm(meetings[0], users[1])
    agenda = services.agenda_ensure(meeting=meeting, now=NOW)
    # Left without the receivers (which would replace the chair): the membership decides.
    community.memberships.filter(user=users[1]).update(status="left")

    with pytest.raises(AgendaError) as caught:
        services.agenda_item_add(actor=users[1], agenda=agenda, title="X", minutes=1, now=NOW)

    assert caught.value.code == "not_editor"


@pytest.mark.parametrize("state", ["started", "ended", "cancelled"])
def test_agenda_of_a_started_or_cancelled_meeting_is_refused_and_nothing_changes(state):
    _community, manager, users, meetings = world()
    meeting = chair_confirm(meetings[0], users[1])
    agenda = services.agenda_ensure(meeting=meeting, now=NOW)
    item = agenda.items.first()
    now = NOW
    if state == "started":
        now = meeting.starts_at
    elif state == "ended":
        now = meeting.ends_at + timedelta(days=1)
    else:
        meeting_services.meeting_cancel(actor=manager, meeting=meeting, now=NOW)
    before = agendas_state()

    for actor in (manager, users[1]):
        for edit in _edits(agenda, item, now=now):
            with pytest.raises(AgendaError) as caught:
                edit(actor)
            assert caught.value.code == ("cancelled" if state == "cancelled" else "started")

    assert agendas_state() == before


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"minutes": -5}, "bad_minutes", "minutes"),
        ({"minutes": 500}, "bad_minutes", "minutes"),
        ({"title": "\t"}, "no_title", "title"),
        ({"title": "y" * 300}, "long_title", "title"),
    ],
)
def test_agenda_bad_item_input_is_refused_and_changes_nothing(change, code, field):
    _community, manager, _users, meetings = world()
    agenda = services.agenda_ensure(meeting=meetings[0], now=NOW)
    item = agenda.items.get(kind=ItemKind.FOCUS)
    before = agendas_state()
    fields = {"title": "Fine", "minutes": 10, **change}

    for call in (
        lambda: services.agenda_item_add(actor=manager, agenda=agenda, now=NOW, **fields),
        lambda: services.agenda_item_update(
            actor=manager, agenda=agenda, item_id=item.pk, now=NOW, **fields
        ),
    ):
        with pytest.raises(AgendaError) as caught:
            call()
        assert (caught.value.code, caught.value.field) == (code, field)

    assert agendas_state() == before


def test_agenda_item_of_another_meeting_is_refused_and_changes_nothing():
    _community, manager, _users, meetings = world()
    agenda = services.agenda_ensure(meeting=meetings[0], now=NOW)
    other = services.agenda_ensure(meeting=meetings[1], now=NOW).items.first()
    foreign = services.agenda_ensure(
        meeting=world()[3][0], now=NOW
    ).items.first()  # another community's
    before = agendas_state()

    for item_id in (other.pk, foreign.pk, 0):
        with pytest.raises(AgendaError) as caught:
            services.agenda_item_update(
                actor=manager, agenda=agenda, item_id=item_id, title="X", minutes=1, now=NOW
            )
        assert caught.value.code == "no_item"
        with pytest.raises(AgendaError):
            services.agenda_item_remove(actor=manager, agenda=agenda, item_id=item_id, now=NOW)

    assert agendas_state() == before


def test_focus_presenter_is_a_member_staff_or_a_guest():
    _community, manager, users, meetings = world()
    agenda = services.agenda_ensure(meeting=meetings[0], now=NOW)
    staff = UserFactory(is_staff=True)

    saved = services.agenda_focus_set(
        actor=manager, agenda=agenda, focus_topic="Sleep", presenter=users[0], now=NOW
    )
    assert (saved.focus_topic, saved.presenter, saved.presenter_name) == (
        "Sleep",
        users[0],
        "",
    )
    services.agenda_focus_set(
        actor=manager, agenda=agenda, focus_topic="Sleep", presenter_name=" Dr. Guest ", now=NOW
    )
    stored = Agenda.objects.get(pk=agenda.pk)
    assert (stored.presenter, stored.presenter_name) == (None, "Dr. Guest")
    services.agenda_focus_set(actor=manager, agenda=agenda, presenter=staff, now=NOW)
    stored = Agenda.objects.get(pk=agenda.pk)
    assert (stored.focus_topic, stored.presenter, stored.presenter_name) == ("", staff, "")


@pytest.mark.parametrize("who", ["both", "outsider", "left", "inactive"])
def test_focus_bad_presenter_is_refused_and_changes_nothing(who):
    community, manager, users, meetings = world()
    agenda = services.agenda_ensure(meeting=meetings[0], now=NOW)
    fields = {"presenter": users[0]}
    if who == "both":
        fields["presenter_name"] = "Dr. Guest"
    elif who == "outsider":
        fields["presenter"] = MembershipFactory().user  # a member elsewhere
    elif who == "left":
        community.memberships.filter(user=users[0]).update(status="left")
    else:
        type(users[0]).objects.filter(pk=users[0].pk).update(is_active=False)
        users[0].is_active = False
    before = agendas_state()

    with pytest.raises(AgendaError) as caught:
        services.agenda_focus_set(
            actor=manager, agenda=agenda, focus_topic="Sleep", now=NOW, **fields
        )

    expected = (
        ("two_presenters", "presenter_name") if who == "both" else ("bad_presenter", "presenter")
    )
    assert (caught.value.code, caught.value.field) == expected
    assert agendas_state() == before


# Publishing ------------------------------------------------------------------------------


def _updates() -> list[str]:
    return sorted(Email.objects.filter(kind=MailKind.UPDATE).values_list("to", flat=True))


def test_publish_then_each_change_raises_the_sequence_and_updates_invitation_holders():
    _community, manager, users, meetings = world()
    meeting = meetings[0]
    meeting_services.invitations_send(actor=manager, meeting=meeting, now=NOW)
    holders = sorted([manager.email, *(u.email for u in users)])
    agenda = services.agenda_ensure(meeting=meeting, now=NOW)
    services.agenda_item_add(actor=manager, agenda=agenda, title="Draft item", minutes=1, now=NOW)
    sequence = Meeting.objects.get(pk=meeting.pk).sequence
    assert _updates() == []  # a draft's changes are nobody's business yet

    # Publishing puts the agenda in their calendars: an update.
    services.agenda_publish(actor=manager, agenda=agenda, now=NOW)
    assert Meeting.objects.get(pk=meeting.pk).sequence == sequence + 1
    assert _updates() == holders
    updates = Email.objects.filter(kind=MailKind.UPDATE, key=f"meeting:{meeting.pk}")
    assert set(updates.values_list("version", flat=True)) == {str(sequence + 1)}

    services.agenda_item_add(actor=manager, agenda=agenda, title="Clinic tour", minutes=5, now=NOW)

    assert Meeting.objects.get(pk=meeting.pk).sequence == sequence + 2
    assert _updates() == sorted(holders * 2)

    services.agenda_focus_set(actor=manager, agenda=agenda, focus_topic="Sleep", now=NOW)

    assert Meeting.objects.get(pk=meeting.pk).sequence == sequence + 3
    assert _updates() == sorted(holders * 3)


def test_published_change_without_invitations_raises_the_sequence_only():
    _community, manager, _users, meetings = world()
    agenda = services.agenda_ensure(meeting=meetings[0], now=NOW)
    services.agenda_publish(actor=manager, agenda=agenda, now=NOW)
    sequence = Meeting.objects.get(pk=meetings[0].pk).sequence

    services.agenda_item_remove(
        actor=manager, agenda=agenda, item_id=agenda.items.first().pk, now=NOW
    )

    assert Meeting.objects.get(pk=meetings[0].pk).sequence == sequence + 1
    assert not Email.objects.exists()


def test_published_no_op_change_sends_nothing():
    _community, manager, _users, meetings = world()
    meeting_services.invitations_send(actor=manager, meeting=meetings[0], now=NOW)
    agenda = services.agenda_ensure(meeting=meetings[0], now=NOW)
    item = agenda.items.first()
    services.agenda_publish(actor=manager, agenda=agenda, now=NOW)
    before = agendas_state()

    services.agenda_item_update(
        actor=manager,
        agenda=agenda,
        item_id=item.pk,
        title=item.title,
        minutes=item.minutes,
        now=NOW,
    )
    services.agenda_focus_set(actor=manager, agenda=agenda, now=NOW)

    assert agendas_state() == before


def test_publish_twice_is_refused():
    _community, manager, _users, meetings = world()
    agenda = services.agenda_ensure(meeting=meetings[0], now=NOW)
    services.agenda_publish(actor=manager, agenda=agenda, now=NOW)
    before = agendas_state()

    with pytest.raises(AgendaError) as caught:
        services.agenda_publish(actor=manager, agenda=agenda, now=NOW)

    assert caught.value.code == "published"
    assert agendas_state() == before


def test_meeting_changed_visibly_raises_the_sequence_once_and_updates_holders():
    _community, manager, users, meetings = world()
    meeting = meetings[0]
    meeting_services.invitations_send(actor=manager, meeting=meeting, now=NOW)
    sequence = Meeting.objects.get(pk=meeting.pk).sequence
    later = NOW + timedelta(hours=1)

    changed = meeting_services.meeting_changed_visibly(meeting=meeting, now=later)

    stored = Meeting.objects.get(pk=meeting.pk)
    assert (stored.sequence, stored.updated_at) == (sequence + 1, later)
    assert changed.sequence == sequence + 1
    assert len(_updates()) == len(users) + 1


# Topics ----------------------------------------------------------------------------------


def test_topic_proposed_by_a_member_chosen_at_a_meeting_becomes_the_next_focus_topic():
    community, manager, users, meetings = world()
    topic = services.topic_propose(
        user=users[0],
        community=community,
        title="  Sleep   medicine ",
        details="Why, how.",
        now=NOW,
    )
    assert (topic.title, topic.status, topic.proposed_by) == (
        "Sleep medicine",
        TopicStatus.PROPOSED,
        users[0],
    )

    chosen = services.topic_choose(actor=manager, topic=topic, meeting=meetings[0], now=NOW)
    assert chosen.agenda is None  # the next agenda is not made yet
    assert Topic.objects.get(pk=topic.pk).status == TopicStatus.CHOSEN

    this = services.agenda_ensure(meeting=meetings[0], now=NOW)
    assert this.focus_topic == ""  # not the meeting it was chosen at
    following = services.agenda_ensure(meeting=meetings[1], now=NOW)

    assert following.focus_topic == "Sleep medicine"
    stored = Topic.objects.get(pk=topic.pk)
    assert (stored.status, stored.chosen_at) == (TopicStatus.DONE, meetings[0])


def test_topics_beyond_the_focus_topic_become_items_before_future_agenda():
    community, manager, users, meetings = world()
    titles = ["Sleep medicine", "Wait lists", "Scribes"]
    for title in titles:
        topic = services.topic_propose(user=users[1], community=community, title=title, now=NOW)
        services.topic_choose(actor=manager, topic=topic, meeting=meetings[0], now=NOW)

    agenda = services.agenda_ensure(meeting=meetings[1], now=NOW)

    assert agenda.focus_topic == "Sleep medicine"
    assert [row[:3] for row in _items(agenda)][-3:] == [
        ("other", "Wait lists", 5),
        ("other", "Scribes", 5),
        ("future", "Future agenda and next meeting", 5),
    ]
    assert _positions(agenda) == list(range(7))
    assert set(Topic.objects.values_list("status", flat=True)) == {TopicStatus.DONE}


def test_topic_chosen_when_the_next_agenda_exists_goes_on_it_at_once():
    community, manager, users, meetings = world()
    meeting_services.invitations_send(actor=manager, meeting=meetings[1], now=NOW)
    following = services.agenda_ensure(meeting=meetings[1], now=NOW)
    services.agenda_focus_set(actor=manager, agenda=following, focus_topic="Taken", now=NOW)
    services.agenda_publish(actor=manager, agenda=following, now=NOW)
    sequence = Meeting.objects.get(pk=meetings[1].pk).sequence
    chair = chair_confirm(meetings[0], users[0]).chair
    topic = services.topic_propose(user=users[2], community=community, title="Scribes", now=NOW)

    chosen = services.topic_choose(actor=chair, topic=topic, meeting=meetings[0], now=NOW)

    assert chosen.agenda.pk == following.pk
    assert Topic.objects.get(pk=topic.pk).status == TopicStatus.DONE
    assert _titles(following)[-2:] == ["Scribes", "Future agenda and next meeting"]
    assert Meeting.objects.get(pk=meetings[1].pk).sequence == sequence + 1
    # One update for the publishing, one for the topic.
    assert len(_updates()) == 2 * (len(users) + 1)


def test_topics_do_not_flow_into_a_cancelled_meeting_but_into_the_one_after():
    community, manager, users, meetings = world()
    topic = services.topic_propose(user=users[0], community=community, title="Scribes", now=NOW)
    services.topic_choose(actor=manager, topic=topic, meeting=meetings[0], now=NOW)
    meeting_services.meeting_cancel(actor=manager, meeting=meetings[1], now=NOW)

    cancelled = services.agenda_ensure(meeting=meetings[1], now=NOW)
    after = services.agenda_ensure(meeting=meetings[2], now=NOW)

    assert cancelled.focus_topic == ""
    assert after.focus_topic == "Scribes"


def test_topic_drop_and_refusals_change_nothing():
    community, manager, users, meetings = world()
    topic = services.topic_propose(user=users[0], community=community, title="Scribes", now=NOW)
    done = services.topic_propose(user=users[0], community=community, title="Done", now=NOW)
    Topic.objects.filter(pk=done.pk).update(status=TopicStatus.DONE)
    done.refresh_from_db()
    other = world()[3][0]
    before = agendas_state()

    refusals = [
        (
            lambda: services.topic_choose(actor=users[1], topic=topic, meeting=meetings[0]),
            "not_decider",
        ),
        (lambda: services.topic_drop(actor=users[1], topic=topic), "not_decider"),
        (
            lambda: services.topic_choose(actor=manager, topic=done, meeting=meetings[0]),
            "not_proposed",
        ),
        (lambda: services.topic_drop(actor=manager, topic=done), "not_open"),
        (lambda: services.topic_choose(actor=manager, topic=topic, meeting=other), "bad_meeting"),
        (
            lambda: services.topic_propose(user=UserFactory(), community=community, title="X"),
            "not_member",
        ),
        (lambda: services.topic_propose(user=users[0], community=community, title=" "), "no_title"),
        (
            lambda: services.topic_propose(
                user=users[0], community=community, title="X", details="d" * 2001
            ),
            "long_details",
        ),
    ]
    for call, code in refusals:
        with pytest.raises(AgendaError) as caught:
            call()
        assert caught.value.code == code
    assert agendas_state() == before

    services.topic_drop(actor=manager, topic=topic)
    assert Topic.objects.get(pk=topic.pk).status == TopicStatus.DROPPED


def test_topic_chosen_at_a_cancelled_meeting_is_refused():
    community, manager, users, meetings = world()
    topic = services.topic_propose(user=users[0], community=community, title="Scribes", now=NOW)
    meeting_services.meeting_cancel(actor=manager, meeting=meetings[0], now=NOW)
    cancelled = Meeting.objects.get(pk=meetings[0].pk)
    before = agendas_state()

    with pytest.raises(AgendaError) as caught:
        services.topic_choose(actor=manager, topic=topic, meeting=cancelled, now=NOW)

    assert (caught.value.code, caught.value.field) == ("cancelled", "meeting")
    assert agendas_state() == before


def test_the_chair_decides_only_at_the_meeting_they_chair():
    community, _manager, users, meetings = world()
    chair_confirm(meetings[0], users[0])
    topic = services.topic_propose(user=users[1], community=community, title="Scribes", now=NOW)
    before = agendas_state()

    with pytest.raises(AgendaError) as caught:
        services.topic_choose(actor=users[0], topic=topic, meeting=meetings[1], now=NOW)

    assert caught.value.code == "not_decider"
    assert agendas_state() == before
    services.topic_choose(actor=users[0], topic=topic, meeting=meetings[0], now=NOW)
    assert Topic.objects.get(pk=topic.pk).chosen_at == meetings[0]
