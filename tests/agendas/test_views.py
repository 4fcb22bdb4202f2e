"""The agenda pages through the real URLs: who sees and who edits what (403 and 404 as the
meetings pages answer), bad input shown next to its field with the database unchanged,
the timeline's overrun warning, publishing, topics, the handover page's sections, links
from the meeting and community pages, French, and query counts."""

from datetime import time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from agendas import selectors, services
from agendas.enums import ItemKind, TopicStatus
from agendas.models import Agenda, AgendaItem, Topic
from communities.enums import JoinPolicy, Role
from meetings import services as meeting_services
from meetings.models import Meeting
from tests.agendas.helpers import agendas_state
from tests.factories import CommunityFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

MINUTES_MESSAGE = "An item lasts from 0 to 240 minutes."


def _page(response) -> str:
    return response.content.decode()


def _world(members: int = 3, **community_fields):
    """A community (open unless told), its manager, members, a confirmed chair (the first
    member) and two meetings ahead of the real clock."""
    community_fields.setdefault("join_policy", JoinPolicy.OPEN)
    community = CommunityFactory(timezone="America/Toronto", **community_fields)
    joined = timezone.now() - timedelta(days=300)
    manager = MembershipFactory(
        community=community, role=Role.MANAGER, joined_at=joined, user__display_name="Manager"
    ).user
    users = [
        MembershipFactory(
            community=community,
            joined_at=joined + timedelta(days=i),
            user__display_name=f"Member {chr(ord('A') + i)}",
        ).user
        for i in range(members)
    ]
    staff = UserFactory(is_staff=True)
    meetings = [
        meeting_services.meeting_create(
            actor=staff,
            community=community,
            title=f"Monthly call {n}",
            day=(timezone.now() + timedelta(days=10 + 30 * n)).date(),
            start_time=time(12),
        )
        for n in range(2)
    ]
    meeting_services.chair_override(actor=staff, meeting=meetings[0], user=users[0])
    meeting_services.chair_confirm(actor=staff, meeting=meetings[0])
    meetings[0].refresh_from_db()
    return community, manager, users, meetings


def _agenda_url(meeting, name="agenda", **kwargs) -> str:
    return reverse(
        f"agendas:{name}",
        kwargs={"slug": meeting.community.slug, "meeting_id": meeting.pk, **kwargs},
    )


def _url(community, name, **kwargs) -> str:
    return reverse(f"agendas:{name}", kwargs={"slug": community.slug, **kwargs})


def _get_urls(community, meeting) -> list[str]:
    return [
        _agenda_url(meeting),
        _agenda_url(meeting, "live"),
        _url(community, "template"),
        _url(community, "topics"),
    ]


def _post_urls(community, meeting, item, topic) -> list[str]:
    return [
        _agenda_url(meeting, "focus"),
        _agenda_url(meeting, "item_add"),
        _agenda_url(meeting, "item", item_id=item.pk),
        _agenda_url(meeting, "publish"),
        _url(community, "template_settings"),
        _url(community, "template_item_add"),
        _url(community, "template_item", item_id=community.agenda_template.items.first().pk),
        _url(community, "topics"),
        _url(community, "topic_choose", topic_id=topic.pk),
        _url(community, "topic_drop", topic_id=topic.pk),
    ]


def _fixtures(community, meeting, user):
    agenda = services.agenda_ensure(meeting=meeting)
    topic = services.topic_propose(user=user, community=community, title="Scribes")
    return agenda, agenda.items.first(), topic


POST_DATA = {"title": "Hijack", "minutes": "3", "new-title": "Hijack", "new-minutes": "3"}


# Who may open and post -------------------------------------------------------------------


def test_anonymous_is_sent_to_sign_in(client):
    community, _manager, _users, meetings = _world()

    for url in _get_urls(community, meetings[0]):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == f"{reverse('login')}?next={url}"


def test_invitation_only_outsider_gets_404_everywhere_and_changes_nothing(client):
    community, _manager, users, meetings = _world(join_policy=JoinPolicy.INVITATION)
    _agenda, item, topic = _fixtures(community, meetings[0], users[1])
    client.force_login(UserFactory())
    before = agendas_state()

    for url in _get_urls(community, meetings[0]):
        assert client.get(url).status_code == 404, url
    for url in _post_urls(community, meetings[0], item, topic):
        assert client.post(url, POST_DATA).status_code == 404, url

    assert agendas_state() == before


