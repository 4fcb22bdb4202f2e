"""The community pages through the real URLs: invitation links, leaving and removing,
the request flow with its emails, bad input on the forms, and query counts."""

from datetime import timedelta
from email.header import decode_header, make_header

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import escape
from django.utils.translation import gettext

from communities.enums import JoinPolicy, MembershipStatus, Role
from communities.models import Community, Invitation, Membership
from tests.factories import (
    CommunityFactory,
    InvitationFactory,
    MembershipFactory,
    PendingMembershipFactory,
    UserFactory,
)


def _page(response) -> str:
    return response.content.decode()


def _messages(response) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def _login_url(path: str) -> str:
    return f"{reverse('login')}?next={path}"


def _invitation_url(invitation, slug=None) -> str:
    return reverse(
        "communities:invitation_accept",
        args=[slug or invitation.community.slug, invitation.token],
    )


def _invitation_row(invitation) -> dict:
    return Invitation.objects.filter(pk=invitation.pk).values().get()


def _membership_row(membership) -> dict:
    return Membership.objects.filter(pk=membership.pk).values().get()


def _subject(message) -> str:
    return str(make_header(decode_header(message["Subject"])))


def _body(message) -> str:
    text = message.get_payload(decode=True).decode(message.get_content_charset())
    return text.replace("\r\n", "\n")  # SMTP carries CRLF line endings


# Invitation links


@pytest.mark.django_db
def test_invitation_link_get_anonymous_shows_invitation(client):
    invitation = InvitationFactory(community__name="Oncology Nurses")

    response = client.get(_invitation_url(invitation))

    assert response.status_code == 200
    assert "You are invited to join Oncology Nurses" in _page(response)
    assert _login_url(_invitation_url(invitation)) in _page(response)


@pytest.mark.django_db
def test_invitation_link_post_valid_makes_member_and_spends_link(client):
    invitation = InvitationFactory(community__name="Oncology Nurses")
    user = UserFactory()
    client.force_login(user)

    response = client.post(_invitation_url(invitation))

    assert response.status_code == 302
    assert response.url == invitation.community.get_absolute_url()
    assert _messages(response) == [("success", "Welcome to Oncology Nurses!")]
    membership = Membership.objects.get(community=invitation.community, user=user)
    assert membership.status == MembershipStatus.ACTIVE
    invitation.refresh_from_db()
    assert invitation.used_by == user
    assert invitation.used_at == membership.joined_at


@pytest.mark.django_db
def test_invitation_link_post_valid_opens_hidden_community_page(client):
    invitation = InvitationFactory(community__name="Oncology Nurses")
    client.force_login(UserFactory())

    response = client.post(_invitation_url(invitation), follow=True)

    assert response.status_code == 200
    assert "You are a member." in _page(response)


@pytest.mark.django_db
def test_invitation_link_used_twice_is_refused(client):
    invitation = InvitationFactory()
    first, second = UserFactory(), UserFactory()
    client.force_login(first)
    client.post(_invitation_url(invitation))
    spent = _invitation_row(invitation)
    client.force_login(second)

    response = client.post(_invitation_url(invitation))

    assert response.status_code == 410
    assert "This invitation link has already been used. Ask a manager for a new one." in _page(
        response
    )
    assert _invitation_row(invitation) == spent
    assert spent["used_by_id"] == first.pk
    assert not Membership.objects.filter(user=second).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"used_at": timezone.now() - timedelta(days=1)},
            "This invitation link has already been used. Ask a manager for a new one.",
        ),
        (
            {"expires_at": timezone.now() - timedelta(minutes=1)},
            "This invitation link has expired. Ask a manager for a new one.",
        ),
        (
            {"revoked_at": timezone.now() - timedelta(days=1)},
            "This invitation link was withdrawn. Ask a manager for a new one.",
        ),
    ],
    ids=["used", "expired", "revoked"],
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_invitation_link_unusable_is_gone(client, changes, message, method):
    invitation = InvitationFactory(**changes)
    before = _invitation_row(invitation)
    user = UserFactory()
    client.force_login(user)

    response = getattr(client, method)(_invitation_url(invitation))

    assert response.status_code == 410
    assert "This invitation cannot be used" in _page(response)
    assert message in _page(response)
    assert _invitation_row(invitation) == before
    assert not Membership.objects.filter(user=user).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post"])
