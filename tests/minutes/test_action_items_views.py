"""A member's own action items: listed on their page in the community, marked done by
them; someone else's item, another community's, a stranger — refused, nothing changed."""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from communities.enums import JoinPolicy
from minutes import services
from minutes.enums import ActionStatus
from minutes.models import ActionItem
from tests.factories import CommunityFactory, MembershipFactory, UserFactory
from tests.meetings.helpers import community_with, meetings_of, series_make
from tests.minutes.helpers import minutes_state

pytestmark = pytest.mark.django_db


@pytest.fixture
def place():
    community, manager, members = community_with(2)
    meeting = meetings_of(series_make(community, manager))[0]
    return community, manager, members, meeting


def _action(place, owner, text="Send the triage list", due=None) -> ActionItem:
    _community, manager, _members, meeting = place
    return services.action_item_create(
        actor=manager, meeting=meeting, owner=owner, text=text, due_date=due
    )


def _page(community) -> str:
    return reverse("minutes:action_items", args=[community.slug])


def _status_url(community, action) -> str:
    return reverse("minutes:action_item_status", args=[community.slug, action.pk])


def test_a_member_sees_only_their_own_action_items(client, place):
    community, _manager, members, _meeting = place
    mine = _action(place, members[0], "Mine to do", due=date(2026, 2, 1))
    _action(place, members[1], "Someone else's")
    client.force_login(members[0])

    response = client.get(_page(community))

    assert response.status_code == 200
    assert [a.pk for a in response.context["open"]] == [mine.pk]
    assert "Mine to do" in response.text
    assert "Someone else&#x27;s" not in response.text and "Someone else's" not in response.text


def test_a_member_marks_their_action_item_done(client, place):
    community, _manager, members, _meeting = place
    action = _action(place, members[0])
    client.force_login(members[0])

    response = client.post(_status_url(community, action), {"status": "done"}, follow=True)

    assert "The action item is updated." in response.text
    action.refresh_from_db()
    assert (action.status, action.status_changed_by) == (ActionStatus.DONE, members[0])
    assert [a.pk for a in response.context["closed"]] == [action.pk]


def test_editing_someone_elses_action_item_is_refused_and_changes_nothing(client, place):
    community, _manager, members, _meeting = place
    action = _action(place, members[1])
    before = minutes_state()
    client.force_login(members[0])

    response = client.post(_status_url(community, action), {"status": "done"})

    assert response.status_code == 403
    assert "Only its owner and the managers can change this action item." in response.text
    assert minutes_state() == before


def test_a_status_that_does_not_exist_is_refused(client, place):
    community, _manager, members, _meeting = place
    action = _action(place, members[0])
    before = minutes_state()
    client.force_login(members[0])

    response = client.post(_status_url(community, action), {"status": "finished"}, follow=True)

    assert "Choose open, done or dropped." in response.text
    assert minutes_state() == before


def test_another_communitys_action_item_through_this_community_is_404(client, place):
    community, _manager, members, _meeting = place
    other_community, other_manager, _other_members = community_with(1)
    other_meeting = meetings_of(series_make(other_community, other_manager))[0]
    MembershipFactory(community=other_community, user=members[0])
    theirs = services.action_item_create(
        actor=other_manager, meeting=other_meeting, owner=members[0], text="Elsewhere"
    )
    client.force_login(members[0])

    response = client.post(_status_url(community, theirs), {"status": "done"})

    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == ActionStatus.OPEN
    # And it is listed on that community's page, not this one's.
    listed = client.get(_page(community)).context["open"]
    assert theirs.pk not in [a.pk for a in listed]


def test_a_non_member_of_an_open_community_is_refused(client, place):
    community, *_rest = place
    client.force_login(UserFactory())

    assert client.get(_page(community)).status_code == 403


def test_an_invitation_only_community_is_404_to_others(client, place):
    community, _manager, members, _meeting = place
    action = _action(place, members[0])
    community.join_policy = JoinPolicy.INVITATION
    community.save(update_fields=["join_policy"])
    client.force_login(MembershipFactory(community=CommunityFactory()).user)

    assert client.get(_page(community)).status_code == 404
    assert client.post(_status_url(community, action), {"status": "done"}).status_code == 404
    action.refresh_from_db()
    assert action.status == ActionStatus.OPEN


def test_the_page_takes_as_many_queries_for_one_item_as_for_three(client, place):
    community, _manager, members, _meeting = place
    _action(place, members[0], "One")
    client.force_login(members[0])
    client.get(_page(community))  # the session, warmed

    with CaptureQueriesContext(connection) as one:
        client.get(_page(community))
    _action(place, members[0], "Two")
    _action(place, members[0], "Three")
    with CaptureQueriesContext(connection) as three:
        response = client.get(_page(community))

    assert len(response.context["open"]) == 3
    assert len(three) == len(one)
