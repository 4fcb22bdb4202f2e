"""The services that change communities, memberships and invitations.

Each refusal is checked for its stable `code` and for leaving the database as it was.
Emails go through a real SMTP server (the `smtp_server` fixture) once the transaction's
on-commit callbacks run.
"""

from datetime import timedelta
from email.header import decode_header, make_header

import pytest
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext

from communities import services
from communities.enums import JoinPolicy, MembershipStatus, Role
from communities.models import Community, Invitation, Membership
from communities.selectors import CommunityNotFound
from tests.factories import (
    CommunityFactory,
    InvitationFactory,
    MembershipFactory,
    PendingMembershipFactory,
    UserFactory,
)


def _subject(message) -> str:
    return str(make_header(decode_header(message["Subject"])))


def _body(message) -> str:
    text = message.get_payload(decode=True).decode(message.get_content_charset())
    return text.replace("\r\n", "\n")  # SMTP carries CRLF line endings


def _row(membership: Membership) -> dict:
    return Membership.objects.filter(pk=membership.pk).values().get()


# Creating and editing communities


@pytest.mark.django_db
def test_community_create_by_staff_makes_creator_first_manager():
    staff = UserFactory(is_staff=True)

    community = services.community_create(
        actor=staff, name="Rural Family Medicine", slug="rural-fm", timezone="America/Regina"
    )

    membership = Membership.objects.get(community=community)
    assert membership.user == staff
    assert membership.role == Role.MANAGER
    assert membership.status == MembershipStatus.ACTIVE
    assert membership.joined_at is not None


@pytest.mark.django_db
def test_community_create_by_non_staff_is_refused():
    user = UserFactory()

    with pytest.raises(services.CommunityActionError) as refused:
        services.community_create(actor=user, name="Mine", slug="mine")

    assert refused.value.code == "not_staff"
    assert refused.value.forbidden is True
    assert Community.objects.count() == 0


@pytest.mark.django_db
def test_community_update_by_member_is_refused():
    membership = MembershipFactory(community__name="Before")

    with pytest.raises(services.CommunityActionError) as refused:
        services.community_update(
            actor=membership.user, community=membership.community, name="After"
        )

    assert refused.value.code == "not_manager"
    assert Community.objects.get().name == "Before"


@pytest.mark.django_db
def test_community_update_of_hidden_community_by_outsider_is_not_found():
    community = CommunityFactory(name="Before", join_policy=JoinPolicy.INVITATION)

    with pytest.raises(CommunityNotFound):
        services.community_update(actor=UserFactory(), community=community, name="After")

    assert Community.objects.get().name == "Before"


# Joining


@pytest.mark.django_db
def test_membership_join_open_community_is_active_at_once():
    community = CommunityFactory(join_policy=JoinPolicy.OPEN)
    user = UserFactory()

    membership = services.membership_join(user=user, community=community)

    membership.refresh_from_db()
    assert membership.status == MembershipStatus.ACTIVE
    assert membership.role == Role.MEMBER
    assert membership.joined_at is not None


@pytest.mark.django_db
def test_membership_join_request_community_waits_for_a_manager():
    community = CommunityFactory(join_policy=JoinPolicy.REQUEST)
    user = UserFactory()

    membership = services.membership_join(user=user, community=community)

    membership.refresh_from_db()
    assert membership.status == MembershipStatus.PENDING
    assert membership.requested_at is not None
    assert membership.joined_at is None


@pytest.mark.django_db
def test_membership_join_request_twice_is_refused():
    pending = PendingMembershipFactory(community__join_policy=JoinPolicy.REQUEST)
    before = _row(pending)

    with pytest.raises(services.CommunityActionError) as refused:
        services.membership_join(user=pending.user, community=pending.community)

    assert refused.value.code == "already_pending"
    assert _row(pending) == before


@pytest.mark.django_db
def test_membership_join_invitation_community_without_invitation_is_not_found():
    community = CommunityFactory(join_policy=JoinPolicy.INVITATION)
    user = UserFactory()

    with pytest.raises(CommunityNotFound):
        services.membership_join(user=user, community=community)

    assert Membership.objects.count() == 0