def test_invitation_link_with_other_community_slug_is_not_found(client, method):
    invitation = InvitationFactory(community__name="Hidden Circle")
    other = CommunityFactory(join_policy=JoinPolicy.OPEN)
    before = _invitation_row(invitation)
    user = UserFactory()
    client.force_login(user)

    response = getattr(client, method)(_invitation_url(invitation, slug=other.slug))

    assert response.status_code == 404
    assert "This invitation link is not valid." in _page(response)
    assert "Hidden Circle" not in _page(response)
    assert _invitation_row(invitation) == before
    assert not Membership.objects.filter(user=user).exists()


@pytest.mark.django_db
def test_invitation_link_with_unknown_token_is_not_found(client):
    invitation = InvitationFactory()

    response = client.get(
        reverse("communities:invitation_accept", args=[invitation.community.slug, "guessed"])
    )

    assert response.status_code == 404
    assert "This invitation link is not valid." in _page(response)


@pytest.mark.django_db
def test_invitation_link_post_anonymous_redirects_to_login(client):
    invitation = InvitationFactory()
    before = _invitation_row(invitation)

    response = client.post(_invitation_url(invitation))

    assert response.status_code == 302
    assert response.url == _login_url(_invitation_url(invitation))
    assert _invitation_row(invitation) == before
    assert Membership.objects.count() == 0


@pytest.mark.django_db
def test_invitation_link_post_by_member_is_not_consumed(client):
    member = MembershipFactory(community__join_policy=JoinPolicy.INVITATION)
    invitation = InvitationFactory(community=member.community)
    before = _invitation_row(invitation)
    membership_before = _membership_row(member)
    client.force_login(member.user)

    response = client.post(_invitation_url(invitation))

    assert response.status_code == 302
    assert response.url == member.community.get_absolute_url()
    assert _messages(response) == [("info", "You are already a member.")]
    assert _invitation_row(invitation) == before
    assert _membership_row(member) == membership_before


# Leaving, withdrawing and removing


@pytest.mark.django_db
def test_leave_by_member_ends_membership(client):
    member = MembershipFactory(community__name="Sleep Medicine")
    client.force_login(member.user)

    response = client.post(reverse("communities:leave", args=[member.community.slug]))

    assert response.status_code == 302
    assert response.url == member.community.get_absolute_url()
    assert _messages(response) == [("success", "You have left Sleep Medicine.")]
    member.refresh_from_db()
    assert member.status == MembershipStatus.LEFT


@pytest.mark.django_db
def test_leave_invitation_only_community_goes_home(client):
    member = MembershipFactory(community__join_policy=JoinPolicy.INVITATION)
    client.force_login(member.user)

    response = client.post(reverse("communities:leave", args=[member.community.slug]))

    assert response.status_code == 302
    assert response.url == reverse("home")
    member.refresh_from_db()
    assert member.status == MembershipStatus.LEFT


@pytest.mark.django_db
def test_leave_by_last_manager_is_refused_with_message(client):
    manager = MembershipFactory(role=Role.MANAGER)
    before = _membership_row(manager)
    client.force_login(manager.user)

    response = client.post(reverse("communities:leave", args=[manager.community.slug]), follow=True)

    assert response.status_code == 200
    assert escape(
        "You are this community's only manager. Make another member a manager first."
    ) in _page(response)
    assert _membership_row(manager) == before