def test_open_community_outsider_is_forbidden_and_changes_nothing(client):
    community, _manager, users, meetings = _world()
    _agenda, item, topic = _fixtures(community, meetings[0], users[1])
    client.force_login(UserFactory())
    before = agendas_state()

    for url in _get_urls(community, meetings[0]):
        assert client.get(url).status_code == 403, url
    for url in _post_urls(community, meetings[0], item, topic):
        assert client.post(url, POST_DATA).status_code == 403, url

    assert agendas_state() == before


def test_member_reads_the_agenda_but_every_edit_is_forbidden(client):
    community, _manager, users, meetings = _world()
    _agenda, item, topic = _fixtures(community, meetings[0], users[1])
    client.force_login(users[1])

    response = client.get(_agenda_url(meetings[0]))

    assert response.status_code == 200
    page = _page(response)
    assert "Open discussion" in page
    assert "Add an item" not in page
    assert "Publish the agenda" not in page
    before = agendas_state()
    for name, kwargs in (("focus", {}), ("item_add", {}), ("item", {"item_id": item.pk})):
        url = _agenda_url(meetings[0], name, **kwargs)
        response = client.post(url, POST_DATA)
        assert response.status_code == 403, name
        assert (
            "Only the meeting&#x27;s confirmed chair and the managers can change its agenda."
            in _page(response)
        )
    assert client.post(_agenda_url(meetings[0], "publish")).status_code == 403
    assert client.get(_url(community, "template")).status_code == 403
    assert client.post(_url(community, "topic_drop", topic_id=topic.pk)).status_code == 403
    assert agendas_state() == before


def test_meeting_of_another_community_and_item_of_another_agenda_are_not_found(client):
    community, manager, _users, meetings = _world()
    other_community, _m, _u, elsewhere = _world()
    foreign = services.agenda_ensure(meeting=elsewhere[0]).items.first()
    next_item = services.agenda_ensure(meeting=meetings[1]).items.first()
    foreign_template_item = other_community.agenda_template.items.first()
    services.agenda_ensure(meeting=meetings[0])
    client.force_login(manager)
    before = agendas_state()

    wrong_meeting = reverse(
        "agendas:agenda", kwargs={"slug": community.slug, "meeting_id": elsewhere[0].pk}
    )
    assert client.get(wrong_meeting).status_code == 404
    for item in (foreign, next_item):
        for action in ("save", "up", "down", "remove"):
            url = _agenda_url(meetings[0], "item", item_id=item.pk)
            data = {**POST_DATA, f"item-{item.pk}-title": "X", f"item-{item.pk}-minutes": "1"}
            assert client.post(url, {**data, "action": action}).status_code == 404, action
    for action in ("save", "up", "remove"):
        url = _url(community, "template_item", item_id=foreign_template_item.pk)
        assert client.post(url, {"action": action}).status_code == 404, action
    assert client.post(_url(community, "topic_drop", topic_id=999_999)).status_code == 404
    assert agendas_state() == before


# The chair edits the agenda --------------------------------------------------------------


def test_chair_opens_the_agenda_made_on_first_view_with_the_new_members(client):
    community, _manager, users, meetings = _world()
    newcomer = MembershipFactory(
        community=community, user__display_name="Dr. Newcomer", user__background="Nurse"
    ).user
    client.force_login(users[0])
    assert not Agenda.objects.exists()

    response = client.get(_agenda_url(meetings[0]))

    assert response.status_code == 200
    assert Agenda.objects.filter(meeting=meetings[0]).count() == 1
    page = _page(response)
    intro = page[page.index("New members introduction") : page.index("Current progress")]
    assert newcomer.display_name in intro
    assert "Add an item" in page
    assert "Publish the agenda" in page
    assert 'role="status"' not in page.split("Timeline", 1)[1].split("</p>", 1)[0]
    client.get(_agenda_url(meetings[0]))
    assert Agenda.objects.count() == 1