@pytest.mark.django_db
def test_membership_join_by_staff_skips_the_request():
    community = CommunityFactory(join_policy=JoinPolicy.REQUEST)
    staff = UserFactory(is_staff=True)

    membership = services.membership_join(user=staff, community=community)

    assert Membership.objects.get(pk=membership.pk).status == MembershipStatus.ACTIVE


@pytest.mark.django_db
def test_membership_join_after_leaving_is_active_again():
    membership = MembershipFactory(
        status=MembershipStatus.LEFT, ended_at=timezone.now(), community__join_policy="open"
    )

    services.membership_join(user=membership.user, community=membership.community)

    membership.refresh_from_db()
    assert membership.status == MembershipStatus.ACTIVE
    assert membership.ended_at is None


# Leaving and withdrawing


@pytest.mark.django_db
def test_membership_leave_by_member_ends_membership():
    membership = MembershipFactory()

    services.membership_leave(user=membership.user, community=membership.community)

    membership.refresh_from_db()
    assert membership.status == MembershipStatus.LEFT
    assert membership.ended_at is not None
    assert Membership.objects.count() == 1


@pytest.mark.django_db
def test_membership_leave_by_pending_requester_withdraws_request():
    pending = PendingMembershipFactory(community__join_policy=JoinPolicy.REQUEST)

    services.membership_leave(user=pending.user, community=pending.community)

    pending.refresh_from_db()
    assert pending.status == MembershipStatus.LEFT


@pytest.mark.django_db
def test_membership_leave_by_last_manager_is_refused():
    manager = MembershipFactory(role=Role.MANAGER)
    MembershipFactory(community=manager.community)
    before = _row(manager)

    with pytest.raises(services.CommunityActionError) as refused:
        services.membership_leave(user=manager.user, community=manager.community)

    assert refused.value.code == "last_manager"
    assert str(refused.value) == (
        "You are this community's only manager. Make another member a manager first."
    )
    assert _row(manager) == before


@pytest.mark.django_db
def test_membership_leave_by_manager_with_another_manager_succeeds():
    manager = MembershipFactory(role=Role.MANAGER)
    MembershipFactory(community=manager.community, role=Role.MANAGER)

    services.membership_leave(user=manager.user, community=manager.community)

    manager.refresh_from_db()
    assert manager.status == MembershipStatus.LEFT


@pytest.mark.django_db
def test_membership_leave_by_pending_manager_does_not_count_as_other_manager():
    manager = MembershipFactory(role=Role.MANAGER)
    PendingMembershipFactory(community=manager.community, role=Role.MANAGER)

    with pytest.raises(services.CommunityActionError) as refused:
        services.membership_leave(user=manager.user, community=manager.community)

    assert refused.value.code == "last_manager"


@pytest.mark.django_db
def test_membership_leave_by_non_member_is_refused():
    community = CommunityFactory()

    with pytest.raises(services.CommunityActionError) as refused:
        services.membership_leave(user=UserFactory(), community=community)

    assert refused.value.code == "not_member"
    assert Membership.objects.count() == 0


# Removing


@pytest.mark.django_db
def test_membership_remove_by_manager_removes_member():
    manager = MembershipFactory(role=Role.MANAGER)
    member = MembershipFactory(community=manager.community)

    services.membership_remove(actor=manager.user, membership=member)

    member.refresh_from_db()
    assert member.status == MembershipStatus.REMOVED
    assert member.decided_by == manager.user
    assert member.ended_at is not None


@pytest.mark.django_db
def test_membership_remove_of_manager_by_manager_is_refused():
    manager = MembershipFactory(role=Role.MANAGER)
    other_manager = MembershipFactory(community=manager.community, role=Role.MANAGER)
    before = _row(other_manager)

    with pytest.raises(services.CommunityActionError) as refused:
        services.membership_remove(actor=manager.user, membership=other_manager)

    assert refused.value.code == "remove_manager"
    assert refused.value.forbidden is True
    assert _row(other_manager) == before


