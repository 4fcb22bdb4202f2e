"""Who may do what in a community, under each join policy, through the real URLs.

TABLE has one grid per join policy: a row per actor, a column per action, and in each
cell the outcome. EXPECTED flattens it into a dict keyed by (policy, actor, action), and
one test runs per key. Outcomes:

    "page"       200 and the community's page
    "login"      302 to the sign-in page; nothing changes
    "404"        not found, the community's name nowhere on the page; nothing changes
    "403"        the "not allowed" page; nothing changes
    "refused"    302 back to the community with an error message; nothing changes
    "joined"     302 back to the community; the actor is now an active member
    "requested"  302 back to the community; the actor's request waits for a manager
    "done"       302 back to the community; the manager action took effect

Invitation-only communities exist only for their active members and site staff: everyone
else gets 404 (never 403) for the page and every action, except anonymous POSTs, which go
to the sign-in page before the community is looked up (so the redirect leaks nothing).
A pending member is a non-member for visibility.
"""

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from communities.enums import MembershipStatus, Role
from communities.models import Invitation, Membership
from tests.factories import (
    CommunityFactory,
    MembershipFactory,
    PendingMembershipFactory,
    UserFactory,
)

ACTIONS = ("view", "join", "approve", "decline", "invite", "remove")

# fmt: off
TABLE = {
    "open": {
        #               view     join         approve   decline   invite    remove
        "anonymous":   ("page", "login",     "login",  "login",  "login",  "login"),
        "non_member":  ("page", "joined",    "403",    "403",    "403",    "403"),
        "pending":     ("page", "joined",    "403",    "403",    "403",    "403"),
        "member":      ("page", "refused",   "403",    "403",    "403",    "403"),
        "manager":     ("page", "refused",   "done",   "done",   "done",   "done"),
        "staff":       ("page", "joined",    "done",   "done",   "done",   "done"),
    },
    "request": {
        #               view     join         approve   decline   invite    remove
        "anonymous":   ("page", "login",     "login",  "login",  "login",  "login"),
        "non_member":  ("page", "requested", "403",    "403",    "403",    "403"),
        "pending":     ("page", "refused",   "403",    "403",    "403",    "403"),
        "member":      ("page", "refused",   "403",    "403",    "403",    "403"),
        "manager":     ("page", "refused",   "done",   "done",   "done",   "done"),
        "staff":       ("page", "joined",    "done",   "done",   "done",   "done"),
    },
    "invitation": {
        #               view     join         approve   decline   invite    remove
        "anonymous":   ("404",  "login",     "login",  "login",  "login",  "login"),
        "non_member":  ("404",  "404",       "404",    "404",    "404",    "404"),
        "pending":     ("404",  "404",       "404",    "404",    "404",    "404"),
        "member":      ("page", "refused",   "403",    "403",    "403",    "403"),
        "manager":     ("page", "refused",   "done",   "done",   "done",   "done"),
        "staff":       ("page", "joined",    "done",   "done",   "done",   "done"),
    },
}
# fmt: on

EXPECTED = {
    (policy, actor, action): outcome
    for policy, rows in TABLE.items()
    for actor, outcomes in rows.items()
    for action, outcome in zip(ACTIONS, outcomes, strict=True)
}

# What a manager action does to its target, when it is allowed.
DONE_STATUS = {
    "approve": MembershipStatus.ACTIVE,
    "decline": MembershipStatus.DECLINED,
    "remove": MembershipStatus.REMOVED,
}


def _arrange(policy: str, actor: str):
    """A community with a manager, a pending request, an ordinary member, and the actor."""
    community = CommunityFactory(name=f"The {policy} circle", join_policy=policy)
    manager = MembershipFactory(community=community, role=Role.MANAGER).user
    requester = PendingMembershipFactory(community=community)
    target = MembershipFactory(community=community)
    users = {
        "anonymous": lambda: None,
        "non_member": lambda: UserFactory(),
        "pending": lambda: PendingMembershipFactory(community=community).user,
        "member": lambda: MembershipFactory(community=community).user,
        "manager": lambda: manager,
        "staff": lambda: UserFactory(is_staff=True),
    }
    return community, users[actor](), requester, target


def _act(client, action: str, community, requester, target):
    slug = community.slug
    if action == "view":
        return client.get(reverse("communities:detail", args=[slug]))
    url = {
        "join": reverse("communities:join", args=[slug]),
        "approve": reverse("communities:request_approve", args=[slug, requester.pk]),
        "decline": reverse("communities:request_decline", args=[slug, requester.pk]),
        "invite": reverse("communities:invitation_create", args=[slug]),
        "remove": reverse("communities:member_remove", args=[slug, target.pk]),
    }[action]
    return client.post(url, {"days": 7} if action == "invite" else {})


def _memberships() -> dict:
    return {row["user_id"]: row for row in Membership.objects.values()}


def _invitations() -> list:
    return list(Invitation.objects.values())


def _message_levels(response) -> list[str]:
    return [message.level_tag for message in get_messages(response.wsgi_request)]


def _assert_only_changed(before: dict, after: dict, user_id: int) -> None:
    assert {k: v for k, v in after.items() if k != user_id} == {
        k: v for k, v in before.items() if k != user_id
    }


@pytest.mark.django_db
@pytest.mark.parametrize(("policy", "actor", "action"), list(EXPECTED))
def test_community_action_follows_permission_table(client, policy, actor, action):
    community, user, requester, target = _arrange(policy, actor)
    if user is not None:
        client.force_login(user)
    memberships_before = _memberships()
    outcome = EXPECTED[(policy, actor, action)]

    response = _act(client, action, community, requester, target)

    memberships_after = _memberships()
    invitations_after = _invitations()
    community_url = community.get_absolute_url()
    if outcome == "page":
        assert response.status_code == 200
        assert community.name in response.content.decode()
    elif outcome == "login":
        assert response.status_code == 302
        assert response.url == f"{reverse('login')}?next={response.request['PATH_INFO']}"
    elif outcome == "404":
        assert response.status_code == 404
        assert community.name not in response.content.decode()
    elif outcome == "403":
        assert response.status_code == 403
        assert "Only this community&#x27;s managers can do that." in response.content.decode()
    elif outcome == "refused":
        assert response.status_code == 302
        assert response.url == community_url
        assert _message_levels(response) == ["error"]
    else:
        assert response.status_code == 302
        assert _message_levels(response) == ["success"]

    if outcome in ("joined", "requested"):
        assert response.url == community_url
        _assert_only_changed(memberships_before, memberships_after, user.pk)
        assert memberships_after[user.pk]["status"] == (
            MembershipStatus.ACTIVE if outcome == "joined" else MembershipStatus.PENDING
        )
        assert invitations_after == []
    elif outcome == "done" and action == "invite":
        assert response.url == f"{community_url}#invitations"
        assert memberships_after == memberships_before
        [invitation] = Invitation.objects.all()
        assert invitation.community == community
        assert invitation.created_by == user
        assert invitation.used_at is None
        assert invitation.revoked_at is None
        lifetime = invitation.expires_at - invitation.created_at
        assert lifetime == timedelta(days=7)
        assert invitation.expires_at > timezone.now() + timedelta(days=6)
    elif outcome == "done":
        changed = target if action == "remove" else requester
        assert response.url == community_url
        _assert_only_changed(memberships_before, memberships_after, changed.user_id)
        assert memberships_after[changed.user_id]["status"] == DONE_STATUS[action]
        assert memberships_after[changed.user_id]["decided_by_id"] == user.pk
        assert invitations_after == []
    else:
        assert memberships_after == memberships_before
        assert invitations_after == []