def test_chair_adds_moves_and_removes_an_item(client):
    _community, _manager, users, meetings = _world()
    client.force_login(users[0])
    client.get(_agenda_url(meetings[0]))
    agenda = Agenda.objects.get(meeting=meetings[0])

    response = client.post(
        _agenda_url(meetings[0], "item_add"), {"new-title": "Clinic tour", "new-minutes": "7"}
    )

    item = AgendaItem.objects.get(agenda=agenda, title="Clinic tour")
    assert response.status_code == 302
    assert response["Location"] == f"{_agenda_url(meetings[0])}#item-{item.pk}"
    assert (item.kind, item.minutes, item.position) == (ItemKind.OTHER, 7, 5)
    response = client.post(_agenda_url(meetings[0], "item", item_id=item.pk), {"action": "up"})
    assert response.status_code == 302
    assert AgendaItem.objects.get(pk=item.pk).position == 4
    page = _page(client.get(_agenda_url(meetings[0])))
    assert page.index("Clinic tour") < page.index("Future agenda and next meeting")
    response = client.post(
        _agenda_url(meetings[0], "item", item_id=item.pk),
        {f"item-{item.pk}-title": "Clinic visit", f"item-{item.pk}-minutes": "9"},
    )
    assert response.status_code == 302
    assert AgendaItem.objects.get(pk=item.pk).title == "Clinic visit"
    client.post(_agenda_url(meetings[0], "item", item_id=item.pk), {"action": "remove"})
    assert not AgendaItem.objects.filter(pk=item.pk).exists()


@pytest.mark.parametrize(
    ("minutes", "message"),
    [("-1", MINUTES_MESSAGE), ("241", MINUTES_MESSAGE), ("ten", "Enter a whole number.")],
)
def test_bad_length_is_shown_next_to_its_field_and_changes_nothing(client, minutes, message):
    _community, _manager, users, meetings = _world()
    client.force_login(users[0])
    client.get(_agenda_url(meetings[0]))
    item = Agenda.objects.get(meeting=meetings[0]).items.get(kind=ItemKind.FOCUS)
    before = agendas_state()

    for url, data in (
        (_agenda_url(meetings[0], "item_add"), {"new-title": "Tour", "new-minutes": minutes}),
        (
            _agenda_url(meetings[0], "item", item_id=item.pk),
            {f"item-{item.pk}-title": "Talk", f"item-{item.pk}-minutes": minutes},
        ),
    ):
        response = client.post(url, data)
        assert response.status_code == 400
        page = _page(response)
        field = page[: page.index(message)].rsplit('<div class="field', 1)[1]
        assert field.startswith(" has-errors")
        assert "minutes" in field

    assert agendas_state() == before


def test_empty_title_is_refused_next_to_its_field(client):
    _community, _manager, users, meetings = _world()
    client.force_login(users[0])
    client.get(_agenda_url(meetings[0]))
    before = agendas_state()

    response = client.post(
        _agenda_url(meetings[0], "item_add"), {"new-title": " ", "new-minutes": "5"}
    )

    assert response.status_code == 400
    page = _page(response)
    assert "Give it a title." in page
    assert (
        page[: page.index("Give it a title.")]
        .rsplit('<div class="field', 1)[1]
        .startswith(" has-errors")
    )
    assert agendas_state() == before


def test_focus_with_a_member_and_a_guest_is_refused_with_a_guest_alone_it_is_saved(client):
    _community, _manager, users, meetings = _world()
    client.force_login(users[0])
    client.get(_agenda_url(meetings[0]))
    before = agendas_state()

    response = client.post(
        _agenda_url(meetings[0], "focus"),
        {"focus_topic": "Sleep", "presenter": str(users[1].pk), "presenter_name": "Dr. Guest"},
    )

    assert response.status_code == 400
    assert "Choose a member or name an outside guest, not both." in _page(response)
    assert agendas_state() == before
    response = client.post(
        _agenda_url(meetings[0], "focus"),
        {"focus_topic": "Sleep", "presenter": "", "presenter_name": "Dr. Guest"},
    )
    assert response.status_code == 302
    agenda = Agenda.objects.get(meeting=meetings[0])
    assert (agenda.focus_topic, agenda.presenter, agenda.presenter_name) == (
        "Sleep",
        None,
        "Dr. Guest",
    )
    assert "Presented by Dr. Guest (guest)" in _page(client.get(_agenda_url(meetings[0])))