@pytest.mark.django_db
def test_leave_by_pending_requester_withdraws_request(client):
    pending = PendingMembershipFactory(community__join_policy=JoinPolicy.REQUEST)
    client.force_login(pending.user)

    response = client.post(reverse("communities:leave", args=[pending.community.slug]))

    assert response.status_code == 302
    assert _messages(response) == [("success", "Your request is withdrawn.")]
    pending.refresh_from_db()
    assert pending.status == MembershipStatus.LEFT


@pytest.mark.django_db
def test_leave_anonymous_redirects_to_login(client):
    community = CommunityFactory()
    url = reverse("communities:leave", args=[community.slug])

    response = client.post(url)

    assert response.status_code == 302
    assert response.url == _login_url(url)


@pytest.mark.django_db
def test_remove_manager_by_manager_is_forbidden(client):
    manager = MembershipFactory(role=Role.MANAGER)
    other_manager = MembershipFactory(community=manager.community, role=Role.MANAGER)
    before = _membership_row(other_manager)
    client.force_login(manager.user)

    response = client.post(
        reverse("communities:member_remove", args=[manager.community.slug, other_manager.pk])
    )

    assert response.status_code == 403
    assert "Only site administrators can remove a manager." in _page(response)
    assert _membership_row(other_manager) == before


@pytest.mark.django_db
def test_remove_manager_by_staff_succeeds(client):
    manager = MembershipFactory(role=Role.MANAGER, user__display_name="Dr. Lee")
    staff = UserFactory(is_staff=True)
    client.force_login(staff)

    response = client.post(
        reverse("communities:member_remove", args=[manager.community.slug, manager.pk])
    )

    assert response.status_code == 302
    assert _messages(response) == [("success", "Dr. Lee is removed from the community.")]
    manager.refresh_from_db()
    assert manager.status == MembershipStatus.REMOVED
    assert manager.decided_by == staff


@pytest.mark.django_db
def test_remove_self_by_manager_is_refused_with_message(client):
    manager = MembershipFactory(role=Role.MANAGER)
    MembershipFactory(community=manager.community, role=Role.MANAGER)
    before = _membership_row(manager)
    client.force_login(manager.user)

    response = client.post(
        reverse("communities:member_remove", args=[manager.community.slug, manager.pk])
    )

    assert response.status_code == 302
    assert _messages(response) == [("error", "To leave the community yourself, use “Leave”.")]
    assert _membership_row(manager) == before


@pytest.mark.django_db
def test_remove_member_of_other_community_is_not_found(client):
    manager = MembershipFactory(role=Role.MANAGER)
    elsewhere = MembershipFactory()
    before = _membership_row(elsewhere)
    client.force_login(manager.user)

    response = client.post(
        reverse("communities:member_remove", args=[manager.community.slug, elsewhere.pk])
    )

    assert response.status_code == 404
    assert _membership_row(elsewhere) == before


@pytest.mark.django_db
def test_join_after_removal_is_forbidden(client):
    removed = MembershipFactory(
        status=MembershipStatus.REMOVED,
        ended_at=timezone.now(),
        community__join_policy=JoinPolicy.OPEN,
    )
    before = _membership_row(removed)
    client.force_login(removed.user)

    response = client.post(reverse("communities:join", args=[removed.community.slug]))

    assert response.status_code == 403
    assert "A manager removed you from this community; ask them to invite you back." in _page(
        response
    )
    assert _membership_row(removed) == before


@pytest.mark.django_db
def test_detail_after_removal_offers_no_join_button(client):
    removed = MembershipFactory(
        status=MembershipStatus.REMOVED,
        ended_at=timezone.now(),
        community__join_policy=JoinPolicy.OPEN,
    )
    client.force_login(removed.user)

    response = client.get(removed.community.get_absolute_url())

    assert response.status_code == 200
    assert "A manager removed you from this community." in _page(response)
    assert reverse("communities:join", args=[removed.community.slug]) not in _page(response)


