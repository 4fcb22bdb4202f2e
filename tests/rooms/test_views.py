"""The room page and the managers' moderation queue through the real URLs: who may see
them, what they show, what the moderation buttons change and broadcast, query counts."""

import json
import secrets

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from communities.enums import JoinPolicy, Role
from rooms import services
from rooms.enums import RoomKind
from rooms.models import Message, Report, Room
from rooms.selectors import message_frame
from tests.factories import CommunityFactory, MembershipFactory, UserFactory
from tests.rooms.conftest import connected, db, receive, receive_until


def _page(response) -> str:
    return response.content.decode()


def _messages(response) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def _room_url(community) -> str:
    return reverse("rooms:room", kwargs={"slug": community.slug})


def _moderation_url(community) -> str:
    return reverse("rooms:moderation", kwargs={"slug": community.slug})


def _act_url(message, action: str, community=None) -> str:
    slug = (community or message.room.community).slug
    return reverse(f"rooms:moderation_{action}", kwargs={"slug": slug, "pk": message.pk})


def _manager(community):
    return MembershipFactory(community=community, role=Role.MANAGER).user


def _member(community, **kwargs):
    return MembershipFactory(community=community, **kwargs).user


def _say(room, author, body: str) -> Message:
    message, _created = services.message_send(
        user=author, room_id=room.pk, body=body, client_id=secrets.token_hex(8)
    )
    return message


def _report(message, reporter, reason: str) -> Report:
    return services.message_report(
        user=reporter, room_id=message.room_id, seq=message.seq, reason=reason
    )


def _message_row(message) -> dict:
    return Message.objects.filter(pk=message.pk).values("body", "hidden_at", "hidden_by").get()


def _report_states(message) -> list[tuple[bool, int | None]]:
    """(closed, closed by) for each of the message's reports."""
    return [
        (resolved_at is not None, resolved_by)
        for resolved_at, resolved_by in message.reports.values_list("resolved_at", "resolved_by")
    ]


# The room page


@pytest.mark.django_db
def test_room_get_anonymous_redirects_to_login(client):
    community = CommunityFactory()

    response = client.get(_room_url(community))

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={_room_url(community)}"


@pytest.mark.django_db
def test_room_get_non_member_of_open_community_is_refused_with_reason(client):
    community = CommunityFactory(join_policy=JoinPolicy.OPEN, name="Palliative Care")
    client.force_login(UserFactory())

    response = client.get(_room_url(community))

    assert response.status_code == 403
    assert escape("Only this community's members read its chat room. Join it first.") in _page(
        response
    )
    assert f'href="{community.get_absolute_url()}"' in _page(response)


@pytest.mark.django_db
def test_room_get_pending_member_is_refused(client):
    community = CommunityFactory(join_policy=JoinPolicy.REQUEST)
    user = UserFactory()
    MembershipFactory(community=community, user=user, status="pending", joined_at=None)
    client.force_login(user)

    response = client.get(_room_url(community))

    assert response.status_code == 403


@pytest.mark.django_db
def test_room_get_invitation_only_non_member_is_not_found(client):
    community = CommunityFactory(join_policy=JoinPolicy.INVITATION)
    client.force_login(UserFactory())

    response = client.get(_room_url(community))

    assert response.status_code == 404


@pytest.mark.django_db
def test_room_get_unknown_community_is_not_found(client):
    client.force_login(UserFactory())

    response = client.get(reverse("rooms:room", kwargs={"slug": "no-such-community"}))

    assert response.status_code == 404


@pytest.mark.django_db
def test_room_get_member_shows_the_room(client):
    community = CommunityFactory(join_policy=JoinPolicy.INVITATION, name="Palliative Care")
    user = _member(community)
    client.force_login(user)

    response = client.get(_room_url(community))

    assert response.status_code == 200
    room = Room.objects.get()
    assert (room.community, room.kind, room.title) == (
        community,
        RoomKind.COMMUNITY,
        "Palliative Care",
    )
    assert f'data-room-id="{room.pk}"' in _page(response)
    assert f'data-ws-path="/ws/rooms/{room.pk}/"' in _page(response)
    assert f'data-user-id="{user.pk}"' in _page(response)


