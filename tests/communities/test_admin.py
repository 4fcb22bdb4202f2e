import pytest

from communities.enums import JoinPolicy, MembershipStatus
from communities.models import Community, Membership
from communities.signals import membership_ended
from tests.factories import (
    CommunityFactory,
    MembershipFactory,
    PendingMembershipFactory,
    UserFactory,
)


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/admin/accounts/user/?q=person&is_staff__exact=0&language__exact=en",
        "/admin/communities/community/?q=community&join_policy__exact=open",
        "/admin/communities/membership/?q=person&status__exact=active",
        "/admin/communities/invitation/?q=community",
    ],
)
def test_admin_changelist_filters_and_search(admin_client, url):
    MembershipFactory()

    response = admin_client.get(url)

    assert response.status_code == 200
    assert b'id="changelist-search"' in response.content
    assert b'id="changelist-filter"' in response.content


@pytest.mark.django_db
def test_admin_membership_change_form_for_each_model(admin_client):
    membership = MembershipFactory()

    response = admin_client.get(f"/admin/communities/membership/{membership.pk}/change/")

    assert response.status_code == 200


@pytest.mark.django_db
def test_admin_approve_action_activates_pending_and_skips_others(
    admin_client, mailoutbox, django_capture_on_commit_callbacks
):
    community = CommunityFactory(join_policy=JoinPolicy.REQUEST)
    pending = MembershipFactory(
        community=community, status=MembershipStatus.PENDING, joined_at=None
    )
    active = MembershipFactory(community=community)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/communities/membership/",
            {"action": "approve_requests", "_selected_action": [pending.pk, active.pk]},
            follow=True,
        )

    pending.refresh_from_db()
    assert response.status_code == 200
    assert pending.status == MembershipStatus.ACTIVE
    assert pending.joined_at is not None
    assert "1 request decided." in response.content.decode()
    assert "1 was not waiting, and is unchanged." in response.content.decode()
    assert [m.to for m in mailoutbox] == [[pending.user.email]]


@pytest.mark.django_db
def test_admin_membership_add_is_not_offered(admin_client):
    community = CommunityFactory()
    user = UserFactory()

    response = admin_client.post(
        "/admin/communities/membership/add/",
        {"community": community.pk, "user": user.pk, "role": "member", "status": "active"},
    )

    assert response.status_code == 403
    assert Membership.objects.filter(user=user).count() == 0


@pytest.fixture
def ended():
    """(membership id, status) for each membership_ended the services send."""
    calls = []

    def receiver(sender, membership, **kwargs):
        calls.append((membership.pk, membership.status))

    membership_ended.connect(receiver, weak=False, dispatch_uid="test.ended")
    yield calls
    membership_ended.disconnect(dispatch_uid="test.ended")


@pytest.mark.django_db
def test_admin_membership_change_form_posting_a_status_changes_nothing_but_the_role(
    admin_client, ended, django_capture_on_commit_callbacks
):
    membership = MembershipFactory()
    before = Membership.objects.filter(pk=membership.pk).values().get()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            f"/admin/communities/membership/{membership.pk}/change/",
            {
                "role": "manager",
                "status": "removed",
                "joined_at_0": "",
                "joined_at_1": "",
                "ended_at_0": "2026-11-24",
                "ended_at_1": "09:00:00",
                "decided_by": membership.user.pk,
            },
        )

    assert response.status_code == 302
    after = Membership.objects.filter(pk=membership.pk).values().get()
    assert after == {**before, "role": "manager"}
    assert ended == []


@pytest.mark.django_db
def test_admin_community_inline_shows_standing_read_only_and_offers_no_add(admin_client):
    community = CommunityFactory()
    membership = MembershipFactory(community=community)

    response = admin_client.get(f"/admin/communities/community/{community.pk}/change/")

    page = response.content.decode()
    assert response.status_code == 200
    assert 'name="memberships-0-role"' in page
    assert 'name="memberships-0-status"' not in page
    assert 'name="memberships-0-user"' not in page
    assert 'name="memberships-0-DELETE"' not in page
    assert 'name="memberships-__prefix__-role"' not in page
    assert membership.user.display_name in page