def test_focus_presenter_not_a_member_is_an_invalid_choice(client):
    _community, _manager, users, meetings = _world()
    client.force_login(users[0])
    client.get(_agenda_url(meetings[0]))
    before = agendas_state()

    response = client.post(
        _agenda_url(meetings[0], "focus"),
        {"focus_topic": "Sleep", "presenter": str(UserFactory().pk)},
    )

    assert response.status_code == 400
    assert "Select a valid choice." in _page(response)
    assert agendas_state() == before


def test_overrun_shows_a_warning_with_role_status(client):
    community, manager, users, meetings = _world(7)
    services.template_settings_set(
        actor=manager, template=community.agenda_template, turn_seconds=120
    )
    client.force_login(users[0])

    page = _page(client.get(_agenda_url(meetings[0])))

    assert '<p class="overrun" role="status">' in page
    assert "The agenda takes 63 minutes: 3 minutes more than the meeting's 60." in page
    assert "8 turns of 120 s" in page


def test_times_show_in_the_viewer_zone(client):
    _community, _manager, users, meetings = _world()
    users[0].timezone = "America/St_Johns"
    users[0].save(update_fields=["timezone"])
    client.force_login(users[0])

    page = _page(client.get(_agenda_url(meetings[0])))

    # Noon in Toronto is 1:30 p.m. in St. John's; the roundtable starts five minutes later.
    assert "1:35 p.m. N" in page  # NST or NDT


def test_publish_then_a_change_raises_the_sequence(client):
    _community, _manager, users, meetings = _world()
    meeting_services.invitations_send(actor=UserFactory(is_staff=True), meeting=meetings[0])
    client.force_login(users[0])
    client.get(_agenda_url(meetings[0]))
    sequence = Meeting.objects.get(pk=meetings[0].pk).sequence

    response = client.post(_agenda_url(meetings[0], "publish"))

    assert response.status_code == 302
    assert Agenda.objects.get(meeting=meetings[0]).published_at is not None
    page = _page(client.get(_agenda_url(meetings[0])))
    assert "Published" in page and "Publish the agenda" not in page
    assert Meeting.objects.get(pk=meetings[0].pk).sequence == sequence + 1
    client.post(
        _agenda_url(meetings[0], "item_add"), {"new-title": "Clinic tour", "new-minutes": "7"}
    )
    assert Meeting.objects.get(pk=meetings[0].pk).sequence == sequence + 2
    response = client.post(_agenda_url(meetings[0], "publish"), follow=True)
    assert "This agenda is published already." in _page(response)


def test_a_started_meeting_agenda_is_read_only(client):
    _community, manager, _users, meetings = _world()
    meeting = meetings[0]
    Meeting.objects.filter(pk=meeting.pk).update(
        starts_at=timezone.now() - timedelta(minutes=5), ends_at=timezone.now() + timedelta(hours=1)
    )
    client.force_login(manager)
    page = _page(client.get(_agenda_url(meeting)))
    assert "This meeting has started; its agenda can no longer be changed here." in page
    assert "Add an item" not in page
    before = agendas_state()

    response = client.post(
        _agenda_url(meeting, "item_add"), {"new-title": "Late", "new-minutes": "1"}
    )

    assert response.status_code == 400
    assert "This meeting has started; its agenda can no longer be changed here." in _page(response)
    assert agendas_state() == before


# The standing agenda's editor -------------------------------------------------------------


def test_manager_edits_the_template(client):
    community, manager, _users, _meetings = _world()
    client.force_login(manager)
    template = community.agenda_template
    focus = template.items.get(kind=ItemKind.FOCUS)

    page = _page(client.get(_url(community, "template")))
    for title in ("New members introduction", "Open discussion", "Future agenda"):
        assert title in page

    response = client.post(
        _url(community, "template_item", item_id=focus.pk),
        {f"item-{focus.pk}-title": "Guest talk", f"item-{focus.pk}-minutes": "25"},
    )
    assert response.status_code == 302
    assert template.items.get(pk=focus.pk).minutes == 25
    response = client.post(_url(community, "template_settings"), {"turn_seconds": "90"})
    assert response.status_code == 302
    community.agenda_template.refresh_from_db()
    assert community.agenda_template.turn_seconds == 90
    response = client.post(
        _url(community, "template_item_add"),
        {"new-kind": "other", "new-title": "Announcements", "new-minutes": "3"},
    )
    assert response.status_code == 302
    assert template.items.order_by("position").last().title == "Announcements"