@pytest.mark.django_db
def test_room_get_staff_non_member_shows_the_room(client):
    community = CommunityFactory(join_policy=JoinPolicy.INVITATION)
    client.force_login(UserFactory(is_staff=True))

    response = client.get(_room_url(community))

    assert response.status_code == 200
    assert f'data-room-id="{Room.objects.get().pk}"' in _page(response)


@pytest.mark.django_db
def test_room_get_creates_nothing(client):
    community = CommunityFactory()
    room = Room.objects.get(community=community)
    client.force_login(_member(community))

    response = client.get(_room_url(community))

    assert response.status_code == 200
    assert f'data-room-id="{room.pk}"' in _page(response)
    assert list(Room.objects.values_list("pk", flat=True)) == [room.pk]


@pytest.mark.django_db
def test_room_get_community_without_its_room_is_not_found(client):
    community = CommunityFactory()
    community.rooms.all().delete()
    client.force_login(_member(community))

    response = client.get(_room_url(community))

    assert response.status_code == 404
    assert Room.objects.count() == 0


# A given room of the community (a meeting's side chat)


def _meeting_room(community) -> Room:
    return services.room_create(
        community=community, kind=RoomKind.MEETING, title="Call — 2027-01-12"
    )


def _room_detail_url(community, room) -> str:
    return reverse("rooms:room_detail", kwargs={"slug": community.slug, "room_id": room.pk})


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("viewer", "status"),
    [("outsider", 403), ("pending", 403), ("member", 200), ("manager", 200), ("staff", 200)],
)
def test_room_detail_meeting_room_read_as_the_socket_reads_it(client, viewer, status):
    community = CommunityFactory(join_policy=JoinPolicy.OPEN)
    room = _meeting_room(community)
    user = {
        "outsider": UserFactory,
        "pending": lambda: _member(community, status="pending", joined_at=None),
        "member": lambda: _member(community),
        "manager": lambda: _manager(community),
        "staff": lambda: UserFactory(is_staff=True),
    }[viewer]()
    client.force_login(user)

    response = client.get(_room_detail_url(community, room))

    assert response.status_code == status
    page = _page(response)
    assert (f'data-ws-path="/ws/rooms/{room.pk}/"' in page) is (status == 200)
    assert ("Call — 2027-01-12" in page) is (status == 200)
    if status == 403:
        assert escape("Only this community's members read its chat room. Join it first.") in page


@pytest.mark.django_db
def test_room_detail_anonymous_redirects_to_login(client):
    community = CommunityFactory()
    url = _room_detail_url(community, _meeting_room(community))

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


@pytest.mark.django_db
def test_room_detail_invitation_only_non_member_is_not_found(client):
    community = CommunityFactory(join_policy=JoinPolicy.INVITATION)
    room = _meeting_room(community)
    client.force_login(UserFactory())

    response = client.get(_room_detail_url(community, room))

    assert response.status_code == 404


@pytest.mark.django_db
def test_room_detail_room_of_another_community_is_not_found(client):
    community, other = CommunityFactory(), CommunityFactory()
    elsewhere = _meeting_room(other)
    client.force_login(_member(community))

    response = client.get(_room_detail_url(community, elsewhere))

    assert response.status_code == 404


@pytest.mark.django_db
def test_room_detail_community_room_is_the_room_page(client):
    community = CommunityFactory(name="Palliative Care")
    room = Room.objects.get(community=community)
    client.force_login(_member(community))

    response = client.get(_room_detail_url(community, room))

    assert response.status_code == 200
    assert "Palliative Care <span" in _page(response)
    assert f'data-room-id="{room.pk}"' in _page(response)


