import pytest

from communities.enums import JoinPolicy, MembershipStatus
from communities.models import Community, Membership
from tests.factories import CommunityFactory, MembershipFactory, UserFactory


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
def test_admin_saving_active_membership_without_joined_at_fills_it(admin_client):
    community = CommunityFactory()
    user = UserFactory()

    response = admin_client.post(
        "/admin/communities/membership/add/",
        {
            "community": community.pk,
            "user": user.pk,
            "role": "member",
            "status": "active",
            "requested_at_0": "",
            "requested_at_1": "",
            "joined_at_0": "",
            "joined_at_1": "",
            "ended_at_0": "",
            "ended_at_1": "",
        },
    )

    membership = Membership.objects.get(community=community, user=user)
    assert response.status_code == 302
    assert membership.joined_at is not None


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