@pytest.mark.django_db
def test_membership_remove_of_manager_by_staff_succeeds():
    manager = MembershipFactory(role=Role.MANAGER)
    staff = UserFactory(is_staff=True)

    services.membership_remove(actor=staff, membership=manager)

    manager.refresh_from_db()
    assert manager.status == MembershipStatus.REMOVED
    assert manager.decided_by == staff


@pytest.mark.django_db
def test_membership_remove_of_self_is_refused():
    manager = MembershipFactory(role=Role.MANAGER)
    before = _row(manager)

    with pytest.raises(services.CommunityActionError) as refused:
        services.membership_remove(actor=manager.user, membership=manager)

    assert refused.value.code == "remove_self"
    assert _row(manager) == before


@pytest.mark.django_db
def test_membership_remove_by_member_is_refused():
    member = MembershipFactory()
    other = MembershipFactory(community=member.community)
    before = _row(other)

    with pytest.raises(services.CommunityActionError) as refused:
        services.membership_remove(actor=member.user, membership=other)

    assert refused.value.code == "not_manager"
    assert _row(other) == before


@pytest.mark.django_db
def test_membership_join_after_removal_is_refused():
    removed = MembershipFactory(
        status=MembershipStatus.REMOVED,
        ended_at=timezone.now(),
        community__join_policy=JoinPolicy.OPEN,
    )
    before = _row(removed)

    with pytest.raises(services.CommunityActionError) as refused:
        services.membership_join(user=removed.user, community=removed.community)

    assert refused.value.code == "removed"
    assert refused.value.forbidden is True
    assert _row(removed) == before


@pytest.mark.django_db
def test_membership_join_after_removal_by_request_is_refused():
    removed = MembershipFactory(
        status=MembershipStatus.REMOVED,
        ended_at=timezone.now(),
        community__join_policy=JoinPolicy.REQUEST,
    )
    before = _row(removed)

    with pytest.raises(services.CommunityActionError) as refused:
        services.membership_join(user=removed.user, community=removed.community)

    assert refused.value.code == "removed"
    assert _row(removed) == before


# Deciding requests


@pytest.mark.django_db
def test_membership_request_decide_approve_activates_requester():
    manager = MembershipFactory(role=Role.MANAGER, community__join_policy=JoinPolicy.REQUEST)
    pending = PendingMembershipFactory(community=manager.community)

    services.membership_request_decide(actor=manager.user, membership=pending, approve=True)

    pending.refresh_from_db()
    assert pending.status == MembershipStatus.ACTIVE
    assert pending.joined_at is not None
    assert pending.decided_by == manager.user


@pytest.mark.django_db
def test_membership_request_decide_decline_records_decision():
    manager = MembershipFactory(role=Role.MANAGER, community__join_policy=JoinPolicy.REQUEST)
    pending = PendingMembershipFactory(community=manager.community)

    services.membership_request_decide(actor=manager.user, membership=pending, approve=False)

    pending.refresh_from_db()
    assert pending.status == MembershipStatus.DECLINED
    assert pending.joined_at is None
    assert pending.ended_at is not None
    assert pending.decided_by == manager.user


@pytest.mark.django_db
def test_membership_request_decide_twice_is_refused():
    manager = MembershipFactory(role=Role.MANAGER, community__join_policy=JoinPolicy.REQUEST)
    pending = PendingMembershipFactory(community=manager.community)
    services.membership_request_decide(actor=manager.user, membership=pending, approve=False)
    before = _row(pending)

    with pytest.raises(services.CommunityActionError) as refused:
        services.membership_request_decide(actor=manager.user, membership=pending, approve=True)

    assert refused.value.code == "not_pending"
    assert _row(pending) == before


@pytest.mark.django_db
def test_membership_request_decide_by_member_is_refused():
    member = MembershipFactory(community__join_policy=JoinPolicy.REQUEST)
    pending = PendingMembershipFactory(community=member.community)
    before = _row(pending)

    with pytest.raises(services.CommunityActionError) as refused:
        services.membership_request_decide(actor=member.user, membership=pending, approve=True)

    assert refused.value.code == "not_manager"
    assert _row(pending) == before