# Requests to join, with their emails


@pytest.mark.django_db
def test_join_request_emails_managers_after_commit(
    client, smtp_server, django_capture_on_commit_callbacks
):
    manager = MembershipFactory(
        role=Role.MANAGER, community__name="Rural ER", community__join_policy="request"
    )
    requester = UserFactory(display_name="Dr. Amélie Roy")
    client.force_login(requester)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("communities:join", args=[manager.community.slug]))

    assert response.status_code == 302
    assert _messages(response) == [
        ("success", "Your request is sent. A manager will answer it, and you will get an email.")
    ]
    assert Membership.objects.get(user=requester).status == MembershipStatus.PENDING
    [message] = smtp_server.messages
    assert message["To"] == manager.user.email
    assert _subject(message) == "New request to join Rural ER"
    assert "Dr. Amélie Roy asks to join Rural ER." in _body(message)


@pytest.mark.django_db
def test_join_request_already_waiting_sends_no_email(
    client, smtp_server, django_capture_on_commit_callbacks
):
    manager = MembershipFactory(role=Role.MANAGER, community__join_policy="request")
    pending = PendingMembershipFactory(community=manager.community)
    client.force_login(pending.user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("communities:join", args=[manager.community.slug]))

    assert _messages(response) == [("error", "Your request is already waiting for a manager.")]
    assert smtp_server.messages == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url_name", "status", "subject", "text"),
    [
        (
            "communities:request_approve",
            MembershipStatus.ACTIVE,
            "Welcome to Rural ER",
            "Your request to join Rural ER is approved. Welcome!",
        ),
        (
            "communities:request_decline",
            MembershipStatus.DECLINED,
            "Your request to join Rural ER",
            "A manager of Rural ER has declined your request to join.",
        ),
    ],
    ids=["approve", "decline"],
)
def test_request_decision_emails_requester(
    client, smtp_server, django_capture_on_commit_callbacks, url_name, status, subject, text
):
    manager = MembershipFactory(
        role=Role.MANAGER, community__name="Rural ER", community__join_policy="request"
    )
    pending = PendingMembershipFactory(community=manager.community, user__display_name="Sam")
    client.force_login(manager.user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse(url_name, args=[manager.community.slug, pending.pk]))

    assert response.status_code == 302
    pending.refresh_from_db()
    assert pending.status == status
    [message] = smtp_server.messages
    assert message["To"] == pending.user.email
    assert _subject(message) == subject
    assert "Hello Sam," in _body(message)
    assert text in _body(message)


@pytest.mark.django_db
@pytest.mark.parametrize(("manager_language", "requester_language"), [("en", "fr"), ("fr", "en")])
def test_request_decision_email_speaks_requester_language(
    client,
    smtp_server,
    django_capture_on_commit_callbacks,
    manager_language,
    requester_language,
):
    manager = MembershipFactory(
        role=Role.MANAGER,
        community__name="Rural ER",
        community__join_policy="request",
        user__language=manager_language,
    )
    pending = PendingMembershipFactory(
        community=manager.community, user__language=requester_language
    )
    client.force_login(manager.user)
    url = reverse("communities:request_approve", args=[manager.community.slug, pending.pk])

    with django_capture_on_commit_callbacks(execute=True):
        client.post(url)

    [message] = smtp_server.messages
    with translation.override(requester_language):
        expected = gettext("Welcome to %(name)s") % {"name": "Rural ER"}
    assert message["To"] == pending.user.email
    assert _subject(message) == expected
    if requester_language == "fr":
        assert expected != "Welcome to Rural ER", "the French catalogue lacks this email"


