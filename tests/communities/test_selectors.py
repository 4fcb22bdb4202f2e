from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from communities import selectors
from communities.enums import JoinPolicy, MembershipStatus, Role
from tests.factories import (
    CommunityFactory,
    InvitationFactory,
    MembershipFactory,
    PendingMembershipFactory,
    UserFactory,
)


@pytest.fixture
def three_policies():
    """One community per join policy, each with one active member."""
    return {
        policy: MembershipFactory(
            community__name=f"{policy} community", community__join_policy=policy
        ).community
        for policy in JoinPolicy.values
    }


def _names(queryset) -> list[str]:
    return [community.name for community in queryset]


# community_list_for_user


@pytest.mark.django_db
def test_community_list_for_user_anonymous_hides_invitation_only(three_policies):
    communities = selectors.community_list_for_user(user=AnonymousUser())

    assert _names(communities) == ["open community", "request community"]


@pytest.mark.django_db
def test_community_list_for_user_non_member_hides_invitation_only(three_policies):
    communities = selectors.community_list_for_user(user=UserFactory())

    assert _names(communities) == ["open community", "request community"]


@pytest.mark.django_db
def test_community_list_for_user_pending_member_hides_invitation_only(three_policies):
    pending = PendingMembershipFactory(community=three_policies[JoinPolicy.INVITATION])

    communities = selectors.community_list_for_user(user=pending.user)

    assert _names(communities) == ["open community", "request community"]


@pytest.mark.django_db
@pytest.mark.parametrize("status", [MembershipStatus.LEFT, MembershipStatus.REMOVED])
def test_community_list_for_user_former_member_hides_invitation_only(three_policies, status):
    former = MembershipFactory(
        community=three_policies[JoinPolicy.INVITATION], status=status, ended_at=timezone.now()
    )

    communities = selectors.community_list_for_user(user=former.user)

    assert _names(communities) == ["open community", "request community"]


@pytest.mark.django_db
def test_community_list_for_user_member_sees_invitation_only(three_policies):
    member = MembershipFactory(community=three_policies[JoinPolicy.INVITATION])

    communities = selectors.community_list_for_user(user=member.user)

    assert _names(communities) == ["invitation community", "open community", "request community"]


@pytest.mark.django_db
def test_community_list_for_user_member_elsewhere_does_not_see_invitation_only(three_policies):
    other = MembershipFactory(community__join_policy=JoinPolicy.INVITATION, community__name="x")

    communities = selectors.community_list_for_user(user=other.user)

    assert _names(communities) == ["open community", "request community", "x"]


@pytest.mark.django_db
def test_community_list_for_user_staff_sees_everything(three_policies):
    communities = selectors.community_list_for_user(user=UserFactory(is_staff=True))

    assert _names(communities) == ["invitation community", "open community", "request community"]


@pytest.mark.django_db
def test_community_list_for_user_counts_active_members_only():
    community = CommunityFactory(join_policy=JoinPolicy.REQUEST)
    MembershipFactory.create_batch(2, community=community)
    PendingMembershipFactory(community=community)
    MembershipFactory(community=community, status=MembershipStatus.LEFT)
    MembershipFactory(community=community, status=MembershipStatus.REMOVED)

    [listed] = selectors.community_list_for_user(user=UserFactory())

    assert listed.member_count == 2


@pytest.mark.django_db
def test_community_list_for_user_marks_own_status():
    member_of = MembershipFactory(community__name="a").community
    user = member_of.memberships.get().user
    PendingMembershipFactory(community__name="b", user=user)
    CommunityFactory(name="c")

    listed = selectors.community_list_for_user(user=user)

    assert [(c.name, c.is_member, c.is_pending) for c in listed] == [
        ("a", True, False),
        ("b", False, True),
        ("c", False, False),
    ]


# community_get_for_user


@pytest.mark.django_db
def test_community_get_for_user_unknown_slug_is_not_found():
    with pytest.raises(selectors.CommunityNotFound):
        selectors.community_get_for_user(user=UserFactory(), slug="nowhere")


@pytest.mark.django_db
def test_community_get_for_user_hidden_community_is_not_found_for_pending_member():
    pending = PendingMembershipFactory(community__join_policy=JoinPolicy.INVITATION)

    with pytest.raises(selectors.CommunityNotFound):
        selectors.community_get_for_user(user=pending.user, slug=pending.community.slug)