# Emails about requests


@pytest.mark.django_db
def test_membership_join_request_emails_every_manager(
    smtp_server, django_capture_on_commit_callbacks
):
    community = CommunityFactory(name="Palliative Care", join_policy=JoinPolicy.REQUEST)
    first = MembershipFactory(community=community, role=Role.MANAGER, user__display_name="Ana")
    second = MembershipFactory(community=community, role=Role.MANAGER, user__display_name="Bo")
    MembershipFactory(community=community)  # an ordinary member is not told
    requester = UserFactory(display_name="Dr. Amélie Roy")

    with django_capture_on_commit_callbacks(execute=True):
        services.membership_join(user=requester, community=community)

    by_recipient = {message["To"]: message for message in smtp_server.messages}
    assert sorted(by_recipient) == sorted([first.user.email, second.user.email])
    message = by_recipient[first.user.email]
    assert _subject(message) == "New request to join Palliative Care"
    body = _body(message)
    assert "Hello Ana," in body
    assert "Dr. Amélie Roy asks to join Palliative Care." in body
    assert f"/c/{community.slug}/#manage" in body


@pytest.mark.django_db
def test_membership_join_request_emails_only_after_commit(
    smtp_server, django_capture_on_commit_callbacks
):
    manager = MembershipFactory(role=Role.MANAGER, community__join_policy=JoinPolicy.REQUEST)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.membership_join(user=UserFactory(), community=manager.community)

    assert smtp_server.messages == []
    assert len(callbacks) == 1
    callbacks[0]()
    assert [message["To"] for message in smtp_server.messages] == [manager.user.email]


@pytest.mark.django_db
def test_membership_join_request_rolled_back_sends_no_email(
    smtp_server, django_capture_on_commit_callbacks
):
    manager = MembershipFactory(role=Role.MANAGER, community__join_policy=JoinPolicy.REQUEST)
    requester = UserFactory()

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.membership_join(user=requester, community=manager.community)
        raise RuntimeError("the surrounding work failed")

    assert callbacks == []
    assert smtp_server.messages == []
    assert not Membership.objects.filter(user=requester).exists()


@pytest.mark.django_db
def test_membership_request_decide_approve_emails_requester(
    smtp_server, django_capture_on_commit_callbacks
):
    manager = MembershipFactory(
        role=Role.MANAGER, community__name="Rural ER", community__join_policy="request"
    )
    pending = PendingMembershipFactory(
        community=manager.community, user__display_name="Sam", user__language="en"
    )

    with django_capture_on_commit_callbacks(execute=True):
        services.membership_request_decide(actor=manager.user, membership=pending, approve=True)

    [message] = smtp_server.messages
    assert message["To"] == pending.user.email
    assert _subject(message) == "Welcome to Rural ER"
    body = _body(message)
    assert "Hello Sam," in body
    assert "Your request to join Rural ER is approved." in body
    assert f"/c/{manager.community.slug}/" in body


@pytest.mark.django_db
def test_membership_request_decide_decline_emails_requester(
    smtp_server, django_capture_on_commit_callbacks
):
    manager = MembershipFactory(
        role=Role.MANAGER, community__name="Rural ER", community__join_policy="request"
    )
    pending = PendingMembershipFactory(
        community=manager.community, user__display_name="Sam", user__language="en"
    )

    with django_capture_on_commit_callbacks(execute=True):
        services.membership_request_decide(actor=manager.user, membership=pending, approve=False)

    [message] = smtp_server.messages
    assert message["To"] == pending.user.email
    assert _subject(message) == "Your request to join Rural ER"
    assert "A manager of Rural ER has declined your request to join." in _body(message)


def _french(msgid: str, **params) -> str:
    """The French catalogue's text for `msgid`; English if the catalogue lacks it."""
    with translation.override("fr"):
        return gettext(msgid) % params