@pytest.mark.django_db
def test_request_decision_twice_is_refused_with_message(
    client, smtp_server, django_capture_on_commit_callbacks
):
    manager = MembershipFactory(role=Role.MANAGER, community__join_policy="request")
    declined = MembershipFactory(
        community=manager.community, status=MembershipStatus.DECLINED, joined_at=None
    )
    before = _membership_row(declined)
    client.force_login(manager.user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("communities:request_approve", args=[manager.community.slug, declined.pk])
        )

    assert response.status_code == 302
    assert _messages(response) == [
        ("error", "This request is no longer waiting; someone may have decided it already.")
    ]
    assert _membership_row(declined) == before
    assert smtp_server.messages == []


# The community form: create (staff) and edit (managers)


def _community_data(**changes) -> dict:
    data = {
        "name": "Rural Family Medicine",
        "slug": "rural-fm",
        "description": "Monthly calls for rural family physicians.",
        "language": "en",
        "timezone": "America/St_Johns",
        "video_url": "https://meet.example.org/rural-fm",
        "join_policy": JoinPolicy.REQUEST,
    }
    return {**data, **changes}


BAD_COMMUNITY_INPUT = [
    pytest.param({"name": ""}, "This field is required.", id="empty-name"),
    pytest.param(
        {"contact_email": "staff at example"},
        "Enter a valid email address.",
        id="bad-contact-address",
    ),
    pytest.param(
        {"name": "x" * 121},
        "Ensure this value has at most 120 characters (it has 121).",
        id="name-too-long",
    ),
    pytest.param(
        {"timezone": "Mars/Olympus"},
        "“Mars/Olympus” is not a time zone we know. Choose one from the list.",
        id="unknown-time-zone",
    ),
    pytest.param(
        {"slug": "taken"},
        "Another community already uses this short name. Choose another.",
        id="duplicate-slug",
    ),
    pytest.param({"video_url": "not a link"}, "Enter a valid URL.", id="invalid-video-url"),
    pytest.param({"video_url": "javascript:alert(1)"}, "Enter a valid URL.", id="script-video-url"),
]


@pytest.mark.django_db
def test_community_create_by_staff_creates_community(client):
    staff = UserFactory(is_staff=True)
    client.force_login(staff)

    response = client.post(reverse("communities:create"), _community_data())

    community = Community.objects.get()
    assert response.status_code == 302
    assert response.url == community.get_absolute_url()
    assert community.name == "Rural Family Medicine"
    assert community.timezone == "America/St_Johns"
    assert community.memberships.get().user == staff


@pytest.mark.django_db
@pytest.mark.parametrize(("changes", "message"), BAD_COMMUNITY_INPUT)
def test_community_create_bad_input_shows_error_and_creates_nothing(client, changes, message):
    CommunityFactory(slug="taken", name="Taken")
    client.force_login(UserFactory(is_staff=True))

    response = client.post(reverse("communities:create"), _community_data(**changes))

    assert response.status_code == 400
    assert escape(message) in _page(response)
    assert list(Community.objects.values_list("slug", flat=True)) == ["taken"]
    assert Membership.objects.count() == 0


@pytest.mark.django_db
def test_community_create_by_non_staff_is_forbidden(client):
    client.force_login(UserFactory())

    response = client.post(reverse("communities:create"), _community_data())

    assert response.status_code == 403
    assert "Only site administrators can create communities." in _page(response)
    assert Community.objects.count() == 0


@pytest.mark.django_db
def test_community_create_anonymous_redirects_to_login(client):
    url = reverse("communities:create")

    response = client.post(url, _community_data())

    assert response.status_code == 302
    assert response.url == _login_url(url)
    assert Community.objects.count() == 0


@pytest.mark.django_db
def test_community_edit_by_manager_saves_changes(client):
    manager = MembershipFactory(role=Role.MANAGER, community__slug="rural-fm")
    client.force_login(manager.user)

    response = client.post(
        reverse("communities:edit", args=["rural-fm"]), _community_data(slug="rural-family")
    )

    community = Community.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("communities:detail", args=["rural-family"])
    assert community.slug == "rural-family"
    assert community.join_policy == JoinPolicy.REQUEST