@pytest.mark.parametrize(
    ("url_name", "data", "message"),
    [
        ("template_settings", {"turn_seconds": "5"}, "A roundtable turn lasts from 15 to 600"),
        ("template_settings", {"turn_seconds": "9000"}, "A roundtable turn lasts from 15 to 600"),
        (
            "template_item_add",
            {"new-kind": "other", "new-title": "", "new-minutes": "3"},
            "Give it a title.",
        ),
        (
            "template_item_add",
            {"new-kind": "other", "new-title": "A", "new-minutes": "-2"},
            MINUTES_MESSAGE,
        ),
        (
            "template_item_add",
            {"new-kind": "focus", "new-title": "A", "new-minutes": "2"},
            "Select a valid choice.",
        ),
    ],
)
def test_template_bad_input_is_shown_and_changes_nothing(client, url_name, data, message):
    community, manager, _users, _meetings = _world()
    client.force_login(manager)
    before = agendas_state()

    response = client.post(_url(community, url_name), data)

    assert response.status_code == 400
    assert message in _page(response)
    assert agendas_state() == before


# Topics ----------------------------------------------------------------------------------


def test_member_proposes_a_topic_manager_chooses_it_and_it_flows_into_the_next_agenda(client):
    community, manager, users, meetings = _world()
    client.force_login(users[1])

    response = client.post(_url(community, "topics"), {"title": "Scribes", "details": "AI ones"})

    assert response.status_code == 302
    topic = Topic.objects.get(community=community)
    assert (topic.title, topic.proposed_by) == ("Scribes", users[1])
    page = _page(client.get(_url(community, "topics")))
    assert "Scribes" in page and "Choose it" not in page

    client.force_login(manager)
    page = _page(client.get(_url(community, "topics")))
    assert "Choose it" in page
    response = client.post(
        _url(community, "topic_choose", topic_id=topic.pk),
        {f"topic-{topic.pk}-meeting": str(meetings[0].pk)},
    )
    assert response.status_code == 302
    assert Topic.objects.get(pk=topic.pk).status == TopicStatus.CHOSEN
    page = _page(client.get(_agenda_url(meetings[1])))
    assert "Topic: Scribes" in page
    assert Topic.objects.get(pk=topic.pk).status == TopicStatus.DONE


def test_topic_empty_title_is_shown_and_nothing_is_proposed(client):
    community, _manager, users, _meetings = _world()
    client.force_login(users[1])

    response = client.post(_url(community, "topics"), {"title": "  "})

    assert response.status_code == 400
    assert "Give it a title." in _page(response)
    assert not Topic.objects.exists()


def test_member_cannot_choose_a_topic(client):
    community, _manager, users, meetings = _world()
    topic = services.topic_propose(user=users[1], community=community, title="Scribes")
    client.force_login(users[1])
    before = agendas_state()

    response = client.post(
        _url(community, "topic_choose", topic_id=topic.pk),
        {f"topic-{topic.pk}-meeting": str(meetings[0].pk)},
    )

    assert response.status_code == 403
    assert agendas_state() == before


# Other pages -------------------------------------------------------------------------------


def test_handover_page_shows_the_topics_and_the_agenda_timeline(client):
    community, _manager, users, meetings = _world()
    services.topic_propose(user=users[1], community=community, title="Scribes in clinics")
    client.force_login(users[0])

    page = _page(client.get(reverse("meetings:handover", args=[community.slug, meetings[0].pk])))

    assert "Topics for future meetings" in page
    assert "Scribes in clinics" in page
    assert "Not made yet: as the standing agenda would make it." in page
    assert _agenda_url(meetings[0]) in page
    assert "Open discussion" in page


def test_meeting_page_links_the_agenda_and_community_page_links_topics_and_template(client):
    community, manager, users, meetings = _world()
    client.force_login(users[1])

    assert _agenda_url(meetings[0]) in _page(client.get(meetings[0].get_absolute_url()))
    page = _page(client.get(community.get_absolute_url()))
    assert _url(community, "topics") in page
    assert _url(community, "template") not in page
    client.force_login(manager)
    assert _url(community, "template") in _page(client.get(community.get_absolute_url()))