APPROVED_BODY = (
    "Hello %(name)s,\n\nYour request to join %(community)s is approved. Welcome! "
    "The community's page:"
)
DECLINED_BODY = (
    "Hello %(name)s,\n\nA manager of %(community)s has declined your request to join. "
    "If you think this is a mistake, contact the community's managers."
)
RECEIVED_BODY = (
    "Hello %(name)s,\n\n%(who)s asks to join %(community)s. Approve or decline the "
    "request on the community's page:"
)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("approve", "subject_id", "body_id"),
    [
        (True, "Welcome to %(name)s", APPROVED_BODY),
        (False, "Your request to join %(name)s", DECLINED_BODY),
    ],
    ids=["approve", "decline"],
)
def test_membership_request_decide_emails_french_requester_in_french(
    smtp_server, django_capture_on_commit_callbacks, approve, subject_id, body_id
):
    manager = MembershipFactory(
        role=Role.MANAGER,
        user__language="en",
        community__name="Urgence rurale",
        community__join_policy="request",
    )
    pending = PendingMembershipFactory(
        community=manager.community, user__display_name="Élise", user__language="fr"
    )

    with django_capture_on_commit_callbacks(execute=True):
        services.membership_request_decide(actor=manager.user, membership=pending, approve=approve)

    [message] = smtp_server.messages
    subject = _french(subject_id, name="Urgence rurale")
    assert subject != subject_id % {"name": "Urgence rurale"}, "no French translation"
    assert _subject(message) == subject
    assert _french(body_id, name="Élise", community="Urgence rurale") in _body(message)


@pytest.mark.django_db
def test_membership_join_request_emails_each_manager_in_own_language(
    smtp_server, django_capture_on_commit_callbacks
):
    community = CommunityFactory(name="Urgence rurale", join_policy=JoinPolicy.REQUEST)
    english = MembershipFactory(community=community, role=Role.MANAGER, user__language="en")
    french = MembershipFactory(
        community=community,
        role=Role.MANAGER,
        user__language="fr",
        user__display_name="Marc",
    )
    requester = UserFactory(display_name="Dr. Amélie Roy", language="en")

    with django_capture_on_commit_callbacks(execute=True):
        services.membership_join(user=requester, community=community)

    by_recipient = {message["To"]: message for message in smtp_server.messages}
    assert _subject(by_recipient[english.user.email]) == "New request to join Urgence rurale"
    french_subject = _french("New request to join %(name)s", name="Urgence rurale")
    assert french_subject != "New request to join Urgence rurale", "no French translation"
    assert _subject(by_recipient[french.user.email]) == french_subject
    assert _french(
        RECEIVED_BODY, name="Marc", who="Dr. Amélie Roy", community="Urgence rurale"
    ) in _body(by_recipient[french.user.email])


@pytest.mark.django_db
def test_membership_request_decide_refused_sends_no_email(
    smtp_server, django_capture_on_commit_callbacks
):
    member = MembershipFactory(community__join_policy=JoinPolicy.REQUEST)
    pending = PendingMembershipFactory(community=member.community)

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(services.CommunityActionError),
    ):
        services.membership_request_decide(actor=member.user, membership=pending, approve=True)

    assert callbacks == []
    assert smtp_server.messages == []


# Invitations


@pytest.mark.django_db
def test_invitation_create_by_manager_lasts_the_days_asked():
    manager = MembershipFactory(role=Role.MANAGER)

    invitation = services.invitation_create(
        actor=manager.user, community=manager.community, days=3, note="for Dr. Roy"
    )

    invitation.refresh_from_db()
    assert invitation.expires_at - invitation.created_at == timedelta(days=3)
    assert invitation.created_by == manager.user
    assert invitation.note == "for Dr. Roy"
    assert len(invitation.token) >= 40


@pytest.mark.django_db
def test_invitation_create_without_days_uses_default(settings):
    settings.INVITATION_DEFAULT_DAYS = 14
    manager = MembershipFactory(role=Role.MANAGER)

    invitation = services.invitation_create(actor=manager.user, community=manager.community)

    assert invitation.expires_at - invitation.created_at == timedelta(days=14)