# Links on the community page


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("viewer", "chat", "moderation"),
    [
        ("anonymous", False, False),
        ("outsider", False, False),
        ("member", True, False),
        ("manager", True, True),
        ("staff", True, True),
    ],
)
def test_community_page_links_to_room_and_moderation_by_role(client, viewer, chat, moderation):
    community = CommunityFactory(join_policy=JoinPolicy.OPEN)
    user = {
        "anonymous": lambda: None,
        "outsider": UserFactory,
        "member": lambda: _member(community),
        "manager": lambda: _manager(community),
        "staff": lambda: UserFactory(is_staff=True),
    }[viewer]()
    if user is not None:
        client.force_login(user)

    response = client.get(community.get_absolute_url())

    assert response.status_code == 200
    page = _page(response)
    assert (f'href="{_room_url(community)}">Chat room</a>' in page) is chat
    assert (f'href="{_moderation_url(community)}">Moderation</a>' in page) is moderation


# The moderation queue


@pytest.mark.django_db
def test_moderation_get_anonymous_redirects_to_login(client, room):
    response = client.get(_moderation_url(room.community))

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={_moderation_url(room.community)}"


@pytest.mark.django_db
def test_moderation_get_member_is_refused(client, room):
    member = _member(room.community)
    message = _say(room, member, "Reported words")
    _report(message, _member(room.community), "Rude")
    client.force_login(member)

    response = client.get(_moderation_url(room.community))

    assert response.status_code == 403
    assert escape("Only this community's managers can do that.") in _page(response)
    assert "Reported words" not in _page(response)
    assert "Rude" not in _page(response)


@pytest.mark.django_db
def test_moderation_get_invitation_only_non_member_is_not_found(client):
    community = CommunityFactory(join_policy=JoinPolicy.INVITATION)
    client.force_login(UserFactory())

    response = client.get(_moderation_url(community))

    assert response.status_code == 404


@pytest.mark.django_db
def test_moderation_get_manager_lists_reported_and_hidden_messages_only(client, room):
    community = room.community
    manager = _manager(community)
    author = _member(community, user__display_name="Dr. Author")
    reporter = _member(community, user__display_name="Dr. Reporter")
    _say(room, author, "Plain message")
    reported = _say(room, author, "Reported message")
    _report(reported, reporter, "Off topic and rude")
    hidden = _say(room, author, "Hidden message")
    services.message_hide(user=manager, room_id=room.pk, seq=hidden.seq)
    dismissed = _say(room, author, "Dismissed message")
    _report(dismissed, reporter, "Not sure")
    services.reports_dismiss(user=manager, message=dismissed)
    other_room = services.room_get_or_create_for_community(community=CommunityFactory())
    outsider = _member(other_room.community)
    elsewhere = _say(other_room, outsider, "Another community's message")
    _report(elsewhere, _member(other_room.community), "Elsewhere")
    client.force_login(manager)

    response = client.get(_moderation_url(community))

    assert response.status_code == 200
    page = _page(response)
    assert [m.pk for m in response.context["queue"]] == [reported.pk, hidden.pk]
    assert "Reported message" in page
    assert "Off topic and rude" in page
    assert "Dr. Reporter" in page
    assert "Hidden message" in page
    assert "Plain message" not in page
    assert "Dismissed message" not in page
    assert "Another community" not in page
    assert "Elsewhere" not in page
    assert _act_url(reported, "hide") in page
    assert _act_url(reported, "dismiss") in page
    assert _act_url(hidden, "restore") in page
    assert _act_url(hidden, "hide") not in page


@pytest.mark.django_db
def test_moderation_get_manager_with_nothing_to_do_says_so(client, room):
    _say(room, _member(room.community), "Plain message")
    client.force_login(_manager(room.community))

    response = client.get(_moderation_url(room.community))

    assert response.status_code == 200
    assert "Nothing to look at: no open reports and no hidden messages." in _page(response)
    assert "Plain message" not in _page(response)


def _queue_queries(client, community) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(_moderation_url(community))
    assert response.status_code == 200
    return len(queries.captured_queries)