@pytest.mark.django_db
def test_admin_community_inline_posting_a_status_changes_nothing(admin_client):
    community = CommunityFactory()
    membership = MembershipFactory(community=community)
    before = Membership.objects.filter(pk=membership.pk).values().get()

    response = admin_client.post(
        f"/admin/communities/community/{community.pk}/change/",
        {
            **_community_form(community),
            "memberships-TOTAL_FORMS": "2",
            "memberships-INITIAL_FORMS": "1",
            "memberships-0-id": membership.pk,
            "memberships-0-community": community.pk,
            "memberships-0-role": "member",
            "memberships-0-status": "removed",
            "memberships-1-community": community.pk,
            "memberships-1-user": UserFactory().pk,
            "memberships-1-role": "manager",
            "memberships-1-status": "active",
        },
    )

    assert response.status_code == 302
    assert list(Membership.objects.values()) == [before]


@pytest.mark.django_db
def test_admin_remove_action_ends_memberships_through_the_service(
    admin_client, ended, django_capture_on_commit_callbacks
):
    community = CommunityFactory()
    member = MembershipFactory(community=community)
    manager = MembershipFactory(community=community, role="manager")
    pending = PendingMembershipFactory(community=community)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/communities/membership/",
            {"action": "remove_members", "_selected_action": [member.pk, manager.pk, pending.pk]},
            follow=True,
        )

    page = response.content.decode()
    assert response.status_code == 200
    assert sorted(ended) == sorted(
        [(member.pk, MembershipStatus.REMOVED), (manager.pk, MembershipStatus.REMOVED)]
    )
    assert dict(Membership.objects.values_list("pk", "status")) == {
        member.pk: MembershipStatus.REMOVED,
        manager.pk: MembershipStatus.REMOVED,
        pending.pk: MembershipStatus.PENDING,
    }
    assert Membership.objects.get(pk=member.pk).decided_by is not None
    assert "2 members removed." in page
    assert "1 is unchanged: This person is not an active member." in page


def _community_form(community) -> dict:
    return {
        "name": community.name,
        "slug": community.slug,
        "description": community.description,
        "language": community.language,
        "timezone": community.timezone,
        "video_url": community.video_url,
        "join_policy": community.join_policy,
        "created_at_0": "2026-11-24",
        "created_at_1": "09:00:00",
    }


def _community_add_form(**overrides) -> dict:
    return {
        "name": "Rural Medicine",
        "slug": "rural-medicine",
        "description": "",
        "language": "en",
        "timezone": "America/Toronto",
        "video_url": "",
        "join_policy": "open",
        "created_at_0": "2026-11-24",
        "created_at_1": "09:00:00",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        **overrides,
    }


@pytest.mark.django_db
def test_admin_add_community_goes_through_the_service(client):
    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)

    response = client.post("/admin/communities/community/add/", _community_add_form())

    community = Community.objects.get()
    assert response.status_code == 302
    assert response["Location"] == "/admin/communities/community/"
    assert (community.name, community.slug) == ("Rural Medicine", "rural-medicine")
    assert list(community.memberships.values_list("user", "role", "status")) == [
        (admin.pk, "manager", "active")
    ]


@pytest.mark.django_db
def test_admin_add_community_bad_input_creates_nothing(admin_client):
    response = admin_client.post(
        "/admin/communities/community/add/", _community_add_form(timezone="Mars/Olympus")
    )

    assert response.status_code == 200
    assert Community.objects.count() == 0
    assert Membership.objects.count() == 0


@pytest.mark.django_db
def test_admin_cannot_delete_a_membership_behind_the_services(admin_client):
    membership = MembershipFactory()

    response = admin_client.post(
        f"/admin/communities/membership/{membership.pk}/delete/", {"post": "yes"}
    )

    assert response.status_code == 403
    assert Membership.objects.filter(pk=membership.pk, status=MembershipStatus.ACTIVE).exists()
