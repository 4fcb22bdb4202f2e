"""Reads about communities and who may see or do what in them.

Visibility rule: open and by-request communities are public; an invitation-only
community exists only for its active members and site staff. Everyone else gets
`CommunityNotFound`, which pages and sockets alike turn into "not found" (404/4404),
never "forbidden", so its existence does not leak.
"""

from datetime import datetime

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from accounts.models import User

from .enums import JoinPolicy, MembershipStatus, Role
from .models import Community, Invitation, Membership


class CommunityNotFound(Community.DoesNotExist):
    """No such community, or one the user may not know exists."""


def _is_signed_in(user) -> bool:
    return user is not None and user.is_authenticated


def membership_get(*, user, community: Community) -> Membership | None:
    if not _is_signed_in(user):
        return None
    return Membership.objects.filter(community=community, user=user).first()


def community_is_visible(*, user, community: Community, membership: Membership | None) -> bool:
    if community.join_policy != JoinPolicy.INVITATION:
        return True
    if _is_signed_in(user) and user.is_staff:
        return True
    return membership is not None and membership.is_active


def community_can_manage(*, user, membership: Membership | None) -> bool:
    """Site staff and the community's active managers manage it."""
    if not _is_signed_in(user):
        return False
    return user.is_staff or (membership is not None and membership.is_manager)


def community_can_read(*, user, membership: Membership | None) -> bool:
    """Who reads member-only parts: the member list, the room, the video link."""
    if not _is_signed_in(user):
        return False
    return user.is_staff or (membership is not None and membership.is_active)


def community_can_remove(*, user, membership: Membership | None, target: Membership) -> bool:
    """Managers remove members; only site staff remove managers; nobody removes themselves."""
    if not community_can_manage(user=user, membership=membership):
        return False
    if not target.is_active or target.user_id == user.pk:
        return False
    return target.role != Role.MANAGER or user.is_staff


def community_get_for_user(*, user, slug: str) -> tuple[Community, Membership | None]:
    """The community with this slug and the user's membership in it.

    Raises `CommunityNotFound` when there is none or the user may not see it.
    """
    community = Community.objects.filter(slug=slug).first()
    if community is None:
        raise CommunityNotFound(slug)
    membership = membership_get(user=user, community=community)
    if not community_is_visible(user=user, community=community, membership=membership):
        raise CommunityNotFound(slug)
    return community, membership


def community_list_for_user(*, user) -> QuerySet[Community]:
    """Communities the user may see, with their active member count and the user's status."""
    # Meta.ordering is dropped from GROUP BY queries, so the order is given here.
    qs = Community.objects.annotate(
        member_count=Count("memberships", filter=Q(memberships__status=MembershipStatus.ACTIVE))
    ).order_by("name")
    if not _is_signed_in(user):
        return qs.exclude(join_policy=JoinPolicy.INVITATION)
    mine = Membership.objects.filter(community=OuterRef("pk"), user=user)
    qs = qs.annotate(
        is_member=Exists(mine.filter(status=MembershipStatus.ACTIVE)),
        is_pending=Exists(mine.filter(status=MembershipStatus.PENDING)),
    )
    if user.is_staff:
        return qs
    return qs.filter(~Q(join_policy=JoinPolicy.INVITATION) | Q(is_member=True))


def community_members(*, community: Community) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(community=community, status=MembershipStatus.ACTIVE)
        .select_related("user")
        .order_by("role", "user__display_name")  # managers ("manager" < "member") first
    )


def community_members_joined_since(
    *, community: Community, since: datetime
) -> QuerySet[Membership]:
    """Active members who joined after `since` (e.g. new members since the last meeting)."""
    return community_members(community=community).filter(joined_at__gt=since).order_by("joined_at")


def community_managers(*, community: Community) -> QuerySet[User]:
    return User.objects.filter(
        memberships__community=community,
        memberships__status=MembershipStatus.ACTIVE,
        memberships__role=Role.MANAGER,
        is_active=True,
    )


def community_pending_requests(*, community: Community) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(community=community, status=MembershipStatus.PENDING)
        .select_related("user")
        .order_by("requested_at")
    )


def community_open_invitations(*, community: Community, now: datetime) -> QuerySet[Invitation]:
    return Invitation.objects.filter(
        community=community, used_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
    ).select_related("created_by")


def invitation_find(*, slug: str, token: str) -> Invitation | None:
    """The invitation with this token, if it belongs to the community with this slug."""
    return (
        Invitation.objects.select_related("community")
        .filter(token=token, community__slug=slug)
        .first()
    )