@pytest.mark.django_db
def test_community_edit_sets_the_contact_address_invitations_come_from(client):
    manager = MembershipFactory(role=Role.MANAGER, community__slug="rural-fm")
    client.force_login(manager.user)
    page = client.get(reverse("communities:edit", args=["rural-fm"])).content.decode()
    assert "Contact address" in page

    client.post(
        reverse("communities:edit", args=["rural-fm"]),
        _community_data(contact_email="staff@rural.example.ca"),
    )

    assert Community.objects.get().contact_email == "staff@rural.example.ca"


@pytest.mark.django_db
@pytest.mark.parametrize(("changes", "message"), BAD_COMMUNITY_INPUT)
def test_community_edit_bad_input_shows_error_and_changes_nothing(client, changes, message):
    CommunityFactory(slug="taken", name="Taken")
    manager = MembershipFactory(role=Role.MANAGER, community__slug="rural-fm")
    before = Community.objects.filter(slug="rural-fm").values().get()
    client.force_login(manager.user)

    response = client.post(
        reverse("communities:edit", args=["rural-fm"]), _community_data(**changes)
    )

    assert response.status_code == 400
    assert escape(message) in _page(response)
    assert Community.objects.filter(pk=before["id"]).values().get() == before


@pytest.mark.django_db
def test_community_edit_by_member_is_forbidden(client):
    member = MembershipFactory(community__name="Before")
    client.force_login(member.user)

    response = client.post(
        reverse("communities:edit", args=[member.community.slug]), _community_data()
    )

    assert response.status_code == 403
    assert Community.objects.get().name == "Before"


@pytest.mark.django_db
def test_community_edit_hidden_community_by_outsider_is_not_found(client):
    community = CommunityFactory(join_policy=JoinPolicy.INVITATION, name="Before")
    client.force_login(UserFactory())

    response = client.get(reverse("communities:edit", args=[community.slug]))

    assert response.status_code == 404
    assert "Before" not in _page(response)


# The invitation form


@pytest.mark.django_db
@pytest.mark.parametrize("days", ["0", "500", "91", "", "soon"])
def test_invitation_create_bad_days_shows_error_and_creates_nothing(client, days):
    manager = MembershipFactory(role=Role.MANAGER)
    client.force_login(manager.user)

    response = client.post(
        reverse("communities:invitation_create", args=[manager.community.slug]),
        {"days": days},
        follow=True,
    )

    assert response.status_code == 200
    assert _messages(response) == [("error", "An invitation lasts between 1 and 90 days.")]
    assert "An invitation lasts between 1 and 90 days." in _page(response)
    assert Invitation.objects.count() == 0


@pytest.mark.django_db
def test_invitation_create_shows_new_link_once(client):
    manager = MembershipFactory(role=Role.MANAGER)
    client.force_login(manager.user)

    response = client.post(
        reverse("communities:invitation_create", args=[manager.community.slug]),
        {"days": 7, "note": "for Dr. Roy"},
        follow=True,
    )
    again = client.get(manager.community.get_absolute_url())

    invitation = Invitation.objects.get()
    link = f"http://testserver{_invitation_url(invitation)}"
    assert link in _page(response)
    assert "for Dr. Roy" in _page(response)
    assert link not in _page(again)
    assert "for Dr. Roy" in _page(again)


# What the community page shows to whom


@pytest.mark.django_db
def test_detail_open_community_hides_members_from_non_members(client):
    community = CommunityFactory(video_url="https://meet.example.org/secret-room")
    MembershipFactory(community=community, user__display_name="Dr. Hidden Name")
    client.force_login(UserFactory())

    response = client.get(community.get_absolute_url())

    assert response.status_code == 200
    assert "Dr. Hidden Name" not in _page(response)
    assert "https://meet.example.org/secret-room" not in _page(response)