def _reported_messages(room, count: int) -> None:
    for n in range(count):
        message = _say(room, _member(room.community), f"Reported {n}")
        for reporter in range(2):
            _report(message, _member(room.community), f"Reason {n}.{reporter}")


@pytest.mark.django_db
def test_moderation_get_query_count_does_not_grow_with_messages(client, room):
    manager = _manager(room.community)
    client.force_login(manager)
    _reported_messages(room, 1)
    one = _queue_queries(client, room.community)

    _reported_messages(room, 2)
    hidden = _say(room, _member(room.community), "Hidden")
    services.message_hide(user=manager, room_id=room.pk, seq=hidden.seq)
    four = _queue_queries(client, room.community)

    assert one == four


# Moderation actions


@pytest.mark.django_db
def test_moderation_hide_by_manager_hides_and_broadcasts_after_commit(
    client, room, django_capture_on_commit_callbacks
):
    manager = _manager(room.community)
    message = _say(room, _member(room.community), "Rude words")
    _report(message, _member(room.community), "Rude")
    client.force_login(manager)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(_act_url(message, "hide"))

    assert response.status_code == 302
    assert response["Location"] == _moderation_url(room.community)
    assert _messages(response) == [("success", "The message is hidden from the room.")]
    message.refresh_from_db()
    assert message.hidden_at is not None
    assert message.hidden_by == manager
    assert message.body == "Rude words"  # kept for the managers
    assert Report.objects.filter(message=message, resolved_at__isnull=True).count() == 1
    assert len(callbacks) == 1


@pytest.mark.django_db
def test_moderation_restore_by_manager_restores_closes_reports_and_broadcasts(
    client, room, django_capture_on_commit_callbacks
):
    manager = _manager(room.community)
    message = _say(room, _member(room.community), "Rude words")
    _report(message, _member(room.community), "Rude")
    _report(message, _member(room.community), "Very rude")
    services.message_hide(user=manager, room_id=room.pk, seq=message.seq)
    client.force_login(manager)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(_act_url(message, "restore"))

    assert response.status_code == 302
    assert _messages(response) == [("success", "The message is back in the room.")]
    assert _message_row(message) == {"body": "Rude words", "hidden_at": None, "hidden_by": None}
    assert _report_states(message) == [(True, manager.pk), (True, manager.pk)]
    assert len(callbacks) == 1


@pytest.mark.django_db
def test_moderation_dismiss_by_manager_closes_reports_and_keeps_message(
    client, room, django_capture_on_commit_callbacks
):
    manager = _manager(room.community)
    message = _say(room, _member(room.community), "Blunt words")
    _report(message, _member(room.community), "Blunt")
    client.force_login(manager)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(_act_url(message, "dismiss"))

    assert response.status_code == 302
    assert _messages(response) == [("success", "The reports are closed; the message stays.")]
    assert _message_row(message) == {"body": "Blunt words", "hidden_at": None, "hidden_by": None}
    assert _report_states(message) == [(True, manager.pk)]
    # The message as the room sees it did not change (reports are not part of it).
    assert callbacks == []
    assert "Blunt words" not in _page(client.get(_moderation_url(room.community)))


