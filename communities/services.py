"""Every write to communities, memberships and invitations.

Each service checks the actor's permission itself and raises `CommunityActionError`
(a message for people) or `CommunityNotFound` (for invitation-only communities the actor
may not see). On refusal nothing changes.
"""

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from accounts.notifications import email_user_on_commit

from .enums import JoinPolicy, MembershipStatus, Role
from .hooks import community_created_run
from .models import Community, Invitation, Membership
from .selectors import (
    CommunityNotFound,
    community_can_manage,
    community_can_remove,
    community_is_visible,
    community_managers,
)
from .signals import membership_ended, membership_started


class CommunityActionError(Exception):
    """A refused action. `message` is shown to the person; `code` is stable for tests."""

    def __init__(self, message, *, code: str, forbidden: bool = False):
        super().__init__(str(message))
        self.message = message
        self.code = code
        self.forbidden = forbidden


def manager_required_error() -> CommunityActionError:
    return CommunityActionError(
        _("Only this community's managers can do that."), code="not_manager", forbidden=True
    )


def _locked_membership(*, community: Community, user: User) -> Membership | None:
    return Membership.objects.select_for_update().filter(community=community, user=user).first()


def manager_require(*, actor: User, community: Community) -> None:
    """Refuse unless `actor` manages `community` (CommunityNotFound if they may not see it).
    Public: the apps above check their managers' actions with it."""
    membership = Membership.objects.filter(community=community, user=actor).first()
    if not community_is_visible(user=actor, community=community, membership=membership):
        raise CommunityNotFound(community.slug)
    if not community_can_manage(user=actor, membership=membership):
        raise manager_required_error()


def _end(membership: Membership, *, status: str, decided_by: User | None = None) -> None:
    membership.status = status
    membership.ended_at = timezone.now()
    if decided_by is not None:
        membership.decided_by = decided_by
    membership.save()
    transaction.on_commit(lambda: membership_ended.send(sender=Membership, membership=membership))


def _activate(membership: Membership, *, now, decided_by: User | None = None) -> None:
    membership.status = MembershipStatus.ACTIVE
    membership.joined_at = now
    membership.ended_at = None
    membership.decided_by = decided_by
    membership.save()
    transaction.on_commit(lambda: membership_started.send(sender=Membership, membership=membership))


@transaction.atomic
def community_create(*, actor: User, **fields) -> Community:
    """Create a community; its creator becomes its first manager, and the apps above add
    their parts (its chat room) in the same transaction. Site staff only."""
    if not actor.is_staff:
        raise CommunityActionError(
            _("Only site administrators can create communities."), code="not_staff", forbidden=True
        )
    community = Community(**fields)
    community.full_clean()
    community.save()
    Membership.objects.create(
        community=community,
        user=actor,
        role=Role.MANAGER,
        status=MembershipStatus.ACTIVE,
        joined_at=timezone.now(),
    )
    community_created_run(community=community)
    return community


@transaction.atomic
def community_update(*, actor: User, community: Community, **fields) -> Community:
    manager_require(actor=actor, community=community)
    for name, value in fields.items():
        setattr(community, name, value)
    community.full_clean()
    community.save()
    return community


@transaction.atomic
def membership_join(*, user: User, community: Community) -> Membership:
    """Join an open community at once, or ask to join one by request.

    Invitation-only communities are joined through an invitation; to anyone else they do
    not exist (site staff may join directly).
    """
    now = timezone.now()
    membership = _locked_membership(community=community, user=user)
    status = membership.status if membership is not None else None
    if status == MembershipStatus.ACTIVE:
        raise CommunityActionError(_("You are already a member."), code="already_member")
    if status == MembershipStatus.PENDING and community.join_policy == JoinPolicy.REQUEST:
        raise CommunityActionError(
            _("Your request is already waiting for a manager."), code="already_pending"
        )
    if status == MembershipStatus.REMOVED and not user.is_staff:
        raise CommunityActionError(
            _("A manager removed you from this community; ask them to invite you back."),
            code="removed",
            forbidden=True,
        )
    if community.join_policy == JoinPolicy.INVITATION and not user.is_staff:
        raise CommunityNotFound(community.slug)
    if membership is None:
        membership = Membership(community=community, user=user, role=Role.MEMBER)

    if community.join_policy == JoinPolicy.REQUEST and not user.is_staff:
        membership.status = MembershipStatus.PENDING
        membership.requested_at = now
        membership.ended_at = None
        membership.decided_by = None
        membership.save()
        for manager in community_managers(community=community):
            email_user_on_commit(
                user=manager,
                template="communities/email/request_received",
                context={"community": community, "requester": user},
                key=f"membership:{membership.pk}",
                version=membership.requested_at.isoformat(),
            )
        return membership

    _activate(membership, now=now)
    return membership