def test_agenda_page_in_french(client):
    _community, _manager, users, meetings = _world(language="fr")
    users[0].language = "fr"
    users[0].save(update_fields=["language"])
    client.force_login(users[0])

    response = client.get(_agenda_url(meetings[0]), headers={"accept-language": "fr"})

    page = _page(response)
    assert response.status_code == 200
    assert '<html lang="fr">' in page
    assert "Présentation des nouveaux membres" in page  # stored in the community's language
    assert "Ajouter un point" in page
    assert "Publier l\u2019ordre du jour" in page
    assert "Chronologie" in page


def test_live_page_for_a_member_the_chair_and_in_french(client):
    _community, manager, users, meetings = _world(language="fr")
    meeting = meetings[0]
    url = _agenda_url(meeting, "live")
    client.force_login(users[1])

    page = _page(client.get(url))
    assert f'data-ws-path="/ws/meetings/{meeting.pk}/"' in page
    assert 'data-manager="false"' in page
    assert 'role="timer"' in page
    # The side chat alongside, run by the room's own script.
    assert f'data-ws-path="/ws/rooms/{meeting.room_id}/"' in page
    assert "js/meeting.js" in page and "js/room.js" in page
    # Reached from the meeting's page (through meetings' link hook).
    assert url in _page(client.get(meeting.get_absolute_url()))

    client.force_login(manager)
    assert 'data-manager="true"' in _page(client.get(url))

    users[0].language = "fr"
    users[0].save(update_fields=["language"])
    client.force_login(users[0])
    french = _page(client.get(url, headers={"accept-language": "fr"}))
    assert '<html lang="fr">' in french
    assert "Console de la présidence" in french
    assert "Intervenant suivant" in french


def test_live_page_brings_the_turns_saved_lines_to_its_speaker_and_the_chair_only(client):
    _community, _manager, users, meetings = _world()
    meeting, chair = meetings[0], users[0]
    services.agenda_ensure(meeting=meeting)
    services.run_presence_set(meeting_id=meeting.pk, present=[users[1].pk])
    for command, args in [
        ("meeting.start", {}),
        ("agenda.next", {}),
        ("roundtable.start", {"order": "alphabetical"}),
    ]:
        services.run_command(actor=chair, meeting=meeting, command=command, args=args)
    services.turn_lines_set(
        user=users[1], meeting=meeting, challenge="Night shifts", help_wanted="", private=True
    )
    turn = selectors.turn_current(meeting=meeting)
    url = _agenda_url(meeting, "live")

    for reader in (users[1], chair):
        client.force_login(reader)
        page = _page(client.get(url))
        assert f'data-lines-turn="{selectors.turn_key(turn)}"' in page
        assert 'value="Night shifts"' in page
        assert 'name="private" checked' in page
    client.force_login(users[2])
    page = _page(client.get(url))
    assert "Night shifts" not in page and 'data-lines-turn=""' in page


def test_agenda_page_queries_do_not_grow_with_items(client):
    community, manager, users, meetings = _world()
    client.force_login(users[0])
    client.get(_agenda_url(meetings[0]))
    agenda = Agenda.objects.get(meeting=meetings[0])

    with CaptureQueriesContext(connection) as few:
        assert client.get(_agenda_url(meetings[0])).status_code == 200
    for n in range(4):
        services.agenda_item_add(actor=manager, agenda=agenda, title=f"Item {n}", minutes=1)
        MembershipFactory(community=community)
    with CaptureQueriesContext(connection) as many:
        assert client.get(_agenda_url(meetings[0])).status_code == 200

    assert len(many) == len(few)


def test_topics_page_queries_do_not_grow_with_topics(client):
    community, manager, users, _meetings = _world()
    services.topic_propose(user=users[1], community=community, title="One")
    client.force_login(manager)

    with CaptureQueriesContext(connection) as few:
        assert client.get(_url(community, "topics")).status_code == 200
    for n in range(3):
        services.topic_propose(user=users[n], community=community, title=f"Topic {n}")
    with CaptureQueriesContext(connection) as many:
        assert client.get(_url(community, "topics")).status_code == 200

    assert len(many) == len(few)