@pytest.mark.django_db
def test_moderation_hide_by_staff_non_member_hides(client, room):
    message = _say(room, _member(room.community), "Rude words")
    staff = UserFactory(is_staff=True)
    client.force_login(staff)

    response = client.post(_act_url(message, "hide"))

    assert response.status_code == 302
    assert _message_row(message)["hidden_by"] == staff.pk


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["hide", "restore", "dismiss"])
def test_moderation_action_by_member_is_refused_and_changes_nothing(client, room, action):
    manager = _manager(room.community)
    member = _member(room.community)
    message = _say(room, _member(room.community), "Rude words")
    report = _report(message, member, "Rude")
    if action == "restore":
        services.message_hide(user=manager, room_id=room.pk, seq=message.seq)
    before = _message_row(message)
    client.force_login(member)

    response = client.post(_act_url(message, action))

    assert response.status_code == 403
    assert _message_row(message) == before
    report.refresh_from_db()
    assert (report.resolved_at, report.resolved_by) == (None, None)


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["hide", "restore", "dismiss"])
def test_moderation_action_on_another_communitys_message_is_not_found(client, room, action):
    manager = _manager(room.community)
    other_room = services.room_get_or_create_for_community(community=CommunityFactory())
    message = _say(other_room, _member(other_room.community), "Elsewhere")
    _report(message, _member(other_room.community), "Rude")
    before = _message_row(message)
    client.force_login(manager)

    response = client.post(_act_url(message, action, community=room.community))

    assert response.status_code == 404
    assert _message_row(message) == before
    assert Report.objects.get(message=message).resolved_at is None


@pytest.mark.django_db
def test_moderation_action_get_is_not_allowed(client, room):
    message = _say(room, _member(room.community), "Rude words")
    client.force_login(_manager(room.community))

    response = client.get(_act_url(message, "hide"))

    assert response.status_code == 405
    assert _message_row(message)["hidden_at"] is None


@pytest.mark.django_db
def test_moderation_action_anonymous_redirects_to_login(client, room):
    message = _say(room, _member(room.community), "Rude words")

    response = client.post(_act_url(message, "hide"))

    assert response.status_code == 302
    assert response["Location"].startswith(f"{reverse('login')}?next=")
    assert _message_row(message)["hidden_at"] is None


# Moderation reaches the room's sockets


def _isolated_room() -> Room:
    # On a shared Redis, pub/sub group names are global: a room id no other test run uses
    # keeps other runs' events out of this room's group.
    community = CommunityFactory(join_policy=JoinPolicy.OPEN)
    community.rooms.all().delete()  # the one it was made with, under a usual id
    return Room.objects.create(
        pk=10**12 + secrets.randbelow(10**12),
        community=community,
        kind=RoomKind.COMMUNITY,
        title=community.name,
    )


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_moderation_hide_then_restore_reach_connected_members(client):
    room = await db(_isolated_room)()
    manager = await db(_manager)(room.community)
    reader = await db(_member)(room.community)
    message = await db(_say)(room, await db(_member)(room.community), "Rude words")
    urls = await db(lambda: {a: _act_url(message, a) for a in ("hide", "restore", "dismiss")})()
    await db(client.force_login)(manager)

    async with connected(reader, room.pk) as communicator:
        assert (await communicator.connect())[0] is True
        await receive_until(communicator, "presence")

        response = await db(client.post)(urls["hide"])
        assert response.status_code == 302
        hidden = await receive(communicator)

        response = await db(client.post)(urls["restore"])
        assert response.status_code == 302
        restored = await receive(communicator)

        response = await db(client.post)(urls["dismiss"])
        assert response.status_code == 302
        assert await communicator.receive_nothing(timeout=0.3) is True

    message = await db(Message.objects.select_related("author").get)(pk=message.pk)
    frame = json.loads(json.dumps(message_frame(message)))
    assert frame["body"] == "Rude words"
    assert hidden == {"type": "message.updated", "message": {**frame, "hidden": True, "body": ""}}
    assert restored == {"type": "message.updated", "message": frame}


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_moderation_hide_reaches_the_room_not_another(client):
    room = await db(_isolated_room)()
    other = await db(_isolated_room)()
    other_reader = await db(_member)(other.community)
    manager = await db(_manager)(room.community)
    message = await db(_say)(room, await db(_member)(room.community), "Rude words")
    url = await db(_act_url)(message, "hide")
    await db(client.force_login)(manager)

    async with connected(other_reader, other.pk) as communicator:
        assert (await communicator.connect())[0] is True
        await receive_until(communicator, "presence")

        response = await db(client.post)(url)

        assert response.status_code == 302
        assert await communicator.receive_nothing(timeout=0.3) is True