@pytest.mark.django_db
@pytest.mark.parametrize("days", [0, -1, 91, 500])
def test_invitation_create_with_days_out_of_range_is_refused(days):
    manager = MembershipFactory(role=Role.MANAGER)

    with pytest.raises(services.CommunityActionError) as refused:
        services.invitation_create(actor=manager.user, community=manager.community, days=days)

    assert refused.value.code == "invalid_days"
    assert Invitation.objects.count() == 0


@pytest.mark.django_db
def test_invitation_create_by_member_is_refused():
    member = MembershipFactory()

    with pytest.raises(services.CommunityActionError) as refused:
        services.invitation_create(actor=member.user, community=member.community, days=7)

    assert refused.value.code == "not_manager"
    assert Invitation.objects.count() == 0


@pytest.mark.django_db
def test_invitation_revoke_by_manager_withdraws_link():
    manager = MembershipFactory(role=Role.MANAGER)
    invitation = InvitationFactory(community=manager.community)

    services.invitation_revoke(actor=manager.user, invitation=invitation)

    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    assert invitation.is_usable() is False


@pytest.mark.django_db
def test_invitation_revoke_of_used_link_is_refused():
    manager = MembershipFactory(role=Role.MANAGER)
    invitation = InvitationFactory(
        community=manager.community, used_at=timezone.now(), used_by=UserFactory()
    )

    with pytest.raises(services.CommunityActionError) as refused:
        services.invitation_revoke(actor=manager.user, invitation=invitation)

    assert refused.value.code == "used"
    invitation.refresh_from_db()
    assert invitation.revoked_at is None


@pytest.mark.django_db
def test_invitation_accept_valid_link_makes_member_and_spends_link():
    creator = MembershipFactory(role=Role.MANAGER, community__join_policy="invitation")
    invitation = InvitationFactory(community=creator.community, created_by=creator.user)
    user = UserFactory()

    membership = services.invitation_accept(user=user, invitation=invitation)

    membership.refresh_from_db()
    invitation.refresh_from_db()
    assert membership.status == MembershipStatus.ACTIVE
    assert membership.role == Role.MEMBER
    assert membership.decided_by == creator.user
    assert invitation.used_by == user
    assert invitation.used_at == membership.joined_at


@pytest.mark.django_db
def test_invitation_accept_by_removed_member_brings_them_back():
    removed = MembershipFactory(
        status=MembershipStatus.REMOVED,
        ended_at=timezone.now(),
        community__join_policy=JoinPolicy.INVITATION,
    )
    invitation = InvitationFactory(community=removed.community)

    services.invitation_accept(user=removed.user, invitation=invitation)

    removed.refresh_from_db()
    assert removed.status == MembershipStatus.ACTIVE
    assert removed.ended_at is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"used_at": timezone.now() - timedelta(hours=1)}, "used"),
        ({"revoked_at": timezone.now() - timedelta(hours=1)}, "revoked"),
        ({"expires_at": timezone.now() - timedelta(seconds=1)}, "expired"),
    ],
    ids=["used", "revoked", "expired"],
)
def test_invitation_accept_unusable_link_is_refused(changes, code):
    invitation = InvitationFactory(**changes)
    before = Invitation.objects.filter(pk=invitation.pk).values().get()
    user = UserFactory()

    with pytest.raises(services.CommunityActionError) as refused:
        services.invitation_accept(user=user, invitation=invitation)

    assert refused.value.code == code
    assert Invitation.objects.filter(pk=invitation.pk).values().get() == before
    assert not Membership.objects.filter(user=user).exists()


@pytest.mark.django_db
def test_invitation_accept_by_member_keeps_link_unused():
    member = MembershipFactory(community__join_policy=JoinPolicy.INVITATION)
    invitation = InvitationFactory(community=member.community)
    before = _row(member)

    with pytest.raises(services.CommunityActionError) as refused:
        services.invitation_accept(user=member.user, invitation=invitation)

    assert refused.value.code == "already_member"
    invitation.refresh_from_db()
    assert invitation.used_at is None
    assert invitation.used_by is None
    assert _row(member) == before