@transaction.atomic
def membership_leave(*, user: User, community: Community) -> Membership:
    """Leave a community, or withdraw a pending request. The last manager cannot leave."""
    membership = _locked_membership(community=community, user=user)
    if membership is None or membership.status not in (
        MembershipStatus.ACTIVE,
        MembershipStatus.PENDING,
    ):
        raise CommunityActionError(_("You are not a member of this community."), code="not_member")
    if membership.is_manager:
        other_managers = Membership.objects.filter(
            community=community, role=Role.MANAGER, status=MembershipStatus.ACTIVE
        ).exclude(pk=membership.pk)
        if not other_managers.exists():
            raise CommunityActionError(
                _("You are this community's only manager. Make another member a manager first."),
                code="last_manager",
            )
    _end(membership, status=MembershipStatus.LEFT)
    return membership


@transaction.atomic
def membership_request_decide(*, actor: User, membership: Membership, approve: bool) -> Membership:
    """Approve or decline a pending request; the requester is emailed the outcome."""
    community = membership.community
    manager_require(actor=actor, community=community)
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    if membership.status != MembershipStatus.PENDING:
        raise CommunityActionError(
            _("This request is no longer waiting; someone may have decided it already."),
            code="not_pending",
        )
    now = timezone.now()
    if approve:
        _activate(membership, now=now, decided_by=actor)
    else:
        membership.status = MembershipStatus.DECLINED
        membership.ended_at = now
        membership.decided_by = actor
        membership.save()
    email_user_on_commit(
        user=membership.user,
        template="communities/email/request_approved"
        if approve
        else "communities/email/request_declined",
        context={"community": community},
        key=f"membership:{membership.pk}",
        version=membership.requested_at.isoformat() if membership.requested_at else "1",
    )
    return membership


@transaction.atomic
def membership_remove(*, actor: User, membership: Membership) -> Membership:
    """Remove an active member. Managers remove members; only site staff remove managers."""
    community = membership.community
    manager_require(actor=actor, community=community)
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    if membership.status != MembershipStatus.ACTIVE:
        raise CommunityActionError(_("This person is not an active member."), code="not_member")
    actor_membership = Membership.objects.filter(community=community, user=actor).first()
    if not community_can_remove(user=actor, membership=actor_membership, target=membership):
        if membership.user_id == actor.pk:
            raise CommunityActionError(
                _("To leave the community yourself, use “Leave”."), code="remove_self"
            )
        raise CommunityActionError(
            _("Only site administrators can remove a manager."),
            code="remove_manager",
            forbidden=True,
        )
    _end(membership, status=MembershipStatus.REMOVED, decided_by=actor)
    return membership


@transaction.atomic
def invitation_create(
    *, actor: User, community: Community, days: int | None = None, note: str = ""
) -> Invitation:
    """A single-use link that expires after `days` (default: INVITATION_DEFAULT_DAYS)."""
    manager_require(actor=actor, community=community)
    days = settings.INVITATION_DEFAULT_DAYS if days is None else days
    if not 1 <= days <= 90:
        raise CommunityActionError(
            _("An invitation lasts between 1 and 90 days."), code="invalid_days"
        )
    now = timezone.now()
    invitation = Invitation(
        community=community,
        token=secrets.token_urlsafe(32),
        note=note,
        created_by=actor,
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    invitation.full_clean()
    invitation.save()
    return invitation


@transaction.atomic
def invitation_revoke(*, actor: User, invitation: Invitation) -> Invitation:
    manager_require(actor=actor, community=invitation.community)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.used_at is not None:
        raise CommunityActionError(_("This invitation has already been used."), code="used")
    if invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
    return invitation


def invitation_refusal(invitation: Invitation) -> CommunityActionError | None:
    """Why this invitation cannot be used now, or None when it can."""
    if invitation.used_at is not None:
        return CommunityActionError(
            _("This invitation link has already been used. Ask a manager for a new one."),
            code="used",
        )
    if invitation.revoked_at is not None:
        return CommunityActionError(
            _("This invitation link was withdrawn. Ask a manager for a new one."), code="revoked"
        )
    if invitation.expires_at <= timezone.now():
        return CommunityActionError(
            _("This invitation link has expired. Ask a manager for a new one."), code="expired"
        )
    return None


@transaction.atomic
def invitation_accept(*, user: User, invitation: Invitation) -> Membership:
    """Use an invitation: its holder becomes an active member, and the link is spent."""
    invitation = (
        Invitation.objects.select_for_update().select_related("community").get(pk=invitation.pk)
    )
    refusal = invitation_refusal(invitation)
    if refusal is not None:
        raise refusal
    community = invitation.community
    membership = _locked_membership(community=community, user=user)
    if membership is not None and membership.is_active:
        # Keep the link for whoever it was really meant for.
        raise CommunityActionError(_("You are already a member."), code="already_member")
    if membership is None:
        membership = Membership(community=community, user=user, role=Role.MEMBER)
    now = timezone.now()
    _activate(membership, now=now, decided_by=invitation.created_by)
    invitation.used_by = user
    invitation.used_at = now
    invitation.save(update_fields=["used_by", "used_at"])
    return membership