@pytest.mark.django_db
def test_detail_shows_members_and_video_link_to_members(client):
    community = CommunityFactory(video_url="https://meet.example.org/secret-room")
    member = MembershipFactory(community=community, user__display_name="Dr. Shown Name")
    client.force_login(member.user)

    response = client.get(community.get_absolute_url())

    assert "Dr. Shown Name" in _page(response)
    assert "https://meet.example.org/secret-room" in _page(response)


@pytest.mark.django_db
def test_detail_shows_pending_requests_to_managers_only(client):
    manager = MembershipFactory(role=Role.MANAGER, community__join_policy="request")
    member = MembershipFactory(community=manager.community)
    PendingMembershipFactory(community=manager.community, user__display_name="Dr. Waiting")

    client.force_login(manager.user)
    as_manager = client.get(manager.community.get_absolute_url())
    client.force_login(member.user)
    as_member = client.get(manager.community.get_absolute_url())

    assert "Dr. Waiting" in _page(as_manager)
    assert "Dr. Waiting" not in _page(as_member)


@pytest.mark.django_db
def test_home_anonymous_lists_visible_communities_only(client):
    CommunityFactory(name="Open Circle", join_policy=JoinPolicy.OPEN)
    CommunityFactory(name="Request Circle", join_policy=JoinPolicy.REQUEST)
    CommunityFactory(name="Secret Circle", join_policy=JoinPolicy.INVITATION)

    response = client.get(reverse("home"))

    assert response.status_code == 200
    assert "Open Circle" in _page(response)
    assert "Request Circle" in _page(response)
    assert "Secret Circle" not in _page(response)


# Query counts: a page costs the same whatever the number of rows


def _queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries.captured_queries)


def _communities_with_members(count: int) -> None:
    for _ in range(count):
        community = CommunityFactory()
        MembershipFactory.create_batch(2, community=community)
        PendingMembershipFactory(community=community)


@pytest.mark.django_db
@pytest.mark.parametrize("viewer", ["anonymous", "member", "staff"])
def test_home_query_count_does_not_grow_with_communities(client, viewer):
    user = {"anonymous": None, "member": UserFactory(), "staff": UserFactory(is_staff=True)}[viewer]
    if user is not None:
        client.force_login(user)
    _communities_with_members(1)
    if user is not None:
        MembershipFactory(community=Community.objects.get(), user=user)
    one = _queries_for(client, reverse("home"))

    _communities_with_members(2)
    three = _queries_for(client, reverse("home"))

    assert Community.objects.count() == 3
    assert three == one


@pytest.mark.django_db
@pytest.mark.parametrize("viewer", ["member", "manager", "staff"])
def test_detail_query_count_does_not_grow_with_members(client, viewer):
    community = CommunityFactory(join_policy=JoinPolicy.REQUEST)
    role = Role.MANAGER if viewer == "manager" else Role.MEMBER
    first = MembershipFactory(community=community, role=role).user
    user = UserFactory(is_staff=True) if viewer == "staff" else first
    client.force_login(user)
    PendingMembershipFactory(community=community)
    InvitationFactory(community=community, created_by=first)
    one = _queries_for(client, community.get_absolute_url())

    MembershipFactory.create_batch(2, community=community)
    PendingMembershipFactory.create_batch(2, community=community)
    InvitationFactory.create_batch(2, community=community, created_by=first)
    three = _queries_for(client, community.get_absolute_url())

    assert community.memberships.filter(status=MembershipStatus.ACTIVE).count() == 3
    assert three == one


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["requests/999999/approve/", "members/999999/remove/", "invitations/999999/revoke/"]
)
def test_manager_action_by_member_is_403_whatever_the_id(client, path):
    # A member must not learn which request, member or invitation ids exist.
    membership = MembershipFactory(community=CommunityFactory(join_policy="request"))
    client.force_login(membership.user)

    response = client.post(f"/c/{membership.community.slug}/{path}")

    assert response.status_code == 403