@pytest.mark.django_db
def test_community_get_for_user_returns_membership_of_member():
    member = MembershipFactory(community__join_policy=JoinPolicy.INVITATION)

    community, membership = selectors.community_get_for_user(
        user=member.user, slug=member.community.slug
    )

    assert (community, membership) == (member.community, member)


# community_members and community_members_joined_since


@pytest.mark.django_db
def test_community_members_lists_active_managers_first_then_by_name():
    community = CommunityFactory()
    MembershipFactory(community=community, user__display_name="Zoé")
    MembershipFactory(community=community, user__display_name="Ahmed")
    MembershipFactory(community=community, user__display_name="Yan", role=Role.MANAGER)
    PendingMembershipFactory(community=community, user__display_name="Bea")
    MembershipFactory(community=community, user__display_name="Cal", status="left")

    members = selectors.community_members(community=community)

    assert [m.user.display_name for m in members] == ["Yan", "Ahmed", "Zoé"]


@pytest.mark.django_db
def test_community_members_joined_since_lists_newcomers_in_order_of_joining():
    community = CommunityFactory()
    last_meeting = timezone.now() - timedelta(days=30)
    MembershipFactory(
        community=community, user__display_name="Old", joined_at=last_meeting - timedelta(days=1)
    )
    MembershipFactory(
        community=community, user__display_name="Exactly then", joined_at=last_meeting
    )
    MembershipFactory(
        community=community, user__display_name="Second", joined_at=last_meeting + timedelta(days=9)
    )
    MembershipFactory(
        community=community, user__display_name="First", joined_at=last_meeting + timedelta(days=2)
    )
    MembershipFactory(
        community=community,
        user__display_name="Gone again",
        status=MembershipStatus.LEFT,
        joined_at=last_meeting + timedelta(days=3),
    )
    PendingMembershipFactory(community=community, user__display_name="Waiting")
    MembershipFactory(user__display_name="Elsewhere", joined_at=last_meeting + timedelta(days=1))

    newcomers = selectors.community_members_joined_since(community=community, since=last_meeting)

    assert [m.user.display_name for m in newcomers] == ["First", "Second"]


@pytest.mark.django_db
def test_community_members_joined_since_nobody_new_is_empty():
    community = CommunityFactory()
    MembershipFactory(community=community, joined_at=timezone.now() - timedelta(days=60))

    newcomers = selectors.community_members_joined_since(
        community=community, since=timezone.now() - timedelta(days=30)
    )

    assert list(newcomers) == []


# Smaller reads


@pytest.mark.django_db
def test_community_managers_lists_active_managers_only():
    community = CommunityFactory()
    manager = MembershipFactory(community=community, role=Role.MANAGER).user
    MembershipFactory(community=community, role=Role.MANAGER, status=MembershipStatus.LEFT)
    MembershipFactory(community=community, role=Role.MANAGER, user__is_active=False)
    MembershipFactory(community=community)

    assert list(selectors.community_managers(community=community)) == [manager]


@pytest.mark.django_db
def test_community_open_invitations_leaves_out_spent_links():
    community = CommunityFactory(join_policy=JoinPolicy.INVITATION)
    now = timezone.now()
    usable = InvitationFactory(community=community)
    InvitationFactory(community=community, used_at=now)
    InvitationFactory(community=community, revoked_at=now)
    InvitationFactory(community=community, expires_at=now)
    InvitationFactory()

    assert list(selectors.community_open_invitations(community=community, now=now)) == [usable]


@pytest.mark.django_db
def test_invitation_find_with_other_community_slug_is_none():
    invitation = InvitationFactory()
    other = CommunityFactory()

    assert selectors.invitation_find(slug=other.slug, token=invitation.token) is None
    assert selectors.invitation_find(slug=invitation.community.slug, token=invitation.token) == (
        invitation
    )


@pytest.mark.django_db
def test_community_can_remove_only_staff_remove_managers():
    community = CommunityFactory()
    manager = MembershipFactory(community=community, role=Role.MANAGER)
    other_manager = MembershipFactory(community=community, role=Role.MANAGER)
    member = MembershipFactory(community=community)
    staff = UserFactory(is_staff=True)

    def can(user, membership, target):
        return selectors.community_can_remove(user=user, membership=membership, target=target)

    assert can(manager.user, manager, member) is True
    assert can(manager.user, manager, other_manager) is False
    assert can(manager.user, manager, manager) is False
    assert can(member.user, member, other_manager) is False
    assert can(staff, None, other_manager) is True
